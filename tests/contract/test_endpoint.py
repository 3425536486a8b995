"""The serving image on the SageMaker hosting contract: real HTTP through nginx."""

import json
import socket
import threading
import time
from functools import partial

import pytest
import requests

from serving import config as settings

from endpoint_cases import (
    CASES,
    CSV_LINE,
    IMAGE_CASES,
    RECORD,
    Reply,
    check_batch_order,
    check_case,
    check_large_bodies_refused_as_json,
    check_missing_markers,
    check_payload_limit,
    check_picture_bodies_answer_as_base64_records,
    check_request_id_and_attributes,
    check_spaces_are_insignificant,
)
from harness import MODEL_SERVER, Endpoint, wait_for


def send(endpoint, method, path, body=None, headers=None) -> Reply:
    response = requests.request(method, endpoint.url + path, data=body, headers=headers or {},
                                timeout=30)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.content)


@pytest.fixture(scope="module")
def labels(model_dir):
    from training.model import graph

    return graph.read_signature(model_dir / "model.onnx")["labels"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_contract_case(endpoint, labels, case):
    check_case(case, send(endpoint, case.method, case.path, case.body, case.headers), labels)


def test_predicts_the_sample_penguins(endpoint):
    gentoo = send(endpoint, "POST", "/invocations", json.dumps(RECORD),
                  {"Content-Type": "application/json"}).json()
    adelie = {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
              "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}
    reply = send(endpoint, "POST", "/invocations", json.dumps(adelie),
                 {"Content-Type": "application/json"}).json()
    assert (gentoo["prediction"], reply["prediction"]) == ("Gentoo", "Adelie")
    assert gentoo["confidence"] > 0.8


def test_batch_keeps_order_and_matches_single_records(endpoint):
    check_batch_order(partial(send, endpoint))


def test_payload_limit_is_six_megabytes(endpoint):
    check_payload_limit(partial(send, endpoint))


def test_large_bodies_are_refused_with_their_own_status(endpoint):
    check_large_bodies_refused_as_json(partial(send, endpoint))


def test_request_id_and_custom_attributes_are_echoed(endpoint):
    check_request_id_and_attributes(partial(send, endpoint))


def test_spaces_around_values_are_insignificant(endpoint):
    check_spaces_are_insignificant(partial(send, endpoint))


def test_every_missing_marker_answers_as_null(endpoint):
    check_missing_markers(partial(send, endpoint))


def test_access_log_skips_ping_and_logs_requests_once(endpoint):
    for _ in range(3):
        send(endpoint, "GET", "/ping")
    for request_id in ("log-me-once", "logged-after"):
        send(endpoint, "POST", "/invocations", json.dumps(RECORD),
             {"Content-Type": "application/json", "X-Amzn-SageMaker-Inference-Id": request_id})
    # nginx buffers the access log, flushed every second, in the order requests end: once the
    # later request's line is out, a second line of the first (or of a ping) would be too.
    deadline = time.monotonic() + 5
    while "logged-after" not in (logs := endpoint.logs()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "logged-after" in logs, logs[-2000:]
    assert logs.count("log-me-once") == 1
    line = next(line for line in logs.splitlines() if "log-me-once" in line)
    assert "/invocations" in line and " 200 " in f" {line} "
    assert "GET /ping" not in logs


def assert_nginx_json_error(reply: Reply, status: int, *words: str) -> None:
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    message = reply.json()["error"]
    for word in words:
        assert word in message, (word, message)
    assert reply.headers["x-amzn-sagemaker-inference-id"]


def test_a_request_over_the_timeout_is_a_json_504(docker_client, model_dir):
    # A legal batch far beyond what one second predicts (~40 MB of CSV, over a million
    # records), on an endpoint whose timeout is one second.
    server = Endpoint(docker_client, model_dir, environment={
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "40",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    try:
        server.wait_ready()
        body = (CSV_LINE + "\n") * (40 * 1024 * 1024 // (len(CSV_LINE) + 1))
        reply = send(server, "POST", "/invocations", body,
                     {"Content-Type": "text/csv", "Accept": "text/csv",
                      "X-Amzn-SageMaker-Inference-Id": "too-slow"})
        assert_nginx_json_error(reply, 504, "1 s")
        assert reply.headers["x-amzn-sagemaker-inference-id"] == "too-slow"
    finally:
        server.remove()


def test_a_model_server_that_does_not_answer_is_a_json_503(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir)
    try:
        server.wait_ready()
        # The model server runs on, but nginx can no longer reach it.
        removed = server.container.exec_run(["rm", settings.Config.socket])
        assert removed.exit_code == 0, removed.output
        reply = send(server, "POST", "/invocations", json.dumps(RECORD),
                     {"Content-Type": "application/json",
                      "X-Amzn-SageMaker-Inference-Id": "nobody-home"})
        assert_nginx_json_error(reply, 503, "not ready")
        assert reply.headers["x-amzn-sagemaker-inference-id"] == "nobody-home"
    finally:
        server.remove()


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"NOT AN HTTP REQUEST\r\n\r\n", 400),
    (b"GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /ping HTTP/1.1\r\nHost: localhost\r\nno colon in this header\r\n\r\n", 400),
    (b"GET /ping HTTP/9.9\r\nHost: localhost\r\n\r\n", 505),
], ids=["request-line", "control-character", "header-line", "http-version"])
def test_a_malformed_http_request_is_a_json_error(endpoint, request_bytes, status):
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as conn:
        conn.sendall(request_bytes)
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines[1:])}
    assert_nginx_json_error(Reply(int(lines[0].split()[1]), headers, body), status, "malformed")


def test_nginx_s_own_paths_are_json_404s(endpoint):
    reply = send(endpoint, "GET", "/.errors/bad-request")
    assert_nginx_json_error(reply, 404, "no such path")


def test_execution_parameters_follow_the_environment(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, environment={
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2"})
    try:
        server.wait_ready()
        params = send(server, "GET", "/execution-parameters").json()
        assert params == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD",
                          "MaxPayloadInMB": 2}
        server.wait_workers(3)
        check_payload_limit(partial(send, server), megabytes=2)
    finally:
        server.remove()


def test_workers_default_to_the_container_cpu_quota(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, nano_cpus=1_000_000_000)
    try:
        server.wait_ready()
        assert send(server, "GET", "/execution-parameters").json()["MaxConcurrentTransforms"] == 1
    finally:
        server.remove()


def test_port_from_sagemaker_bind_to_port(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, environment={"SAGEMAKER_BIND_TO_PORT": "9090"},
                      container_port=9090)
    try:
        server.wait_ready()
        assert send(server, "GET", "/ping").status == 200
    finally:
        server.remove()


SLOW_HANDLER = """
import time
from pathlib import Path


def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    Path("/tmp/in-flight").touch()  # the test sends SIGTERM once this is here
    time.sleep(3)
    return body, content_type
"""


def test_sigterm_drains_in_flight_requests(docker_client, tmp_path):
    """A request the model server is still working on when SIGTERM comes is answered in full
    before the container exits 0: a handler that takes 3 s holds it in flight for certain."""
    folder = tmp_path / "slow"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(SLOW_HANDLER)
    for path in (folder, folder / "code"):
        path.chmod(0o755)
    (folder / "code" / "inference.py").chmod(0o644)
    server = Endpoint(docker_client, folder)
    try:
        server.wait_ready()
        body = ("Gentoo," + CSV_LINE + "\n") * 20_000
        outcome = {}

        def invoke():
            try:
                outcome["reply"] = send(server, "POST", "/invocations", body,
                                        {"Content-Type": "text/csv", "Accept": "text/csv"})
                outcome["answered"] = time.monotonic()
            except requests.RequestException as error:
                outcome["error"] = error

        client = threading.Thread(target=invoke)
        client.start()
        wait_for(lambda: server.container.exec_run(["test", "-e", "/tmp/in-flight"]).exit_code
                 == 0, 30, "the handler working on the request")
        stopped = time.monotonic()
        server.container.kill(signal="SIGTERM")
        client.join(timeout=60)
        status = server.container.wait(timeout=40)
        assert time.monotonic() - stopped < 30
        assert status["StatusCode"] == 0, server.logs()
        assert "reply" in outcome, outcome
        assert outcome["answered"] > stopped
        assert outcome["reply"].status == 200
        assert outcome["reply"].body == body.encode()
    finally:
        server.remove()


def test_started_as_root_no_process_stays_root(endpoint):
    """SageMaker starts the image as root: serve does what needs root, then becomes nobody
    before nginx and the model server start (tini, PID 1, too)."""
    reply = send(endpoint, "POST", "/invocations", json.dumps(RECORD),
                 {"Content-Type": "application/json"})
    assert reply.status == 200 and send(endpoint, "GET", "/ping").status == 200
    assert endpoint.container.attrs["Config"]["User"] in ("", "root", "0")
    running = endpoint.processes()
    for name in ("tini", "serving.serve", "nginx: master", "nginx: worker", MODEL_SERVER):
        assert any(name in args for *_ids, args in running), (name, running)
    assert {uid for _pid, _ppid, uid, _args in running} == {"65534"}, running
    assert "root's work is done; nginx and the model server run as nobody" in endpoint.logs()


def test_started_as_root_without_chown_it_serves_as_root_and_says_why(docker_client,
                                                                     model_dir):
    """Root cannot hand nobody its files without CAP_CHOWN: rather than no endpoint, one whose
    processes keep root (with no more capabilities than the container has), and the log says
    so."""
    server = Endpoint(docker_client, model_dir, cap_drop=["CHOWN"])
    try:
        server.wait_ready()
        reply = send(server, "POST", "/invocations", json.dumps(RECORD),
                     {"Content-Type": "application/json"})
        assert reply.status == 200
        assert {uid for _pid, _ppid, uid, _args in server.processes()} == {"0"}
        assert "started as root without CAP_CHOWN, which giving up root takes" in server.logs()
    finally:
        server.remove()


def broken_signature(source, target):
    """model.onnx whose signature is not JSON (one without any is served from its graph)."""
    import onnx

    model = onnx.load(str(source / "model.onnx"))
    for entry in model.metadata_props:
        entry.value = "{not json"
    onnx.save(model, str(target / "model.onnx"))


@pytest.mark.parametrize(("broken", "named"), [
    ("missing", "model.onnx: missing"),
    ("broken-signature", "sagemaker_signature is not JSON"),
])
def test_a_model_serving_cannot_read_stops_the_container(docker_client, model_dir, tmp_path,
                                                         broken, named):
    tmp_path.chmod(0o755)
    for path in model_dir.iterdir():
        if path.name != "model.onnx":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    if broken == "broken-signature":
        broken_signature(model_dir, tmp_path)
    server = Endpoint(docker_client, tmp_path)
    try:
        status = server.container.wait(timeout=30)
        assert status["StatusCode"] != 0
        assert named in server.logs()
    finally:
        server.remove()


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.id)
def test_image_contract_case(digits_endpoint, case):
    check_case(case, send(digits_endpoint, case.method, case.path, case.body, case.headers),
               [str(digit) for digit in range(10)])


def test_a_picture_as_the_body_answers_as_its_base64_record(digits_endpoint):
    check_picture_bodies_answer_as_base64_records(partial(send, digits_endpoint))
