"""The built-in workloads' jobs as SageMaker's requests: what `make process|train|evaluate` hand to
the job runner (pipeline/api/runner.py), the one path every job container takes.

Each request is the body SageMaker's API takes, with file:// URIs: CreateProcessingJob for
processing (the image's `process`) and evaluation (`evaluate`), CreateTrainingJob for training
(the image's `train`, INSTANCES as ResourceConfig.InstanceCount). A processing run's outputs are
uploaded to its own run folder (its LocalPaths there already: the upload is a no-op), and a
training job's S3OutputPath is LOCAL_DIR/training, so model.tar.gz lands in the run's output/, as
the steps after it read it. A user's script (SCRIPT, EVALUATION_SCRIPT, ENTRY_POINT) goes as the
SDK sends it: a processing input at /opt/ml/processing/code run by ContainerEntrypoint
["python3", script], or a training job's sagemaker_program and sagemaker_submit_directory.
Standard library only.
"""

import shlex
from pathlib import Path

from pipeline.api.submit import (
    ENVIRONMENT,
    INSTANCE_TYPE,
    MAX_RUNTIME,
    processing,
    processing_input,
    uri,
)
from pipeline.runs.records import RunError

# What the training job prints each epoch (docs/jobs.md); validation:accuracy is `make jobs`'.
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9\.]+)"},
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9\.]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9\.]+)"},
    {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9\.]+)"},
]
CHANNELS = ("train", "validation", "pipeline")
PROCESSING_OUTPUTS = ("train", "validation", "test", "pipeline", "baseline")
CODE_PATH = "/opt/ml/processing/code"  # a user's processing or evaluation script


def instance_count(text: str) -> int:
    """INSTANCES as a number of hosts, or RunError before any run starts."""
    count = int(text) if text.strip().isdigit() else 0
    if count < 1:
        raise RunError(f"INSTANCES={text!r}: give the number of training hosts, a whole "
                       "number from 1 (1 = one host, no distribution)")
    return count


def hyperparameters(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        values[name] = value  # strings, as SageMaker takes hyperparameters
    return values


def script(path: str, arguments: str) -> tuple[list, list, dict]:
    """(ContainerEntrypoint, ContainerArguments, the code input) of a user's script, as
    ScriptProcessor(command=["python3"], code=path) sends them."""
    source = Path(path)
    if not source.is_file():
        raise RunError(f"SCRIPT={path}: no such file")
    try:
        words = shlex.split(arguments or "")
    except ValueError as error:
        raise RunError(f"ARGUMENTS={arguments!r}: {error}") from None
    return (["python3", f"{CODE_PATH}/{source.name}"], words,
            processing_input("code", source, CODE_PATH))


def entry_point(entry: str, source_dir: str | None) -> tuple[str, Path]:
    """(the program's name in its source dir, the source dir), as the SDK's Estimator takes
    entry_point and source_dir: without a source dir, the entry point's own folder."""
    folder = Path(source_dir) if source_dir else Path(entry).parent
    name = entry if source_dir else Path(entry).name
    if not folder.is_dir():
        raise RunError(f"SOURCE_DIR={folder}: no such folder")
    if not (folder / name).is_file():
        raise RunError(f"ENTRY_POINT={entry}: no such file in {folder}")
    return name, folder


def processing_job(name: str, image: str, local: Path, data: Path, workload: str, seed: int,
                   code: tuple | None = None) -> dict:
    """The processing step's request: the image's `process` on the raw data, or a user's
    script (`code`, from script())."""
    entrypoint, arguments = ["process"], ["--workload", workload, "--seed", str(seed)]
    inputs = [processing_input("input", data, "/opt/ml/processing/input")]
    if code is not None:
        entrypoint, arguments, code_input = code
        inputs.append(code_input)
    return processing(name, image, inputs,
                      {output: f"/opt/ml/processing/{output}" for output in PROCESSING_OUTPUTS},
                      local / "processing" / name, entrypoint, arguments)


def evaluation_job(name: str, image: str, local: Path, model: Path, test: Path,
                   code: tuple | None = None) -> dict:
    """The evaluation step's request: the image's `evaluate` (or a user's script) on a model
    archive and a test split, its report the `evaluation` output."""
    entrypoint, arguments = ["evaluate"], []
    inputs = [processing_input("model", model, "/opt/ml/processing/model"),
              processing_input("test", test, "/opt/ml/processing/test")]
    if code is not None:
        entrypoint, arguments, code_input = code
        inputs.append(code_input)
    return processing(name, image, inputs, {"evaluation": "/opt/ml/processing/evaluation"},
                      local / "evaluation" / name, entrypoint, arguments)


def training_job(name: str, image: str, local: Path, channels: dict, hps: dict,
                 instances: int) -> dict:
    """The training step's request: the image's `train` on a processing run's channels."""
    return {
        "TrainingJobName": name,
        # `train` as the entrypoint, not the image's tini in front of it: the runner's
        # container has an init of its own (tini would warn it is not PID 1).
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "ContainerEntrypoint": ["train"],
                                   "MetricDefinitions": METRIC_DEFINITIONS},
        "HyperParameters": hps,
        "Environment": dict(ENVIRONMENT),
        "InputDataConfig": [
            {"ChannelName": channel, "ContentType": "text/csv", "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri(path),
                                 "S3DataDistributionType": "FullyReplicated"}}}
            for channel, path in channels.items()],
        "OutputDataConfig": {"S3OutputPath": uri(local / "training")},
        "ResourceConfig": {"InstanceCount": instances, "InstanceType": INSTANCE_TYPE,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME},
    }
