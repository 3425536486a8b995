"""Tuning jobs for real: every trial a training job request of the training image through the job
runner, few epochs.

One processing run is shared; each test runs its own small tuning job in CreateHyperParameter
TuningJob's shape and reads what a user would: the run folders, results.csv, the logs.
"""

import csv
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from training.jobs.train import METRIC_DEFINITIONS

from harness import REPO, TRAINING_IMAGE, compose_command, free_port, wait_for

OBJECTIVE = "validation:accuracy"
TRIAL_NAME = re.compile(r"^(?P<job>.+)-(?P<number>\d{3})-[0-9a-f]{8}$")


def make(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def tuning_file(folder: Path, strategy: str, ranges: dict, jobs: int | None, parallel: int,
                static: dict, **extra) -> Path:
    tuned = {item["Name"] for kind in ranges.values() for item in kind}
    static = {k: v for k, v in {"batch_size": "32", "seed": "42", **static}.items()
              if k not in tuned}
    limits = {"MaxParallelTrainingJobs": parallel}
    if jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = jobs
    document = {
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE},
            "ResourceLimits": limits, "ParameterRanges": ranges, **extra},
        "TrainingJobDefinition": {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {"MetricDefinitions": METRIC_DEFINITIONS}},
    }
    path = folder / f"{strategy.lower()}-{len(list(folder.glob('*.json')))}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def local(tmp_path_factory, compose_project):
    folder = tmp_path_factory.mktemp("tune-local")
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={compose_project}"]
    done = make("process", *settings)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return folder, settings


def tune(local, path: Path, name: str) -> subprocess.CompletedProcess:
    folder, settings = local
    return make("tune", *settings, f"TUNING_CONFIG={path}", f"TUNING_JOB={name}")


def trials(folder: Path, job: str) -> list[dict]:
    """run.json of every trial of a tuning job, in trial order."""
    found = [json.loads(path.read_text()) for path in (folder / "training").glob("*/run.json")]
    return sorted((r for r in found if r.get("tuning_job") == job), key=lambda r: r["name"])


def results(folder: Path, job: str) -> list[dict]:
    with (folder / "tuning" / job / "results.csv").open() as table:
        return list(csv.DictReader(table))


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_random_job_runs_parallel_trials_as_sagemaker_names_and_feeds_them(local, tmp_path):
    folder, _ = local
    path = tuning_file(tmp_path, "Random", {
        "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "2", "MaxValue": "4"}],
        "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.01",
                                       "MaxValue": "0.1", "ScalingType": "Logarithmic"}]},
        3, 2, {}, RandomSeed=11)
    done = tune(local, path, "rand")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[3/3 finished]" in done.stdout and "best so far" in done.stdout
    # Trial logs stay in logs.txt: the terminal shows progress lines, not interleaved epochs.
    assert "epoch=" not in done.stdout
    records = trials(folder, "rand")
    assert [TRIAL_NAME.match(r["name"])["number"] for r in records] == ["001", "002", "003"]
    for record in records:
        assert record["status"] == "Completed" and TRIAL_NAME.match(record["name"])["job"] == "rand"
        trial = folder / "training" / record["name"]
        sent = json.loads((trial / "input" / "config" / "hyperparameters.json").read_text())
        assert set(sent) == {"batch_size", "seed", "epochs", "learning_rate",
                             "_tuning_objective_metric"}
        assert all(isinstance(value, str) for value in sent.values())
        assert sent["_tuning_objective_metric"] == OBJECTIVE
        assert 2 <= int(sent["epochs"]) <= 4 and 0.01 <= float(sent["learning_rate"]) <= 0.1
        assert (trial / "output" / "model.tar.gz").is_file()
    # MaxParallelTrainingJobs 2: the first two trials ran at the same time, never three.
    spans = [(moment(r["start"]), moment(r["end"])) for r in records]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    assert not (spans[2][0] < min(spans[0][1], spans[1][1]))

    rows = results(folder, "rand")
    assert [row["TrainingJobName"] for row in rows] == [r["name"] for r in records]
    for row, record in zip(rows, records, strict=True):
        # The objective as SageMaker reads it: the regex over the real log, the last value.
        logs = (folder / "training" / record["name"] / "logs.txt").read_text()
        values = re.findall(r"val_accuracy=([0-9\.]+)", logs)
        assert len(values) == int(row["epochs"])
        assert float(row["FinalObjectiveValue"]) == float(values[-1])
        assert row["TrainingJobStatus"] == "Completed"
    best = json.loads((folder / "tuning" / "rand" / "best-training-job.json").read_text())
    top = max(rows, key=lambda row: float(row["FinalObjectiveValue"]))
    assert best["TrainingJobName"] == top["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == OBJECTIVE
    assert (folder / "tuning" / "rand" / "objective.png").stat().st_size > 1000
    assert json.loads((folder / "tuning" / "rand" / "run.json").read_text())["status"] == \
        "Completed"


def trial_logs(folder: Path, job: str, first: int = 0) -> str:
    """The logs so far of a tuning job's trials, from the first-th on."""
    return "".join((folder / "training" / r["name"] / "logs.txt").read_text()
                   for r in trials(folder, job)[first:]
                   if (folder / "training" / r["name"] / "logs.txt").is_file())


def test_a_stopped_bayesian_job_continues_and_runs_each_trial_once(local, compose_project,
                                                                   tmp_path):
    folder, _ = local
    path = tuning_file(tmp_path, "Bayesian", {"ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.02", "MaxValue": "0.1"}]}, 3, 1,
        # One record a step: an epoch long enough (240 steps) that the stop sent after the
        # second trial's first epoch lands before its last one (at 32 a step it came after).
        {"epochs": "4", "batch_size": "1"})
    environ = {**os.environ, "TRAINING_IMAGE": TRAINING_IMAGE,
               "HOST_UID": str(os.getuid()), "HOST_GID": str(os.getgid())}
    tuner = subprocess.Popen(
        [sys.executable, "-m", "pipeline.tuning.job", "tune", "--local", str(folder),
         "--compose", compose_command(compose_project), "--image", TRAINING_IMAGE,
         "--config", str(path), "--tuning-job", "resumed"], cwd=REPO, env=environ,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in tuner.stdout],
                              daemon=True)
    reader.start()
    seen = []

    def first_trial_finished() -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any("[1/3 finished]" in line for line in seen)

    try:
        wait_for(first_trial_finished, 300, "the tuner's first trial")
        # Mid-way: trial 2 has finished an epoch; stop the tuner as a user's Ctrl-C would.
        wait_for(lambda: "epoch=1/4 " in trial_logs(folder, "resumed", 1), 120,
                 "the second trial's first epoch")
        tuner.send_signal(signal.SIGTERM)
        code = tuner.wait(timeout=180)
    finally:
        tuner.kill()
        reader.join(timeout=10)
    first_trial_finished()
    assert code == 143, "".join(seen)
    assert json.loads((folder / "tuning" / "resumed" / "run.json").read_text())["status"] == \
        "Stopped"
    cut = trials(folder, "resumed")
    assert [r["status"] for r in cut] == ["Completed", "Stopped"]

    done = tune(local, path, "resumed")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "continuing after 2 started" in done.stdout
    records = trials(folder, "resumed")
    assert [TRIAL_NAME.match(r["name"])["number"] for r in records] == ["001", "002", "003"]
    assert records[1]["name"] == cut[1]["name"] and records[1]["attempts"] == 2
    assert all(r["status"] == "Completed" for r in records)
    # The cut trial went on from its checkpoint: each epoch's line once in its log.
    logs = (folder / "training" / records[1]["name"] / "logs.txt").read_text()
    assert [logs.count(f"epoch={n}/4 ") for n in range(1, 5)] == [1, 1, 1, 1]
    assert len(results(folder, "resumed")) == 3
    assert len({r["hyperparameters"]["learning_rate"] for r in records}) == 3


def test_a_grid_job_tries_every_category_and_a_failed_trial_does_not_fail_it(local, tmp_path):
    folder, _ = local
    path = tuning_file(tmp_path, "Grid", {"CategoricalParameterRanges": [
        {"Name": "batch_size", "Values": ["16", "0"]}]}, None, 2, {"epochs": "2"})
    done = tune(local, path, "grid")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = trials(folder, "grid")
    assert sorted(r["hyperparameters"]["batch_size"] for r in records) == ["0", "16"]
    by_value = {r["hyperparameters"]["batch_size"]: r for r in records}
    assert by_value["16"]["status"] == "Completed"
    assert by_value["0"]["status"] == "Failed"
    failure = folder / "training" / by_value["0"]["name"] / "output" / "failure"
    assert "batch_size" in failure.read_text()
    assert "batch_size" in by_value["0"]["failure_reason"]
    statuses = {row["TrainingJobName"]: row["TrainingJobStatus"] for row in
                results(folder, "grid")}
    assert statuses == {r["name"]: r["status"] for r in records}


def test_a_job_whose_every_trial_fails_fails(local, tmp_path):
    folder, _ = local
    path = tuning_file(tmp_path, "Random", {"CategoricalParameterRanges": [
        {"Name": "learning_rate", "Values": ["0.01", "0.02"]}]}, 2, 2,
        {"epochs": "2", "batch_size": "0"})
    done = tune(local, path, "allfail")
    assert done.returncode != 0
    assert "no trial of 2 completed" in done.stderr
    record = json.loads((folder / "tuning" / "allfail" / "run.json").read_text())
    assert record["status"] == "Failed"
    assert [r["status"] for r in trials(folder, "allfail")] == ["Failed", "Failed"]


def test_early_stopping_stops_a_hopeless_trial_as_sagemaker_stops_a_job(local, tmp_path):
    folder, _ = local
    # RandomSeed 10 draws 0.1, then 0.00001 (Optuna's RandomSampler, pinned in the lock): the
    # second starts after a good trial completed and falls below its running average at once.
    # (A second 0.1 trial may itself dip below the first's running average at some epoch and be
    # stopped too: that is SageMaker's rule, so the design has one good trial only.)
    path = tuning_file(tmp_path, "Random", {"CategoricalParameterRanges": [
        {"Name": "learning_rate", "Values": ["0.1", "0.00001"]}]}, 2, 1, {"epochs": "8"},
        RandomSeed=10, TrainingJobEarlyStoppingType="Auto")
    done = tune(local, path, "early")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = trials(folder, "early")
    rates = [r["hyperparameters"]["learning_rate"] for r in records]
    assert rates == ["0.1", "0.00001"], "the designed order changed: pick another seed"
    assert [r["status"] for r in records] == ["Completed", "Stopped"]
    stopped = folder / "training" / records[1]["name"]
    assert records[1]["exit_code"] == 143  # SIGTERM, handled
    assert "(stopped early)" in done.stdout
    logs = (stopped / "logs.txt").read_text()
    assert "epoch=8/8" not in logs
    # As on SageMaker, a stopped job keeps what it saved: its checkpoint, and no model.
    assert (stopped / "checkpoints" / "state.json").is_file()
    assert not (stopped / "output" / "model.tar.gz").exists()
    best = json.loads((folder / "tuning" / "early" / "best-training-job.json").read_text())
    assert best["TrainingJobName"] != records[1]["name"]


def test_an_invalid_tuning_file_is_refused_before_any_job_starts(local, tmp_path):
    folder, _ = local
    path = tuning_file(tmp_path, "Random", {"IntegerParameterRanges": [
        {"Name": "epochs", "MinValue": "ten", "MaxValue": "20"}]}, 2, 1, {})
    def training_runs() -> list[Path]:
        # Alone, this module's first test: no training run yet, not even the folder.
        return sorted((folder / "training").glob("*"))

    before = training_runs()
    done = tune(local, path, "refused")
    assert done.returncode != 0
    assert ('HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0].MinValue: '
            '"ten" is not a whole number') in done.stderr
    assert training_runs() == before
    assert not (folder / "tuning" / "refused").exists()


def test_pipeline_tune_registers_the_best_evaluated_trial_with_its_tuning_job(local, tmp_path):
    folder, settings = local
    path = tuning_file(tmp_path, "Random", {"ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.05", "MaxValue": "0.1"}]}, 2, 2,
        {"epochs": "3"}, RandomSeed=5)
    done = make("pipeline", *settings, "TUNE=1", f"TUNING_CONFIG={path}",
                f"ENDPOINT_PORT={free_port()}", "ACCURACY_THRESHOLD=0.5",
                "PENDING_THRESHOLD=0.4")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job = json.loads(max((folder / "tuning").glob("*/run.json"),
                         key=lambda p: json.loads(p.read_text())["start"]).read_text())
    names = [r["name"] for r in trials(folder, job["name"])]
    # Both trials were evaluated on the test split, as the program's top_k=0 and top_k=1.
    evaluated = {json.loads(p.read_text())["inputs"]["model"]["run"]: json.loads(p.read_text())
                 for p in (folder / "evaluation").glob("*/run.json")}
    assert set(names) <= set(evaluated)
    registered = sorted((folder / "registry" / "penguins").glob("*/metadata.json"))[-1]
    lineage = json.loads(registered.read_text())["lineage"]
    assert lineage["tuning"] == job["name"] and lineage["training"] in names
    best_test = max(evaluated[name]["metric"]["value"] for name in names)
    assert evaluated[lineage["training"]]["metric"]["value"] == best_test
    assert lineage["evaluation"] == evaluated[lineage["training"]]["name"]
