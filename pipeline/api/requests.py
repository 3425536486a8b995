"""A CreateProcessingJob or CreateTrainingJob request body, read and checked before anything runs.

The body is the one SageMaker's API takes (what boto3's create_*_job and a pipeline definition's
step Arguments hold), so the checks are SageMaker's rules, and every mistake is named by its JSON
path: `AlgorithmSpecification.TrainingImage: missing (required)`. Fields the API knows but a
local run has no use for (RoleArn, Tags, VpcConfig, DebugHookConfig, …) are kept, not refused;
a field the API does not know is refused, so a typo never silently does nothing.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

PROCESSING, TRAINING = "processing", "training"
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9.\-_]{1,64}")
# Every processing input and output lives under this folder (SageMaker refuses others).
PROCESSING_ROOT = "/opt/ml/processing/"
# SageMaker's limits on MaxRuntimeInSeconds, and the training default when none is given (1 day).
MAX_RUNTIME = {PROCESSING: 777600, TRAINING: 2419200}
DEFAULT_TRAINING_RUNTIME = 86400
SCHEMES = ("file://", "s3://")
FIELDS = {
    PROCESSING: {"ProcessingJobName", "ProcessingInputs", "ProcessingOutputConfig",
                 "ProcessingResources", "StoppingCondition", "AppSpecification", "Environment",
                 "NetworkConfig", "RoleArn", "Tags", "ExperimentConfig"},
    TRAINING: {"TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn",
               "InputDataConfig", "OutputDataConfig", "ResourceConfig", "VpcConfig",
               "StoppingCondition", "Tags", "EnableNetworkIsolation",
               "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
               "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
               "TensorBoardOutputConfig", "ExperimentConfig", "ProfilerConfig",
               "ProfilerRuleConfigurations", "Environment", "RetryStrategy", "RemoteDebugConfig",
               "InfraCheckConfig", "SessionChainingConfig"},
}


class RequestError(ValueError):
    """One mistake in a job request: its JSON path and what is wrong."""


@dataclass(frozen=True)
class Input:
    """A channel (training) or processing input: where its data is and where the job sees it."""
    name: str
    uri: str
    local_path: str  # inside the container
    config: dict = field(default_factory=dict)  # a training channel's inputdataconfig.json entry


@dataclass(frozen=True)
class Output:
    name: str
    local_path: str
    uri: str


@dataclass(frozen=True)
class JobRequest:
    kind: str
    name: str
    image: str
    entrypoint: tuple | None
    arguments: tuple | None
    environment: dict
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    instance_count: int
    max_runtime: int | None
    hyperparameters: dict = field(default_factory=dict)
    output_path: str | None = None  # training: OutputDataConfig.S3OutputPath
    metric_definitions: tuple = ()
    body: dict = field(default_factory=dict)


def get_field(node: dict, key: str, path: str, kind: type, required: bool = True):
    where = f"{path}.{key}".lstrip(".")
    if key not in node:
        if required:
            raise RequestError(f"{where}: missing (required)")
        return None
    value = node[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        word = {dict: "an object", list: "a list", str: "a string", int: "a whole number",
                bool: "true or false"}[kind]
        raise RequestError(f"{where}: {json.dumps(value)} is not {word}")
    return value


def check_known(node: dict, known: set, path: str, refused: dict | None = None) -> None:
    """Every field of `node` is one this takes; a field the API knows that cannot run here
    (`refused`: field -> why) is named with its reason first."""
    for key, why in (refused or {}).items():
        if key in node:
            raise RequestError(f"{path}.{key}".lstrip(".") + f": {why}")
    for key in node:
        if key not in known:
            raise RequestError(f"{path}.{key}".lstrip(".") + ": unknown field (known: "
                               f"{', '.join(sorted(known))})")


def string_list(node: dict, key: str, path: str) -> tuple | None:
    values = get_field(node, key, path, list, required=False)
    if values is None:
        return None
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise RequestError(f"{path}.{key}[{index}]: {json.dumps(value)} is not a string")
    return tuple(values)


def string_map(node: dict, key: str, path: str) -> dict:
    """A string -> string map (Environment, HyperParameters), as SageMaker requires."""
    values = get_field(node, key, path, dict, required=False) or {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise RequestError(f"{key}.{name}: {json.dumps(value)} is not a string (SageMaker "
                               f"takes strings only: write \"{value}\")")
    return dict(values)


def checked_name(body: dict, key: str, what: str = "job name") -> str:
    """body[key], a SageMaker resource name; `what` names the kind in the refusal."""
    name = get_field(body, key, "", str)
    if not NAME_PATTERN.fullmatch(name):
        raise RequestError(f"{key}: {json.dumps(name)} is not a {what} (1-63 letters, digits "
                           "and hyphens, starting with a letter or digit)")
    return name


def checked_uri(value, path: str) -> str:
    if not isinstance(value, str) or not value.startswith(SCHEMES):
        raise RequestError(f"{path}: {json.dumps(value)} is not an s3:// or file:// URI")
    return value


def _runtime(body: dict, kind: str) -> int | None:
    condition = get_field(body, "StoppingCondition", "", dict, required=False)
    if condition is None:
        return DEFAULT_TRAINING_RUNTIME if kind == TRAINING else None
    check_known(condition, {"MaxRuntimeInSeconds", "MaxWaitTimeInSeconds",
                            "MaxPendingTimeInSeconds"}, "StoppingCondition")
    seconds = get_field(condition, "MaxRuntimeInSeconds", "StoppingCondition", int,
                        required=kind == PROCESSING)
    if seconds is None:
        return DEFAULT_TRAINING_RUNTIME
    if not 1 <= seconds <= MAX_RUNTIME[kind]:
        raise RequestError(f"StoppingCondition.MaxRuntimeInSeconds: {seconds} is outside "
                           f"1..{MAX_RUNTIME[kind]}")
    return seconds


def _count(node: dict, path: str) -> int:
    count = get_field(node, "InstanceCount", path, int)
    if count < 1:
        raise RequestError(f"{path}.InstanceCount: {count} is below 1")
    return count


def _unique(items: list, what: str, path: str) -> None:
    names = [item.name for item in items]
    for name in names:
        if names.count(name) > 1:
            raise RequestError(f"{path}: {what} {json.dumps(name)} is given twice")


def processing(body: dict) -> JobRequest:
    check_known(body, FIELDS[PROCESSING], "")
    name = checked_name(body, "ProcessingJobName")
    app = get_field(body, "AppSpecification", "", dict)
    check_known(app, {"ImageUri", "ContainerEntrypoint", "ContainerArguments"}, "AppSpecification")
    inputs = []
    given = get_field(body, "ProcessingInputs", "", list, required=False) or []
    for index, item in enumerate(given):
        path = f"ProcessingInputs[{index}]"
        if not isinstance(item, dict):
            raise RequestError(f"{path}: not an object")
        if "DatasetDefinition" in item:
            raise RequestError(f"{path}.DatasetDefinition: Athena and Redshift inputs do not "
                               "run locally; give an S3Input")
        check_known(item, {"InputName", "AppManaged", "S3Input"}, path)
        source = get_field(item, "S3Input", path, dict)
        check_known(source, {"S3Uri", "LocalPath", "S3DataType", "S3InputMode",
                             "S3DataDistributionType", "S3CompressionType"}, f"{path}.S3Input")
        if source.get("S3InputMode", "File") != "File":
            raise RequestError(f"{path}.S3Input.S3InputMode: only File runs locally")
        inputs.append(Input(get_field(item, "InputName", path, str),
                            checked_uri(source.get("S3Uri"), f"{path}.S3Input.S3Uri"),
                            checked_local_path(source, f"{path}.S3Input")))
    outputs = []
    config = get_field(body, "ProcessingOutputConfig", "", dict, required=False) or {}
    check_known(config, {"Outputs", "KmsKeyId"}, "ProcessingOutputConfig")
    for index, item in enumerate(config.get("Outputs", [])):
        path = f"ProcessingOutputConfig.Outputs[{index}]"
        if "FeatureStoreOutput" in item:
            raise RequestError(f"{path}.FeatureStoreOutput: Feature Store does not run locally")
        check_known(item, {"OutputName", "S3Output", "AppManaged"}, path)
        target = get_field(item, "S3Output", path, dict)
        check_known(target, {"S3Uri", "LocalPath", "S3UploadMode"}, f"{path}.S3Output")
        outputs.append(Output(get_field(item, "OutputName", path, str),
                              checked_local_path(target, f"{path}.S3Output"),
                              checked_uri(target.get("S3Uri"), f"{path}.S3Output.S3Uri")))
    _unique(inputs, "InputName", "ProcessingInputs")
    _unique(outputs, "OutputName", "ProcessingOutputConfig.Outputs")
    resources = get_field(body, "ProcessingResources", "", dict)
    cluster = get_field(resources, "ClusterConfig", "ProcessingResources", dict)
    return JobRequest(PROCESSING, name, get_field(app, "ImageUri", "AppSpecification", str),
                      string_list(app, "ContainerEntrypoint", "AppSpecification"),
                      string_list(app, "ContainerArguments", "AppSpecification"),
                      string_map(body, "Environment", ""), tuple(inputs), tuple(outputs),
                      _count(cluster, "ProcessingResources.ClusterConfig"),
                      _runtime(body, PROCESSING), body=body)


def checked_local_path(node: dict, path: str) -> str:
    local = get_field(node, "LocalPath", path, str)
    if not local.startswith(PROCESSING_ROOT) or ".." in Path(local).parts:
        raise RequestError(f"{path}.LocalPath: {json.dumps(local)} is not under "
                           f"{PROCESSING_ROOT}")
    return local.rstrip("/")


def training(body: dict) -> JobRequest:
    check_known(body, FIELDS[TRAINING], "")
    name = checked_name(body, "TrainingJobName")
    spec = get_field(body, "AlgorithmSpecification", "", dict)
    if "AlgorithmName" in spec:
        raise RequestError("AlgorithmSpecification.AlgorithmName: Marketplace algorithms do not "
                           "run locally; give a TrainingImage")
    check_known(spec, {"TrainingImage", "TrainingInputMode", "MetricDefinitions",
                       "EnableSageMakerMetricsTimeSeries", "ContainerEntrypoint",
                       "ContainerArguments", "TrainingImageConfig"}, "AlgorithmSpecification")
    mode = spec.get("TrainingInputMode", "File")
    metrics = get_field(spec, "MetricDefinitions", "AlgorithmSpecification", list, required=False)
    for index, item in enumerate(metrics or []):
        path = f"AlgorithmSpecification.MetricDefinitions[{index}]"
        get_field(item, "Name", path, str)
        try:
            re.compile(get_field(item, "Regex", path, str))
        except re.error as error:
            raise RequestError(f"{path}.Regex: not a regular expression ({error})") from None
    channels = []
    given = get_field(body, "InputDataConfig", "", list, required=False) or []
    for index, item in enumerate(given):
        channels.append(_channel(item, f"InputDataConfig[{index}]", mode))
    _unique(channels, "ChannelName", "InputDataConfig")
    output = get_field(body, "OutputDataConfig", "", dict)
    resources = get_field(body, "ResourceConfig", "", dict, required=False) or {"InstanceCount": 1}
    image = get_field(spec, "TrainingImage", "AlgorithmSpecification", str)
    return JobRequest(TRAINING, name, image,
                      string_list(spec, "ContainerEntrypoint", "AlgorithmSpecification"),
                      string_list(spec, "ContainerArguments", "AlgorithmSpecification"),
                      string_map(body, "Environment", ""), tuple(channels), (),
                      _count(resources, "ResourceConfig"), _runtime(body, TRAINING),
                      hyperparameters=string_map(body, "HyperParameters", ""),
                      output_path=checked_uri(output.get("S3OutputPath"),
                                              "OutputDataConfig.S3OutputPath"),
                      metric_definitions=tuple(metrics or ()), body=body)


def _channel(item, path: str, default_mode: str) -> Input:
    if not isinstance(item, dict):
        raise RequestError(f"{path}: not an object")
    check_known(item, {"ChannelName", "DataSource", "ContentType", "CompressionType",
                       "RecordWrapperType", "InputMode", "ShuffleConfig"}, path)
    name = get_field(item, "ChannelName", path, str)
    if not CHANNEL_PATTERN.fullmatch(name):
        raise RequestError(f"{path}.ChannelName: {json.dumps(name)} is not a channel name "
                           "(letters, digits, '.', '-', '_')")
    source = get_field(item, "DataSource", path, dict)
    if "FileSystemDataSource" in source:
        raise RequestError(f"{path}.DataSource.FileSystemDataSource: EFS and FSx do not run "
                           "locally; give an S3DataSource")
    s3 = get_field(source, "S3DataSource", f"{path}.DataSource", dict)
    mode = item.get("InputMode", default_mode)
    if mode == "Pipe":
        raise RequestError(f"{path}.InputMode: Pipe mode does not run locally; use File")
    config = {"TrainingInputMode": mode,
              "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
              "RecordWrapperType": item.get("RecordWrapperType", "None")}
    if "ContentType" in item:
        config["ContentType"] = item["ContentType"]
    return Input(name, checked_uri(s3.get("S3Uri"), f"{path}.DataSource.S3DataSource.S3Uri"),
                 f"/opt/ml/input/data/{name}", config)


def parse(body) -> JobRequest:
    """Either request, told apart by its job-name field."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    if "ProcessingJobName" in body:
        return processing(body)
    if "TrainingJobName" in body:
        return training(body)
    raise RequestError("neither ProcessingJobName (CreateProcessingJob) nor TrainingJobName "
                       "(CreateTrainingJob) is given")


def load(path: Path) -> JobRequest:
    try:
        body = json.loads(Path(path).read_text())
    except OSError as error:
        raise RequestError(f"{path}: cannot read the request ({error.strerror})") from None
    except ValueError as error:
        raise RequestError(f"{path}: not JSON ({error})") from None
    return parse(body)
