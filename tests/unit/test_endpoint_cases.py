"""The endpoint's contract, in-process: the same case table the contract tests run over HTTP."""

import json
from functools import partial

import pytest

from serving import codecs
from serving import config as settings
from serving.app import create_app

from endpoint_cases import (
    CASES,
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

pytestmark = pytest.mark.unit
# The table's cases that hold for any model: no Penguins record in them.
GENERIC = {"ping", "empty-body", "malformed-json", "unsupported-content-type",
           "unknown-path", "wrong-method", "trace-refused"}


@pytest.fixture(autouse=True, params=["columnar", "plain"])
def reading(request, monkeypatch):
    """Every test of the module twice: bodies read as whole columns, and through the csv
    module and record by record (codecs.COLUMNAR off), the reading the columns must equal."""
    monkeypatch.setattr(codecs, "COLUMNAR", request.param == "columnar")
    return request.param


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
    check_batch_order(partial(send, client))


def test_payload_limit_is_six_megabytes(client):
    check_payload_limit(partial(send, client))


def test_large_bodies_are_refused_with_their_own_status(client):
    check_large_bodies_refused_as_json(partial(send, client))


def test_request_id_and_custom_attributes_are_echoed(client):
    check_request_id_and_attributes(partial(send, client))


def test_spaces_around_values_are_insignificant(client):
    check_spaces_are_insignificant(partial(send, client))


def test_every_missing_marker_answers_as_null(client):
    check_missing_markers(partial(send, client))


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


@pytest.fixture(scope="module")
def image_client(tiny_image_model_dir):
    config = settings.Config(model_dir=tiny_image_model_dir, workers=1)
    return create_app(config=config).test_client()


@pytest.mark.parametrize("case", [c for c in CASES if c.id in GENERIC] + IMAGE_CASES,
                         ids=lambda case: case.id)
def test_image_contract_case(image_client, case):
    labels = [str(digit) for digit in range(10)]
    check_case(case, send(image_client, case.method, case.path, case.body, case.headers), labels)


def test_a_picture_as_the_body_answers_as_its_base64_record(image_client):
    check_picture_bodies_answer_as_base64_records(partial(send, image_client))

