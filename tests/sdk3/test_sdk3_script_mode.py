"""SDK 3.x script mode: ModelTrainer with SourceCode runs examples/script-mode/training/train.py
in the training image (SDK 3.x's own driver, sm_train.sh, with the image's python3), and its
Keras 2 code saves a SavedModel in model_dir/001."""

import os
import tarfile
from pathlib import Path

import pytest
from conftest import ROLE, compose_project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "script-mode"


@pytest.fixture(scope="module")
def preprocessed(docker_client, tmp_path_factory):
    """The example preprocessing script on palmerpenguins' CSV (copied in by the image)."""
    from harness import PROCESSING_IMAGE, run_job

    root = tmp_path_factory.mktemp("preprocessed")
    (root / "processing" / "input").mkdir(parents=True)
    copied = run_job(docker_client, PROCESSING_IMAGE,
                     ["-m", "training.jobs.dataset", "/opt/ml/processing/input"],
                     {root: ("/opt/ml", "rw")}, entrypoint=["python"])
    assert copied.exit_code == 0, copied.logs
    done = run_job(docker_client, PROCESSING_IMAGE,
                   ["/opt/ml/processing/input/code/preprocess.py", "--seed", "42"],
                   {root: ("/opt/ml", "rw"),
                    EXAMPLES / "processing": ("/opt/ml/processing/input/code", "ro")},
                   entrypoint=["python3"])
    assert done.exit_code == 0, done.logs
    return root / "processing"


def test_model_trainer_runs_the_keras_script_from_its_source_code(docker_client, preprocessed,
                                                                  tmp_path):
    from sagemaker.train.configs import Compute, InputData, SourceCode
    from sagemaker.train.model_trainer import Mode, ModelTrainer

    from harness import TRAINING_IMAGE

    root = tmp_path / f"scriptmode{os.getpid()}"  # names the compose project
    root.mkdir()
    trainer = ModelTrainer(
        training_mode=Mode.LOCAL_CONTAINER, training_image=TRAINING_IMAGE, role=ROLE,
        compute=Compute(instance_type="local_cpu", instance_count=1),
        source_code=SourceCode(source_dir=str(EXAMPLES / "training"), entry_script="train.py"),
        hyperparameters={"epochs": 5, "learning_rate": 0.1}, local_container_root=str(root),
        base_job_name="penguins-sdk3-script")
    project = {"label": f"com.docker.compose.project={compose_project(root)}"}
    try:
        trainer.train(input_data_config=[
            InputData(channel_name=name, data_source=str(preprocessed / name))
            for name in ("train", "validation")])
    finally:
        logs = ""
        for container in docker_client.containers.list(all=True, filters=project):
            logs += container.logs().decode("utf-8", "replace")
            container.remove(force=True)
    assert "val_accuracy=" in logs, logs[-3000:]
    with tarfile.open(root / "compressed_artifacts" / "model.tar.gz") as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    assert {"001/saved_model.pb", "001/keras_metadata.pb"} <= names
