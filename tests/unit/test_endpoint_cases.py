"""The endpoint's contract, in-process: the same case table the contract tests run over HTTP."""

import json

import pytest

from serving import config as settings
from serving.app import create_app

from endpoint_cases import (
    CASES,
    MB,
    RECORD,
    Reply,
    check_case,
    distinct_records,
    padded_json,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    config = settings.Config(model_dir=tiny_model_dir, workers=2)
    return create_app(config=config).test_client()


def send(client, method, path, body=None, headers=None) -> Reply:
    response = client.open(path, method=method, data=body, headers=headers or {})
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.get_data())


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_contract_case(client, case):
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    check_case(case, send(client, case.method, case.path, case.body, case.headers), labels)


def test_batch_keeps_order_and_matches_single_records(client):
    records = distinct_records(40)
    headers = {"Content-Type": "application/json"}
    batch = send(client, "POST", "/invocations", json.dumps(records), headers).json()
    singles = [send(client, "POST", "/invocations", json.dumps(r), headers).json()
               for r in records]
    assert [b["prediction"] for b in batch] == [s["prediction"] for s in singles]
    for b, s in zip(batch, singles, strict=True):
        assert b["probabilities"] == pytest.approx(s["probabilities"], abs=1e-6)
    assert len({b["confidence"] for b in batch}) > 1  # distinct records, distinct answers


def test_payload_limit_is_six_megabytes(client):
    headers = {"Content-Type": "application/json"}
    assert send(client, "POST", "/invocations", padded_json(6 * MB), headers).status == 200
    refused = send(client, "POST", "/invocations", padded_json(6 * MB + 1), headers)
    assert refused.status == 413
    assert "error" in refused.json()


def test_request_id_and_custom_attributes_are_echoed(client):
    headers = {"Content-Type": "application/json", "X-Amzn-SageMaker-Inference-Id": "abc-123",
               "X-Amzn-SageMaker-Custom-Attributes": "trace=1"}
    reply = send(client, "POST", "/invocations", json.dumps(RECORD), headers)
    assert reply.headers["x-amzn-sagemaker-inference-id"] == "abc-123"
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    generated = send(client, "POST", "/invocations", json.dumps(RECORD),
                     {"Content-Type": "application/json"})
    assert len(generated.headers["x-amzn-sagemaker-inference-id"]) >= 16


def test_execution_parameters_follow_the_config(tiny_model_dir):
    config = settings.Config(model_dir=tiny_model_dir, workers=3, max_payload_mb=2)
    reply = send(create_app(config=config).test_client(), "GET", "/execution-parameters")
    assert reply.json() == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD",
                            "MaxPayloadInMB": 2}


def test_default_accept_from_the_environment(tiny_model_dir):
    config = settings.from_env({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                                "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    client = create_app(model_dir=tiny_model_dir, config=config).test_client()
    reply = send(client, "POST", "/invocations", json.dumps(RECORD),
                 {"Content-Type": "application/json", "Accept": "*/*"})
    assert reply.headers["content-type"].startswith("text/csv")
    assert len(reply.body.decode().splitlines()) == 1
