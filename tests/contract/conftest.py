"""Fixtures that run the real images: one processing and one training run shared by the session."""

from pathlib import Path

import docker
import pytest

from training.package import extract

from harness import (
    PROCESSING_IMAGE,
    SERVING_IMAGE,
    TRAINING_IMAGE,
    Endpoint,
    processing_tree,
    run_job,
    run_processing,
    training_tree,
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/contract/" in str(item.fspath):
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env()
    client.ping()
    for image in {TRAINING_IMAGE, PROCESSING_IMAGE, SERVING_IMAGE}:
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
    volumes = training_tree(root, processed, {})
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes,
                     environment={"MODEL_ARCHIVE": "/opt/ml/output/model.tar.gz"})
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
    volumes = training_tree(root, processed_digits, {})
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes,
                     environment={"MODEL_ARCHIVE": "/opt/ml/output/model.tar.gz"})
    assert result.exit_code == 0, result.logs
    (root / "logs.txt").write_text(result.logs)
    return root


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory) -> Path:
    """model.tar.gz extracted into an empty folder, exactly as SageMaker hosting does."""
    target = tmp_path_factory.mktemp("opt-ml-model")
    # pytest makes 0700 folders; SageMaker's /opt/ml/model is readable by the server's
    # unprivileged workers.
    target.chmod(0o755)
    extract(trained / "output" / "model.tar.gz", target)
    return target


@pytest.fixture(scope="session")
def endpoint(docker_client, model_dir):
    """One serving container with the trained model, healthy."""
    server = Endpoint(docker_client, model_dir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()
