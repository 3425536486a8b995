"""The serving image on the SageMaker hosting contract: real HTTP through nginx."""

import json
import threading
import time
from functools import partial

import pytest
import requests

from endpoint_cases import (
    CASES,
    CSV_LINE,
    RECORD,
    Reply,
    check_batch_order,
    check_case,
    check_large_bodies_refused_as_json,
    check_missing_markers,
    check_payload_limit,
    check_request_id_and_attributes,
    check_spaces_are_insignificant,
)
from harness import Endpoint


def send(endpoint, method, path, body=None, headers=None) -> Reply:
    response = requests.request(method, endpoint.url + path, data=body, headers=headers or {},
                                timeout=30)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.content)


@pytest.fixture(scope="module")
def labels(model_dir):
    return json.loads((model_dir / "labels.json").read_text())


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
    send(endpoint, "POST", "/invocations", json.dumps(RECORD),
         {"Content-Type": "application/json", "X-Amzn-SageMaker-Inference-Id": "log-me-once"})
    # nginx buffers the access log and flushes it every second.
    deadline = time.monotonic() + 3
    while "log-me-once" not in (logs := endpoint.logs()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.2)  # a second line, had there been one, would be out by now
    logs = endpoint.logs()
    assert logs.count("log-me-once") == 1
    line = next(line for line in logs.splitlines() if "log-me-once" in line)
    assert "/invocations" in line and " 200 " in f" {line} "
    assert "GET /ping" not in logs


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


def test_sigterm_drains_in_flight_requests(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir)
    try:
        server.wait_ready()
        body = ("Gentoo," + CSV_LINE + "\n") * 150_000  # a request that takes a while
        outcome = {}

        def invoke():
            try:
                outcome["reply"] = send(server, "POST", "/invocations", body,
                                        {"Content-Type": "text/csv", "Accept": "text/csv"})
            except requests.RequestException as error:
                outcome["error"] = error

        client = threading.Thread(target=invoke)
        client.start()
        time.sleep(0.3)
        stopped = time.monotonic()
        server.container.kill(signal="SIGTERM")
        client.join(timeout=60)
        status = server.container.wait(timeout=40)
        assert time.monotonic() - stopped < 30
        assert status["StatusCode"] == 0, server.logs()
        assert "reply" in outcome, outcome
        assert outcome["reply"].status == 200
        assert len(outcome["reply"].body.splitlines()) == 150_000
    finally:
        server.remove()


@pytest.mark.parametrize("broken", ["model.onnx", "features.json", "labels.json"])
def test_missing_model_file_stops_the_container(docker_client, model_dir, tmp_path, broken):
    tmp_path.chmod(0o755)
    for path in model_dir.iterdir():
        if path.name != broken:
            (tmp_path / path.name).write_bytes(path.read_bytes())
    server = Endpoint(docker_client, tmp_path)
    try:
        status = server.container.wait(timeout=30)
        assert status["StatusCode"] != 0
        assert broken in server.logs()
    finally:
        server.remove()

