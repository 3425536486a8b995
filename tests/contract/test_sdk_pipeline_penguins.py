"""examples/penguins_pipeline.py, the program's pipeline written with the SDK, run end to end by
`make sdk-pipeline` offline, its definition built with SDK 2.x and with SDK 3.x (SDK=3):
processing with a script, a data-quality baseline, tuning with the top two models evaluated,
the condition on accuracy, registration with model metrics and drift baselines, the Lambda
step that deploys, to an endpoint that answers a real test record, and the Lambda step that
schedules data-quality monitoring of it against the quality check's baseline. Tiny epochs; the
images are this checkout's (IMAGE_TAG)."""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pipeline.s3 import service

from harness import free_port

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("IMAGE_TAG", "latest")


# The SDK 2.x ModelStep names its RegisterModel step <name>-RegisterModel; 3.x keeps the name.
REGISTER_STEP = {"2": "register-model-RegisterModel", "3": "register-model"}


@pytest.fixture(scope="module", params=sorted(REGISTER_STEP))
def run(request, tmp_path_factory, compose_project):
    local = tmp_path_factory.mktemp("penguins-pipeline")
    settings = [f"SDK={request.param}", f"LOCAL_DIR={local}", f"S3_PORT={free_port()}",
                f"IMAGE_TAG={TAG}", f"COMPOSE_PROJECT={compose_project}",
                f"ENDPOINT_PORT={free_port()}"]
    done = subprocess.run(
        ["make", "--no-print-directory", "sdk-pipeline", "PARAMETERS=TrainingEpochs=20",
         *settings], cwd=REPO, capture_output=True, text=True, timeout=1500,
        env={**os.environ, "TUNING_MAX_JOBS": "2"})
    yield local, done, int(settings[-1].split("=")[1]), REGISTER_STEP[request.param]
    for target in ("monitor-schedule-stop", "stop"):
        subprocess.run(["make", "--no-print-directory", target, *settings], cwd=REPO,
                       capture_output=True)
    service.stop(local / "s3")


def test_the_penguins_pipeline_runs_end_to_end_to_a_serving_endpoint(run):
    local, done, port, register_step = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (local / "executions").glob("penguins-pipeline-*")
    steps = {step["StepName"]: step for step in json.loads(
        (folder / "steps.json").read_text())["PipelineExecutionSteps"]}
    assert {name: step["StepStatus"] for name, step in steps.items()} == {
        name: "Succeeded" for name in (
            "preprocess-data", "data-quality-baseline", "tune-model", "evaluate-model-1",
            "evaluate-model-2", "check-accuracy", register_step, "deploy-model",
            "schedule-monitors")}
    meta = json.loads((local / "registry" / "penguins" / "1" / "metadata.json").read_text())
    assert meta["approval_status"] == "Approved" and meta["accuracy"] >= 0.7
    drift = meta["model_package"]["DriftCheckBaselines"]["ModelDataQuality"]
    assert drift["Constraints"]["S3Uri"].endswith("/constraints.json")
    assert (local / "s3" / drift["Constraints"]["S3Uri"].removeprefix("s3://")).is_file()

    # The monitoring schedule the last Lambda made: on the deployed endpoint, against the
    # baseline the quality check used, running.
    (schedule,) = (local / "schedules").glob("*/penguins-endpoint-data-quality-schedule")
    described = json.loads((schedule / "describe.json").read_text())
    assert described["MonitoringScheduleStatus"] == "Scheduled"
    assert described["EndpointName"] == "penguins-endpoint"
    definition = json.loads((schedule / "job-definition.json").read_text())
    assert definition["DataQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"] == (
        drift["Constraints"]["S3Uri"])

    # The processing job ran as any job does (make jobs lists it); its test split is in S3.
    (job,) = (local / "processing").glob(f"pipelines-{folder.name.rsplit('-', 1)[-1]}"
                                         "-preprocess-data-*")
    outputs = json.loads((job / "run.json").read_text())["ProcessingOutputConfig"]["Outputs"]
    (uri,) = [item["S3Output"]["S3Uri"] for item in outputs if item["OutputName"] == "test"]
    test = local / "s3" / uri.removeprefix("s3://") / "test.csv"
    rows = [[float(value) for value in line.split(",")] for line in test.read_text().splitlines()]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=json.dumps(
            {"instances": [features for _label, *features in rows]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        predictions = json.loads(answer.read())["predictions"]
    assert len(predictions) == len(rows)
    assert all(len(row) == 3 and abs(sum(row) - 1) < 1e-4 for row in predictions)
    # The endpoint serves the registered model: on the test split it scores as the condition
    # step let it through (one record may be one the model gets wrong).
    right = sum(row.index(max(row)) == int(label)
                for row, (label, *_) in zip(predictions, rows, strict=True))
    assert right / len(rows) >= 0.7, f"{right} of {len(rows)} test records right"
