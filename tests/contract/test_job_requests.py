"""Any job from SageMaker's own request: CreateProcessingJob and CreateTrainingJob bodies run on a
real Docker engine, for an image that is not ours (built here from the local base image) and
for our training image; and the registry's and the endpoint's requests through `make job`."""

import json
import subprocess
import tarfile
import threading
import urllib.request
from pathlib import Path

import pytest
from keepalive import archive, compose_down
from werkzeug.serving import make_server

from pipeline.api import runner
from pipeline.api.storage import BotoS3, Storage
from pipeline.s3.server import S3App
from training.jobs.train import METRIC_DEFINITIONS

from harness import TRAINING_IMAGE, compose_project, free_port

REPO = Path(__file__).resolve().parents[2]
# This module's own compose project, so its containers never meet a user's or another module's.
# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("job_requests")
TAG = TRAINING_IMAGE.rsplit(":", 1)[-1] if ":" in TRAINING_IMAGE else "latest"
TINY_IMAGE = f"job-request-tiny:{TAG}"
# The tiny image's entrypoint: processing copies its input with the environment's greeting;
# training writes its hyperparameter and channel into the model, fails or sleeps when told.
TINY_JOB = r'''
import json, os, pathlib, sys, time
ml = pathlib.Path("/opt/ml")
if sys.argv[1:2] == ["train"]:
    hps = json.loads((ml / "input/config/hyperparameters.json").read_text())
    host = json.loads((ml / "input/config/resourceconfig.json").read_text())["current_host"]
    if hps.get("mode") == "fail":
        (ml / "output/failure").write_text("the tiny job was told to fail")
        sys.exit(3)
    if hps.get("mode") == "sleep":
        time.sleep(300)
    words = (ml / "input/data/words/words.txt").read_text().strip()
    (ml / "model/model.txt").write_text(f"{hps['message']} {words} {host}")
    print("tiny_score=0.75", flush=True)
else:
    text = pathlib.Path(sys.argv[1], "words.txt").read_text().strip()
    out = pathlib.Path(sys.argv[2])
    (out / "nested").mkdir()
    (out / "nested" / "greeting.txt").write_text(f"{os.environ['GREETING']} {text}")
'''


def base_image() -> str:
    chosen = REPO / ".build" / "base-image"
    return chosen.read_text().strip() if chosen.is_file() else "python:3.11-slim-bookworm"


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory) -> str:
    """A three-line Dockerfile on the local base image: nothing of ours inside."""
    folder = tmp_path_factory.mktemp("tiny-image")
    (folder / "job.py").write_text(TINY_JOB)
    (folder / "Dockerfile").write_text(f"FROM {base_image()}\nCOPY job.py /job.py\n"
                                       'ENTRYPOINT ["python3", "/job.py"]\n')
    done = subprocess.run(["docker", "build", "-q", "-t", TINY_IMAGE, str(folder)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return TINY_IMAGE


@pytest.fixture
def words(tmp_path) -> Path:
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "words.txt").write_text("from a channel\n")
    return folder


def run(request: dict, local: Path, **settings) -> dict:
    return runner.run_job(request, local, project=PROJECT, **settings)


@pytest.fixture
def local_s3(tmp_path, monkeypatch):
    """The local S3 (pipeline/s3) on a free port of this test's own; yields its folder."""
    folder = tmp_path / "s3"
    (folder / "bucket").mkdir(parents=True)
    server = make_server("127.0.0.1", 0, S3App(folder), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in (("AWS_ACCESS_KEY_ID", "any"), ("AWS_SECRET_ACCESS_KEY", "any"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def training_request(image: str, name: str, words: Path, output: Path, **extra) -> dict:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "tiny:score",
                                                          "Regex": "tiny_score=([0-9.]+)"}]},
        "RoleArn": "arn:aws:iam::000000000000:role/local",
        "HyperParameters": {"message": "hello"},
        "InputDataConfig": [{"ChannelName": "words", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{words}",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"file://{output}"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    for key, value in extra.items():
        request[key] = {**request[key], **value} if isinstance(value, dict) else value
    return request


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)


def test_make_job_runs_a_processing_request_for_an_image_that_is_not_ours(
        tiny_image, words, tmp_path):
    local, output = tmp_path / "local", tmp_path / "bucket" / "greetings"
    request = {
        "ProcessingJobName": "tiny-processing",
        "AppSpecification": {"ImageUri": tiny_image, "ContainerArguments": [
            "/opt/ml/processing/input/words", "/opt/ml/processing/output"]},
        "Environment": {"GREETING": "hello $USER"},
        "ProcessingInputs": [{"InputName": "words", "S3Input": {
            "S3Uri": f"file://{words}", "LocalPath": "/opt/ml/processing/input/words",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "greetings", "S3Output": {
            "S3Uri": f"file://{output}", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                  "InstanceType": "ml.t3.medium",
                                                  "VolumeSizeInGB": 1}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "RoleArn": "arn:aws:iam::000000000000:role/local",
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    settings = [f"LOCAL_DIR={local}", f"COMPOSE_PROJECT={PROJECT}"]
    done = make("job", f"REQUEST={path}", *settings)
    assert done.returncode == 0, done.stdout + done.stderr
    # The output is where SageMaker uploads it: the S3Uri plus the path under LocalPath.
    assert (output / "nested" / "greeting.txt").read_text() == "hello $USER from a channel"
    described = make("describe", "JOB=tiny-processing", *settings)
    assert described.returncode == 0, described.stderr
    answer = json.loads(described.stdout)
    assert answer["ProcessingJobStatus"] == "Completed"
    assert answer["ProcessingJobArn"].endswith(":processing-job/tiny-processing")
    assert answer["AppSpecification"] == request["AppSpecification"]
    assert {"CreationTime", "ProcessingStartTime", "ProcessingEndTime"} <= set(answer)
    assert json.loads((local / "processing" / "tiny-processing" / "request.json").read_text()) \
        == request
    listed = make("jobs", *settings)
    assert "tiny-processing" in listed.stdout and "Completed" in listed.stdout


def test_a_training_request_on_two_hosts_uploads_the_model_where_sagemaker_does(
        tiny_image, words, tmp_path):
    output = tmp_path / "bucket" / "models"
    answer = run(training_request(tiny_image, "tiny-training", words, output,
                                  ResourceConfig={"InstanceCount": 2}), tmp_path / "local")
    assert answer["TrainingJobStatus"] == "Completed", answer
    assert answer["SecondaryStatus"] == "Completed"
    archive = output / "tiny-training" / "output" / "model.tar.gz"
    assert answer["ModelArtifacts"]["S3ModelArtifacts"] == f"file://{archive}"
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["model.txt"]
        assert tar.extractfile("model.txt").read().decode() == "hello from a channel algo-1"
    assert answer["FinalMetricDataList"][0]["MetricName"] == "tiny:score"
    assert answer["FinalMetricDataList"][0]["Value"] == 0.75
    statuses = [step["Status"] for step in answer["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Training", "Uploading", "Completed"]
    second = tmp_path / "local" / "training" / "tiny-training" / "hosts" / "algo-2"
    assert (second / "model" / "model.txt").read_text() == "hello from a channel algo-2"


def test_s3_channels_and_outputs_go_through_the_local_s3(tiny_image, local_s3, tmp_path):
    folder, endpoint = local_s3
    (folder / "bucket" / "words").mkdir()
    (folder / "bucket" / "words" / "words.txt").write_text("from s3\n")  # an object, by hand
    request = training_request(tiny_image, "tiny-s3", tmp_path, tmp_path)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://bucket/words"
    request["OutputDataConfig"]["S3OutputPath"] = "s3://bucket/models"
    answer = run(request, tmp_path / "local", storage=Storage(BotoS3(endpoint)))
    assert answer["TrainingJobStatus"] == "Completed", answer.get("FailureReason")
    assert answer["ModelArtifacts"]["S3ModelArtifacts"] == \
        "s3://bucket/models/tiny-s3/output/model.tar.gz"
    with tarfile.open(folder / "bucket" / "models" / "tiny-s3" / "output" / "model.tar.gz") as tar:
        assert tar.extractfile("model.txt").read().decode() == "hello from s3 algo-1"
    assert "Downloading" in [step["Status"] for step in answer["SecondaryStatusTransitions"]]


def test_a_failing_training_request_reports_the_failure_file(tiny_image, words, tmp_path):
    output = tmp_path / "bucket"
    answer = run(training_request(tiny_image, "tiny-fails", words, output,
                                  HyperParameters={"mode": "fail"}), tmp_path / "local")
    assert answer["TrainingJobStatus"] == "Failed"
    assert "the tiny job was told to fail" in answer["FailureReason"]
    assert "ModelArtifacts" not in answer
    assert not (output / "tiny-fails").exists()


def test_max_runtime_stops_a_training_request_as_sagemaker_does(tiny_image, words, tmp_path):
    answer = run(training_request(tiny_image, "tiny-sleeps", words, tmp_path / "bucket",
                                  HyperParameters={"mode": "sleep"},
                                  StoppingCondition={"MaxRuntimeInSeconds": 2}),
                 tmp_path / "local")
    assert answer["TrainingJobStatus"] == "Stopped"
    assert answer["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "FailureReason" not in answer
    assert answer["TrainingTimeInSeconds"] < 60
    record = json.loads((tmp_path / "local" / "training" / "tiny-sleeps" / "run.json")
                        .read_text())
    assert record["status"] == "Stopped"


def test_our_training_image_trains_penguins_from_a_request(processed, tmp_path):
    channels = {name: processed / "processing" / name for name in
                ("train", "validation", "pipeline")}
    output = tmp_path / "bucket"
    request = {
        "TrainingJobName": "penguins-from-request",
        "AlgorithmSpecification": {"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": METRIC_DEFINITIONS},
        "HyperParameters": {"epochs": "2", "batch_size": "32"},
        "InputDataConfig": [{"ChannelName": name, "ContentType": "text/csv", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{path}"}}}
            for name, path in channels.items()],
        "OutputDataConfig": {"S3OutputPath": f"file://{output}"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        "Environment": {"KERAS_HOME": "/tmp/.keras", "MPLCONFIGDIR": "/tmp/matplotlib"},
    }
    answer = run(request, tmp_path / "local")
    assert answer["TrainingJobStatus"] == "Completed", answer.get("FailureReason")
    archive = output / "penguins-from-request" / "output" / "model.tar.gz"
    with tarfile.open(archive) as tar:
        assert tar.getnames()
    metrics = {item["MetricName"]: item["Value"] for item in answer["FinalMetricDataList"]}
    assert 0 <= metrics["validation:accuracy"] <= 1
    record = json.loads((tmp_path / "local" / "training" / "penguins-from-request" / "run.json")
                        .read_text())
    assert record["metric"]["name"] == "validation:accuracy"
    # The run folder keeps the model too, where the make steps read it.
    assert (tmp_path / "local" / "training" / "penguins-from-request" / "output"
            / "model.tar.gz").is_file()


def registry_requests(folder: Path) -> list[tuple[str, dict, str]]:
    """The registry's requests in the order a user sends them, each with what `make job` says:
    (make target, body or JOB, a line it prints)."""
    archive, evaluation = folder / "model.tar.gz", folder / "evaluation.json"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(__file__, "code/inference.py")
    evaluation.write_text(json.dumps({"multiclass_classification_metrics": {
        "accuracy": {"value": 0.8}}}))
    return [
        ("job", {"ModelPackageGroupName": "tiny-group", "InferenceSpecification": {
            "Containers": [{"Image": "any-image:1", "ModelDataUrl": f"file://{archive}"}]},
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": f"file://{evaluation}"}}}},
         "CreateModelPackage: version 1 of tiny-group, PendingManualApproval"),
        ("job", {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/"
                                    "tiny-group/1",
                 "ModelApprovalStatus": "Approved", "ApprovalDescription": "looks right"},
         "hook: approved"),
        ("job", {"ModelName": "tiny-model", "PrimaryContainer": {
            "Image": "any-image:1", "ModelDataUrl": f"file://{archive}"}},
         "CreateModel: tiny-model kept"),
        ("describe", "tiny-group/1", '"ApprovalDescription": "looks right"'),
        ("describe", "tiny-model", '"ModelArn": "arn:aws:sagemaker:'),
        ("models", "", "1\tApproved\taccuracy=0.8000"),
    ]


def test_make_job_takes_the_registrys_requests_and_describe_answers_them(tmp_path):
    settings = [f"LOCAL_DIR={tmp_path / 'local'}", "MODEL_GROUP=tiny-group",
                "ON_APPROVE=echo hook: approved", "APPROVER=tester"]
    for index, (target, request, says) in enumerate(registry_requests(tmp_path)):
        if target == "job":
            path = tmp_path / f"request-{index}.json"
            path.write_text(json.dumps(request))
            done = make("job", f"REQUEST={path}", *settings)
        else:
            done = make(target, *([f"JOB={request}"] if request else []), *settings)
        assert done.returncode == 0, done.stdout + done.stderr
        assert says in done.stdout, (target, done.stdout)
    history = json.loads((tmp_path / "local" / "registry" / "tiny-group" / "1" /
                          "metadata.json").read_text())["approval_history"]
    assert history[-1]["by"] == "tester" and history[-1]["on_approve"]["ok"]


RECORD = {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
          "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}


def endpoint_requests(model_dir: Path, folder: Path) -> list[tuple[dict, str]]:
    """The endpoint's requests in the order a user sends them, each with a line `make job`
    prints: two models, a config for each, the endpoint on the first, then a canary update."""
    canary = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        "WaitIntervalInSeconds": 1}}}
    found = []
    for name in ("first", "second"):
        path = archive(model_dir, folder / f"{name}.tar.gz", name)
        found.append(({"ModelName": f"{name}-model", "PrimaryContainer": {
            "Image": "any-image:1", "ModelDataUrl": f"file://{path}"}},
            f"CreateModel: {name}-model kept"))
        found.append(({"EndpointConfigName": f"{name}-config", "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": f"{name}-model",
             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}]},
            f"CreateEndpointConfig: {name}-config kept"))
    return found + [
        ({"EndpointName": "tiny-endpoint", "EndpointConfigName": "first-config"},
         "CreateEndpoint: tiny-endpoint serves first-config (InService)"),
        ({"EndpointName": "tiny-endpoint", "EndpointConfigName": "second-config",
          "DeploymentConfig": canary},
         "UpdateEndpoint: tiny-endpoint serves second-config (InService)"),
    ]


def test_make_job_serves_an_endpoint_from_its_requests_and_moves_it_by_canary(
        tiny_model_dir, tmp_path):
    local, port = tmp_path / "local", free_port()
    settings = [f"LOCAL_DIR={local}", f"COMPOSE_PROJECT={PROJECT}", f"ENDPOINT_PORT={port}",
                "IMAGES_BUILT=1"]
    try:
        for index, (request, says) in enumerate(endpoint_requests(tiny_model_dir, tmp_path)):
            path = tmp_path / f"request-{index}.json"
            path.write_text(json.dumps(request))
            done = make("job", f"REQUEST={path}", *settings)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            assert says in done.stdout, done.stdout
        assert "50% of variant AllTraffic's traffic" in done.stdout
        reply = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                   data=json.dumps(RECORD).encode(),
                                   headers={"Content-Type": "application/json"}), timeout=30)
        assert reply.status == 200
        described = json.loads(make("describe", "JOB=tiny-endpoint", *settings).stdout)
        assert (described["EndpointConfigName"], described["EndpointStatus"]) == (
            "second-config", "InService")
        history = json.loads((local / "endpoint" / "penguins" / "deployments.json").read_text())
        live = next(item for item in history["deployments"] if item["id"] == history["live"])
        assert live["variants"][0]["archive"] == str(tmp_path / "second.tar.gz")
    finally:
        make("stop", *settings)
        compose_down(PROJECT)
