"""The SageMaker Python SDK 2.x (local mode, offline, dummy role) as the client of the images."""

import json
import re
import tarfile

import pytest
import requests
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer

from training.jobs.train import METRIC_DEFINITIONS

from endpoint_cases import CSV_LINE, RECORD, assert_result
from harness import (
    LOCAL_DEPLOY,
    PROCESSING_IMAGE,
    SERVING_IMAGE,
    TRAINING_IMAGE,
    Endpoint,
    free_port,
    local_status,
    processing_tree,
    remove_compose_files_containers,
    served_model,
)

pytestmark = pytest.mark.sdk
ROLE = "arn:aws:iam::111111111111:role/service-role/LocalSageMakerRole"


# Tiny where the model's quality is not under test: the SDK's plumbing is (15 epochs at 0.1 pass
# the single-host gate with two hosts as well; docs/jobs.md, multi-host).
FEW_EPOCHS = {"epochs": 15, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def session(docker_client, monkeypatch_module, tmp_path_factory):
    """A local session whose compose files go to a folder of ours (so we remove the containers
    local mode leaves stopped, and only those) and whose endpoints take a free port."""
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    root = tmp_path_factory.mktemp("local-mode")
    local = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    })
    local.config = {"local": {"local_code": True, "container_root": str(root),
                              "serving_port": free_port()}}
    try:
        yield local
    finally:
        remove_compose_files_containers(root)


@pytest.fixture(scope="module")
def sdk_training(session, processed, tmp_path_factory):
    """Estimator.fit on the processing job's channels; returns (estimator, logs, output dir)."""
    output = tmp_path_factory.mktemp("sdk-output")
    estimator = Estimator(
        image_uri=TRAINING_IMAGE, role=ROLE, instance_count=1, instance_type="local",
        hyperparameters={"epochs": 20, "learning_rate": 0.02}, output_path=f"file://{output}",
        metric_definitions=METRIC_DEFINITIONS, sagemaker_session=session,
    )
    channels = {name: f"file://{processed / 'processing' / name}"
                for name in ("train", "validation", "pipeline")}
    estimator.fit(channels, logs=True)
    return estimator, output


def test_estimator_fit_writes_model_tar(sdk_training):
    _estimator, output = sdk_training
    with tarfile.open(output / "model.tar.gz") as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    assert {"model.onnx", "labels.json", "model-card.json", "sample.json"} <= names


def test_two_instances_train_one_model_that_serves(session, processed, docker_client, tmp_path,
                                                   capfd):
    # SDK 2.x local mode: hosts algo-1 and algo-2 on network sagemaker-local, one /opt/ml/model
    # shared by both, `up --abort-on-container-exit` (the first host to exit stops the other).
    # batch_size is per host, so 2 hosts double the learning rate (README: multi-host).
    output = tmp_path / "output"
    estimator = Estimator(
        image_uri=TRAINING_IMAGE, role=ROLE, instance_count=2, instance_type="local",
        hyperparameters=FEW_EPOCHS, output_path=f"file://{output}",
        metric_definitions=METRIC_DEFINITIONS, sagemaker_session=session,
    )
    estimator.fit({name: f"file://{processed / 'processing' / name}"
                   for name in ("train", "validation", "pipeline")}, logs=True)
    logs = capfd.readouterr().out
    # Local mode names hosts algo-N-<suffix>; the worker waited for the chief to finish.
    assert re.search(r"host algo-2-\w+ done; the model is the chief's \(algo-1-\w+\)", logs)
    with tarfile.open(output / "output.tar.gz") as archive:
        assert not [name for name in archive.getnames() if name.endswith("failure")]
    model = served_model(output / "model.tar.gz", tmp_path / "served")
    card = json.loads((model / "model-card.json").read_text())
    assert card["hyperparameters"]["learning_rate"] == FEW_EPOCHS["learning_rate"]
    assert card["metrics"]["val_accuracy"] >= 0.9  # the single-host gate
    regex = next(d["Regex"] for d in METRIC_DEFINITIONS if d["Name"] == "validation:accuracy")
    chief_lines = [line for line in logs.splitlines() if re.search(regex, line)]
    assert len(chief_lines) == card["hyperparameters"]["epochs"]  # the chief's only
    assert all("algo-1" in line for line in chief_lines)
    endpoint = Endpoint(docker_client, model)
    try:
        endpoint.wait_ready()
        sample = json.loads((model / "sample.json").read_text())
        answer = requests.post(f"{endpoint.url}/invocations", json=sample, timeout=10)
        assert answer.status_code == 200, answer.text
        assert_result(answer.json(), card["labels"])
    finally:
        endpoint.remove()


@pytest.fixture(scope="module")
def sdk_model(session, sdk_training):
    _estimator, output = sdk_training
    return Model(image_uri=SERVING_IMAGE, model_data=f"file://{output / 'model.tar.gz'}",
                 role=ROLE, sagemaker_session=session, predictor_cls=Predictor)


def test_deployed_model_predicts_json_and_csv(sdk_model, session):
    predictor = sdk_model.deploy(**LOCAL_DEPLOY)
    try:
        labels = ["Adelie", "Chinstrap", "Gentoo"]
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        # predict() does not check the status: check the body.
        result = predictor.predict(RECORD)
        assert_result(result, labels)
        port = session.config["local"]["serving_port"]
        direct = requests.post(f"http://localhost:{port}/invocations", json=RECORD, timeout=10)
        assert direct.json() == result
        predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
        predictor.accept = "text/csv"
        rows = predictor.predict(f"{CSV_LINE}\n{CSV_LINE}", initial_args={"Accept": "text/csv"})
        assert [row[0] for row in rows] == [result["prediction"]] * 2
    finally:
        predictor.delete_endpoint()


def test_batch_transform_keeps_one_line_per_record(sdk_model, processed, tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    raw = (processed / "processing" / "baseline" / "test-baseline.csv").read_text().splitlines()
    header = raw[0].split(",")
    order = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
             "sex"]
    lines = []
    for row in raw[1:]:
        values = dict(zip(header, row.split(","), strict=True))
        lines.append(",".join([values["species"]] + [values[name] for name in order]))
    (source / "batch.csv").write_text("\n".join(lines) + "\n")
    transformer = sdk_model.transformer(
        instance_count=1, instance_type="local", strategy="MultiRecord", assemble_with="Line",
        accept="text/csv", output_path=f"file://{tmp_path / 'output'}",
    )
    transformer.transform(f"file://{source}", content_type="text/csv", split_type="Line",
                          wait=False, logs=False)
    assert local_status(transformer.latest_transform_job, "Transform") == "Completed"
    out = (tmp_path / "output" / "batch.csv.out").read_text().splitlines()
    assert len(out) == len(lines)
    truth = [line.split(",")[0] for line in lines]
    predicted = [line.split(",")[0] for line in out]
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth) >= 0.9


def test_processing_job_through_the_local_client(session, tmp_path):
    root = processing_tree(tmp_path / "in")
    out = tmp_path / "out"
    outputs = []
    for name in ("train", "validation", "test", "pipeline", "baseline"):
        (out / name).mkdir(parents=True)
        outputs.append({"OutputName": name, "S3Output": {
            "S3Uri": f"file://{out / name}", "LocalPath": f"/opt/ml/processing/{name}",
            "S3UploadMode": "EndOfJob"}})
    session.sagemaker_client.create_processing_job(
        ProcessingJobName="penguins-processing-sdk",
        ProcessingInputs=[{"InputName": "input", "S3Input": {
            "S3Uri": f"file://{root / 'processing' / 'input'}",
            "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}],
        ProcessingOutputConfig={"Outputs": outputs},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "local",
                                               "VolumeSizeInGB": 1}},
        AppSpecification={"ImageUri": PROCESSING_IMAGE, "ContainerEntrypoint": ["process"],
                          "ContainerArguments": ["--seed", "42"]},
        RoleArn=ROLE,
    )
    train = (out / "train" / "train.csv").read_text().splitlines()
    assert len(train) > 200
    assert {p.name for p in (out / "pipeline").iterdir()} >= {"features.joblib", "target.joblib"}


def test_processing_job_with_two_instances_runs_on_the_first_host_only(session, tmp_path,
                                                                       capfd):
    # Local mode mounts each output into both hosts and stops both once one exits: the
    # second host must wait for the first, and write nothing itself.
    root = processing_tree(tmp_path / "in")
    out = tmp_path / "out"
    outputs = []
    for name in ("train", "pipeline"):
        (out / name).mkdir(parents=True)
        outputs.append({"OutputName": name, "S3Output": {
            "S3Uri": f"file://{out / name}", "LocalPath": f"/opt/ml/processing/{name}",
            "S3UploadMode": "EndOfJob"}})
    session.sagemaker_client.create_processing_job(
        ProcessingJobName="penguins-processing-two-hosts",
        ProcessingInputs=[{"InputName": "input", "S3Input": {
            "S3Uri": f"file://{root / 'processing' / 'input'}",
            "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}],
        ProcessingOutputConfig={"Outputs": outputs},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "local",
                                               "VolumeSizeInGB": 1}},
        AppSpecification={"ImageUri": PROCESSING_IMAGE, "ContainerEntrypoint": ["process"],
                          "ContainerArguments": ["--seed", "42"]},
        RoleArn=ROLE,
    )
    logs = capfd.readouterr().out
    assert re.search(r"host algo-1-\w+ of 2 processes all the input", logs)
    assert re.search(r"host algo-2-\w+: the processing job runs on algo-1-\w+ only", logs)
    assert len((out / "train" / "train.csv").read_text().splitlines()) > 200
    assert {p.name for p in (out / "pipeline").iterdir()} >= {"features.joblib",
                                                             "workload.json"}


# The same SDK calls for the Digits workload, through the same images.


@pytest.fixture(scope="module")
def sdk_digits_model(session, processed_digits, tmp_path_factory):
    """Estimator.fit on the Digits channels, then a Model of the serving image."""
    output = tmp_path_factory.mktemp("sdk-digits-output")
    estimator = Estimator(
        image_uri=TRAINING_IMAGE, role=ROLE, instance_count=1, instance_type="local",
        hyperparameters={"epochs": 8}, output_path=f"file://{output}",
        metric_definitions=METRIC_DEFINITIONS, sagemaker_session=session,
    )
    estimator.fit({name: f"file://{processed_digits / 'processing' / name}"
                   for name in ("train", "validation", "pipeline")}, wait=False)
    assert local_status(estimator.latest_training_job, "Training") == "Completed"
    return Model(image_uri=SERVING_IMAGE, model_data=f"file://{output / 'model.tar.gz'}",
                 role=ROLE, sagemaker_session=session, predictor_cls=Predictor)


def digits_test_rows(processed_digits) -> list[list[str]]:
    """The Digits test split: label, then the 64 pixel values of each image."""
    return [line.split(",") for line in
            (processed_digits / "processing" / "test" / "test.csv").read_text().splitlines()]


def test_deployed_digits_model_predicts_pixels_as_json_and_csv(sdk_digits_model,
                                                               processed_digits):
    rows = digits_test_rows(processed_digits)[:20]
    images = [{"pixels": [[float(v) for v in row[1 + 8 * r:9 + 8 * r]] for r in range(8)]}
              for row in rows]
    predictor = sdk_digits_model.deploy(**LOCAL_DEPLOY)
    try:
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        results = predictor.predict(images)
        labels = [str(digit) for digit in range(10)]
        for result in results:
            assert_result(result, labels)
        truth = [row[0] for row in rows]
        assert sum(r["prediction"] == t for r, t in zip(results, truth, strict=True)) >= 17
        predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
        predictor.accept = "text/csv"
        csv_rows = predictor.predict("\n".join(",".join(row[1:]) for row in rows),
                                     initial_args={"Accept": "text/csv"})
        assert [row[0] for row in csv_rows] == [r["prediction"] for r in results]
    finally:
        predictor.delete_endpoint()


def test_digits_batch_transform_keeps_one_line_per_image(sdk_digits_model, processed_digits,
                                                         tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    rows = digits_test_rows(processed_digits)
    (source / "digits.csv").write_text("\n".join(",".join(row) for row in rows) + "\n")
    transformer = sdk_digits_model.transformer(
        instance_count=1, instance_type="local", strategy="MultiRecord", assemble_with="Line",
        accept="text/csv", output_path=f"file://{tmp_path / 'output'}",
    )
    transformer.transform(f"file://{source}", content_type="text/csv", split_type="Line",
                          wait=False, logs=False)
    assert local_status(transformer.latest_transform_job, "Transform") == "Completed"
    out = (tmp_path / "output" / "digits.csv.out").read_text().splitlines()
    assert len(out) == len(rows)
    predicted = [line.split(",")[0] for line in out]
    truth = [row[0] for row in rows]
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth) >= 0.9
