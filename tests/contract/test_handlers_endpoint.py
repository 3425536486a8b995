"""Inference handlers on the real images: the two examples (inference toolkit style on the lean
image, TensorFlow Serving style with requirements.txt on the handler flavour), a handler
importing pandas, scikit-learn, boto3 and requests, and requirements that cannot install."""

import shutil
from pathlib import Path

import pytest
import requests

import tiny_model
from endpoint_cases import HANDLER_CASES, IRIS_JSON, Reply, check_case, json_body
from harness import HANDLERS_IMAGE, SERVING_IMAGE, Endpoint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IMAGES = {"endpoint-toolkit": SERVING_IMAGE, "endpoint-tfs-handler": HANDLERS_IMAGE}


def send(endpoint, method, path, body=None, headers=None) -> Reply:
    response = requests.request(method, endpoint.url + path, data=body, headers=headers or {},
                                timeout=30)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.content)


def readable(folder: Path) -> Path:
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def handler_folder(folder: Path, example: str | None = None, script: str | None = None,
                   requirements: str | None = None) -> Path:
    tiny_model.build_iris(folder)
    if example:
        shutil.copytree(EXAMPLES / example / "code", folder / "code")
        shutil.copy(EXAMPLES / example / "sample.json", folder / "sample.json")
    else:
        (folder / "code").mkdir()
        (folder / "code" / "inference.py").write_text(script)
    if requirements is not None:
        (folder / "code" / "requirements.txt").write_text(requirements)
    return readable(folder)


@pytest.fixture(scope="module", params=list(IMAGES))
def handler_endpoint(request, docker_client, tmp_path_factory):
    folder = handler_folder(tmp_path_factory.mktemp(request.param), request.param)
    server = Endpoint(docker_client, folder, image=IMAGES[request.param])
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()


@pytest.mark.parametrize("case", HANDLER_CASES, ids=lambda case: case.id)
def test_handler_contract_case(handler_endpoint, case):
    check_case(case, send(handler_endpoint, case.method, case.path, case.body, case.headers), [])


def test_started_as_root_a_handler_endpoint_keeps_no_process_root(handler_endpoint):
    """Both flavours as SageMaker starts them (root): code/requirements.txt is read and
    installed while serve is root, then nothing stays root, the handler's workers included."""
    assert handler_endpoint.container.attrs["Config"]["User"] in ("", "root", "0")
    assert send(handler_endpoint, "GET", "/ping").status == 200
    assert not handler_endpoint.root_processes(), handler_endpoint.processes()
    assert "root's work is done" in handler_endpoint.logs()


COMMON_IMPORTS = """
import boto3
import numpy as np
import pandas as pd
import requests
from sklearn.preprocessing import StandardScaler


def model_fn(model_dir):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0]})
    assert boto3.session.Session and requests.codes.ok == 200
    return StandardScaler().fit(frame)


def input_fn(body, content_type):
    return pd.DataFrame(__import__("json").loads(body))


def predict_fn(frame, scaler):
    return scaler.transform(frame)


def output_fn(prediction, accept):
    return __import__("json").dumps(np.round(prediction, 6).tolist()), accept
"""


def test_a_handler_importing_pandas_sklearn_boto3_and_requests_runs(docker_client, tmp_path):
    server = Endpoint(docker_client, handler_folder(tmp_path, script=COMMON_IMPORTS),
                      image=HANDLERS_IMAGE)
    try:
        server.wait_ready()
        reply = send(server, "POST", "/invocations", json_body({"a": [2.0], "b": [30.0]}),
                     {"Content-Type": "application/json"})
        assert reply.status == 200, reply.body[:300]
        assert reply.json() == [[0.0, 1.224745]]
    finally:
        server.remove()


def test_requirements_that_cannot_install_stop_the_endpoint_naming_the_package(
        docker_client, tmp_path):
    folder = handler_folder(tmp_path, "endpoint-toolkit",
                            requirements="numpy>=1\nno-such-package-here==1.0\n")
    (folder / "code" / "wheelhouse").mkdir()  # offline: nothing to install from
    readable(folder)
    server = Endpoint(docker_client, folder)
    try:
        status = server.container.wait(timeout=120)
        assert status["StatusCode"] != 0
        assert "cannot install no-such-package-here" in server.logs()
    finally:
        server.remove()


def test_a_pin_the_image_does_not_meet_runs_with_the_image_s_version(docker_client, tmp_path):
    folder = handler_folder(tmp_path, "endpoint-toolkit", requirements="numpy==1.21.6\n")
    server = Endpoint(docker_client, folder)
    try:
        server.wait_ready()
        reply = send(server, "POST", "/invocations", json_body(IRIS_JSON),
                     {"Content-Type": "application/json"})
        assert reply.status == 200
        assert "numpy==1.21.6 asked; the image's numpy" in server.logs()
    finally:
        server.remove()
