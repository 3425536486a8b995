"""The make targets users run: the local pipeline through docker-compose, serve, invoke, stop."""

import json
import subprocess
from pathlib import Path

import pytest

from harness import free_port

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A LOCAL_DIR and compose project of the tests' own, so a user's pipeline is left alone.

    `make test-clean` removes what is left of the `penguinstest` project if a run is cut short.
    """
    folder = tmp_path_factory.mktemp("local")
    settings = [f"LOCAL_DIR={folder}", "COMPOSE_PROJECT=penguinstest",
                f"ENDPOINT_PORT={free_port()}", "EPOCHS=30"]
    yield folder, settings
    make("stop", *settings)


def test_pipeline_below_threshold_registers_nothing(local):
    folder, settings = local
    done = make("pipeline", *settings, "ACCURACY_THRESHOLD=1.01", "PENDING_THRESHOLD=1.001")
    assert done.returncode != 0
    assert "below the registration threshold 1.00" in done.stderr
    assert not (folder / "registry" / "penguins").exists() or not any(
        (folder / "registry" / "penguins").iterdir())
    assert (folder / "training" / "output" / "model.tar.gz").is_file()


def test_pipeline_registers_serves_and_invokes(local):
    folder, settings = local
    done = make("pipeline", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registered version 1 as Approved" in done.stdout
    metadata = json.loads((folder / "registry" / "penguins" / "1" / "metadata.json").read_text())
    assert metadata["hyperparameters"]["epochs"] == "30"
    assert metadata["accuracy"] >= 0.7 and len(metadata["model_sha256"]) == 64
    assert (folder / "evaluation" / "processing" / "evaluation" / "confusion-matrix.png").is_file()

    served = make("serve", *settings)
    assert served.returncode == 0, served.stdout[-3000:] + served.stderr[-3000:]
    assert "registry/penguins/1/model.tar.gz" in served.stdout
    invoked = make("invoke", *settings)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["prediction"] == "Gentoo"
    assert make("stop", *settings).returncode == 0
    assert make("invoke", *settings).returncode != 0  # really stopped
