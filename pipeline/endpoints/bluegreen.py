"""The endpoint's services on docker-compose: the router and the two colours, blue and green.

The router (nginx, docker-compose.yml's `router`) sends every request to one colour, blue or
green: the serving image with its own model folder, <endpoint>/<colour>/model. A deploy extracts
the new model into the idle colour's folder, starts that colour, waits until it answers /ping,
points the router at it with a graceful nginx reload (old workers finish their requests), waits
until the old workers are gone, then stops the old colour. A rollback deploys the model that was
live before the same way (pipeline/endpoints/commands.py decides what; this module does it).
Standard library only.
"""

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

from training.contract.archive import extract

# The uid and gid the serving image's workers drop to (Debian's nobody and nogroup).
NOBODY = 65534
ROUTER = "router"
UPSTREAM = "upstream live {{ server {colour}:8080; }}\n"
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
# Run inside the router: reload nginx, exit 0 once new workers run and every old one is gone.
RELOAD_INSIDE = """
import os, subprocess, sys, time
def workers():
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if file.read().startswith(b"nginx: worker process"):
                    found.add(pid)
        except OSError:
            pass
    return found
conf = "/opt/program/nginx/router.conf"
subprocess.run(["nginx", "-t", "-q", "-c", conf], check=True)
old = workers()
subprocess.run(["nginx", "-s", "reload", "-c", conf], check=True)
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


class Endpoint:
    """The endpoint services of one compose project and their folder under LOCAL_DIR."""

    def __init__(self, args):
        self.compose = shlex.split(args.compose)
        self.folder = args.endpoint_dir.absolute()
        self.port = args.port
        self.deadline = args.ping_deadline
        # Data Capture (serving/capture.py): the colours write their traffic into this folder.
        self.capture = args.capture_dir
        self.environment = dict(os.environ)
        if self.capture is not None:
            self.capture = self.capture.absolute()
            self.environment["CAPTURE_DIR"] = str(self.capture)
        if args.endpoint_name:
            self.environment["CAPTURE_ENDPOINT_NAME"] = args.endpoint_name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run([*self.compose, *args], capture_output=True, text=True,
                                  env=self.environment)
        except FileNotFoundError:
            raise EndpointError(f"{self.compose[0]} is not installed; make setup installs "
                                "Docker and compose") from None
        if check and done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise EndpointError(f"compose {args[0]} {args[-1]} failed: {last}")
        return done

    def running(self) -> set[str]:
        listed = self.run("ps", "--services", "--filter", "status=running")
        return set(listed.stdout.split())

    def logs(self, service: str) -> str:
        return self.run("logs", "--no-color", "--tail", "20", service, check=False).stdout

    def remove(self, *services: str) -> None:
        """Stop gracefully (SIGTERM: in-flight requests finish), then remove."""
        self.run("rm", "--stop", "--force", *services)

    def stage(self, colour: str, model: dict) -> None:
        """Extract the model beside the colour's folder, so a bad archive changes nothing."""
        staging = self.folder / colour / ".model-new"
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

    def start(self, colour: str) -> None:
        """Start the colour with its staged model and wait until it answers /ping."""
        self.remove(colour)
        target = self.folder / colour / "model"
        shutil.rmtree(target, ignore_errors=True)
        (self.folder / colour / ".model-new").rename(target)
        self.prepare_capture()
        self.run("up", "-d", "--no-deps", "--force-recreate", colour)
        waited = self.run("exec", "-T", colour, "python", "-c", PING_INSIDE,
                          str(self.deadline), check=False)
        if waited.returncode != 0:
            logs = self.logs(colour)
            self.remove(colour)
            print(logs, file=sys.stderr)
            raise EndpointError(f"{colour} did not answer /ping within {self.deadline}s "
                                "(its log is above)")

    def prepare_capture(self) -> None:
        """The capture folder, owner-only and the colours' workers' own: they run as the host's
        user (HOST_UID), or as nobody when that user is root and the masters drop them."""
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

    def point_router(self, colour: str) -> None:
        """upstream.conf names the colour; written whole, as nginx may read it at any time."""
        router = self.folder / "router"
        router.mkdir(parents=True, exist_ok=True)
        temporary = router / ".upstream.conf.new"
        temporary.write_text(UPSTREAM.format(colour=colour))
        temporary.chmod(0o644)
        temporary.replace(router / "upstream.conf")

    def switch(self, old: str, new: str) -> None:
        """Send new requests to `new`; return once no request is left on `old`'s router workers."""
        self.point_router(new)
        done = self.run("exec", "-T", ROUTER, "python", "-c", RELOAD_INSIDE, str(DRAIN_SECONDS),
                        check=False)
        if done.returncode == 3:
            say(f"requests still in flight on {old} after {DRAIN_SECONDS}s; stopping it anyway")
        elif done.returncode != 0:
            self.point_router(old)
            self.remove(new)
            raise EndpointError(f"the router did not switch to {new}, it still sends every "
                                f"request to {old}: {done.stderr.strip()[-300:]}")

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
