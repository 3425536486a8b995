"""SDK 3.x hosting and batch transform of ModelTrainer's model.tar.gz, offline, through
sagemaker-core's local client (LocalSession: create_model / create_endpoint / invoke_endpoint /
Transformer). ModelBuilder's LOCAL_CONTAINER mode cannot run these images offline (README)."""

import json
import time

import pytest
from sagemaker.core.local import LocalSession
from sagemaker.core.transformer import Transformer

from harness import SERVING_IMAGE, free_port

MODEL = "penguins-sdk3-model"


@pytest.fixture(scope="module")
def session(docker_client, one_host, tmp_path_factory):
    """A local session with the one-host model registered; removes its stopped containers."""
    root = tmp_path_factory.mktemp("sdk3-hosting")
    local = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    })
    # A free port (make serve and the SDK 2.x tests use 8080) and a container root of our own,
    # which names the compose projects of this module's containers.
    local.config = {"local": {"local_code": True, "serving_port": free_port(),
                              "container_root": str(root)}}
    # Environment is required: the local client reads PrimaryContainer["Environment"].
    local.sagemaker_client.create_model(ModelName=MODEL, PrimaryContainer={
        "Image": SERVING_IMAGE, "ModelDataUrl": f"file://{one_host.archive}", "Environment": {}})
    yield local
    for container in docker_client.containers.list(
            all=True, filters={"label": "com.docker.compose.project.working_dir"}):
        if container.labels["com.docker.compose.project.working_dir"].startswith(str(root)):
            container.remove(force=True)


def labels_of(one_host):
    return json.loads((one_host.root / "model" / "labels.json").read_text())


def test_the_local_endpoint_answers_a_real_record(session, one_host):
    client = session.sagemaker_client
    client.create_endpoint_config(EndpointConfigName=MODEL, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": MODEL, "InitialInstanceCount": 1,
        "InstanceType": "local"}])
    started = time.monotonic()
    client.create_endpoint(EndpointName=MODEL, EndpointConfigName=MODEL)  # polls /ping
    try:
        assert time.monotonic() - started < 120
        sample = (one_host.root / "model" / "sample.json").read_text()
        answer = session.sagemaker_runtime_client.invoke_endpoint(
            EndpointName=MODEL, Body=sample, ContentType="application/json",
            Accept="application/json")
        # invoke_endpoint does not check the status: the body must be a prediction.
        results = json.loads(answer["Body"].read())
        for result in results if isinstance(results, list) else [results]:
            assert result["prediction"] in labels_of(one_host), result
    finally:
        client.delete_endpoint(EndpointName=MODEL)


def test_batch_transform_keeps_one_line_per_record(session, one_host, processed, tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    raw = (processed / "processing" / "baseline" / "test-baseline.csv").read_text().splitlines()
    (source / "batch.csv").write_text("\n".join(raw[1:]) + "\n")  # species first, as SDK 2.x's
    transformer = Transformer(
        model_name=MODEL, instance_count=1, instance_type="local", strategy="MultiRecord",
        assemble_with="Line", accept="text/csv", output_path=f"file://{tmp_path / 'output'}",
        sagemaker_session=session)
    # Without job_name, transform() derives one from the model's image through the AWS API
    # (Model.get -> DescribeModel), which fails offline with NoCredentialsError.
    transformer.transform(f"file://{source}", content_type="text/csv", split_type="Line",
                          job_name="penguins-sdk3-transform")
    out = (tmp_path / "output" / "batch.csv.out").read_text().splitlines()
    assert len(out) == len(raw) - 1
    truth = [line.split(",")[0] for line in raw[1:]]
    predicted = [line.split(",")[0] for line in out]
    assert set(predicted) <= set(labels_of(one_host))
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth) >= 0.9
