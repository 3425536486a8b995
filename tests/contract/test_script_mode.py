"""Script mode through the real images: the Penguins scripts of examples/script-mode run as the
SageMaker Python SDK 2.x sends them (FrameworkProcessor, Estimator(entry_point, source_dir),
ScriptProcessor(command=["python3"])) and through make; a failing script and a requirement that
cannot be had fail the job by name.

Offline there is no S3: the processors' uploads (their code, sourcedir.tar.gz and runproc.sh,
and any local input) go to local folders that local mode mounts as file:// inputs, and their
outputs stay file:// destinations. The SDK builds everything else itself: the entrypoint, the
runproc.sh text, the arguments and the environment.
"""

import json
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession
from sagemaker.processing import (
    FrameworkProcessor,
    ProcessingInput,
    ProcessingOutput,
    Processor,
    ScriptProcessor,
)
from sagemaker.s3 import S3Uploader
from sagemaker.sklearn.estimator import SKLearn

from harness import (
    PROCESSING_IMAGE,
    TRAINING_IMAGE,
    Endpoint,
    free_port,
    local_status,
    processing_tree,
    remove_compose_files_containers,
    run_job,
    served_model,
)

pytestmark = pytest.mark.sdk
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "script-mode"
ROLE = "arn:aws:iam::111111111111:role/service-role/LocalSageMakerRole"
SPLITS = ("train", "validation", "test", "pipeline")
# Tiny: the scripts' plumbing is under test, not the network (5 epochs at 0.1 learn Penguins).
HYPERPARAMETERS = {"epochs": 5, "learning_rate": 0.1}


def session(docker_client, local_code: bool, root: Path) -> LocalSession:
    """A local session whose compose files go below root (the teardown removes the containers
    local mode leaves stopped there, and only those)."""
    local = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    })
    local.config = {"local": {"local_code": local_code, "container_root": str(root)}}
    return local


@pytest.fixture(scope="module")
def sessions(docker_client, monkeypatch_module, tmp_path_factory):
    """(Estimator's session with local code, the processors' session without: SDK 2.x refuses
    local code for FrameworkProcessor). The processors' S3 upload goes to a local folder."""
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    uploads = tmp_path_factory.mktemp("uploads")

    def upload(local_path, desired_s3_uri, kms_key=None, sagemaker_session=None,
               callback=None):
        if str(local_path).startswith("file://"):
            return local_path  # what local mode mounts as it is
        folder = uploads / uuid.uuid4().hex
        folder.mkdir()
        shutil.copy(local_path, folder)
        return f"file://{folder}"

    def pack_and_upload_code(self, code, source_dir, dependencies, git_config, job_name,
                             inputs, kms_key=None, codeartifact_repo_arn=None):
        payload, entry = uploads / uuid.uuid4().hex, uploads / uuid.uuid4().hex
        payload.mkdir()
        entry.mkdir()
        with tarfile.open(payload / "sourcedir.tar.gz", "w:gz") as tar:
            for path in sorted(Path(source_dir).iterdir()):
                tar.add(path, arcname=path.name)
        (entry / "runproc.sh").write_text(self._generate_framework_script(code))
        inputs = self._patch_inputs_with_payload(inputs, f"file://{payload}")
        return (f"file://{entry / 'runproc.sh'}", inputs,
                job_name or self._generate_current_job_name())

    monkeypatch_module.setattr(S3Uploader, "upload", staticmethod(upload))
    monkeypatch_module.setattr(LocalSession, "default_bucket", lambda self: "offline")
    # Processors name an S3 destination for every output; local mode writes file:// ones.
    monkeypatch_module.setattr(Processor, "_normalize_outputs",
                               lambda self, outputs=None: list(outputs or []))
    monkeypatch_module.setattr(FrameworkProcessor, "_pack_and_upload_code", pack_and_upload_code)
    root = tmp_path_factory.mktemp("local-mode")
    try:
        yield session(docker_client, True, root), session(docker_client, False, root)
    finally:
        remove_compose_files_containers(root)


def outputs(folder: Path, names) -> list:
    found = []
    for name in names:
        (folder / name).mkdir(parents=True)
        found.append(ProcessingOutput(output_name=name, source=f"/opt/ml/processing/{name}",
                                      destination=f"file://{folder / name}"))
    return found


@pytest.fixture(scope="module")
def preprocessed(sessions, tmp_path_factory):
    """examples/script-mode/processing/preprocess.py by a FrameworkProcessor (sourcedir.tar.gz
    and the SDK's runproc.sh), with its arguments."""
    _, processors = sessions
    raw = processing_tree(tmp_path_factory.mktemp("raw")) / "processing" / "input"
    out = tmp_path_factory.mktemp("preprocessed")
    processor = FrameworkProcessor(
        estimator_cls=SKLearn, framework_version="1.2-1", image_uri=PROCESSING_IMAGE,
        command=["python3"], role=ROLE, instance_count=1, instance_type="local",
        sagemaker_session=processors, env={"PENGUINS": "1"})
    processor.run(code="preprocess.py", source_dir=str(EXAMPLES / "processing"),
                  inputs=[ProcessingInput(source=f"file://{raw}",
                                          destination="/opt/ml/processing/input")],
                  outputs=outputs(out, SPLITS), arguments=["--seed", "42"], wait=False)
    assert local_status(processor.latest_job, "Processing") == "Completed"
    return out


@pytest.fixture(scope="module")
def trained(sessions, preprocessed, tmp_path_factory):
    """examples/script-mode/training/train.py by Estimator(entry_point, source_dir, image_uri),
    with model.onnx asked for beside the SavedModel."""
    estimator_session, _ = sessions
    output = tmp_path_factory.mktemp("trained")
    estimator = Estimator(
        image_uri=TRAINING_IMAGE, entry_point="train.py",
        source_dir=str(EXAMPLES / "training"), role=ROLE, instance_count=1,
        instance_type="local",
        hyperparameters={**HYPERPARAMETERS, "sagemaker_export_onnx": True},
        output_path=f"file://{output}", sagemaker_session=estimator_session)
    estimator.fit({name: f"file://{preprocessed / name}" for name in ("train", "validation")},
                  wait=False)
    assert local_status(estimator.latest_training_job, "Training") == "Completed"
    return output


def test_framework_processor_writes_the_scripts_splits_and_transformers(preprocessed):
    rows = {name: (preprocessed / name / f"{name}.csv").read_text().splitlines()
            for name in ("train", "validation", "test")}
    assert len(rows["train"]) == 240 and len(rows["validation"]) == len(rows["test"]) == 52
    assert {p.name for p in (preprocessed / "pipeline").iterdir()} >= {"features.joblib",
                                                                      "target.joblib"}


def test_the_estimators_keras_2_script_saves_a_savedmodel_in_model_dir_001(trained):
    with tarfile.open(trained / "model.tar.gz") as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    assert {"001/saved_model.pb", "001/keras_metadata.pb"} <= names  # Keras 2's SavedModel


def test_the_savedmodel_s_exported_model_onnx_answers_with_its_numbers(docker_client, trained,
                                                                       preprocessed, tmp_path):
    """The archive keeps the SavedModel (SageMaker's TensorFlow container serves it) and has the
    model.onnx our serving image serves as any ONNX model: v2 and instances answer the
    SavedModel's serving signature's numbers."""
    import tensorflow as tf

    folder = served_model(trained / "model.tar.gz", tmp_path / "model")
    assert (folder / "001" / "saved_model.pb").is_file() and (folder / "model.onnx").is_file()
    rows = np.loadtxt(preprocessed / "test" / "test.csv", delimiter=",",
                      dtype="float32")[:7, 1:]
    signature = tf.saved_model.load(str(folder / "001")).signatures["serving_default"]
    ((name, _),) = signature.structured_input_signature[1].items()
    (expected,) = [value.numpy() for value in signature(**{name: tf.constant(rows)}).values()]
    server = Endpoint(docker_client, folder)
    try:
        server.wait_ready()
        instances = requests.post(f"{server.url}/invocations", timeout=30,
                                  json={"instances": rows.tolist()})
        v2 = requests.post(f"{server.url}/invocations", timeout=30, json={"inputs": [
            {"name": name, "shape": list(rows.shape), "datatype": "FP32",
             "data": rows.ravel().tolist()}]})
    finally:
        server.remove()
    assert instances.status_code == 200, instances.text
    assert np.allclose(instances.json()["predictions"], expected, rtol=1e-5, atol=1e-5)
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert output["shape"] == list(expected.shape)
    assert np.allclose(np.reshape(output["data"], output["shape"]), expected, rtol=1e-5,
                       atol=1e-5)


def test_script_processor_evaluates_the_model_with_python3(sessions, preprocessed, trained,
                                                           tmp_path):
    _, processors = sessions
    processor = ScriptProcessor(command=["python3"], image_uri=PROCESSING_IMAGE, role=ROLE,
                                instance_count=1, instance_type="local",
                                sagemaker_session=processors)
    processor.run(code=str(EXAMPLES / "evaluation" / "evaluate.py"), inputs=[
        ProcessingInput(source=f"file://{trained}", destination="/opt/ml/processing/model"),
        ProcessingInput(source=f"file://{preprocessed / 'test'}",
                        destination="/opt/ml/processing/test")],
        outputs=outputs(tmp_path, ["evaluation"]), wait=False)
    assert local_status(processor.latest_job, "Processing") == "Completed"
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert report["multiclass_classification_metrics"]["accuracy"]["value"] >= 0.8


def code_job(tmp_path, code: dict) -> dict:
    """A training job's /opt/ml whose source folder (at /opt/ml/code) holds `code`."""
    root, source = tmp_path / "ml", tmp_path / "code"
    (root / "input" / "config").mkdir(parents=True)
    source.mkdir()
    for name, text in code.items():
        (source / name).write_text(text)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(
        {"sagemaker_program": "train.py", "sagemaker_submit_directory": "/opt/ml/code"}))
    (root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"]}))
    (root / "input" / "config" / "inputdataconfig.json").write_text("{}")
    return {root: ("/opt/ml", "rw"), source: ("/opt/ml/code", "rw")}


def test_a_requirement_that_cannot_be_had_fails_the_job_naming_it(docker_client, tmp_path):
    volumes = code_job(tmp_path, {"train.py": "print('never runs')\n",
                                  "requirements.txt": "penguin-weights-unpublished==0.1\n"})
    (tmp_path / "code" / "wheelhouse").mkdir()
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes)
    assert result.exit_code == 1, result.logs
    failure = (tmp_path / "ml" / "output" / "failure").read_text()
    assert "cannot install penguin-weights-unpublished==0.1" in failure
    assert "never runs" not in result.logs


# Through make: named job runs, each step on the one before, the code kept with each run.


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=900)


def newest(folder: Path, kind: str) -> dict:
    records = [json.loads(p.read_text()) for p in (folder / kind).glob("*/run.json")]
    return max(records, key=lambda record: record["start"])


@pytest.fixture(scope="module")
def local(tmp_path_factory, compose_project):
    folder = tmp_path_factory.mktemp("local")
    return folder, [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={compose_project}",
                    f"ENDPOINT_PORT={free_port()}", "EPOCHS=5", "LEARNING_RATE=0.1"]


def test_make_runs_the_scripts_as_named_jobs_each_on_the_one_before(local):
    folder, settings = local
    steps = [("process", f"SCRIPT={EXAMPLES / 'processing' / 'preprocess.py'}",
              "ARGUMENTS=--seed 7"),
             ("train", "ENTRY_POINT=train.py", f"SOURCE_DIR={EXAMPLES / 'training'}",
              "EXPORT_ONNX=true"),
             ("evaluate", f"EVALUATION_SCRIPT={EXAMPLES / 'evaluation' / 'evaluate.py'}"),
             ("register",)]
    for step in steps:
        done = make(*step, *settings)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    processed, trained = newest(folder, "processing"), newest(folder, "training")
    evaluated = newest(folder, "evaluation")
    assert processed["arguments"][1:] == ["--seed", "7"]
    assert trained["inputs"]["train"]["run"] == processed["name"]
    assert trained["hyperparameters"]["sagemaker_program"] == "train.py"
    assert trained["hyperparameters"]["sagemaker_export_onnx"] == "true"
    with tarfile.open(folder / "training" / trained["name"] / "output" / "model.tar.gz") as tar:
        assert {"model.onnx", "001/saved_model.pb"} <= {n.removeprefix("./")
                                                        for n in tar.getnames()}
    # The source dir as the SDK names it (sagemaker_submit_directory), fetched into the run.
    assert (folder / "training" / trained["name"] / "input-code" / "train.py").is_file()
    assert (folder / "processing" / processed["name"] / "processing" / "code" /
            "preprocess.py").is_file()
    assert evaluated["inputs"]["model"]["run"] == trained["name"]
    assert evaluated["metric"]["value"] >= 0.8
    metadata = json.loads((folder / "registry" / "penguins" / "1" / "metadata.json").read_text())
    assert metadata["lineage"]["training"] == trained["name"]


def test_a_failing_entry_point_fails_its_run_with_the_scripts_stderr(local, tmp_path):
    folder, settings = local
    (tmp_path / "train.py").write_text(
        "import os, sys\nprint('loading', os.environ['SM_CHANNEL_TRAIN'], file=sys.stderr)\n"
        "raise RuntimeError('the train channel has no species column')\n")
    done = make("train", *settings, f"ENTRY_POINT={tmp_path / 'train.py'}")
    assert done.returncode != 0
    failed = newest(folder, "training")
    assert failed["status"] == "Failed" and failed["exit_code"] == 1
    reason = failed["failure_reason"]
    assert reason.startswith("the entry point train.py exited with code 1")
    assert "RuntimeError: the train channel has no species column" in reason
    assert "loading /opt/ml/input/data/train" in reason
    assert not (folder / "training" / failed["name"] / "output" / "model.tar.gz").exists()
