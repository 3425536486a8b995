"""Any ONNX graph on the real serving image: built here with onnx.helper (two inputs, no
signature), served over v2 JSON; and the model folder as SDK local mode mounts it."""

import os

import pytest
import requests

import tiny_model
from endpoint_cases import (
    ANY_ONNX_CASES,
    ANY_ONNX_CSV_CASES,
    FEATURES,
    OFFSET,
    Reply,
    check_case,
    json_body,
)
from harness import SERVING_IMAGE, Endpoint


def send(endpoint, method, path, body=None, headers=None) -> Reply:
    response = requests.request(method, endpoint.url + path, data=body, headers=headers or {},
                                timeout=30)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.content)


def readable_folder(folder):
    """pytest's folders are 0700; SageMaker's /opt/ml/model is readable by the workers."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture(scope="module")
def graph_endpoint(docker_client, tmp_path_factory):
    folder = tiny_model.build_two_inputs(readable_folder(tmp_path_factory.mktemp("any-onnx")))
    server = Endpoint(docker_client, readable_folder(folder))
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()


@pytest.mark.parametrize("case", ANY_ONNX_CASES, ids=lambda case: case.id)
def test_any_onnx_contract_case(graph_endpoint, case):
    check_case(case, send(graph_endpoint, case.method, case.path, case.body, case.headers), [])


@pytest.fixture(scope="module")
def iris_endpoint(docker_client, tmp_path_factory):
    folder = readable_folder(tmp_path_factory.mktemp("any-onnx-iris"))
    server = Endpoint(docker_client, readable_folder(tiny_model.build_iris(folder, False)))
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()


@pytest.mark.parametrize("case", ANY_ONNX_CSV_CASES, ids=lambda case: case.id)
def test_any_onnx_csv_case(iris_endpoint, case):
    check_case(case, send(iris_endpoint, case.method, case.path, case.body, case.headers), [])


def test_the_openapi_document_is_the_graph_s(graph_endpoint):
    document = send(graph_endpoint, "GET", "/openapi.json").json()
    entries = document["components"]["schemas"]["InferenceRequest"]["properties"]["inputs"]
    assert [e["properties"]["name"]["enum"][0] for e in entries["items"]["anyOf"]] == [
        "features", "offset"]


def root_owned_0700(client, source, target):
    """target: a copy of source owned by root with mode 0700, as SDK local mode mounts
    /opt/ml/model (made by a container, so it holds whatever user runs the tests)."""
    target.mkdir()
    client.containers.run(
        SERVING_IMAGE, ["sh", "-c", "cp -r /source/. /target && chown -R 0:0 /target && "
                                    "chmod -R go-rwx /target && chmod 700 /target"],
        entrypoint=[], remove=True, network_mode="none",
        volumes={str(source): {"bind": "/source", "mode": "ro"},
                 str(target): {"bind": "/target", "mode": "rw"}})
    status = os.stat(target)
    assert (status.st_uid, status.st_mode & 0o777) == (0, 0o700)
    return target


def test_a_root_owned_0700_model_folder_is_served_by_unprivileged_workers(
        docker_client, tmp_path):
    (tmp_path / "built").mkdir()
    source = tiny_model.build_two_inputs(tmp_path / "built")
    folder = root_owned_0700(docker_client, source, tmp_path / "mounted")
    server = Endpoint(docker_client, folder)
    try:
        server.wait_ready()
        reply = send(server, "POST", "/invocations", json_body({"inputs": [FEATURES, OFFSET]}),
                     {"Content-Type": "application/json"})
        assert reply.status == 200, reply.body[:300]
        assert "not readable by nobody" in server.logs()
        assert {user for user, _rss in server.workers().values()} == {"nobody"}
        # Root's work done (the copy), nothing stays root: tini, serve, the masters.
        assert {uid for _pid, _ppid, uid, _args in server.processes()} == {"65534"}
    finally:
        server.remove()
