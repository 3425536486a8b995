"""`python -m serving.router`: the endpoint's router container (docker-compose.yml's `router`).

Runs two nginx: the front (nginx/router.conf), which keeps the clients' connections and is never
reloaded, and the split (nginx/split.conf), which picks the variant and instance and is the one
a deploy or a weight change reloads. Reads the front's metrics lines from a pipe and serves them
(serving/metrics.py) on METRICS_PORT: /metrics (Prometheus text) and /minutes (JSON rows), with
each variant's CPU and memory, polled from its instances (serving/utilization.py).
ROUTER_METRICS=0 turns the recording off. SIGTERM or SIGQUIT stops both nginx gracefully.
Everything runs as nobody (docker-compose.yml's user): nothing here needs root.
"""

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from serving import metrics, utilization

NGINX_DIR = Path(__file__).resolve().parent.parent / "nginx"
FRONT_TEMPLATE = NGINX_DIR / "router.conf"
SPLIT_CONF = NGINX_DIR / "split.conf"
FRONT_CONF = Path("/tmp/router.conf")
SPLIT_SOCKET = Path("/tmp/router-split.sock")
PIPE = Path("/tmp/router-metrics.fifo")
# Written beside upstream.conf by pipeline/endpoints/bluegreen.py: name, instance counts and
# each variant's hosts.
FACTS = Path("/etc/nginx/router/endpoint.json")
METRICS_PORT = 9100
PIPE_BYTES = 1 << 20  # the pipe's buffer: a second of lines at any rate the router reaches
# nginx writes a buffer of at most this much at once: a pipe keeps writes of 4 KiB whole.
LOG_LINE = ("access_log {pipe} metrics buffer=4k flush=1s if=$invocation;")
DRAIN_SECONDS = 30


def say(message: str) -> None:
    print(f"router: {message}", file=sys.stderr, flush=True)


def front_conf(recording: bool) -> str:
    log = LOG_LINE.format(pipe=PIPE) if recording else "access_log off;"
    return FRONT_TEMPLATE.read_text().replace("__METRICS_LOG__", log)


def read_pipe(found: metrics.Metrics) -> None:
    """Count every line nginx writes to the pipe; runs for the life of the container."""
    reader = os.open(PIPE, os.O_RDONLY | os.O_NONBLOCK)
    # A writer of our own: the pipe never reads as ended while nginx reopens it.
    os.open(PIPE, os.O_WRONLY)
    with contextlib.suppress(OSError):  # else the kernel's default, 64 KiB
        fcntl.fcntl(reader, 1031, PIPE_BYTES)  # F_SETPIPE_SZ
    os.set_blocking(reader, True)
    rest = b""
    while True:
        chunk = os.read(reader, 1 << 16)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        # Whole lines only, so one decode never splits a character.
        found.add(b"\n".join(lines).decode("utf-8", "replace").split("\n") if lines else ())


def handler(found: metrics.Metrics):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            facts = metrics.endpoint_facts(FACTS)
            if self.path == "/metrics":
                body, kind = found.prometheus(facts).encode(), "text/plain; version=0.0.4"
            elif self.path == "/minutes":
                body, kind = json.dumps(found.minutes(facts)).encode(), "application/json"
            else:
                self.send_response(404)
                body, kind = b'{"error": "the metrics port serves /metrics and /minutes"}\n', \
                    "application/json"
            if self.path in ("/metrics", "/minutes"):
                self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # a scrape every few seconds is not news

    return Handler


def start_metrics() -> None:
    found = metrics.Metrics()
    PIPE.unlink(missing_ok=True)
    os.mkfifo(PIPE, 0o600)
    threading.Thread(target=read_pipe, args=(found,), name="metrics-pipe", daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", METRICS_PORT), handler(found))
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    utilization.Poller(lambda: metrics.endpoint_facts(FACTS).get("Hosts") or {},
                       found.observe).start()


def main() -> int:
    recording = os.environ.get("ROUTER_METRICS", "1").strip() != "0"
    if recording:
        start_metrics()
    FRONT_CONF.write_text(front_conf(recording))
    SPLIT_SOCKET.unlink(missing_ok=True)
    stopping = []
    for number in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
        signal.signal(number, lambda number, _frame: stopping.append(number))
    # -e: nginx's own default error log (/var/log/nginx) is root's.
    split = subprocess.Popen(["nginx", "-e", "stderr", "-c", str(SPLIT_CONF)])
    deadline = time.monotonic() + 10
    while not SPLIT_SOCKET.exists() and split.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    front = subprocess.Popen(["nginx", "-e", "stderr", "-c", str(FRONT_CONF)])
    children = {"the front nginx": front, "the split nginx": split}
    while not stopping:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                say(f"{name} exited with code {code}; stopping")
                for other in children.values():
                    if other.poll() is None:
                        other.send_signal(signal.SIGQUIT)
                        other.wait(timeout=DRAIN_SECONDS)
                return code or 1
        time.sleep(0.1)
    # The front first: it stops taking connections and finishes what it holds, through the split.
    for child in (front, split):
        child.send_signal(signal.SIGQUIT)
        try:
            child.wait(timeout=DRAIN_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
