"""The endpoint's services on docker-compose: the router, the two colours blue and green, and
the services of a config's production variants.

The router (docker-compose.yml's `router`, serving/router.py) keeps the clients' connections in
a front nginx that is never reloaded and routes in a second one, the split, whose upstream.conf
this module writes (pipeline/endpoints/variants.py renders it) and reloads gracefully. One model
runs on one colour, blue or green: the serving image with its own model folder,
<endpoint>/<colour>/model. A deploy extracts the new model into the idle colour's folder, starts
that colour, waits until it answers /ping, points the split at it, waits until the split's old
workers are gone, then stops the old colour. A rollback deploys the model that was live before
the same way (pipeline/endpoints/commands.py decides what; this module does it). A config of
variants runs each variant as a compose service of its own (<endpoint>/variants.json), scaled
to its instance count. Standard library only.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.endpoints.variants import DEFAULT_VARIANT, place_of, service_of, upstream_conf
from pipeline.runs import jobrun
from training.contract.archive import extract

# The uid and gid the serving image's workers drop to (Debian's nobody and nogroup).
NOBODY = 65534
ROUTER = "router"
COLOURS = ("blue", "green")
OVERRIDES = "variants.json"  # the compose file of a config's variants, in the endpoint folder
# How long the router's old workers may take to finish the requests they hold after a switch.
DRAIN_SECONDS = 60
# Run inside a colour (the serving image has python, no curl): exit 0 once /ping is 200.
PING_INSIDE = """
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
while True:
    try:
        if opener.open("http://127.0.0.1:8080/ping", timeout=2).status == 200:
            sys.exit(0)
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.1)
"""
# Run inside the router: reload the split nginx (nginx/split.conf; the front that holds the
# clients' connections is never reloaded), exit 0 once its new workers run and every old one
# is gone.
RELOAD_INSIDE = """
import os, subprocess, sys, time
conf = "/opt/program/nginx/split.conf"
with open("/tmp/router-split.pid") as file:
    master = file.read().strip()
def workers():
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as file:
                parent = file.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if parent == master:
            found.add(pid)
    return found
subprocess.run(["nginx", "-t", "-q", "-e", "stderr", "-c", conf], check=True)
old = workers()
subprocess.run(["nginx", "-s", "reload", "-e", "stderr", "-c", conf], check=True)
deadline = time.monotonic() + float(sys.argv[1])
while not ((current := workers()) - old and not current & old):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.05)
"""


class EndpointError(Exception):
    """Something the endpoint cannot do, in one line for the user."""


def say(message: str) -> None:
    print(message, flush=True)


def colour_variants(colour: str, weight: float = 1.0) -> list[dict]:
    """One model on one colour: the one variant, AllTraffic."""
    return [{"VariantName": DEFAULT_VARIANT, "Route": colour, "Weight": weight, "Instances": 1,
             "Hosts": [colour]}]


def endpoint_options(cli: argparse.ArgumentParser) -> None:
    """The options an Endpoint is made of, for each command line that drives one."""
    cli.add_argument("--compose", required=True, help="the compose command, e.g. 'docker-compose "
                     "-p penguins -f docker-compose.yml'")
    cli.add_argument("--docker", default="docker", help="the docker command")
    cli.add_argument("--endpoint-dir", type=Path, required=True)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--ping-deadline", type=float, default=60)
    cli.add_argument("--capture-dir", type=Path, help="CAPTURE_DIR: where the endpoint's "
                     "Data Capture files land")
    cli.add_argument("--endpoint-name", help="the endpoint's name in the capture files")
    cli.add_argument("--metrics-port", type=int, help="METRICS_PORT: the router's /metrics "
                     "on 127.0.0.1")


class Endpoint:
    """The endpoint services of one compose project and their folder under LOCAL_DIR: the
    router, the colours blue and green (one model, variant AllTraffic), and the services of a
    config's production variants (compose services of their own, in <endpoint>/variants.json,
    each extending the colour's definition)."""

    def __init__(self, args):
        self.compose = shlex.split(args.compose)
        self.docker = shlex.split(args.docker)
        # Without -p, compose names the project after the folder it runs in.
        self.project = jobrun.compose_project(self.compose, default=Path.cwd().name)
        self.folder = args.endpoint_dir.absolute()
        self.port = args.port
        self.deadline = args.ping_deadline
        self.name = args.endpoint_name or "endpoint"
        # Data Capture (serving/capture.py): the colours write their traffic into this folder.
        self.capture = args.capture_dir
        self.environment = dict(os.environ)
        if self.capture is not None:
            self.capture = self.capture.absolute()
            self.environment["CAPTURE_DIR"] = str(self.capture)
        if args.endpoint_name:
            self.environment["CAPTURE_ENDPOINT_NAME"] = args.endpoint_name
        if getattr(args, "metrics_port", None):
            self.environment["METRICS_PORT"] = str(args.metrics_port)

    @property
    def overrides(self) -> Path:
        return self.folder / OVERRIDES

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [*self.compose]
        if self.overrides.is_file():
            command += ["-f", str(self.overrides)]
        try:
            done = subprocess.run([*command, *args], capture_output=True, text=True,
                                  env=self.environment)
        except FileNotFoundError:
            raise EndpointError(f"{self.compose[0]} is not installed; make setup installs "
                                "Docker and compose") from None
        if check and done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise EndpointError(f"compose {args[0]} {args[-1]} failed: {last}")
        return done

    def containers(self, service: str | None = None) -> list[tuple[str, int, str]]:
        """(service, instance number, container id) of the project's running containers (of
        one service if given). Docker reads compose's own labels in a few milliseconds where a
        compose v1 call takes half a second of CPU, and a deploy makes dozens of these reads."""
        filters = [f"label=com.docker.compose.project={self.project}",
                   "label=com.docker.compose.oneoff=False",
                   *([f"label=com.docker.compose.service={service}"] if service else [])]
        try:
            listed = subprocess.run(
                [*self.docker, "ps", *(word for item in filters for word in ("--filter", item)),
                 "--format", '{{.Label "com.docker.compose.service"}} '
                             '{{.Label "com.docker.compose.container-number"}} {{.ID}}'],
                capture_output=True, text=True)
        except FileNotFoundError:
            raise EndpointError(f"{self.docker[0]} is not installed; make setup installs "
                                "Docker") from None
        if listed.returncode != 0:
            raise EndpointError(f"docker ps failed: {listed.stderr.strip()[-300:]}")
        return [(name, int(number), ident) for name, number, ident in
                (line.split() for line in listed.stdout.splitlines())]

    def exec(self, service: str, index: int, *command: str) -> subprocess.CompletedProcess:
        """`compose exec -T --index N service command`, as docker exec on that container."""
        found = [ident for name, number, ident in self.containers(service) if number == index]
        if not found:
            return subprocess.CompletedProcess(command, 1, "", f"{service} instance {index} "
                                               "is not running")
        return subprocess.run([*self.docker, "exec", found[0], *command], capture_output=True,
                              text=True)

    def running(self) -> set[str]:
        """The services running, of those the compose files name (as `compose ps --services`
        lists them)."""
        known = {ROUTER, *COLOURS, *self.variant_services()}
        return {name for name, _, _ in self.containers()} & known

    def logs(self, service: str) -> str:
        return self.run("logs", "--no-color", "--tail", "20", service, check=False).stdout

    def remove(self, *services: str) -> None:
        """Stop gracefully (SIGTERM: in-flight requests finish), then remove."""
        self.run("rm", "--stop", "--force", *services)

    def variant_services(self) -> list[str]:
        """The variants' services of the config served last (none for one model)."""
        try:
            return sorted(json.loads(self.overrides.read_text())["services"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def write_variants(self, variants: list[dict]) -> None:
        """The compose file of the variants' services: each the colour's definition with its own
        model folder and capture variant (<capture>/<endpoint>/<variant>/)."""
        base = next((Path(self.compose[index + 1]).absolute()
                     for index, word in enumerate(self.compose[:-1]) if word == "-f"), None)
        if base is None:
            raise EndpointError("the compose command names no -f file to extend")
        services = {}
        for variant in variants:
            services[service_of(variant)] = {
                "extends": {"file": str(base), "service": "blue"},
                "environment": {"DATA_CAPTURE_VARIANT_NAME": variant["VariantName"]},
                "volumes": [f"{self.folder / place_of(variant) / 'model'}:/opt/ml/model:ro"],
            }
        temporary = self.folder / f".{OVERRIDES}.new"
        temporary.write_text(json.dumps({"services": services}, indent=2) + "\n")
        temporary.replace(self.overrides)

    def stage(self, place: str, model: dict) -> None:
        """Extract the model beside the folder of `place` (a colour, or variants/<name>), so a
        bad archive changes nothing."""
        staging = self.folder / place / ".model-new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        staging.chmod(0o755)  # the server's workers run as nobody
        label, archive = model["label"], Path(model["archive"])
        try:
            extract(archive, staging)
            return
        except tarfile.ReadError:
            why = ("this file is not a gzip tar of a model folder (as a training job's "
                   "output/model.tar.gz is)")
        except tarfile.TarError as error:
            why = f"refused, {error}"
        except OSError as error:
            why = f"cannot extract it into {staging}: {error}"
        shutil.rmtree(staging, ignore_errors=True)
        raise EndpointError(f"{label}: {why}")

    def start(self, place: str, service: str | None = None, instances: int = 1) -> None:
        """Start the service's instances with the model staged for `place`; wait until each
        answers /ping."""
        service = service or place
        self.remove(service)
        target = self.folder / place / "model"
        shutil.rmtree(target, ignore_errors=True)
        (self.folder / place / ".model-new").rename(target)
        self.prepare_capture()
        self.run("up", "-d", "--no-deps", "--force-recreate", "--scale", f"{service}={instances}",
                 service)
        self.wait_instances(service, 1, instances)

    def wait_instances(self, service: str, first: int, last: int) -> None:
        """Wait until instances first..last of the service answer /ping; if one does not,
        print its log, stop the service's instances from `first` on and raise."""
        for index in range(first, last + 1):
            waited = self.exec(service, index, "python", "-c", PING_INSIDE, str(self.deadline))
            if waited.returncode != 0:
                print(self.logs(service), file=sys.stderr)
                if first > 1:
                    self.scale_down(service, first - 1)
                else:
                    self.remove(service)
                raise EndpointError(f"{service} did not answer /ping within {self.deadline}s "
                                    "(its log is above)")

    def scale_up(self, service: str, count: int, wanted: int) -> None:
        """Instances count+1..wanted beside the running ones, answering /ping."""
        self.run("up", "-d", "--no-deps", "--no-recreate", "--scale", f"{service}={wanted}",
                 service)
        self.wait_instances(service, count + 1, wanted)

    def scale_down(self, service: str, wanted: int) -> None:
        """Stop the instances above `wanted` gracefully; compose keeps the lowest numbers."""
        self.run("up", "-d", "--no-deps", "--no-recreate", "--scale", f"{service}={wanted}",
                 service)

    def instance_hosts(self, service: str, count: int) -> list[str]:
        """The host names (short container ids, which Docker's DNS resolves on the project's
        network) of instances 1..count."""
        hosts = []
        for index in range(1, count + 1):
            done = self.exec(service, index, "hostname")
            if done.returncode != 0:
                raise EndpointError(f"{service} instance {index}: {done.stderr.strip()[-300:]}")
            hosts.append(done.stdout.strip())
        return hosts

    def prepare_capture(self) -> None:
        """The capture folder, owner-only and the colours' workers' own: they run as the host's
        user (HOST_UID), or as nobody when that user is root (serve becomes nobody)."""
        if self.capture is None:
            return
        try:
            self.capture.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(self.capture, NOBODY, NOBODY)
            self.capture.chmod(0o700)
        except OSError as error:
            raise EndpointError(f"CAPTURE_DIR={self.capture}: cannot make it writable for the "
                                f"endpoint ({error.strerror}); choose another folder") from None

    def point_router(self, variants: list[dict]) -> None:
        """upstream.conf (the split) and endpoint.json (the metrics' names, instance counts
        and hosts to poll for CPU and memory), each written whole, as nginx and the metrics may
        read them at any time."""
        router = self.folder / "router"
        router.mkdir(parents=True, exist_ok=True)
        router.chmod(0o755)  # the router runs as nobody, whatever the umask
        hosts: dict[str, list[str]] = {}
        for item in variants:
            hosts.setdefault(item["VariantName"], []).extend(item["Hosts"])
        facts = {"EndpointName": self.name,
                 "Variants": {item["VariantName"]: item["Instances"] for item in variants},
                 "Hosts": hosts}
        for name, text in (("upstream.conf", upstream_conf(variants)),
                           ("endpoint.json", json.dumps(facts) + "\n")):
            temporary = router / f".{name}.new"
            temporary.write_text(text)
            temporary.chmod(0o644)
            temporary.replace(router / name)

    def reload(self, variants: list[dict], previous: list[dict] | None) -> None:
        """Send new requests as `variants` say; return once no request is left on the router's
        old workers. If the router refuses, put `previous` back and raise."""
        self.point_router(variants)
        done = self.exec(ROUTER, 1, "python", "-c", RELOAD_INSIDE, str(DRAIN_SECONDS))
        if done.returncode == 3:
            say(f"requests still in flight on the router's old workers after {DRAIN_SECONDS}s; "
                "going on anyway")
        elif done.returncode != 0:
            if previous is not None:
                self.point_router(previous)
            raise EndpointError(f"the router did not take the change, it still routes as "
                                f"before: {done.stderr.strip()[-300:]}")

    def switch(self, old: str, new: str) -> None:
        """Send new requests to colour `new`; return once no request is left on `old`."""
        try:
            self.reload(colour_variants(new), colour_variants(old))
        except EndpointError as error:
            self.remove(new)
            raise EndpointError(f"{error} (to {old})") from None

    def wait_router(self) -> None:
        """/ping through the router on the host's port, within the ping deadline."""
        url = f"http://localhost:{self.port}/ping"
        deadline = time.monotonic() + self.deadline
        while True:
            try:
                request("GET", url, None, self.port)
                return
            except EndpointError as error:
                if time.monotonic() > deadline:
                    print(self.logs(ROUTER), file=sys.stderr)
                    raise EndpointError(f"{error} (after {self.deadline}s; the router's log "
                                        "is above)") from None
            time.sleep(0.2)


def request(method: str, url: str, body: bytes | None, port: int) -> bytes:
    """The answer's body, or EndpointError in words when nothing listens or it is an error."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    call = urllib.request.Request(url, data=body, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with opener.open(call, timeout=70) as reply:
            return reply.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace").strip()
        raise EndpointError(f"the endpoint on port {port} answered {error.code}: {detail}") \
            from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectionRefusedError):
            raise EndpointError(f"no endpoint on port {port}; start one with make serve") \
                from None
        raise EndpointError(f"no answer from port {port} ({reason}); is the endpoint running? "
                            "start one with make serve") from None
