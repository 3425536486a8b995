"""`python -m pipeline.jobs.requests job REQUEST.json | describe NAME`: what `make job` and `make
describe` run. A job request is told by its job-name field and handed to its engine: the job
runner (pipeline/api) for CreateProcessingJob and CreateTrainingJob, the batch transform engine
(pipeline/transform/request.py) for CreateTransformJob; the registry's and the endpoint's
requests go through resources.py. The choice lives here, above them all, so the api package
stays below the engines it serves. All but a transform need the standard library only (make
runs this with the host's python3 when there is no venv); s3:// URIs need the venv.
"""

import argparse
import json
import sys
from pathlib import Path

from pipeline.api import describe as describe_fields
from pipeline.api import requests as api
from pipeline.api import runner
from pipeline.api.storage import StorageError, from_environment
from pipeline.jobs import resources


def run_request(body, engine: runner.Engine) -> dict:
    """Any job request on its engine; its Describe*Job answer."""
    if isinstance(body, dict) and ("TransformJobName" in body or "TransformInput" in body):
        from pipeline.api.transforms import transform
        from pipeline.transform import request as transforms

        return transforms.run(transform(body), engine)
    return runner.run(api.parse(body), engine)


def read(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise api.RequestError(f"{path}: cannot read the request ({error.strerror})") from None
    except ValueError as error:
        raise api.RequestError(f"{path}: not JSON ({error})") from None


def job(args) -> int:
    body = read(Path(args.request))
    kind = resources.kind_of(body)
    if kind is not None:
        return resources.run(kind, body, args)
    engine = runner.Engine(args.local, project=args.project, docker=args.docker,
                           storage=from_environment(), workload=args.workload or None)
    answer = run_request(body, engine)
    status = next(answer[key] for key in describe_fields.STATUS.values() if key in answer)
    return 0 if status == "Completed" else 1


def describe(args) -> int:
    """A job's Describe*Job answer, or another resource's Describe answer (resources.py)."""
    answer = resources.describe(args.local, args.name)  # by an ARN or <group>/<version>
    if answer is None:
        try:
            answer = runner.describe_job(args.local, args.name)
        except api.RequestError as error:  # a model, endpoint or config may have the name
            answer = resources.by_name(args.local, args.name)
            if answer is None:
                raise api.RequestError(f"{error}; no model, endpoint or endpoint config "
                                       f"{args.name} is kept either") from None
    print(json.dumps(answer, indent=2))
    return 0


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
                        "CreateTransformJob, CreateModel, CreateModelPackage, UpdateModelPackage, "
                        "CreateEndpointConfig, CreateEndpoint or UpdateEndpoint request") \
        .add_argument(
        "request", help="REQUEST: the request body, a JSON file")
    commands.add_parser("describe", help="print the Describe answer of a job, a model package "
                        "version, a model, an endpoint or an endpoint config") \
        .add_argument("name", help="JOB: a name, a version's <group>/<version>, or an ARN")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"job": job, "describe": describe}[args.command](args)
    except (api.RequestError, StorageError, *resources.ERRORS) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2 if isinstance(error, api.RequestError) else 1


if __name__ == "__main__":
    sys.exit(main())
