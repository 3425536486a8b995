"""The workload-independent hosting contract, against any serving image and model archive.

`make conformance SERVING_IMAGE=my-image MODEL_TAR=path/model.tar.gz` runs these against a
user's own container before they push it (optionally SAMPLE=a JSON or CSV file of one request
body and SAMPLE_CONTENT_TYPE); in `make test` they run against our image and every workload's
trained model. The sample request is, in order: SAMPLE, the `sample` of the model's
signature (model.onnx metadata), or sample.json at the archive's root.
"""

import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests

from harness import SERVING_IMAGE, Endpoint, served_model

BODY_BYTES = 4 * 1024 * 1024  # a request that takes the server a while, under the 6 MB limit
SIGKILL_AFTER = 30  # SageMaker's grace period between SIGTERM and SIGKILL


def user_target():
    """(archive, sample path, content type) from the environment, or None for our own models."""
    archive = os.environ.get("CONFORMANCE_MODEL_TAR")
    if not archive:
        return None
    return (Path(archive), os.environ.get("CONFORMANCE_SAMPLE") or None,
            os.environ.get("CONFORMANCE_SAMPLE_CONTENT_TYPE") or "application/json")


def signature_sample(model_dir: Path):
    path = model_dir / "model.onnx"
    if not path.is_file():
        return None
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
             .metadata_props}
    signature = json.loads(props.get("sagemaker_signature", "{}"))
    return signature.get("sample")


def sample_request(model_dir: Path, sample: str | None, content_type: str) -> tuple[bytes, str]:
    if sample:
        return Path(sample).read_bytes(), content_type
    record = signature_sample(model_dir)
    if record is None and (model_dir / "sample.json").is_file():
        record = json.loads((model_dir / "sample.json").read_text())
    if record is None:
        pytest.fail("no sample request: give SAMPLE=file (and SAMPLE_CONTENT_TYPE), or ship one "
                    "in the model's signature or as sample.json in the archive")
    return json.dumps(record).encode(), "application/json"


def big_body(body: bytes, content_type: str) -> bytes:
    """Many copies of the sample in one request, as a batch of the same type."""
    if content_type.startswith("application/json"):
        value = json.loads(body)
        records = value if isinstance(value, list) else [value]
        one = json.dumps(records)[1:-1].encode()
        return b"[" + b",".join([one] * (BODY_BYTES // (len(one) + 1))) + b"]"
    line = body.rstrip(b"\n") + b"\n"
    return line * (BODY_BYTES // len(line))


# Our own trained model of each workload (session fixtures of conftest), or the user's.
TARGETS = ["user"] if user_target() else ["trained", "trained_digits"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    """(model folder, sample body, content type)."""
    if request.param == "user":
        archive, sample, content_type = user_target()
    else:
        archive = request.getfixturevalue(request.param) / "output" / "model.tar.gz"
        sample, content_type = None, "application/json"
    folder = served_model(archive, tmp_path_factory.mktemp("conformance-model"))
    body, content_type = sample_request(folder, sample, content_type)
    return folder, body, content_type


@pytest.fixture(scope="module")
def server(docker_client, target):
    endpoint = Endpoint(docker_client, target[0])
    try:
        yield endpoint
    finally:
        endpoint.remove()


def test_ping_answers_200_only_when_an_invocation_succeeds(server, target):
    server.wait_ready()
    _, body, content_type = target
    reply = requests.post(f"{server.url}/invocations", data=body, timeout=30,
                          headers={"Content-Type": content_type})
    assert reply.status_code == 200, (SERVING_IMAGE, reply.status_code, reply.text[:500])
    assert reply.content


def test_junk_gets_a_4xx_with_a_json_error(server):
    server.wait_ready()
    for body, content_type in ((b"\x00\xff{not json", "application/json"),
                               (b"", "application/json"), (b"a,b\n", "application/x-nothing")):
        reply = requests.post(f"{server.url}/invocations", data=body, timeout=30,
                              headers={"Content-Type": content_type})
        assert 400 <= reply.status_code < 500, (content_type, reply.status_code, reply.text)
        assert reply.headers["Content-Type"].startswith("application/json"), reply.text[:300]
        assert reply.json()["error"]


def test_execution_parameters_describe_batch_transform(server):
    server.wait_ready()
    reply = requests.get(f"{server.url}/execution-parameters", timeout=10)
    assert reply.status_code == 200
    parameters = reply.json()
    assert parameters["BatchStrategy"] in ("MULTI_RECORD", "SINGLE_RECORD")
    assert int(parameters["MaxConcurrentTransforms"]) >= 1
    assert int(parameters["MaxPayloadInMB"]) >= 1


def test_worker_processes_do_not_run_as_root(server):
    server.wait_ready()
    rows = server.processes()
    parents = {ppid for _pid, ppid, _uid, _args in rows}
    # The processes that do the work are the leaves of the process tree. Any image passes with
    # masters that keep root to drop their workers' privileges, as SageMaker's own containers
    # do; ours keeps none at all (test_endpoint.py, test_handlers_endpoint.py).
    leaves = [(uid, args) for pid, _ppid, uid, args in rows if pid not in parents]
    assert leaves, rows
    assert all(uid != "0" for uid, _args in leaves), leaves


def test_sigterm_lets_the_request_in_flight_finish(docker_client, target):
    folder, body, content_type = target
    endpoint = Endpoint(docker_client, folder)
    try:
        endpoint.wait_ready()
        payload = big_body(body, content_type)
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=60) as sock:
            sock.sendall(f"POST /invocations HTTP/1.1\r\nHost: localhost\r\n"
                         f"Content-Type: {content_type}\r\nAccept: application/json\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                         + payload)
            # sendall returned, so the server accepted the connection and read most of the
            # body: the request is in flight when SIGTERM arrives.
            stopped = time.monotonic()
            endpoint.container.kill(signal="SIGTERM")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status = endpoint.container.wait(timeout=SIGKILL_AFTER + 10)
        assert time.monotonic() - stopped < SIGKILL_AFTER
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert status["StatusCode"] == 0, endpoint.logs()[-2000:]
    finally:
        endpoint.remove()
