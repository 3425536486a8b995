"""A monitoring job definition, read and checked: the inline `MonitoringJobDefinition` of a
CreateMonitoringSchedule request, or a CreateDataQualityJobDefinition /
CreateModelQualityJobDefinition body (what the SDK's DefaultModelMonitor and ModelQualityMonitor
send before the schedule that names it). Mistakes are named by their JSON path, unknown fields
refused, as pipeline/api/requests.py does for jobs. Standard library only.
"""

import re
from dataclasses import dataclass, field

from pipeline.api.requests import (
    NAME_PATTERN,
    RequestError,
    check_known,
    checked_local_path,
    checked_uri,
    get_field,
    string_list,
)

DATA_QUALITY, MODEL_QUALITY = "DATA_QUALITY", "MODEL_QUALITY"
# MonitoringType (the schedule's, and the prefix of a job definition's fields) -> analysis_type
TYPES = {"DataQuality": DATA_QUALITY, "ModelQuality": MODEL_QUALITY}
CLARIFY = ("ModelBias", "ModelExplainability")
PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
MAX_RUNTIME = 86400  # MonitoringStoppingCondition's ceiling
DEFAULT_RUNTIME = 3600  # the SDK's default max_runtime_in_seconds for a monitor
APP = {"ImageUri", "ContainerEntrypoint", "ContainerArguments", "RecordPreprocessorSourceUri",
       "PostAnalyticsProcessorSourceUri"}
ENDPOINT_INPUT = {"EndpointName", "LocalPath", "S3InputMode", "S3DataDistributionType",
                  "FeaturesAttribute", "InferenceAttribute", "ProbabilityAttribute",
                  "ProbabilityThresholdAttribute", "StartTimeOffset", "EndTimeOffset",
                  "ExcludeFeaturesAttribute"}
COMMON = {"NetworkConfig", "RoleArn", "StoppingCondition", "Tags"}
ENV_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,255}")
DURATION = re.compile(r"([+-])?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


@dataclass(frozen=True)
class MonitoringJob:
    """What each execution of a schedule runs: one analysis of one endpoint's capture."""
    analysis: str
    image: str
    endpoint: str
    local_path: str
    output_uri: str
    output_path: str
    instance_count: int
    max_runtime: int
    entrypoint: tuple | None = None
    arguments: tuple | None = None
    environment: dict = field(default_factory=dict)
    statistics: str | None = None  # the baseline's URIs
    constraints: str | None = None
    baselining_job: str | None = None
    preprocessor: str | None = None
    # model quality
    ground_truth: str | None = None
    problem_type: str | None = None
    attributes: dict = field(default_factory=dict)  # the analyzer's *_attribute variables
    offsets: dict = field(default_factory=dict)  # EndpointInput's Start/EndTimeOffset
    name: str | None = None  # JobDefinitionName, None inline
    body: dict = field(default_factory=dict)


def duration(text, path: str) -> int:
    """An ISO 8601 duration as SageMaker's offsets are written ("-PT1H", "-P1D", "PT0S"), in
    seconds."""
    match = DURATION.fullmatch(text) if isinstance(text, str) and len(text) <= 15 else None
    if not match or not any(match.group(2, 3, 4, 5)):
        raise RequestError(f"{path}: {text!r} is not an ISO 8601 duration such as -PT1H or -P1D")
    sign, days, hours, minutes, seconds = match.groups()
    total = (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
             + int(seconds or 0))
    return -total if sign == "-" else total


def environment(node: dict, path: str) -> dict:
    values = get_field(node, "Environment", path, dict, required=False) or {}
    where = f"{path}.Environment".lstrip(".")
    for key, value in values.items():
        if not ENV_KEY.fullmatch(key):
            raise RequestError(f"{where}.{key}: not an environment variable's name")
        if not isinstance(value, str):
            raise RequestError(f"{where}.{key}: {value!r} is not a string (SageMaker takes "
                               "strings only)")
    return dict(values)


def _app(node: dict, path: str, known: set) -> dict:
    check_known(node, known, path)
    if "PostAnalyticsProcessorSourceUri" in node:
        raise RequestError(f"{path}.PostAnalyticsProcessorSourceUri: post-analytics scripts do "
                           "not run here (the analyzer has no such step)")
    found = {"image": get_field(node, "ImageUri", path, str),
             "entrypoint": string_list(node, "ContainerEntrypoint", path),
             "arguments": string_list(node, "ContainerArguments", path)}
    if "RecordPreprocessorSourceUri" in node:
        found["preprocessor"] = checked_uri(node["RecordPreprocessorSourceUri"],
                                            f"{path}.RecordPreprocessorSourceUri")
    return found


def _baseline(node: dict | None, path: str, statistics: bool) -> dict:
    if node is None:
        return {}
    known = {"BaseliningJobName", "ConstraintsResource"} | (
        {"StatisticsResource"} if statistics else set())
    check_known(node, known, path)
    found = {"baselining_job": get_field(node, "BaseliningJobName", path, str, required=False)}
    for key, resource in (("constraints", "ConstraintsResource"),
                          ("statistics", "StatisticsResource")):
        item = get_field(node, resource, path, dict, required=False)
        if item is not None:
            check_known(item, {"S3Uri"}, f"{path}.{resource}")
            found[key] = checked_uri(item.get("S3Uri"), f"{path}.{resource}.S3Uri")
    return found


def _endpoint(inputs: dict, path: str) -> dict:
    if "BatchTransformInput" in inputs:
        raise RequestError(f"{path}.BatchTransformInput: monitoring a batch transform's "
                           "capture does not run here; give an EndpointInput")
    node = get_field(inputs, "EndpointInput", path, dict)
    path = f"{path}.EndpointInput"
    check_known(node, ENDPOINT_INPUT, path)
    if node.get("S3InputMode", "File") != "File":
        raise RequestError(f"{path}.S3InputMode: only File runs here")
    found = {"endpoint": get_field(node, "EndpointName", path, str),
             "local_path": checked_local_path(node, path), "attributes": {}, "offsets": {}}
    for key, variable in (("InferenceAttribute", "inference_attribute"),
                          ("ProbabilityAttribute", "probability_attribute")):
        if key in node:
            found["attributes"][variable] = get_field(node, key, path, str)
    if "ProbabilityThresholdAttribute" in node:
        value = node["ProbabilityThresholdAttribute"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(f"{path}.ProbabilityThresholdAttribute: {value!r} is not a number")
        found["attributes"]["probability_threshold_attribute"] = str(value)
    for key in ("StartTimeOffset", "EndTimeOffset"):
        if key in node:
            found["offsets"][key] = duration(get_field(node, key, path, str), f"{path}.{key}")
    return found


def _outputs(node: dict, path: str) -> dict:
    check_known(node, {"MonitoringOutputs", "KmsKeyId"}, path)
    outputs = get_field(node, "MonitoringOutputs", path, list)
    if len(outputs) != 1 or not isinstance(outputs[0], dict):
        raise RequestError(f"{path}.MonitoringOutputs: exactly one output object (SageMaker's "
                           f"rule), not {len(outputs)}")
    where = f"{path}.MonitoringOutputs[0]"
    check_known(outputs[0], {"S3Output"}, where)
    target = get_field(outputs[0], "S3Output", where, dict)
    check_known(target, {"S3Uri", "LocalPath", "S3UploadMode"}, f"{where}.S3Output")
    if target.get("S3UploadMode", "Continuous") not in ("Continuous", "EndOfJob"):
        raise RequestError(f"{where}.S3Output.S3UploadMode: Continuous or EndOfJob")
    return {"output_uri": checked_uri(target.get("S3Uri"), f"{where}.S3Output.S3Uri"),
            "output_path": checked_local_path(target, f"{where}.S3Output")}


def _resources(node: dict, path: str) -> int:
    cluster = get_field(node, "ClusterConfig", path, dict)
    path = f"{path}.ClusterConfig"
    check_known(cluster, {"InstanceCount", "InstanceType", "VolumeSizeInGB", "VolumeKmsKeyId"},
                path)
    count = get_field(cluster, "InstanceCount", path, int)
    if not 1 <= count <= 100:
        raise RequestError(f"{path}.InstanceCount: {count} is outside 1..100")
    get_field(cluster, "InstanceType", path, str)
    return count


def _runtime(node: dict, path: str) -> int:
    condition = get_field(node, "StoppingCondition", path, dict, required=False)
    if condition is None:
        return DEFAULT_RUNTIME
    where = f"{path}.StoppingCondition".lstrip(".")
    check_known(condition, {"MaxRuntimeInSeconds"}, where)
    seconds = get_field(condition, "MaxRuntimeInSeconds", where, int)
    if not 1 <= seconds <= MAX_RUNTIME:
        raise RequestError(f"{where}.MaxRuntimeInSeconds: {seconds} is outside 1..{MAX_RUNTIME}")
    return seconds


def inline(node: dict, path: str) -> MonitoringJob:
    """A schedule's own MonitoringJobDefinition (a data-quality job: it has no ground truth)."""
    check_known(node, COMMON | {"BaselineConfig", "MonitoringInputs", "MonitoringOutputConfig",
                                "MonitoringResources", "MonitoringAppSpecification", "Environment"},
                path)
    inputs = get_field(node, "MonitoringInputs", path, list)
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(f"{path}.MonitoringInputs: exactly one input object (SageMaker's "
                           f"rule), not {len(inputs)}")
    check_known(inputs[0], {"EndpointInput", "BatchTransformInput"}, f"{path}.MonitoringInputs[0]")
    return MonitoringJob(
        DATA_QUALITY, **_app(get_field(node, "MonitoringAppSpecification", path, dict),
                             f"{path}.MonitoringAppSpecification", APP),
        **_endpoint(inputs[0], f"{path}.MonitoringInputs[0]"),
        **_outputs(get_field(node, "MonitoringOutputConfig", path, dict),
                   f"{path}.MonitoringOutputConfig"),
        instance_count=_resources(get_field(node, "MonitoringResources", path, dict),
                                  f"{path}.MonitoringResources"),
        max_runtime=_runtime(node, path), environment=environment(node, path),
        **_baseline(get_field(node, "BaselineConfig", path, dict, required=False),
                    f"{path}.BaselineConfig", statistics=True), body=node)


def definition(body: dict) -> MonitoringJob:
    """A CreateDataQualityJobDefinition or CreateModelQualityJobDefinition body, told apart by
    its fields' prefix."""
    if not isinstance(body, dict):
        raise RequestError("the job definition is not a JSON object")
    kinds = [kind for kind in TYPES if f"{kind}JobInput" in body]
    clarify = [kind for kind in CLARIFY if f"{kind}JobInput" in body]
    if clarify:
        raise RequestError(f"{clarify[0]}JobInput: Clarify's bias and explainability monitors "
                           "do not run here")
    if len(kinds) != 1:
        raise RequestError("neither DataQualityJobInput (CreateDataQualityJobDefinition) nor "
                           "ModelQualityJobInput (CreateModelQualityJobDefinition) is given")
    kind = kinds[0]
    quality = kind == "ModelQuality"
    check_known(body, COMMON | {"JobDefinitionName", "JobResources", f"{kind}AppSpecification",
                                f"{kind}BaselineConfig", f"{kind}JobInput",
                                f"{kind}JobOutputConfig"}, "")
    name = get_field(body, "JobDefinitionName", "", str)
    if not NAME_PATTERN.fullmatch(name):
        raise RequestError(f"JobDefinitionName: {name!r} is not a name (1-63 letters, digits "
                           "and hyphens, starting with a letter or digit)")
    app_path = f"{kind}AppSpecification"
    app = get_field(body, app_path, "", dict)
    found = _app(app, app_path, APP | {"Environment"} | ({"ProblemType"} if quality else set()))
    job_input = get_field(body, f"{kind}JobInput", "", dict)
    check_known(job_input, {"EndpointInput", "BatchTransformInput"} |
                ({"GroundTruthS3Input"} if quality else set()), f"{kind}JobInput")
    extra = {}
    if quality:
        problem = get_field(app, "ProblemType", app_path, str, required=False)
        if problem is not None and problem not in PROBLEM_TYPES:
            raise RequestError(f"{app_path}.ProblemType: {problem!r} is not one of "
                               f"{', '.join(PROBLEM_TYPES)}")
        truth = get_field(job_input, "GroundTruthS3Input", f"{kind}JobInput", dict)
        check_known(truth, {"S3Uri"}, f"{kind}JobInput.GroundTruthS3Input")
        extra = {"problem_type": problem, "ground_truth": checked_uri(
            truth.get("S3Uri"), f"{kind}JobInput.GroundTruthS3Input.S3Uri")}
    return MonitoringJob(
        TYPES[kind], **found, **_endpoint(job_input, f"{kind}JobInput"),
        **_outputs(get_field(body, f"{kind}JobOutputConfig", "", dict), f"{kind}JobOutputConfig"),
        instance_count=_resources(get_field(body, "JobResources", "", dict), "JobResources"),
        max_runtime=_runtime(body, ""), environment=environment(app, app_path),
        **_baseline(get_field(body, f"{kind}BaselineConfig", "", dict, required=False),
                    f"{kind}BaselineConfig", statistics=not quality),
        **extra, name=name, body=body)
