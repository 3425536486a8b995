"""The multi-model endpoint on the real serving image: Penguins and Digits from one container,
each archive loaded on first use, the least recently used unloaded under the memory bound, an
archive added while serving, and the client's mistakes — over real HTTP through nginx."""

import time

import pytest
import requests
from multi_model_cases import (
    DIGITS_BODY,
    DIGITS_TARGET,
    MISTAKES,
    PENGUINS,
    PENGUINS_BODY,
    assert_predicts,
    check_both_models,
    check_mistake,
    lay_out,
)

import tiny_model
from endpoint_cases import Reply
from harness import Endpoint
from tiny_model import DIGITS, LABELS

MB = 1024 * 1024
MODELS = "/opt/ml/models"
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    penguins = tiny_model.build(tmp_path_factory.mktemp("mme-penguins"))
    digits = tiny_model.build_image(tmp_path_factory.mktemp("mme-digits"))
    root = tmp_path_factory.mktemp("mme-models")
    # 0.6 MB each extracted: the 1 MB bound below holds one model at a time.
    lay_out(root, PENGUINS, penguins, pad_bytes=6 * MB // 10)
    lay_out(root, DIGITS_TARGET, digits, pad_bytes=6 * MB // 10)
    return root, penguins


@pytest.fixture(scope="module")
def endpoint(docker_client, folders):
    root, _penguins = folders
    server = Endpoint(docker_client, root, mount=MODELS, environment={
        "SAGEMAKER_MULTI_MODEL": "true", "MULTI_MODEL_MEMORY_MB": "1",
        # One worker: one cache, so what GET /models lists is what every request saw.
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()


def sender(endpoint):
    def send(target, body):
        headers = {"Content-Type": "application/json"}
        if target is not None:
            headers[TARGET_MODEL] = target
        response = requests.post(endpoint.url + "/invocations", data=body, headers=headers,
                                 timeout=30)
        return Reply(response.status_code,
                     {k.lower(): v for k, v in response.headers.items()}, response.content)
    return send


def loaded(endpoint) -> list:
    response = requests.get(endpoint.url + "/models", timeout=10)
    assert response.status_code == 200, response.text
    return [model["modelName"] for model in response.json()["models"]]


def test_ping_answers_before_any_model_is_loaded(endpoint):
    assert loaded(endpoint) == []


def test_penguins_and_digits_from_one_endpoint_the_older_unloaded(endpoint):
    send = sender(endpoint)
    check_both_models(send)
    assert loaded(endpoint) == [DIGITS_TARGET]  # Penguins made room under the 1 MB bound
    assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
    assert loaded(endpoint) == [PENGUINS]
    assert f"unloaded {DIGITS_TARGET}" in endpoint.logs()


def test_started_as_root_the_archives_are_extracted_and_served_by_nobody(endpoint):
    """As SageMaker starts it (root): the workers extract and load each archive after serve
    gave up root; none of it needs root and nothing keeps it."""
    assert_predicts(sender(endpoint)(PENGUINS, PENGUINS_BODY), LABELS)
    assert not endpoint.root_processes(), endpoint.processes()
    assert {user for user, _rss in endpoint.workers().values()} == {"nobody"}


def test_an_archive_added_while_serving_is_served(endpoint, folders):
    root, penguins = folders
    send = sender(endpoint)
    target = "penguins/2.tar.gz"
    assert send(target, PENGUINS_BODY).status == 404
    lay_out(root, target, penguins)
    deadline = time.monotonic() + 10  # a bind mount shows the new file at once; be patient
    while (reply := send(target, PENGUINS_BODY)).status == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_predicts(reply, LABELS)
    assert_predicts(send(DIGITS_TARGET, DIGITS_BODY), DIGITS)


@pytest.mark.parametrize(("target", "status", "words"),
                         [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_client_mistakes_are_4xx_naming_what_is_wrong(endpoint, target, status, words):
    check_mistake(sender(endpoint), target, status, words)
