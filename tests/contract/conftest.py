"""Fixtures that run the real images: one processing and one training run shared by the session."""

import os
from pathlib import Path

import docker
import pytest

from harness import (
    PROCESSING_IMAGE,
    SERVING_IMAGE,
    TRAINING_IMAGE,
    Endpoint,
    processing_tree,
    run_processing,
    served_model,
    train,
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/contract/" in str(item.fspath):
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env()
    client.ping()
    # make conformance checks a user's serving image alone; they may have no training image.
    needed = ({SERVING_IMAGE} if os.environ.get("CONFORMANCE_MODEL_TAR")
              else {TRAINING_IMAGE, PROCESSING_IMAGE, SERVING_IMAGE})
    for image in needed:
        # A missing image is a broken build, never a reason to skip.
        client.images.get(image)
    return client


@pytest.fixture(scope="session")
def processed(docker_client, tmp_path_factory) -> Path:
    """The processing job run once on the bundled dataset."""
    root = processing_tree(tmp_path_factory.mktemp("processing"))
    result = run_processing(docker_client, root, "--seed", "42")
    assert result.exit_code == 0, result.logs
    return root


@pytest.fixture(scope="session")
def trained(docker_client, processed, tmp_path_factory) -> Path:
    """The training job run once with default hyperparameters; its /opt/ml tree."""
    root = tmp_path_factory.mktemp("training")
    result = train(docker_client, root, processed, {})
    assert result.exit_code == 0, result.logs
    (root / "logs.txt").write_text(result.logs)
    return root


@pytest.fixture(scope="session")
def processed_digits(docker_client, tmp_path_factory) -> Path:
    """The processing job run once with --workload digits on an empty input: bundled digits."""
    root = tmp_path_factory.mktemp("digits-processing")
    (root / "processing" / "input").mkdir(parents=True)
    (root / "output").mkdir()
    result = run_processing(docker_client, root, "--workload", "digits", "--seed", "42")
    assert result.exit_code == 0, result.logs
    return root


@pytest.fixture(scope="session")
def trained_digits(docker_client, processed_digits, tmp_path_factory) -> Path:
    """The training job run once on the Digits channels with default hyperparameters."""
    root = tmp_path_factory.mktemp("digits-training")
    result = train(docker_client, root, processed_digits, {})
    assert result.exit_code == 0, result.logs
    (root / "logs.txt").write_text(result.logs)
    return root


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory) -> Path:
    """model.tar.gz extracted into an empty folder, exactly as SageMaker hosting does."""
    return served_model(trained / "output" / "model.tar.gz",
                        tmp_path_factory.mktemp("opt-ml-model"))


@pytest.fixture(scope="session")
def endpoint(docker_client, model_dir):
    """One serving container with the trained model, healthy."""
    server = Endpoint(docker_client, model_dir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()
