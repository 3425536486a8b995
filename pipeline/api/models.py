"""A CreateModel request: checked before anything is written, kept as
LOCAL_DIR/models/<ModelName>.json, and read back as the DescribeModel answer.

The kept file is what a CreateTransformJob's ModelName names (pipeline/transform/request.py
reads its PrimaryContainer), whoever wrote it: `make job` with a CreateModel body, a
pipeline's Model step, `make transform`. One container per model here: an inference pipeline
(`Containers`) and a model that lives elsewhere than ModelDataUrl (ModelDataSource) are refused
by name. A container's ModelPackageName (a registered version, what the program's deploy
Lambda names) takes the place of Image and ModelDataUrl: the endpoint serves the version's
archive. Standard library only.
"""

import json
from pathlib import Path

from pipeline.api.describe import resource_arn
from pipeline.api.requests import (
    RequestError,
    check_known,
    checked_name,
    get_field,
)
from pipeline.runs import files
from pipeline.runs import records as runs

MODELS = "models"  # <local>/models/<ModelName>.json
FIELDS = {"ModelName", "PrimaryContainer", "Containers", "InferenceExecutionConfig",
          "ExecutionRoleArn", "Tags", "VpcConfig", "EnableNetworkIsolation"}
CONTAINER_FIELDS = {"ContainerHostname", "Image", "ImageConfig", "Mode", "ModelDataUrl",
                    "ModelDataSource", "AdditionalModelDataSources", "Environment",
                    "ModelPackageName", "InferenceSpecificationName", "MultiModelConfig"}
# Fields the API knows that one container on this machine cannot honour, refused by name.
REFUSED = {"Containers": "an inference pipeline of several containers does not run here; give "
                         "one PrimaryContainer"}
REFUSED_IN_CONTAINER = {
    "ModelDataSource": "give the archive as PrimaryContainer.ModelDataUrl (an s3:// or file:// "
                       "model.tar.gz)",
    "AdditionalModelDataSources": "one archive per model here: PrimaryContainer.ModelDataUrl",
}
NOT_ECHOED = {"Tags"}


def arn(name: str) -> str:
    return resource_arn("model", name)


def kept_path(local: Path, name: str) -> Path:
    return Path(local) / MODELS / f"{name}.json"


def model(body) -> str:
    """The ModelName of a CreateModel body checked whole; RequestError names the first mistake
    by its JSON path."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    container = body.get("PrimaryContainer")
    refused = {key: why for key, why in REFUSED.items() if key in body} or {
        f"PrimaryContainer.{key}": why for key, why in REFUSED_IN_CONTAINER.items()
        if isinstance(container, dict) and key in container}
    for where, why in refused.items():
        raise RequestError(f"{where}: {why}")
    check_known(body, FIELDS, "")
    name = checked_name(body, "ModelName", "model name")
    container = get_field(body, "PrimaryContainer", "", dict)
    check_known(container, CONTAINER_FIELDS, "PrimaryContainer")
    if get_field(container, "ModelPackageName", "PrimaryContainer", str, required=False):
        for key in ("Image", "ModelDataUrl"):
            if key in container:
                raise RequestError(f"PrimaryContainer.{key}: a model of a model package takes "
                                   "its image and archive from the package "
                                   "(PrimaryContainer.ModelPackageName); give no " + key)
    else:
        get_field(container, "Image", "PrimaryContainer", str)
    url = get_field(container, "ModelDataUrl", "PrimaryContainer", str, required=False)
    if url is not None and not url.startswith(("s3://", "file://")):
        raise RequestError(f"PrimaryContainer.ModelDataUrl: {json.dumps(url)} is not an s3:// "
                           "or file:// URI")
    environment = get_field(container, "Environment", "PrimaryContainer", dict, required=False)
    for key, value in (environment or {}).items():
        if not isinstance(value, str):
            raise RequestError(f"PrimaryContainer.Environment.{key}: {json.dumps(value)} is "
                               "not a string")
    return name


def keep(local: Path, name: str, body: dict) -> dict:
    """The model kept whole under LOCAL_DIR/models/ (a reader never sees half of one); the
    DescribeModel answer of it."""
    record = {"ModelName": name, "ModelArn": arn(name), "CreationTime": runs.iso(runs.now()),
              **{key: value for key, value in body.items() if key != "ModelName"}}
    path = kept_path(local, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, record)
    return answer(record)


def create(local: Path, body) -> dict:
    """CreateModel: refused, as SageMaker refuses it, when a model of that name is kept."""
    name = model(body)
    path = kept_path(local, name)
    if path.exists():
        raise RequestError(f"ModelName: a model named {name} exists already ({path}); "
                           "SageMaker's model names are unique: give another")
    return keep(local, name, body)


def answer(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in NOT_ECHOED}


def describe(local: Path, name: str) -> dict | None:
    """DescribeModel of a kept model, or None when none has that name."""
    path = kept_path(local, name)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RequestError(f"{path}: cannot read the kept model ({error})") from None
    record.setdefault("ModelName", name)
    record.setdefault("ModelArn", arn(name))
    return answer(record)
