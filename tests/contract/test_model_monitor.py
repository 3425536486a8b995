"""Model-quality monitoring with the real images: the serving image captures real test-split
requests with inference ids, `make ground-truth` labels them, `make monitor-model` runs the
training image's monitor-model job against a model-quality baseline of the same predictions,
and `make monitor-schedule` runs executions on its own, on a LOCAL_DIR of the test's own."""

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from pipeline.monitoring import traffic
from pipeline.runs import records as runs
from training.monitor import baseline as baseline_job
from training.monitor import multiclass, quality

from harness import PROCESSING_IMAGE, Endpoint, run_job, served_model

REPO = Path(__file__).resolve().parents[2]
METRICS = list(multiclass.METRICS)


def make(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def serve_traffic(client, processed: Path, model_dir: Path, local: Path,
                  workload: str) -> Path:
    """A LOCAL_DIR as `make traffic` against a capturing endpoint leaves it (a traffic run with
    sent.jsonl, the capture files), plus a model-quality baseline of the same predictions and a
    data-quality baseline of the training data (as make model-baseline and make baseline)."""
    import docker
    import pandas as pd

    capture = local / "capture" / workload
    capture.mkdir(parents=True)
    capture.chmod(0o777)  # the endpoint's workers are not root
    records = traffic.test_records(runs.Run(processed, {}))
    run = runs.create(local, "traffic", workload)
    server = Endpoint(client, model_dir, environment={
        "DATA_CAPTURE_DESTINATION": "/opt/ml/capture", "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100",
        "DATA_CAPTURE_ENDPOINT_NAME": f"{workload}-endpoint"},
        mounts=[docker.types.Mount("/opt/ml/capture", str(capture), type="bind")])
    truth, predicted = [], []
    try:
        server.wait_ready()
        with (run.folder / "sent.jsonl").open("w") as sent:
            for number, (label, record) in enumerate(records):
                key = f"{run.name}-{number}"
                reply = requests.post(f"{server.url}/invocations", json=record, timeout=10,
                                      headers={traffic.INFERENCE_ID: key})
                assert reply.status_code == 200, reply.text
                truth.append(label)
                predicted.append(str(reply.json()["prediction"]))
                sent.write(json.dumps({"inferenceId": key, "label": label, "time": traffic.zulu(
                    datetime.now(UTC))}) + "\n")
        server.container.stop(timeout=30)  # SIGTERM: the capture writer drains first
    finally:
        server.remove()
    runs.finish(run, 0)
    statistics, constraints = quality.model_quality(
        pd.DataFrame({"truth": truth, "predicted": predicted}), "truth", "predicted")
    model = runs.create(local, "baseline", workload, analysis_type="MODEL_QUALITY")
    for name, content in (("statistics.json", statistics), ("constraints.json", constraints)):
        path = model.folder / "processing" / "output" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    runs.finish(model, 0)
    data = runs.create(local, "baseline", workload, analysis_type="DATA_QUALITY")
    penguins = processed / "processing" / "baseline" / "train-baseline.csv"
    environment = {"dataset_source": penguins.parent, "dataset_format": '{"csv": {"header": true}}',
                   "output_path": data.folder / "processing" / "output",
                   "SAGEMAKER_BASE_DIR": data.folder}
    arguments = ["--workload", workload]
    if not penguins.is_file():  # Digits: the train split, its label first
        environment.update(dataset_source=processed / "processing" / "train",
                           dataset_format='{"csv": {"header": false}}')
        arguments.append("--drop-first-column")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, str(value))
        assert baseline_job.main(arguments) == 0
    runs.finish(data, 0)
    assert len(records) > 20 and accuracy(truth, predicted) > 0.8  # a model worth monitoring
    return local


@pytest.fixture(scope="module")
def served(docker_client, processed, model_dir, tmp_path_factory) -> Path:
    return serve_traffic(docker_client, processed, model_dir,
                         tmp_path_factory.mktemp("model-monitor") / "local", "penguins")


@pytest.fixture(scope="module")
def served_digits(docker_client, processed_digits, trained_digits, tmp_path_factory) -> Path:
    model = served_model(trained_digits / "output" / "model.tar.gz",
                         tmp_path_factory.mktemp("digits-model"))
    return serve_traffic(docker_client, processed_digits, model,
                         tmp_path_factory.mktemp("model-monitor-digits") / "local", "digits")


def accuracy(truth: list, predicted: list) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def model_runs(local: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (local / "monitoring").glob("*/run.json")
                   if json.loads(p.read_text()).get("analysis_type") == "MODEL_QUALITY"),
                  key=lambda record: record["start"])


def violations_of(local: Path, record: dict) -> list:
    return json.loads((local / "monitoring" / record["name"] / "processing" / "resultdata" /
                       "constraint_violations.json").read_text())["violations"]


@pytest.mark.parametrize("workload", ["penguins", "digits"])
def test_true_labels_pass_and_wrong_labels_break_accuracy_and_every_weighted_metric(
        request, workload):
    served = request.getfixturevalue("served" if workload == "penguins" else "served_digits")
    local, names = f"LOCAL_DIR={served}", []
    for option, expected in (("WRONG=0", []), ("WRONG=1", METRICS)):
        labelled = make("ground-truth", local, f"WORKLOAD={workload}", option)
        assert labelled.returncode == 0, labelled.stderr
        assert "ground truth for" in labelled.stdout
        done = make("monitor-model", local, f"WORKLOAD={workload}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        newest = model_runs(served)[-1]
        names.append(newest["name"])
        assert newest["status"] == "Completed"
        assert [v["metric_name"] for v in violations_of(served, newest)] == expected
        assert all(v["constraint_check_type"] == "LessThanThreshold"
                   for v in violations_of(served, newest))
    listed = make("monitoring", local, f"WORKLOAD={workload}")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()}
    # An endpoint of one model serves it as SageMaker's default variant, AllTraffic.
    assert [rows[name][1:4] for name in names] == [["MODEL_QUALITY", "AllTraffic",
                                                    "Completed"]] * 2
    assert [rows[name][-2] for name in names] == ["0", str(len(METRICS))]


def test_random_labels_from_the_image_job_cover_every_captured_request(
        docker_client, served, tmp_path):
    truth = tmp_path / "truth"
    done = make("ground-truth", f"LOCAL_DIR={served}", "RANDOM=1", f"GROUND_TRUTH_DIR={truth}")
    assert done.returncode == 0, done.stderr
    baseline = next(run.folder for run in runs.runs(served, "baseline")
                    if run.record["analysis_type"] == "MODEL_QUALITY") / "processing" / "output"
    root = tmp_path / "ml"
    for name in ("output", "processing/resultdata"):
        (root / name).mkdir(parents=True)
    result = run_job(docker_client, PROCESSING_IMAGE, [],
                     {root: ("/opt/ml", "rw"),
                      served / "capture" / "penguins": ("/opt/ml/processing/input/endpoint", "ro"),
                      truth: ("/opt/ml/processing/groundtruth", "ro"),
                      baseline: ("/opt/ml/processing/baseline", "ro")},
                     environment={"analysis_type": "MODEL_QUALITY",
                                  "problem_type": "MulticlassClassification",
                                  "inference_attribute": "prediction"},
                     entrypoint=["/usr/bin/tini", "--", "monitor-model"])
    assert result.exit_code == 0, result.logs
    sent = (next((served / "traffic").glob("*/sent.jsonl"))).read_text().splitlines()
    statistics = json.loads((root / "processing" / "resultdata" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == len(sent)
    assert (root / "processing" / "resultdata" / "report.html").stat().st_size > 5000


def test_the_schedule_runs_both_monitors_every_interval_until_stopped(served, compose_project):
    make("ground-truth", f"LOCAL_DIR={served}")  # true labels are the newest
    before = {p.parent.name for p in (served / "monitoring").glob("*/run.json")}
    # MONITOR_MAX_RUNTIME defaults to the interval: 3 s would end an execution on a loaded machine.
    options = [f"LOCAL_DIR={served}", f"COMPOSE_PROJECT={compose_project}", "MONITOR_INTERVAL=3",
               "MONITOR_WINDOW=86400", "MONITOR_MAX_RUNTIME=120"]
    started = make("monitor-schedule", *options)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        deadline, executions = time.monotonic() + 180, []
        while time.monotonic() < deadline:
            executions = [json.loads(p.read_text())
                          for p in (served / "monitoring").glob("*/run.json")
                          if p.parent.name not in before]
            done = [r for r in executions if r["status"] != "InProgress"]
            if sum(r["analysis_type"] == "MODEL_QUALITY" for r in done) >= 2 and \
                    sum(r["analysis_type"] == "DATA_QUALITY" for r in done) >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"fewer than two executions of each monitor in 180 s: {executions}")
    finally:
        stopped = make("monitor-schedule-stop", *options)
    assert stopped.returncode == 0, stopped.stderr
    model = [r for r in done if r["analysis_type"] == "MODEL_QUALITY"]
    assert all(r["status"] == "Completed" and r["metric"]["value"] == 0.0 for r in model), model
    assert all(r["status"] == "Completed" for r in done), done
    assert all(r["schedule"] == "penguins-monitoring-schedule" for r in done)
    windows = sorted(r["window"]["end"] for r in model)
    assert len(set(windows)) == len(windows)  # one execution per boundary
    listed = make("monitoring", f"LOCAL_DIR={served}")
    assert all(r["name"] in listed.stdout for r in done)
    # The same schedules and executions as SageMaker's lists answer them.
    summaries = json.loads(make("schedules", f"LOCAL_DIR={served}").stdout)
    assert {(s["MonitoringScheduleName"], s["MonitoringScheduleStatus"])
            for s in summaries["MonitoringScheduleSummaries"]} == {
        ("penguins-data-quality-schedule", "Stopped"),
        ("penguins-model-quality-schedule", "Stopped")}
    answer = json.loads(make("schedule-executions", f"LOCAL_DIR={served}",
                             "NAME=penguins-model-quality-schedule").stdout)
    arns = {s["ProcessingJobArn"] for s in answer["MonitoringExecutionSummaries"]}
    assert {r["ProcessingJobArn"] for r in model} <= arns
    ps = subprocess.run(["docker", "ps", "-q", "--filter",
                         f"label=com.docker.compose.project={compose_project}", "--filter",
                         "label=com.docker.compose.service=monitor"],
                        capture_output=True, text=True)
    assert ps.stdout.strip() == ""
