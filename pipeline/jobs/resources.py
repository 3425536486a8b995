"""The requests `make job` takes that are not jobs: the registry's (CreateModelPackage,
UpdateModelPackage, CreateModel) and the endpoint's (CreateEndpointConfig, CreateEndpoint,
UpdateEndpoint), each handed to the package that owns it, and `make describe`'s answers for
them (DescribeModelPackage, DescribeModel, DescribeEndpointConfig, DescribeEndpoint).

A body is told by its fields, as SageMaker's bodies differ in them. CreateEndpoint and
UpdateEndpoint take the same ones (EndpointName, EndpointConfigName, DeploymentConfig): a body
that names an endpoint this folder keeps is UpdateEndpoint, else CreateEndpoint — the choice
the program's deploy Lambda makes — unless a field only one of them takes says which.
"""

import re
from pathlib import Path

from pipeline.api import models
from pipeline.api.requests import RequestError
from pipeline.endpoints import requests as endpoints
from pipeline.registry import models as registry
from pipeline.registry import packages
from pipeline.runs import hooks

# What a request that is not a job can end with besides a RequestError (exit 1, not 2).
ERRORS = (registry.RegistryError, hooks.HookError, endpoints.ServeFailed)
# The requests that are not jobs, by the fields that tell each apart (in this order: a
# CreateTransformJob has a ModelName too, an UpdateModelPackage no group; a body missing its
# name field is still told by the others, so its mistake is named by that request's checks).
KINDS = (("TransformJobName", None), ("TransformInput", None),
         ("ModelPackageArn", "UpdateModelPackage"),
         ("ModelPackageGroupName", "CreateModelPackage"),
         ("ModelPackageName", "CreateModelPackage"),
         ("InferenceSpecification", "CreateModelPackage"), ("ModelName", "CreateModel"),
         ("PrimaryContainer", "CreateModel"), ("Containers", "CreateModel"),
         ("EndpointName", "Endpoint"), ("ProductionVariants", "CreateEndpointConfig"),
         ("EndpointConfigName", "CreateEndpointConfig"))
NAMES = ("ProcessingJobName (CreateProcessingJob), TrainingJobName (CreateTrainingJob), "
         "TransformJobName (CreateTransformJob), ModelName (CreateModel), ModelPackageGroupName "
         "(CreateModelPackage), ModelPackageArn (UpdateModelPackage), EndpointConfigName "
         "(CreateEndpointConfig) or EndpointName (CreateEndpoint, UpdateEndpoint)")
UPDATE_ONLY = {"RetainAllVariantProperties", "ExcludeRetainedVariantProperties",
               "RetainDeploymentConfig"}
ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:(model|endpoint|endpoint-config)/(.+)$")


def kind_of(body) -> str | None:
    """The API action of a request that is not a job's, or None for a job's."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    if "ProcessingJobName" in body or "TrainingJobName" in body:
        return None
    for key, kind in KINDS:
        if key in body:
            return kind
    raise RequestError(f"not a request this runs: give {NAMES}")


def endpoint_kind(local: Path, body: dict) -> str:
    if UPDATE_ONLY & set(body):
        return "UpdateEndpoint"
    if "Tags" in body:
        return "CreateEndpoint"
    name = body.get("EndpointName")
    known = isinstance(name, str) and endpoints.NAME_PATTERN.fullmatch(name) and \
        endpoints.endpoint_path(local, name).is_file()
    return "UpdateEndpoint" if known else "CreateEndpoint"


def run(kind: str, body: dict, args) -> int:
    """The request done; one line says what changed."""
    local = args.local
    if kind == "CreateModel":
        package = models.model(body) and body["PrimaryContainer"].get("ModelPackageName")
        if package:  # a version the registry has, checked before the model is kept
            registry.version_folder(*packages.version_of(
                local, package, "PrimaryContainer.ModelPackageName"))
        answer = models.create(local, body)
        print(f"CreateModel: {answer['ModelName']} kept in "
              f"{models.kept_path(local, answer['ModelName'])}")
    elif kind == "UpdateModelPackage":
        return packages.update(local, body, args.by or registry.current_user(),
                               args.on_approve or None)
    elif kind == "CreateModelPackage":
        answer = packages.create(local, packages.package(body))
        print(f"CreateModelPackage: version {answer['ModelPackageVersion']} of "
              f"{answer['ModelPackageGroupName']}, {answer['ModelApprovalStatus']} "
              f"({answer['ModelPackageArn']})")
    elif kind == "CreateEndpointConfig":
        answer = endpoints.create_config(local, body)
        print(f"CreateEndpointConfig: {answer['EndpointConfigName']} kept in "
              f"{Path(local) / endpoints.CONFIGS}")
    else:
        kind = endpoint_kind(local, body)
        action = endpoints.update_endpoint if kind == "UpdateEndpoint" \
            else endpoints.create_endpoint
        answer = action(local, body)
        print(f"{kind}: {answer['EndpointName']} serves {answer['EndpointConfigName']} "
              f"({answer['EndpointStatus']})")
    return 0


def describe(local: Path, name: str) -> dict | None:
    """The Describe answer of what a name with a slash names: a model package version (its
    ARN or <group>/<version>), a model, an endpoint or an endpoint config (its ARN); None
    for a plain name (a job's, or by_name's)."""
    match = ARN.match(name)
    if match is None:
        return packages.describe(local, name) if "/" in name else None
    kind, resource = match.groups()
    answer = by_name(local, resource, kind)
    if answer is None:
        raise RequestError(f"no {kind} {resource} is kept in {local}")
    return answer


def by_name(local: Path, name: str, kind: str | None = None) -> dict | None:
    """DescribeModel, DescribeEndpoint or DescribeEndpointConfig of a kept name (any of them
    when kind is None, in that order), or None."""
    looks = {"model": models.describe, "endpoint": endpoints.describe_endpoint,
             "endpoint-config": endpoints.describe_config}
    for each, look in looks.items():
        if kind in (None, each):
            answer = look(local, name) if endpoints.NAME_PATTERN.fullmatch(name) else None
            if answer is not None:
                return answer
    return None
