"""Helpers that run the real images on the local Docker engine.

Every container started here carries the label `penguins.test`, and every compose project of
the tests is named penguinstest-…, so `make test-clean` removes whatever a failed or interrupted
run leaves behind.
"""

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
import requests

TRAINING_IMAGE = os.environ.get("TRAINING_IMAGE", "penguins-training:latest")
PROCESSING_IMAGE = os.environ.get("PROCESSING_IMAGE", TRAINING_IMAGE)
SERVING_IMAGE = os.environ.get("SERVING_IMAGE", "penguins-serving:latest")
# The serving image's handler flavour (pandas, scikit-learn, boto3, requests).
HANDLERS_IMAGE = os.environ.get("HANDLERS_IMAGE", "penguins-serving-handlers:latest")
LABELS = {"penguins.test": "1"}
PING_DEADLINE_SECONDS = 60
# In the command line of the model server's processes (serving/serve.py starts uWSGI so).
MODEL_SERVER = "pyuwsgi"
REPO = Path(__file__).resolve().parents[2]
# `make test-clean` removes the containers and networks of every compose project so named.
PROJECT_PREFIX = "penguinstest-"
# Where make test keeps the session's processing and training runs for all its pytest runs.
SHARED_DIR_VARIABLE = "PENGUINS_TEST_SHARED"


def filed_runs(local: Path, processed: Path, trained: Path | None = None,
               workload: str = "penguins") -> tuple[str, str | None]:
    """The session's processing (and training) runs filed in a LOCAL_DIR as make files its own:
    a Completed record each, the training's metric as make reads it from the log. Cheaper than
    running them again, and the same runs."""
    from pipeline.runs import records as runs

    source = runs.create(local, "processing", workload)
    shutil.copytree(processed, source.folder, dirs_exist_ok=True)
    runs.finish(source, 0)
    if trained is None:
        return source.name, None
    model = runs.create(local, "training", workload, inputs={"train": {"run": source.name}})
    shutil.copytree(trained, model.folder, dirs_exist_ok=True)
    card = json.loads((trained / "model" / "model-card.json").read_text())
    runs.finish(model, 0, {"name": "validation:accuracy",
                           "value": card["metrics"]["val_accuracy"]})
    return source.name, model.name


@dataclass
class JobResult:
    exit_code: int
    logs: str
    seconds: float


def run_job(client, image, command, volumes, environment=None, entrypoint=None, timeout=300):
    """Run a job container to completion without network, as SageMaker would; return its result."""
    started = time.monotonic()
    container = client.containers.run(
        image,
        command,
        entrypoint=entrypoint,
        detach=True,
        labels=LABELS,
        network_mode="none",
        environment=environment or {},
        volumes={str(host): {"bind": bind, "mode": mode} for host, (bind, mode) in volumes.items()},
    )
    try:
        status = container.wait(timeout=timeout)
        logs = container.logs().decode("utf-8", "replace")
        return JobResult(status["StatusCode"], logs, time.monotonic() - started)
    finally:
        container.remove(force=True)


def bundled_dataset() -> Path:
    return Path(str(resources.files("palmerpenguins") / "data" / "penguins.csv"))


def processing_tree(root: Path, csv_text: str | None = None) -> Path:
    """An /opt/ml tree for a processing job with the given raw CSV (default: palmerpenguins)."""
    (root / "processing" / "input").mkdir(parents=True)
    (root / "output").mkdir()
    target = root / "processing" / "input" / "penguins.csv"
    if csv_text is None:
        shutil.copyfile(bundled_dataset(), target)
    else:
        target.write_text(csv_text)
    return root


def run_processing(client, root: Path, *args: str) -> JobResult:
    return run_job(client, PROCESSING_IMAGE, list(args), {root: ("/opt/ml", "rw")},
                   entrypoint=["/usr/bin/tini", "--", "process"])


def training_tree(root: Path, processed: Path, hyperparameters: dict, channels=None) -> dict:
    """Volumes for a training job whose channels are a processing job's outputs."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    for name in ("model", "output", "checkpoints"):
        (root / name).mkdir()
    config.joinpath("hyperparameters.json").write_text(json.dumps(hyperparameters))
    config.joinpath("resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    channels = channels if channels is not None else ("train", "validation", "pipeline")
    config.joinpath("inputdataconfig.json").write_text(
        json.dumps({name: {"TrainingInputMode": "File"} for name in channels})
    )
    volumes = {root: ("/opt/ml", "rw")}
    for name in channels:
        source = processed / "processing" / name
        volumes[source] = (f"/opt/ml/input/data/{name}", "ro")
    return volumes


def train(client, root: Path, processed: Path, hyperparameters: dict) -> JobResult:
    """A training job on a processing job's channels, packing model.tar.gz as SageMaker would."""
    volumes = training_tree(root, processed, hyperparameters)
    return run_job(client, TRAINING_IMAGE, "train", volumes,
                   environment={"MODEL_ARCHIVE": "/opt/ml/output/model.tar.gz"})


def served_model(archive: Path, folder: Path) -> Path:
    """model.tar.gz extracted into folder exactly as SageMaker hosting does.

    pytest and tempfile make 0700 folders; SageMaker's /opt/ml/model is readable by the
    server's unprivileged workers.
    """
    from training.contract.archive import extract

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    extract(archive, folder)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Endpoint:
    """A running serving container and its base URL."""

    def __init__(self, client, model_dir: Path, environment=None, container_port=8080,
                 image=SERVING_IMAGE, mount="/opt/ml/model", **run_args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.container = client.containers.run(
            image,
            "serve",
            detach=True,
            labels=LABELS,
            environment=environment or {},
            ports={f"{container_port}/tcp": ("127.0.0.1", self.port)},
            volumes={str(model_dir): {"bind": mount, "mode": "ro"}},
            **run_args,
        )

    def wait_ready(self, deadline_seconds: float = PING_DEADLINE_SECONDS) -> float:
        """Poll /ping until 200; fail loudly with the logs at the deadline."""
        started = time.monotonic()
        while time.monotonic() - started < deadline_seconds:
            try:
                if requests.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except (requests.ConnectionError, requests.Timeout):  # a busy machine answers late
                pass
            self.container.reload()
            if self.container.status == "exited":
                break
            time.sleep(0.1)
        pytest.fail(f"endpoint not healthy after {deadline_seconds}s:\n{self.logs()}")

    def workers(self) -> dict:
        """pid -> (user, rss KB) of the model server's workers (not its master)."""
        rows = self.container.top(ps_args="-eo pid,ppid,user,rss,args")["Processes"]
        server = {row[0]: row for row in rows if MODEL_SERVER in row[4]}
        # The master is the model server process whose parent is not one: serve, or tini.
        masters = {pid for pid, row in server.items() if row[1] not in server}
        return {pid: (row[2], int(row[3])) for pid, row in server.items()
                if row[1] in masters}

    def processes(self) -> list[tuple[str, str, str, str]]:
        """(pid, parent's pid, uid, command line) of every process in the container."""
        return [tuple(row) for row in
                self.container.top(ps_args="-eo pid,ppid,uid,args")["Processes"]]

    def root_processes(self) -> list[tuple[str, str]]:
        """(pid, command line) of every process in the container that runs as root (uid 0)."""
        return [(pid, args) for pid, _ppid, uid, args in self.processes() if uid == "0"]

    def wait_workers(self, count: int, deadline_seconds: float = 5) -> dict:
        """The workers once `count` of them run, failing after the deadline."""
        # /ping answers when the first is up; the others may load their model a little later.
        deadline = time.monotonic() + deadline_seconds
        while len(found := self.workers()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(found) == count, f"{len(found)} model server workers, expected {count}"
        return found

    def logs(self) -> str:
        return self.container.logs().decode("utf-8", "replace")

    def remove(self):
        self.container.remove(force=True)


def compose_project(name: str) -> str:
    """A compose project of one test module's own: apart from a user's, from the other modules'
    (a test's `compose down` never stops another's), and from other test runs on this engine."""
    return f"{PROJECT_PREFIX}{re.sub(r'[^a-z0-9]', '', name.lower())}-{os.getpid()}"


def remove_project(project: str) -> None:
    """What `compose down --remove-orphans` removes (containers, one-off runs included, and
    networks of the project), without needing the compose file's variables."""
    label = f"label=com.docker.compose.project={project}"
    for kind, listing in (("container", ["ps", "-aq"]), ("network", ["network", "ls", "-q"])):
        found = subprocess.run(["docker", *listing, "--filter", label], capture_output=True,
                               text=True, timeout=60).stdout.split()
        if found:
            subprocess.run(["docker", kind, "rm", *(["-f"] if kind == "container" else []),
                            *found], capture_output=True, timeout=120)


# SDK 2.x local mode runs a job, or starts an endpoint, inside its Create* call, which returns
# once the job has ended or the container answers /ping; the SDK's wait then polls Describe*,
# sleeping first (5 s for a transform or a training job without logs, 10 s for a processing
# job without logs, 30 s for an endpoint), and checks nothing more. The tests pass wait=False
# and read the job's status themselves (local_status).
LOCAL_DEPLOY = {"initial_instance_count": 1, "instance_type": "local", "wait": False}


def local_status(job, kind: str) -> str:
    """The status a local-mode job of `kind` (Transform, Processing or Training: the SDK's
    latest_transform_job, latest_job or latest_training_job) ended with."""
    describe = getattr(job.sagemaker_session.sagemaker_client, f"describe_{kind.lower()}_job")
    return describe(**{f"{kind}JobName": job.job_name})[f"{kind}JobStatus"]


def remove_compose_files_containers(root: Path) -> None:
    """Remove the containers of every compose project whose file lies below root: what SageMaker
    SDK local mode started with local.container_root=root (it leaves them stopped), and nothing
    another test or user started."""
    label = "com.docker.compose.project.working_dir"
    listed = subprocess.run(["docker", "ps", "-a", "--filter", f"label={label}", "--format",
                             f'{{{{.ID}}}} {{{{.Label "{label}"}}}}'],
                            capture_output=True, text=True, timeout=60).stdout.splitlines()
    found = [ident for ident, _, folder in (line.partition(" ") for line in listed)
             if Path(folder).is_relative_to(root)]
    if found:
        subprocess.run(["docker", "rm", "-f", *found], capture_output=True, timeout=120)


def compose_command(project: str) -> str:
    """The compose command the make targets build, for a test that calls the Python CLIs."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    return f"{'docker compose' if v2 else 'docker-compose'} -p {project} -f docker-compose.yml"


def shared_folder(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that `build` fills once per test run, however many pytest processes ask.

    xdist workers share their controller's base folder; make test's pytest runs share the
    folder PENGUINS_TEST_SHARED names (keyed by the image, so a rebuilt image trains again).
    Without either, this is a session fixture's own folder.
    """
    root = os.environ.get(SHARED_DIR_VARIABLE)
    if root:
        image = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", TRAINING_IMAGE],
                               capture_output=True, text=True).stdout.strip()
        root, name = Path(root), f"{name}-{image.removeprefix('sha256:')[:12]}"
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent
    else:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root.mkdir(parents=True, exist_ok=True)
    pointer = root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on a crash
        if pointer.is_file():
            return Path(pointer.read_text())
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        build(folder)
        pointer.write_text(str(folder))
        return folder


def wait_for(condition: Callable[[], object], deadline_seconds: float, what: str,
             interval: float = 0.1):
    """Poll until condition() is truthy and return its value; fail naming what never came."""
    deadline = time.monotonic() + deadline_seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_seconds} s")
        time.sleep(interval)
    return value
