"""The endpoint as docker-compose.yml publishes it: the router's port on 127.0.0.1 unless
ENDPOINT_BIND opens it, JSON for every answer however broken the request, and colours that
cannot grow without bound or regain privileges; nothing runs as root without being asked."""

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from harness import SERVING_IMAGE, Endpoint, compose_project, free_port

REPO = Path(__file__).resolve().parents[2]
# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("published_port")
# The capabilities the colours keep (cap_add; the router keeps none): CHOWN 0, SETGID 6 and
# SETUID 7, what a colour's serve needs to become nobody when started as root, and KILL 5, for
# a `docker exec` as root to signal nobody's processes.
KEPT_CAPABILITIES = (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7)


def compose_command() -> list[str]:
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    return ["docker", "compose"] if v2 else ["docker-compose"]


def compose(environment: dict, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*compose_command(), "-p", PROJECT, "-f", "docker-compose.yml", *args],
                          cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def without_make(**settings) -> dict:
    """The environment of someone who runs compose by hand: no HOST_UID, no ENDPOINT_BIND."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("HOST_UID", "HOST_GID", "ENDPOINT_BIND")}
    return {**environment, "SERVING_IMAGE": SERVING_IMAGE, **settings}


@pytest.fixture(scope="module")
def readable_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model, readable by the server's unprivileged workers."""
    model = tmp_path_factory.mktemp("endpoint") / "blue" / "model"
    shutil.copytree(tiny_model_dir, model)
    for path in (model, *model.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return model


@pytest.fixture(scope="module")
def published(docker_client, readable_model):
    """Blue with the tiny model behind the router, started by compose as make would."""
    folder = readable_model.parents[1]
    (folder / "router").mkdir()
    from pipeline.endpoints import bluegreen, variants

    (folder / "router" / "upstream.conf").write_text(
        variants.upstream_conf(bluegreen.colour_variants("blue")))
    capture = folder / "capture"
    capture.mkdir()
    capture.chmod(0o777)  # as pipeline/endpoints/bluegreen.py leaves it for the workers
    port = free_port()
    environment = without_make(ENDPOINT_DIR=str(folder), ENDPOINT_PORT=str(port),
                               CAPTURE_DIR=str(capture), HOST_UID=str(os.getuid()),
                               HOST_GID=str(os.getgid()))
    started = compose(environment, "up", "-d", "blue", "router")
    try:
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                logs = compose(environment, "logs", "--no-color", "--tail", "30").stdout
                pytest.fail(f"the router did not answer /ping through blue:\n{logs}")
            time.sleep(0.2)
        yield port, environment
    finally:
        compose(environment, "down", "--timeout", "5")


def service(docker_client, name: str):
    found = docker_client.containers.list(filters={"label": [
        f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={name}"]})
    assert len(found) == 1, (name, found)
    return found[0]


def raw_exchange(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are; (status, lower-case headers, body) of what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


HOST = b"Host: localhost\r\n"
BROKEN_REQUESTS = {
    "malformed-request-line": (b"NOT AN HTTP REQUEST\r\n\r\n", 400),
    "control-character": (b"GET /\x01 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "header-line-without-colon": (b"GET /ping HTTP/1.1\r\n" + HOST + b"no colon\r\n\r\n", 400),
    "uri-of-20-kb": (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    "header-of-20-kb": (b"GET /ping HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 20_000
                        + b"\r\n\r\n", 400),
    "http-2.0-on-plain-tcp": (b"GET /ping HTTP/2.0\r\n" + HOST + b"\r\n", 505),
    "http-9.9": (b"GET /ping HTTP/9.9\r\n" + HOST + b"\r\n", 505),
    "transfer-encoding-gzip": (b"POST /invocations HTTP/1.1\r\n" + HOST
                               + b"Transfer-Encoding: gzip\r\nContent-Type: application/json"
                               b"\r\n\r\n{}", 501),
    "the-router-s-own-error-path": (b"GET /.errors/bad-request HTTP/1.1\r\n" + HOST
                                    + b"Connection: close\r\n\r\n", 404),
}


def assert_json_error(status: int, headers: dict, body: bytes, expected: int) -> None:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), (headers, body[:300])
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message and "<html" not in body.decode("latin-1")


@pytest.mark.parametrize("name", sorted(BROKEN_REQUESTS))
def test_every_answer_of_the_published_port_is_json(published, name):
    port, _ = published
    request, status = BROKEN_REQUESTS[name]
    assert_json_error(*raw_exchange(port, request), status)


def test_a_transfer_encoding_a_colour_does_not_take_is_a_json_501(docker_client,
                                                                  readable_model):
    server = Endpoint(docker_client, readable_model)
    try:
        server.wait_ready()
        request, status = BROKEN_REQUESTS["transfer-encoding-gzip"]
        found, headers, body = raw_exchange(server.port, request)
        assert_json_error(found, headers, body, status)
        assert headers["x-amzn-sagemaker-inference-id"]
    finally:
        server.remove()


def test_the_endpoint_listens_on_127_0_0_1_only_unless_endpoint_bind_opens_it(docker_client,
                                                                              published):
    port, environment = published
    bindings = service(docker_client, "router").attrs["HostConfig"]["PortBindings"]
    assert [(b["HostIp"], b["HostPort"]) for b in bindings["8080/tcp"]] == \
        [("127.0.0.1", str(port))]
    # The host's address on Docker's bridge is not loopback: nothing answers there.
    ipam = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    # Docker gives its bridge the subnet's first address unless told otherwise.
    gateway = ipam.get("Gateway") or str(ipaddress.ip_network(ipam["Subnet"])[1])
    with pytest.raises(OSError), socket.create_connection((gateway, port), timeout=5):
        pass
    assert requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200
    opened = compose({**environment, "ENDPOINT_BIND": "0.0.0.0"}, "config")
    assert opened.returncode == 0, opened.stderr
    assert f"0.0.0.0:{port}:8080" in opened.stdout or (
        "host_ip: 0.0.0.0" in opened.stdout and f"published: \"{port}\"" in opened.stdout), \
        opened.stdout


def test_the_colours_are_limited_in_memory_and_processes_and_keep_few_capabilities(
        docker_client, published):
    blue = service(docker_client, "blue")
    host = blue.attrs["HostConfig"]
    assert host["Memory"] == 4 * 1024 ** 3 and host["PidsLimit"] == 512
    # What the processes inside are really held to.
    probe = ("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null || "
             "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; "
             "grep -h -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/[0-9]*/status")
    # As nobody: the probe's own processes are among those it reads; docker exec's root would
    # hold the container's capabilities.
    done = blue.exec_run(["sh", "-c", probe], user="nobody")
    assert done.exit_code == 0, done.output
    lines = done.output.decode().split("\n")
    assert lines[:2] == [str(4 * 1024 ** 3), "512"], lines[:2]
    fields = [line.split(":") for line in lines[2:] if line]
    assert len(fields) >= 9  # tini, serve, nginx master and worker, uWSGI master and worker
    for name, value in fields:
        if name == "NoNewPrivs":
            assert value.strip() == "1"
        elif name == "CapEff":  # none in effect: as root, serve gave them up with root
            assert int(value, 16) == 0, (name, value)
        else:
            assert int(value, 16) & ~KEPT_CAPABILITIES == 0, (name, value)
    router = service(docker_client, "router")
    host = router.attrs["HostConfig"]
    assert set(host["CapDrop"]) == {"ALL"} and not host["CapAdd"]
    assert host["PidsLimit"] > 0 and host["Memory"] > 0
    # Nothing in the router needs root: tini, the launcher, both nginx and their workers.
    running = router.top(ps_args="-eo pid,uid,args")["Processes"]
    assert len(running) >= 5 and {uid for _pid, uid, _args in running} == {"65534"}, running


@pytest.mark.parametrize("name", ["blue", "router"])
def test_without_make_compose_runs_nothing_as_root(published, name):
    _, environment = published
    environment = without_make(**{key: environment[key] for key in
                                  ("ENDPOINT_DIR", "ENDPOINT_PORT", "CAPTURE_DIR")})
    done = compose(environment, "run", "--rm", "--no-deps", "-T", "--entrypoint", "id", name,
                   "-u")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "65534", done.stdout


def test_the_confined_router_still_reloads_as_a_deploy_reloads_it(docker_client, published):
    from pipeline.endpoints import bluegreen

    port, _ = published
    router = service(docker_client, "router")
    done = router.exec_run(["python", "-c", bluegreen.RELOAD_INSIDE, "20"])
    assert done.exit_code == 0, done.output
    assert requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200
