"""The make targets users run: the local pipeline through docker-compose, serve, invoke, stop.

Each test has a LOCAL_DIR of its own: the whole pipeline where the pipeline is under test, else
the session's processing and training runs filed as make files them (cheap, and the same runs).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.runs import records as runs

from harness import REPO, filed_runs, free_port, remove_project


def make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def local(tmp_path, compose_project):
    """A LOCAL_DIR, port and compose project of the test's own, so a user's pipeline is left
    alone; the endpoint stopped after the test."""
    folder = tmp_path / "local"
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={compose_project}",
                f"ENDPOINT_PORT={free_port()}", "EPOCHS=30"]
    yield folder, settings
    make("stop", *settings)


def run_records(folder: Path, kind: str) -> list[dict]:
    """The run.json of every run of a kind, newest first."""
    records = [json.loads(path.read_text()) for path in (folder / kind).glob("*/run.json")]
    return sorted(records, key=lambda record: record["start"], reverse=True)


def test_a_model_below_the_threshold_is_evaluated_but_not_registered(local, processed,
                                                                     trained):
    folder, settings = local
    _, model = filed_runs(folder, processed, trained)
    evaluated = make("evaluate", *settings)
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    done = make("register", *settings, "ACCURACY_THRESHOLD=1.01", "PENDING_THRESHOLD=1.001")
    assert done.returncode != 0
    assert "below the registration threshold 1.00" in done.stderr
    assert not (folder / "registry" / "penguins").exists() or not any(
        (folder / "registry" / "penguins").iterdir())
    trained_record = run_records(folder, "training")[0]
    assert trained_record["name"] == model and trained_record["status"] == "Completed"
    assert (folder / "training" / model / "output" / "model.tar.gz").is_file()


def test_pipeline_registers_serves_and_invokes(local):
    folder, settings = local
    done = make("pipeline", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registered version 1 as Approved" in done.stdout
    # The terminal gets a line or two a step (make demo's budget is 40 before the prediction);
    # each job's own lines, every epoch included, are in its run's logs.txt.
    assert len((done.stdout + done.stderr).splitlines()) <= 30, done.stdout
    assert "epoch=" not in done.stdout
    metadata = json.loads((folder / "registry" / "penguins" / "1" / "metadata.json").read_text())
    assert metadata["hyperparameters"]["epochs"] == "30"
    assert metadata["accuracy"] >= 0.7 and len(metadata["model_sha256"]) == 64
    # Every registered version can be traced back to its data and hyperparameters.
    newest = {kind: run_records(folder, kind)[0] for kind in
              ("processing", "training", "evaluation")}
    assert {kind: metadata["lineage"][kind] for kind in newest} == {
        kind: record["name"] for kind, record in newest.items()}
    # The Model Monitor baselines made by the pipeline are recorded with the version.
    baseline_runs = {r["name"] for r in run_records(folder, "baseline")}
    assert {metadata["lineage"]["baseline"], metadata["lineage"]["model_baseline"]} <= baseline_runs
    assert metadata["lineage"]["transform"] == run_records(folder, "transform")[0]["name"]
    for kind in ("data_quality", "model_quality"):
        for name in ("statistics", "constraints"):
            assert json.loads(Path(metadata["baselines"][kind][name]).read_text())
    assert newest["training"]["inputs"]["train"]["run"] == newest["processing"]["name"]
    assert newest["evaluation"]["inputs"]["model"]["run"] == newest["training"]["name"]
    evaluation = folder / "evaluation" / newest["evaluation"]["name"] / "processing" / "evaluation"
    assert (evaluation / "confusion-matrix.png").is_file()
    logs = (folder / "training" / newest["training"]["name"] / "logs.txt").read_text()
    assert "epoch=30/30" in logs

    served = make("serve", *settings)
    assert served.returncode == 0, served.stdout[-3000:] + served.stderr[-3000:]
    assert "registry/penguins/1/model.tar.gz" in served.stdout
    invoked = make("invoke", *settings)
    assert invoked.returncode == 0, invoked.stderr
    # The model's own sample: a record of the test split it was evaluated on.
    answer = json.loads(invoked.stdout)
    assert set(answer["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert answer["prediction"] == max(answer["probabilities"], key=answer["probabilities"].get)
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-4
    assert make("stop", *settings).returncode == 0
    assert make("invoke", *settings).returncode != 0  # really stopped


def test_a_failed_training_run_is_never_the_next_steps_input(local, processed, trained):
    folder, settings = local
    _, good = filed_runs(folder, processed, trained)
    failed = make("train", *settings, "EPOCHS=abc")
    assert failed.returncode != 0
    assert "epochs='abc' is not a whole number" in failed.stderr + failed.stdout
    assert not re.search(r"^\d+$", failed.stdout + failed.stderr, re.M)  # no bare exit code
    record = run_records(folder, "training")[0]
    assert record["status"] == "Failed" and record["name"] != good
    assert "not a whole number" in record["failure_reason"]
    assert not (folder / "training" / record["name"] / "output" / "model.tar.gz").exists()

    evaluated = make("evaluate", *settings)
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    assert f"evaluating the model of training run {good}" in evaluated.stdout
    assert run_records(folder, "evaluation")[0]["inputs"]["model"]["run"] == good

    refused = make("evaluate", *settings, f"TRAINING_JOB={record['name']}")
    assert refused.returncode != 0
    assert f"TRAINING_JOB={record['name']} is Failed" in refused.stderr

    listed = make("jobs", *settings)
    rows = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()[1:]}
    assert rows[record["name"]][:2] == ["training", "Failed"]
    assert rows[good][:2] == ["training", "Completed"]
    assert rows[good][3].startswith("validation:accuracy=")


def test_digits_workload_runs_beside_penguins_through_the_same_targets(
        local, compose_project, processed, trained, processed_digits):
    folder, settings = local
    filed_runs(folder, processed, trained)  # Penguins' runs, older than the Digits ones
    filed_runs(folder, processed_digits, workload="digits")  # make pipeline's first step
    project = f"{compose_project}-digits"  # its endpoint beside Penguins', as a user's would be
    digits = [f"LOCAL_DIR={folder}", "WORKLOAD=digits", f"COMPOSE_PROJECT={project}",
              f"ENDPOINT_PORT={free_port()}", "EPOCHS=8"]
    try:
        # make pipeline's steps but its baselines (the Penguins pipeline test has those).
        for target in ("train", "evaluate", "register"):
            done = make(target, *digits)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "registered version 1 as Approved" in done.stdout
        assert (folder / "registry" / "digits" / "1" / "model.tar.gz").is_file()
        trained = run_records(folder, "training")[0]
        assert trained["workload"] == "digits" and trained["name"].startswith("digits-train-")
        served = make("serve", *digits)
        assert served.returncode == 0, served.stdout[-3000:] + served.stderr[-3000:]
        invoked = make("invoke", *digits)
        assert invoked.returncode == 0, invoked.stderr
        answer = json.loads(invoked.stdout)
        assert set(answer["probabilities"]) == {str(digit) for digit in range(10)}
        # Penguins' steps still take Penguins' runs, never the newer Digits ones.
        evaluated = make("evaluate", *settings)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        assert "of training run penguins-train-" in evaluated.stdout
    finally:
        make("stop", *digits)
        remove_project(project)


def test_keep_runs_removes_the_oldest_runs_of_a_kind(local):
    folder, settings = local
    def penguins() -> list[dict]:
        return [r for r in run_records(folder, "processing") if r["workload"] == "penguins"]

    for workload in ("penguins", "penguins", "digits"):  # finished runs, as older make runs left
        runs.finish(runs.create(folder, "processing", workload), 0)
    before = {r["name"] for r in penguins()}
    others = {r["name"] for r in run_records(folder, "processing")} - before
    assert len(before) == 2 and len(others) == 1
    done = make("process", *settings, "KEEP_RUNS=1")
    assert done.returncode == 0, done.stderr[-2000:]
    left = penguins()
    assert len(left) == 1 and left[0]["name"] not in before
    assert {r["name"] for r in run_records(folder, "processing")} - {left[0]["name"]} == others
    assert f"removed {len(before)} old processing run(s)" in done.stdout
