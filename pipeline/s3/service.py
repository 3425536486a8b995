"""The local S3 as a background process: started (`make s3`, or by a step that needs it through
ensure()), stopped (`make s3-stop`) and described by the environment that points boto3 and both
SageMaker SDKs at it (`make env`). Its pid, port and log live in <root>/.server/. Standard
library only: `make env` runs on any python3.

    python -m pipeline.s3.service {start,stop,status,env} --root local/s3 --port 9000
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.runs.files import write_json

DEFAULT_PORT = 9000
REGION = "us-east-1"
# Any credentials sign a request the local S3 accepts; boto3 only needs some to sign at all.
ACCESS_KEY, SECRET_KEY = "local", "local-secret"
REPO = Path(__file__).resolve().parents[2]


def endpoint(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}"


def client_env(port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """What a process needs for `s3://` to mean this server: boto3 (1.28+) and so both SDKs read
    AWS_ENDPOINT_URL_S3 for S3 alone; every other service keeps its real endpoint. SDK 3.x
    checks a job's role through IAM (unreachable offline, and no such role here) unless
    SAGEMAKER_VALIDATE_ROLE is false."""
    return {"AWS_ENDPOINT_URL_S3": endpoint(port, host), "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
            "SAGEMAKER_VALIDATE_ROLE": "false"}


def answers(port: int) -> bool:
    """Whether an S3 server answers ListBuckets on the port."""
    try:
        with urllib.request.urlopen(endpoint(port) + "/", timeout=2) as response:
            return b"ListAllMyBucketsResult" in response.read(4096)
    except (OSError, urllib.error.URLError):
        return False


def _state_file(root: Path) -> Path:
    return Path(root) / ".server" / "server.json"


def status(root: Path) -> dict | None:
    """The running server's {pid, port, hosts}, or None when none is (a stale record is gone)."""
    try:
        state = json.loads(_state_file(root).read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return state if answers(state["port"]) else None


def start(root: Path, port: int = DEFAULT_PORT, hosts=("127.0.0.1",), python: str = sys.executable,
          deadline_seconds: float = 20) -> dict:
    """Start the server on `root` unless it already runs; wait until it answers."""
    root = Path(root).resolve()
    if (state := status(root)) is not None:
        if state["port"] != port:
            raise RuntimeError(f"the local S3 of {root} already runs on port {state['port']} "
                               f"(pid {state['pid']}); stop it first (make s3-stop)")
        return state
    if answers(port):
        raise RuntimeError(f"port {port} already has an S3 server that is not the one of {root}; "
                           "choose another port (S3_PORT=)")
    (root / ".server").mkdir(parents=True, exist_ok=True)
    log = root / ".server" / "server.log"
    command = [python, "-m", "pipeline.s3.server", "--root", str(root), "--port", str(port)]
    for host in hosts:
        command += ["--host", host]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=environment,
                                   start_new_session=True)
    state = {"pid": process.pid, "port": port, "hosts": list(hosts), "root": str(root)}
    end = time.monotonic() + deadline_seconds
    while not answers(port):
        if process.poll() is not None or time.monotonic() > end:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"the local S3 did not answer on port {port} within "
                               f"{deadline_seconds:.0f} s; {log}:\n" + "\n".join(tail))
        time.sleep(0.1)
    write_json(_state_file(root), state)
    return state


def ensure(root: Path, port: int = DEFAULT_PORT) -> str:
    """The endpoint of the local S3 of `root`, started if it is not running (for a step)."""
    state = status(root) or start(root, port)
    return endpoint(state["port"])


def stop(root: Path, deadline_seconds: float = 10) -> bool:
    """Stop the server of `root`; False when none ran. Its objects stay."""
    state = status(root)
    _state_file(root).unlink(missing_ok=True)
    if state is None:
        return False
    os.kill(state["pid"], signal.SIGTERM)
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        try:
            os.kill(state["pid"], 0)
        except ProcessLookupError:
            return True
        # Our own child (a test's) must be reaped to disappear.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(state["pid"], os.WNOHANG)
        time.sleep(0.05)
    os.kill(state["pid"], signal.SIGKILL)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", action="append", help="an address to listen on (repeatable)")
    options = parser.parse_args(argv)
    if options.action == "env":
        for name, value in client_env(options.port).items():
            print(f"export {name}={value}")
    elif options.action == "start":
        try:
            state = start(options.root, options.port, options.host or ["127.0.0.1"])
        except RuntimeError as error:
            sys.exit(f"make s3: {error}")
        print(f"local S3 on {endpoint(state['port'])} (pid {state['pid']}), objects in "
              f"{state['root']}/<bucket>/<key>; `eval \"$(make -s env)\"` points boto3 and the "
              "SDKs at it")
    elif options.action == "stop":
        print("local S3 stopped" if stop(options.root) else "no local S3 was running")
    else:
        state = status(options.root)
        print(f"running on {endpoint(state['port'])} (pid {state['pid']})" if state
              else "not running")
        sys.exit(0 if state else 3)


if __name__ == "__main__":
    main()
