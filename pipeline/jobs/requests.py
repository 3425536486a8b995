"""`python -m pipeline.jobs.requests job REQUEST.json | describe NAME`: what `make job` and `make
describe` run. A request is told by its name fields and handed to the package that owns its
work: the job runner (pipeline/api) for CreateProcessingJob and CreateTrainingJob, the batch
transform engine (pipeline/transform/request.py) for CreateTransformJob, the registry
(pipeline/registry/packages.py) for CreateModelPackage and UpdateModelPackage, and
pipeline/api/models.py for CreateModel. The choice lives here, above them all, so the api
package stays below the engines it serves. All but a transform need the standard library only
(make runs this with the host's python3 when there is no venv); s3:// URIs need the venv.
"""

import argparse
import json
import sys
from pathlib import Path

from pipeline.api import describe as describe_fields
from pipeline.api import models, runner
from pipeline.api import requests as api
from pipeline.api.storage import StorageError, from_environment
from pipeline.registry import models as registry
from pipeline.registry import packages
from pipeline.runs import hooks


def run_request(body, engine: runner.Engine) -> dict:
    """Any job request on its engine; its Describe*Job answer."""
    if isinstance(body, dict) and "TransformJobName" in body:
        from pipeline.api.transforms import transform
        from pipeline.transform import request as transforms

        return transforms.run(transform(body), engine)
    return runner.run(api.parse(body), engine)


# The requests that are not jobs, by the fields that tell each apart (in this order: a
# CreateTransformJob has a ModelName too, an UpdateModelPackage no group; a body missing its
# name field is still told by the others, so its mistake is named by that request's checks).
OTHERS = (("TransformJobName", None), ("ModelPackageArn", "UpdateModelPackage"),
          ("ModelPackageGroupName", "CreateModelPackage"),
          ("ModelPackageName", "CreateModelPackage"),
          ("InferenceSpecification", "CreateModelPackage"), ("ModelName", "CreateModel"),
          ("PrimaryContainer", "CreateModel"), ("Containers", "CreateModel"))
NAMES = ("ProcessingJobName (CreateProcessingJob), TrainingJobName (CreateTrainingJob), "
         "TransformJobName (CreateTransformJob), ModelName (CreateModel), ModelPackageGroupName "
         "(CreateModelPackage) or ModelPackageArn (UpdateModelPackage)")


def kind_of(body) -> str | None:
    """The API action of a request that is not a job's, or None for a job's."""
    if not isinstance(body, dict):
        raise api.RequestError("the request is not a JSON object")
    if "ProcessingJobName" in body or "TrainingJobName" in body:
        return None
    for key, kind in OTHERS:
        if key in body:
            return kind
    raise api.RequestError(f"not a request this runs: give {NAMES}")


def registry_request(kind: str, body: dict, args) -> int:
    """CreateModelPackage, UpdateModelPackage or CreateModel: one line says what changed."""
    if kind == "CreateModel":
        answer = models.create(args.local, body)
        print(f"CreateModel: {answer['ModelName']} kept in "
              f"{models.kept_path(args.local, answer['ModelName'])}")
        return 0
    if kind == "UpdateModelPackage":
        return packages.update(args.local, body, args.by or registry.current_user(),
                               args.on_approve or None)
    answer = packages.create(args.local, packages.package(body))
    print(f"CreateModelPackage: version {answer['ModelPackageVersion']} of "
          f"{answer['ModelPackageGroupName']}, {answer['ModelApprovalStatus']} "
          f"({answer['ModelPackageArn']})")
    return 0


def read(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise api.RequestError(f"{path}: cannot read the request ({error.strerror})") from None
    except ValueError as error:
        raise api.RequestError(f"{path}: not JSON ({error})") from None


def job(args) -> int:
    body = read(Path(args.request))
    kind = kind_of(body)
    if kind is not None:
        return registry_request(kind, body, args)
    engine = runner.Engine(args.local, project=args.project, docker=args.docker,
                           storage=from_environment(), workload=args.workload or None)
    answer = run_request(body, engine)
    status = next(answer[key] for key in describe_fields.STATUS.values() if key in answer)
    return 0 if status == "Completed" else 1


def describe(args) -> int:
    """A job's Describe*Job answer; DescribeModelPackage for a version's ARN or
    <group>/<version>; DescribeModel for a model's ARN, or its name when no job has it (make
    transform keeps its model under its job's name: the ARN tells them apart)."""
    name = args.name
    if ":model/" in name:
        answer = kept_model(args.local, name.rsplit(":model/", 1)[1])
    elif "/" in name:
        answer = packages.describe(args.local, name)
    else:
        try:
            answer = runner.describe_job(args.local, name)
        except api.RequestError as error:
            if models.describe(args.local, name) is None:
                raise api.RequestError(f"{error}; no model {name} is kept either") from None
            answer = kept_model(args.local, name)
    print(json.dumps(answer, indent=2))
    return 0


def kept_model(local: Path, name: str) -> dict:
    answer = models.describe(local, name)
    if answer is None:
        raise api.RequestError(f"no model {name} is kept in "
                               f"{models.kept_path(local, name).parent}")
    return answer


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.jobs.requests",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--project", default="penguins", help="COMPOSE_PROJECT")
    top.add_argument("--docker", default="docker")
    top.add_argument("--workload", default="", help="the workload a step's run belongs to")
    top.add_argument("--by", default="", help="APPROVER: who an UpdateModelPackage records "
                     "(default: your login)")
    top.add_argument("--on-approve", default="", help="ON_APPROVE: run after an "
                     "UpdateModelPackage approves a version")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("job", help="run a CreateProcessingJob, CreateTrainingJob, "
                        "CreateTransformJob, CreateModel, CreateModelPackage or "
                        "UpdateModelPackage request").add_argument(
        "request", help="REQUEST: the request body, a JSON file")
    commands.add_parser("describe", help="print a job's Describe*Job answer, a model "
                        "package version's or a model's") \
        .add_argument("name", help="JOB: the job's name, a version's ARN or <group>/<version>, "
                      "a model's name or ARN")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"job": job, "describe": describe}[args.command](args)
    except (api.RequestError, StorageError, registry.RegistryError, hooks.HookError) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2 if isinstance(error, api.RequestError) else 1


if __name__ == "__main__":
    sys.exit(main())
