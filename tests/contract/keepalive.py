"""Keep-alive clients for the endpoint's contract tests, and the make and metrics helpers they
share: each client thread keeps one HTTP/1.1 connection and never retries, so a connection the
router closes under it shows as a failed request or a second connection."""

import http.client
import io
import json
import re
import subprocess
import tarfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.registry import models as registry

REPO = Path(__file__).resolve().parents[2]
# Requests before a change starts and after it ends, so that it happens under load.
MARGIN = 30


@dataclass
class Outcome:
    sent: float
    status: int | None
    variant: str | None
    body: str
    local_port: int | None


def make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def message(done: subprocess.CompletedProcess) -> str:
    """What a failed target said last on stderr, before make's own "*** Error" line."""
    assert "Traceback" not in done.stderr, done.stderr
    said = [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    return said[-1] if said else ""


def archive(model_dir: Path, path: Path, note: str) -> Path:
    """The model folder as a model.tar.gz, with a note that makes each archive's sha256 its own."""
    with tarfile.open(path, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name)
        data = note.encode()
        info = tarfile.TarInfo("note.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def register_archive(folder: Path, model: Path, hyperparameters: dict | None = None,
                     **options) -> dict:
    """A model archive registered as the next version of LOCAL_DIR folder's penguins group, its
    evaluation (folder/evaluation.json) above the approval threshold; the version's metadata.
    options: registry.register's (baselines=…)."""
    evaluation = folder / "evaluation.json"
    if not evaluation.is_file():
        evaluation.write_text(json.dumps(
            {"multiclass_classification_metrics": {"accuracy": {"value": 0.9}}}))
    return registry.register(folder / "registry" / "penguins", model, evaluation,
                             hyperparameters or {}, 0.7, 0.5, **options)


def register_version(folder: Path, model_dir: Path, note: str, **options) -> dict:
    """An archive of model_dir (note makes it its own) registered as register_archive does."""
    return register_archive(folder, archive(model_dir, folder / f"model-{note}.tar.gz", note),
                            **options)


@contextmanager
def serving(project: str, settings: list[str], *args: str):
    """`make serve` with make's settings (and args) for the body; then `make stop` and whatever
    is left of the compose project removed, whether the body passed or not."""
    try:
        done = make("serve", *settings, *args)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield done
    finally:
        make("stop", *settings)
        compose_down(project)


def scrape(port: int) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def metric(text: str, name: str, variant: str) -> float:
    """One sample of the Prometheus text (0 when absent)."""
    found = re.search(rf'^{name}{{endpoint="[^"]*",variant="{variant}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


# Each client's requests a second. Unpaced, four clients took a core of their own and kept the
# endpoint's workers busy on the other, so the deploy under test waited on both; 4 x 40 a second
# still keeps a request in flight through every switch a test makes.
RATE = 40


class Clients:
    """Threads POSTing one body, each over one kept connection: `rate` requests a second each
    while they run, or as fast as the endpoint answers for a counted batch (send)."""

    def __init__(self, port: int, threads: int, body: str, rate: float = RATE):
        self.port, self.body, self.count, self.rate = port, body.encode(), threads, rate
        self.outcomes: list[Outcome] = []
        self.done = threading.Event()
        self.limit: int | None = None
        self.lock = threading.Lock()

    def _send(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        due = time.monotonic()
        while not self.done.wait(max(0.0, due - time.monotonic())):
            with self.lock:
                if self.limit is not None and len(self.outcomes) >= self.limit:
                    return
            sent = time.monotonic()
            # A slow answer is not made up by a burst; a counted batch (send) costs the same
            # however fast it goes, so it goes unpaced.
            due = sent if self.limit is not None else max(due + 1 / self.rate, sent)
            try:
                connection.request("POST", "/invocations", self.body,
                                   {"Content-Type": "application/json"})
                local = connection.sock.getsockname()[1]
                reply = connection.getresponse()
                text = reply.read().decode()
                outcome = Outcome(sent, reply.status,
                                  reply.getheader("X-Amzn-Invoked-Production-Variant"), text,
                                  local)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                outcome = Outcome(sent, None, None, repr(error), None)
            with self.lock:
                self.outcomes.append(outcome)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._send, daemon=True) for _ in range(self.count)]
        for thread in threads:
            thread.start()
        return threads

    def send(self, total: int) -> None:
        self.limit = total
        for thread in self.start():
            thread.join(timeout=600)

    def sent_after(self, moment: float) -> list[Outcome]:
        with self.lock:
            return [outcome for outcome in self.outcomes if outcome.sent > moment]

    def count_between(self, began: float, ended: float) -> int:
        return len([outcome for outcome in self.sent_after(began) if outcome.sent < ended])

    def wait_for(self, count: int, after: float, deadline_seconds: float = 60) -> None:
        deadline = time.monotonic() + deadline_seconds
        while len(self.sent_after(after)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} requests in " \
                                                f"{deadline_seconds}s"
            time.sleep(0.05)

    def during(self, *make_args: str) -> tuple[subprocess.CompletedProcess, float, float]:
        """Run a make target while the threads send: (its result, when it began, ended)."""
        threads = self.start()
        try:
            self.wait_for(MARGIN, after=0)
            began = time.monotonic()
            done = make(*make_args)
            ended = time.monotonic()
            self.wait_for(MARGIN, after=ended)
        finally:
            self.done.set()
            for thread in threads:
                thread.join(timeout=40)
        return done, began, ended

    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status != 200]

    def connections(self) -> int:
        """Connections the clients opened: one each when the router kept them all."""
        return len({outcome.local_port for outcome in self.outcomes} - {None}) + \
            len([outcome for outcome in self.outcomes if outcome.local_port is None])


def compose_down(project: str) -> None:
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    compose = ["docker", "compose"] if v2 else ["docker-compose"]
    subprocess.run([*compose, "-p", project, "-f", "docker-compose.yml", "down",
                    "--remove-orphans", "--timeout", "5"], cwd=REPO, capture_output=True,
                   timeout=120)
