"""Fixtures that run the real images: one processing and one training run per workload shared by
the whole test run (all of make test's pytest runs, and xdist workers where pytest -n is used),
an endpoint per workload per process, and a compose project of each module's own."""

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
    remove_project,
    run_processing,
    served_model,
    shared_folder,
    train,
)
from harness import compose_project as project_name


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
    def build(root: Path) -> None:
        processing_tree(root)
        result = run_processing(docker_client, root, "--seed", "42")
        assert result.exit_code == 0, result.logs

    return shared_folder(tmp_path_factory, "processing", build)


def training_of(docker_client, processed: Path):
    """A build for shared_folder: the training job on processed's channels, default
    hyperparameters, its logs kept in logs.txt."""
    def build(root: Path) -> None:
        result = train(docker_client, root, processed, {})
        assert result.exit_code == 0, result.logs
        (root / "logs.txt").write_text(result.logs)

    return build


@pytest.fixture(scope="session")
def trained(docker_client, processed, tmp_path_factory) -> Path:
    """The training job run once with default hyperparameters; its /opt/ml tree."""
    return shared_folder(tmp_path_factory, "training", training_of(docker_client, processed))


@pytest.fixture(scope="session")
def processed_digits(docker_client, tmp_path_factory) -> Path:
    """The processing job run once with --workload digits on an empty input: bundled digits."""
    def build(root: Path) -> None:
        (root / "processing" / "input").mkdir(parents=True)
        (root / "output").mkdir()
        result = run_processing(docker_client, root, "--workload", "digits", "--seed", "42")
        assert result.exit_code == 0, result.logs

    return shared_folder(tmp_path_factory, "digits-processing", build)


@pytest.fixture(scope="session")
def trained_digits(docker_client, processed_digits, tmp_path_factory) -> Path:
    """The training job run once on the Digits channels with default hyperparameters."""
    return shared_folder(tmp_path_factory, "digits-training",
                         training_of(docker_client, processed_digits))


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


@pytest.fixture(scope="session")
def digits_model_dir(trained_digits, tmp_path_factory) -> Path:
    """The Digits model.tar.gz extracted as SageMaker hosting does."""
    return served_model(trained_digits / "output" / "model.tar.gz",
                        tmp_path_factory.mktemp("digits-model"))


@pytest.fixture(scope="session")
def digits_endpoint(docker_client, digits_model_dir):
    """One serving container with the Digits model, healthy: nothing in serving/ knows either
    workload."""
    server = Endpoint(docker_client, digits_model_dir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def compose_project(request) -> str:
    """The module's own compose project (give make COMPOSE_PROJECT=it); what the module leaves
    of it is removed when the module ends."""
    name = project_name(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    try:
        yield name
    finally:
        remove_project(name)
