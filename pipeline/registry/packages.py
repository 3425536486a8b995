"""SageMaker's model package requests on the local registry: CreateModelPackage (the group's
next version), UpdateModelPackage (its approval status) and DescribeModelPackage.

One path for each, whoever asks: `make job` with the request's body and a pipeline's
RegisterModel step (pipeline/workflow/steps.py) both create a version through `create`, and an
UpdateModelPackage takes `make approve`/`make reject`'s own path (models.change_status, with
ON_APPROVE). A body is checked whole, each mistake named by its JSON path, and its archive and
statistics are read, before the registry changes; the version is then written whole
(models.register). The registry keeps each version's accuracy, so ModelMetrics.ModelQuality.
Statistics (the evaluation.json) is required here. Standard library only, but for s3://
(boto3, imported then).
"""

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.api import objects
from pipeline.api.describe import resource_arn
from pipeline.api.requests import NAME_PATTERN, RequestError, check_known, get_field
from pipeline.registry import models as registry

REGISTRY = "registry"  # <local>/registry/<group>/<version>/
CREATE_FIELDS = {
    "ModelPackageName", "ModelPackageGroupName", "ModelPackageDescription",
    "ModelPackageRegistrationType", "InferenceSpecification", "ValidationSpecification",
    "SourceAlgorithmSpecification", "CertifyForMarketplace", "Tags", "ModelApprovalStatus",
    "MetadataProperties", "ModelMetrics", "ClientToken", "Domain", "Task", "SamplePayloadUrl",
    "CustomerMetadataProperties", "DriftCheckBaselines", "AdditionalInferenceSpecifications",
    "SkipModelValidation", "SourceUri", "SecurityConfig", "ModelCard", "ModelLifeCycle"}
# Fields of CreateModelPackage that need what only AWS has: refused by name.
CREATE_REFUSED = {
    "ModelPackageName": "an unversioned model package has no place here; give "
                        "ModelPackageGroupName (the local registry keeps groups of versions)",
    "SourceAlgorithmSpecification": "Marketplace algorithms do not run locally; give "
                                    "InferenceSpecification.Containers[0].ModelDataUrl",
}
# UpdateModelPackage changes a version's approval here, nothing else: the other fields the API
# knows are refused by name rather than kept unchanged.
UPDATE_FIELDS = {"ModelPackageArn", "ModelApprovalStatus", "ApprovalDescription", "ClientToken"}
UPDATE_REFUSED = ("CustomerMetadataProperties", "CustomerMetadataPropertiesToRemove",
                  "AdditionalInferenceSpecificationsToAdd", "InferenceSpecification",
                  "SourceUri", "ModelCard", "ModelLifeCycle")
# What is in metadata.json already, or never echoed by DescribeModelPackage.
NOT_KEPT = {"ModelPackageGroupName", "ModelApprovalStatus", "Tags", "ClientToken"}
PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package/([^/]+)/(\d+)$")
GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package-group/([^/]+)$")
VERSION_NAME = re.compile(r"^([^/]+)/(\d+)$")


@dataclass(frozen=True)
class Package:
    """A checked CreateModelPackage body."""
    group: str
    model_data_url: str
    statistics: str
    status: str
    body: dict


def arn(group: str, version: int) -> str:
    """A version's ARN as SageMaker writes it (the group lower-cased)."""
    return resource_arn("model-package", f"{group}/{version}")


def group_name(value: str, where: str) -> str:
    """A group's name, given as its name or its ARN."""
    match = GROUP_ARN.match(value)
    name = match.group(1) if match else value
    if not NAME_PATTERN.fullmatch(name):
        raise RequestError(f"{where}: {json.dumps(value)} is not a model package group's name "
                           "(1-63 letters, digits and hyphens) or ARN")
    return name


def _uri(node: dict, key: str, path: str) -> str:
    value = get_field(node, key, path, str)
    if not value.strip():
        raise RequestError(f"{path}.{key}: empty")
    return value


def package(body) -> Package:
    """A CreateModelPackage body checked whole; RequestError names the first mistake."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, CREATE_FIELDS, "", CREATE_REFUSED)
    group = group_name(get_field(body, "ModelPackageGroupName", "", str), "ModelPackageGroupName")
    spec = get_field(body, "InferenceSpecification", "", dict)
    containers = get_field(spec, "Containers", "InferenceSpecification", list)
    if not containers or not isinstance(containers[0], dict):
        raise RequestError("InferenceSpecification.Containers: give at least one container, "
                           "an object with the model's ModelDataUrl")
    url = _uri(containers[0], "ModelDataUrl", "InferenceSpecification.Containers[0]")
    if "ModelMetrics" not in body:
        raise RequestError("ModelMetrics: missing (required here: the local registry keeps "
                           "each version's accuracy; give ModelMetrics.ModelQuality.Statistics."
                           "S3Uri, the evaluation.json — the SDK's ModelMetrics(model_statistics="
                           "MetricsSource(s3_uri=…)))")
    quality = get_field(get_field(body, "ModelMetrics", "", dict), "ModelQuality",
                        "ModelMetrics", dict)
    statistics = get_field(quality, "Statistics", "ModelMetrics.ModelQuality", dict)
    source = _uri(statistics, "S3Uri", "ModelMetrics.ModelQuality.Statistics")
    status = get_field(body, "ModelApprovalStatus", "", str, required=False) or registry.PENDING
    if status not in registry.STATUSES:
        raise RequestError(f"ModelApprovalStatus: {json.dumps(status)} is not one of "
                           f"{', '.join(registry.STATUSES)}")
    metadata = get_field(body, "CustomerMetadataProperties", "", dict, required=False) or {}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise RequestError(f"CustomerMetadataProperties.{key}: {json.dumps(value)} is not "
                               "a string")
    get_field(body, "ModelPackageDescription", "", str, required=False)
    return Package(group, url, source, status, body)


def create(local: Path, request: Package, lineage: dict | None = None) -> dict:
    """CreateModelPackage: the archive and its statistics read, then the group's next version
    written whole with the request's approval status (PendingManualApproval when absent, as
    SageMaker's default) and its fields; the DescribeModelPackage answer."""
    with tempfile.TemporaryDirectory() as temporary:
        fetched = {}
        for name, uri, where in (
                ("model.tar.gz", request.model_data_url,
                 "InferenceSpecification.Containers[0].ModelDataUrl"),
                ("evaluation.json", request.statistics, "ModelMetrics.ModelQuality.Statistics."
                                                        "S3Uri")):
            try:
                fetched[name] = objects.download(uri, Path(temporary) / name)
            except OSError as error:
                raise RequestError(f"{where}: cannot read {uri} ({error.strerror or error})") \
                    from None
        where = f"ModelMetrics.ModelQuality.Statistics.S3Uri: {request.statistics}"
        try:
            registry.read_accuracy(json.loads(fetched["evaluation.json"].read_text()), where)
        except ValueError:
            raise RequestError(f"{where}: not JSON") from None
        kept = {key: value for key, value in request.body.items() if key not in NOT_KEPT}
        meta = registry.register(
            Path(local) / REGISTRY / request.group, fetched["model.tar.gz"],
            fetched["evaluation.json"], {}, 0.0, 0.0, lineage=lineage, status=request.status,
            extra={"model_package": kept})
    return describe_version(Path(local) / REGISTRY / request.group, meta)


def describe_version(group_dir: Path, meta: dict) -> dict:
    """DescribeModelPackage of a version: the CreateModelPackage request's fields as given,
    with the registry's status, times and who changed it last."""
    group, version = group_dir.name, meta["version"]
    history = meta.get("approval_history") or [{}]
    kept = meta.get("model_package") or {}
    answer = {**kept,
              "ModelPackageName": f"{group}/{version}", "ModelPackageGroupName": group,
              "ModelPackageVersion": version, "ModelPackageArn": arn(group, version),
              "CreationTime": meta.get("created"), "ModelPackageStatus": "Completed",
              "ModelPackageStatusDetails": {"ValidationStatuses": []},
              "CertifyForMarketplace": kept.get("CertifyForMarketplace", False),
              "ModelApprovalStatus": meta["approval_status"],
              "CreatedBy": {"UserProfileName": history[0].get("by", "")},
              "LastModifiedTime": history[-1].get("at", meta.get("created")),
              "LastModifiedBy": {"UserProfileName": history[-1].get("by", "")}}
    if history[-1].get("description"):
        answer["ApprovalDescription"] = history[-1]["description"]
    # A version make register kept has no request: its archive is the registry's copy.
    answer.setdefault("InferenceSpecification", {"Containers": [
        {"ModelDataUrl": f"file://{(group_dir / str(version) / registry.ARCHIVE).absolute()}"}]})
    answer.setdefault("CustomerMetadataProperties",
                      {"lineage": json.dumps(meta.get("lineage", {}))})
    return answer


def version_of(local: Path, value: str, where: str) -> tuple[Path, int]:
    """(group folder, version) of a version's ARN or its name <group>/<version>; RegistryError
    when the registry has no such group or version."""
    match = PACKAGE_ARN.match(value) or VERSION_NAME.match(value)
    if not match:
        raise RequestError(f"{where}: {json.dumps(value)} is not a model package version's ARN "
                           "(arn:aws:sagemaker:…:model-package/<group>/<version>) or name "
                           "(<group>/<version>)")
    group, version = match.group(1), int(match.group(2))
    root = Path(local) / REGISTRY
    found = [entry for entry in (root.iterdir() if root.is_dir() else ())
             if entry.is_dir() and entry.name.lower() == group.lower()]
    exact = root / group
    if not exact.is_dir() and len(found) != 1:  # an ARN's group is lower-cased
        there = ", ".join(sorted(entry.name for entry in found)) or "none"
        raise registry.RegistryError(f"{where}: no model package group {group!r} in {root} "
                                     f"(groups that match: {there})")
    return (exact if exact.is_dir() else found[0]), version


def update(local: Path, body, by: str, hook: str | None = None) -> int:
    """UpdateModelPackage: the version's approval status through make approve/reject's path
    (ON_APPROVE `hook` after an approval); 1 when that hook failed."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    for key in UPDATE_REFUSED:
        if key in body:
            raise RequestError(f"{key}: not changed here; UpdateModelPackage changes a "
                               "version's ModelApprovalStatus (and ApprovalDescription) only")
    check_known(body, UPDATE_FIELDS, "")
    target = get_field(body, "ModelPackageArn", "", str)
    status = get_field(body, "ModelApprovalStatus", "", str)
    if status not in registry.STATUSES:
        raise RequestError(f"ModelApprovalStatus: {json.dumps(status)} is not one of "
                           f"{', '.join(registry.STATUSES)}")
    description = get_field(body, "ApprovalDescription", "", str, required=False)
    if description is not None and len(description) > 1024:
        raise RequestError("ApprovalDescription: longer than 1024 characters")
    group_dir, version = version_of(local, target, "ModelPackageArn")
    registry.read_metadata(registry.version_folder(group_dir, version), version)
    return registry.change_status(group_dir, version, status, by, description, hook)


def describe(local: Path, value: str) -> dict:
    """DescribeModelPackage by a version's ARN or <group>/<version>."""
    group_dir, version = version_of(local, value, "JOB")
    return describe_version(group_dir, registry.read_metadata(
        registry.version_folder(group_dir, version), version))
