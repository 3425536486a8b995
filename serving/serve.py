"""`serve`: start nginx and the model server (uWSGI), stop both gracefully on SIGTERM, exit if
either dies.

Started as root (SageMaker's way), it first does what needs root (serving/prepare.py), then
becomes nobody (serving/privileges.py) before it starts them: no process of the endpoint runs as
root. As PID 1 (the serving image's entrypoint starts `serve` straight away when root), it then
execs tini, which runs `serve` again, unprivileged and with root's work done, and reaps orphans.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from serving import config as settings
from serving import prepare, privileges

TEMPLATE = Path(__file__).resolve().parent.parent / "nginx" / "nginx.conf.template"
RUN_DIR = Path(os.environ.get("SERVING_RUN_DIR", "/tmp/serving"))
# SageMaker sends SIGKILL 30 s after SIGTERM: drain within that.
NGINX_DRAIN_SECONDS = 20
WORKER_GRACE_SECONDS = 8  # a stopping worker's time to finish what it has (capture's writes)
WORKER_RECLAIM_SECONDS = 5  # uWSGI kills a worker this long after nginx answered 504
UNPRIVILEGED = privileges.UNPRIVILEGED
TINI = "/usr/bin/tini"
PREPARED = "--prepared"  # the unprivileged `serve` tini runs: root's work is done
# nginx reads at most this many times the payload limit: the app decides up to there.
NGINX_BODY_BOUND = 2
# The master's command FIFO: "q" stops it gracefully (SIGTERM would, by uWSGI's default, reload).
CONTROL_FIFO = "uwsgi.fifo"
# uWSGI's banner and its notes on each start: kept out of the endpoint's log.
BANNER = (r"^(\*\*\* |your |detected |lock engine|thunder lock|uwsgi socket|Python |--- |mapped |"
          r"spawned |WSGI app|current working|machine:|clock source|pcre|compiled with|os: |"
          r"nodename:|uWSGI running|\[uWSGI\]|python threads|!!! |"
          r"goodbye to uWSGI|.* - graceful shutdown|Gracefully killing)")
# Each worker loads the model once (create_app), after the fork; a model it cannot serve ends
# the worker with uWSGI's code for an app that cannot load, and --need-app stops the server.
BACKLOG = 1024
WORKER_APP = "from serving.app import worker_app\napplication = worker_app()"


def render_nginx(config: settings.Config, run_dir: Path, root: bool = False,
                 template: Path = TEMPLATE) -> str:
    """nginx.conf for these settings; nginx runs as serve does (root: serve could not give up
    root, and nginx's workers stay root too instead of its default, nobody)."""
    values = {
        "__RUN_DIR__": str(run_dir),
        "__NGINX_WORKERS__": "1",
        "__USER_DIRECTIVE__": "user root root;" if root else "",
        "__SOCKET__": config.socket,
        "__PORT__": str(config.port),
        "__MAX_BODY_BYTES__": str(config.max_payload_bytes),
        "__BODY_BOUND_BYTES__": str(NGINX_BODY_BOUND * config.max_payload_bytes),
        "__MAX_PAYLOAD_MB__": str(config.max_payload_mb),
        "__PROXY_TIMEOUT__": str(config.timeout),
    }
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def backlog(somaxconn: Path = Path("/proc/sys/net/core/somaxconn")) -> int:
    """Connections nginx may queue while every worker is busy: 1024, or the kernel's bound if it
    is lower (uWSGI refuses to start above it)."""
    try:
        return min(BACKLOG, int(somaxconn.read_text()))
    except (OSError, ValueError):
        return 128


def model_server_command(config: settings.Config, run_dir: Path) -> list[str]:
    """uWSGI (the pyuwsgi wheel's C core) on a uwsgi-protocol socket nginx passes to: it parses
    and answers each request in C, where gunicorn's Python took ~110 µs of a CPU a request.
    No --uid: it runs as whoever serve is."""
    return [
        sys.executable, "-c", "import pyuwsgi; pyuwsgi.run()",
        "--strict",  # an unknown option is an error, not a warning
        "--master", "--processes", str(config.workers),
        "--lazy-apps", "--need-app", "--single-interpreter", "--eval", WORKER_APP,
        "--enable-threads",  # Data Capture's writer thread
        "--uwsgi-socket", config.socket,
        "--listen", str(backlog()),
        "--buffer-size", "65535",  # request headers up to nginx's own bound
        # After nginx's: nginx answers the slow request (504), uWSGI reclaims the worker.
        "--harakiri", str(config.timeout + WORKER_RECLAIM_SECONDS),
        "--worker-reload-mercy", str(WORKER_GRACE_SECONDS),
        "--master-fifo", str(run_dir / CONTROL_FIFO),
        "--die-on-term", "--no-orphans", "--vacuum",
        # A client that went away is nginx's to log, not a worker's exception.
        "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception",
        "--disable-logging", "--log-drain", BANNER,
    ]


def say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


def give_up_root(config: settings.Config) -> None:
    """Become nobody, having handed it the run folder and stdout/stderr; as PID 1, exec tini."""
    privileges.drop(RUN_DIR)
    say(f"root's work is done; nginx and the model server run as {UNPRIVILEGED[0]}")
    if os.getpid() == 1:
        os.execv(TINI, [TINI, "--", sys.executable, "-m", "serving.serve", PREPARED])


def stop_now(signum, _frame):
    """SIGTERM before the servers run: stop (as PID 1 the default action would be ignored)."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, stop_now)
    try:
        config = settings.from_env()
    except settings.ConfigError as error:
        say(str(error))
        return 2
    # Root gives up root before nginx and the model server start. A container started as root
    # without the capabilities that takes (docker run --cap-drop ...) still serves, all as root
    # (with only the capabilities it was given), and says why: masters that kept root to run their
    # workers as nobody would need the same capabilities.
    missing = (privileges.missing_capabilities(privileges.STATUS.read_text())
               if os.geteuid() == 0 else [])
    switch = os.geteuid() == 0 and not missing
    if missing:
        say(f"started as root without {', '.join(missing)}, which giving up root takes: nginx "
            f"and the model server run as root, with no more capabilities than the container "
            f"has")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    # Before root is given up: a root-owned leftover is one nobody could not remove.
    Path(config.socket).unlink(missing_ok=True)
    try:
        if PREPARED in argv:
            pass  # root did it, before it execed tini
        elif config.multi_model:  # each archive is extracted and loaded by the workers
            say(f"multi-model endpoint: the archives under {config.models_dir}")
        else:
            prepare.install_requirements(config.model_dir, say)
        if switch and not config.multi_model:  # e.g. SDK local mode's root-owned 0700 mount
            readable = prepare.readable_model(config.model_dir, RUN_DIR, *UNPRIVILEGED)
            if readable != config.model_dir:
                say(f"{config.model_dir} is not readable by {UNPRIVILEGED[0]}; the workers "
                    f"read a copy in {readable}")
                os.environ[settings.MODEL_DIR_ENV] = str(readable)
        if switch:
            give_up_root(config)
    except (prepare.PrepareError, OSError) as error:
        say(str(error))
        return 2
    conf = RUN_DIR / "nginx.conf"
    conf.write_text(render_nginx(config, RUN_DIR, root=os.geteuid() == 0))

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(signal.SIGTERM))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(signal.SIGINT))
    server = subprocess.Popen(model_server_command(config, RUN_DIR))
    # uWSGI binds the socket before the workers are ready; nginx started earlier would only log
    # connection failures.
    deadline = time.monotonic() + 10
    while not Path(config.socket).exists() and server.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    nginx = subprocess.Popen(["nginx", "-e", "stderr", "-c", str(conf)])
    say(f"listening on port {config.port} with {config.workers} worker(s)")

    while not stopping:
        for name, child in (("the model server", server), ("nginx", nginx)):
            code = child.poll()
            if code is not None:
                say(f"{name} exited with code {code}; stopping")
                for other in (server, nginx):
                    if other.poll() is None:
                        other.terminate()
                        other.wait(timeout=10)
                return code or 1
        time.sleep(0.1)

    # Graceful: nginx stops accepting and finishes in-flight requests while the workers still
    # answer them; then the workers finish theirs (and what they write) and exit.
    say("SIGTERM: draining")
    nginx.send_signal(signal.SIGQUIT)
    try:
        nginx.wait(timeout=NGINX_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        nginx.kill()
    try:
        (RUN_DIR / CONTROL_FIFO).write_text("q")
        server.wait(timeout=WORKER_GRACE_SECONDS + 1)
    except (OSError, subprocess.TimeoutExpired):
        server.kill()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
