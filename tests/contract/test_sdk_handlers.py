"""SDK 2.x local mode deploys a handler model on our serving image: Model(image_uri,
model_data=file://model.tar.gz).deploy(instance_type="local") and Predictor.predict, the archive
holding code/inference.py (examples/endpoint-toolkit) beside model.onnx. Local mode extracts it
into a 0700 temporary folder of the user running the SDK and mounts that at /opt/ml/model."""

import shutil
from pathlib import Path

import pytest
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.local import LocalSession
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer

from training.contract.archive import pack

import tiny_model
from endpoint_cases import IRIS_JSON
from harness import LOCAL_DEPLOY, SERVING_IMAGE, free_port, remove_compose_files_containers

pytestmark = pytest.mark.sdk
ROLE = "arn:aws:iam::111111111111:role/service-role/LocalSageMakerRole"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "endpoint-toolkit"


@pytest.fixture(scope="module")
def session(monkeypatch_module, tmp_path_factory):
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    local = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    })
    # A port of its own: local mode's default 8080 may be a user's (or another test's) endpoint;
    # its compose files under a folder of the module's, so the teardown removes only its own.
    root = tmp_path_factory.mktemp("local-mode")
    local.config = {"local": {"local_code": True, "serving_port": free_port(),
                              "container_root": str(root)}}
    yield local
    remove_compose_files_containers(root)


@pytest.fixture(scope="module")
def predictor(session, tmp_path_factory):
    folder = tiny_model.build_iris(tmp_path_factory.mktemp("handler-model"))
    shutil.copytree(EXAMPLE / "code", folder / "code")
    archive = pack(folder, tmp_path_factory.mktemp("archive") / "model.tar.gz")
    model = Model(image_uri=SERVING_IMAGE, model_data=f"file://{archive}", role=ROLE,
                  sagemaker_session=session, predictor_cls=Predictor)
    deployed = model.deploy(**LOCAL_DEPLOY)
    try:
        yield deployed
    finally:
        deployed.delete_endpoint()


def test_predictor_predict_runs_the_archives_inference_py_on_json(predictor):
    predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
    answer = predictor.predict(IRIS_JSON)
    assert [row["label"] for row in answer["predictions"]] == ["setosa", "virginica"]
    assert all(abs(sum(row["scores"]) - 1) < 1e-5 for row in answer["predictions"])


def test_predictor_predict_sends_csv_to_the_handlers_input_fn(predictor):
    predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
    rows = predictor.predict([[6.0, 2.9, 4.5, 1.5], [5.1, 3.5, 1.4, 0.2]],
                             initial_args={"Accept": "text/csv"})
    assert rows == [["versicolor"], ["setosa"]]
