"""Fixtures of the SDK 3.x suite. It runs in its own venv (.venv-sdk3, `make test`): SDK 3.x and
the dev venv's SDK 2.x cannot be installed together, so the main suite's pytest leaves this
folder alone and this folder imports nothing the SDK 3.x venv lacks (harness,
training.contract.archive).
"""

import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
ROLE = "arn:aws:iam::111111111111:role/service-role/LocalSageMakerRole"  # never checked locally
CHANNELS = ("train", "validation", "pipeline")


def sdk_major() -> int:
    try:
        return int(version("sagemaker").split(".")[0])
    except PackageNotFoundError:
        return 0


def pytest_configure(config):
    here = Path(__file__).parent
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if sdk_major() < 3 and any(path == here or here in path.parents for path in named):
        raise pytest.UsageError(
            f"{here.name}/ needs the SageMaker Python SDK 3.x, this venv has "
            f"{'none' if not sdk_major() else 'SDK ' + version('sagemaker')}: run "
            "`make .venv-sdk3/.installed` and `.venv-sdk3/bin/python -m pytest tests/sdk3`")


def pytest_ignore_collect(collection_path, config):
    # The dev venv (SDK 2.x) collects tests/ whole; its `make test` run is followed by this
    # folder's own run in .venv-sdk3, so nothing here goes unrun.
    return sdk_major() < 3 or None


def pytest_collection_modifyitems(items):
    for item in items:
        if "/sdk3/" in str(item.fspath):
            item.add_marker(pytest.mark.contract)
            item.add_marker(pytest.mark.sdk)


@pytest.fixture(scope="session", autouse=True)
def offline_sdk(tmp_path_factory):
    """SDK 3.x offline: no telemetry, a region for the sessions it makes, no metadata service."""
    config = tmp_path_factory.mktemp("sagemaker-config") / "config.yaml"
    # The telemetry decorator of ModelTrainer.train makes its own default Session when the
    # trainer has none (LOCAL_CONTAINER mode) and reads the opt-out from the defaults config.
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                      "      TelemetryOptOut: true\n")
    patch = pytest.MonkeyPatch()
    patch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # boto3's credential chain would otherwise ask the EC2 metadata address (none here).
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    patch.undo()


@pytest.fixture(scope="session")
def docker_client():
    import docker

    from harness import SERVING_IMAGE, TRAINING_IMAGE

    client = docker.from_env()
    client.ping()
    for image in (TRAINING_IMAGE, SERVING_IMAGE):
        client.images.get(image)  # a missing image is a broken build, never a reason to skip
    return client


@pytest.fixture(scope="session")
def processed(docker_client, tmp_path_factory) -> Path:
    """The processing job on palmerpenguins' CSV, which the image itself copies in (`make data`);
    this venv has no palmerpenguins."""
    from harness import PROCESSING_IMAGE, run_job, run_processing

    root = tmp_path_factory.mktemp("processing")
    (root / "processing" / "input").mkdir(parents=True)
    (root / "output").mkdir()
    copied = run_job(docker_client, PROCESSING_IMAGE,
                     ["-m", "training.jobs.dataset", "/opt/ml/processing/input"],
                     {root: ("/opt/ml", "rw")}, entrypoint=["python"])
    assert copied.exit_code == 0, copied.logs
    result = run_processing(docker_client, root, "--seed", "42")
    assert result.exit_code == 0, result.logs
    return root


def compose_project(folder) -> str:
    """docker-compose's project name for a compose file in folder (v1 and v2 agree on it)."""
    return re.sub(r"[^-_a-z0-9]", "", folder.name.lower())


class Trained:
    """One ModelTrainer.train() run: its folder and each host's container log and exit code."""

    def __init__(self, client, root, processed, hosts, hyperparameters):
        from sagemaker.train.configs import Compute, InputData
        from sagemaker.train.model_trainer import Mode, ModelTrainer

        from harness import TRAINING_IMAGE

        self.root = root
        root.mkdir()
        trainer = ModelTrainer(
            training_mode=Mode.LOCAL_CONTAINER, training_image=TRAINING_IMAGE, role=ROLE,
            compute=Compute(instance_type="local_cpu", instance_count=hosts),
            hyperparameters=hyperparameters, local_container_root=str(root),
            base_job_name="penguins-sdk3",
        )
        project = {"label": f"com.docker.compose.project={compose_project(root)}"}
        try:
            trainer.train(input_data_config=[
                InputData(channel_name=name, data_source=str(processed / "processing" / name))
                for name in CHANNELS])
        finally:
            # compose up --abort-on-container-exit leaves its containers stopped: keep their
            # logs, then remove them (only this run's project).
            self.logs, self.codes = {}, {}
            for container in client.containers.list(all=True, filters=project):
                host = container.labels["com.docker.compose.service"]
                self.logs[host] = container.logs().decode("utf-8", "replace")
                self.codes[host] = container.attrs["State"]["ExitCode"]
                container.remove(force=True)

    @property
    def archive(self):
        return self.root / "compressed_artifacts" / "model.tar.gz"


@pytest.fixture(scope="session")
def one_host(docker_client, processed, tmp_path_factory):
    # The folder names the compose project: unique per test process.
    root = tmp_path_factory.mktemp("sdk3") / f"onehost{os.getpid()}"
    return Trained(docker_client, root, processed, 1, {"epochs": 20, "learning_rate": 0.02})


@pytest.fixture(scope="session")
def two_hosts(docker_client, processed, tmp_path_factory):
    # batch_size is per host: two hosts take half the steps, so the learning rate doubles
    # (docs/jobs.md, multi-host training); 15 epochs at 0.1 reach the single-host gate as 50 at
    # 0.02 do, in a third of the time (the SDK's plumbing is under test, not the model).
    root = tmp_path_factory.mktemp("sdk3") / f"twohosts{os.getpid()}"
    return Trained(docker_client, root, processed, 2, {"epochs": 15, "learning_rate": 0.1})
