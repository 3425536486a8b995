"""A CreateTransformJob request body, read and checked before anything runs, each mistake named by
its JSON path, as requests.py reads the processing and training ones.

The engine that runs it is the batch transform engine (pipeline/transform/request.py), a package
above this one: whoever takes any request (`make job`, a pipeline's Transform step) parses it
here and hands it to that engine. Standard library only.
"""

from dataclasses import dataclass

from pipeline.api.requests import (
    RequestError,
    check_known,
    checked_name,
    checked_uri,
    get_field,
    string_map,
)

TRANSFORM = "transform"
FIELDS = {"TransformJobName", "ModelName", "MaxConcurrentTransforms", "ModelClientConfig",
          "MaxPayloadInMB", "BatchStrategy", "Environment", "TransformInput", "TransformOutput",
          "DataCaptureConfig", "TransformResources", "DataProcessing", "Tags",
          "ExperimentConfig"}
STRATEGIES = ("SingleRecord", "MultiRecord")
SPLITS = ("None", "Line")  # RecordIO and TFRecord need their own readers: not here
JOINS = ("None", "Input")
MAX_PAYLOAD_MB = 100  # SageMaker's bound on MaxPayloadInMB


@dataclass(frozen=True)
class TransformRequest:
    name: str
    model: str  # ModelName: a CreateModel request kept under LOCAL_DIR/models/
    input_uri: str
    output_uri: str
    content_type: str | None
    split_type: str
    accept: str | None
    batch_strategy: str | None
    max_payload_mb: int | None
    max_concurrent: int | None
    environment: dict
    input_filter: str
    join_source: str
    output_filter: str
    instance_count: int
    body: dict


def _choice(node: dict, key: str, path: str, allowed: tuple, default: str | None) -> str | None:
    value = get_field(node, key, path, str, required=False)
    if value is not None and value not in allowed:
        raise RequestError(f"{path}.{key}".lstrip(".") + f": {value!r} is not one of "
                           f"{', '.join(allowed)}")
    return value if value is not None else default


def transform(body) -> TransformRequest:
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, FIELDS, "")
    name = checked_name(body, "TransformJobName")
    source = get_field(body, "TransformInput", "", dict)
    check_known(source, {"DataSource", "ContentType", "CompressionType", "SplitType"},
                "TransformInput")
    if source.get("CompressionType", "None") != "None":
        raise RequestError("TransformInput.CompressionType: only None runs locally")
    s3 = get_field(get_field(source, "DataSource", "TransformInput", dict), "S3DataSource",
                   "TransformInput.DataSource", dict)
    output = get_field(body, "TransformOutput", "", dict)
    check_known(output, {"S3OutputPath", "Accept", "AssembleWith", "KmsKeyId"}, "TransformOutput")
    resources = get_field(body, "TransformResources", "", dict)
    count = get_field(resources, "InstanceCount", "TransformResources", int)
    if count < 1:
        raise RequestError(f"TransformResources.InstanceCount: {count} is below 1")
    payload = get_field(body, "MaxPayloadInMB", "", int, required=False)
    if payload is not None and not 0 <= payload <= MAX_PAYLOAD_MB:
        raise RequestError(f"MaxPayloadInMB: {payload} is outside 0..{MAX_PAYLOAD_MB}")
    concurrent = get_field(body, "MaxConcurrentTransforms", "", int, required=False)
    if concurrent is not None and concurrent < 0:
        raise RequestError(f"MaxConcurrentTransforms: {concurrent} is below 0")
    processing = get_field(body, "DataProcessing", "", dict, required=False) or {}
    check_known(processing, {"InputFilter", "JoinSource", "OutputFilter"}, "DataProcessing")
    return TransformRequest(
        name=name, model=get_field(body, "ModelName", "", str),
        input_uri=checked_uri(s3.get("S3Uri"), "TransformInput.DataSource.S3DataSource.S3Uri"),
        output_uri=checked_uri(output.get("S3OutputPath"), "TransformOutput.S3OutputPath"),
        content_type=get_field(source, "ContentType", "TransformInput", str, required=False),
        split_type=_choice(source, "SplitType", "TransformInput", SPLITS, "None"),
        accept=get_field(output, "Accept", "TransformOutput", str, required=False),
        batch_strategy=_choice(body, "BatchStrategy", "", STRATEGIES, None),
        max_payload_mb=payload, max_concurrent=concurrent,
        environment=string_map(body, "Environment", ""),
        input_filter=get_field(processing, "InputFilter", "DataProcessing", str,
                               required=False) or "$",
        join_source=_choice(processing, "JoinSource", "DataProcessing", JOINS, "None"),
        output_filter=get_field(processing, "OutputFilter", "DataProcessing", str,
                                required=False) or "$",
        instance_count=count, body=body)
