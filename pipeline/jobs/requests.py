"""`python -m pipeline.jobs.requests job REQUEST.json | describe NAME`: what `make job` and `make
describe` run. A request is told by its job-name field and handed to its engine: the job runner
(pipeline/api) for CreateProcessingJob and CreateTrainingJob, the batch transform engine
(pipeline/transform/request.py) for CreateTransformJob. The choice lives here, above both, so
the api package stays below the engines it serves. Processing and training need the standard
library only (make runs this with the host's python3 when there is no venv); a transform
needs the venv.
"""

import argparse
import json
import sys
from pathlib import Path

from pipeline.api import describe as describe_fields
from pipeline.api import requests as api
from pipeline.api import runner
from pipeline.api.storage import StorageError, from_environment


def run_request(body, engine: runner.Engine) -> dict:
    """Any request on its engine; its Describe*Job answer."""
    if isinstance(body, dict) and "TransformJobName" in body:
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
    engine = runner.Engine(args.local, project=args.project, docker=args.docker,
                           storage=from_environment(), workload=args.workload or None)
    answer = run_request(read(Path(args.request)), engine)
    status = next(answer[key] for key in describe_fields.STATUS.values() if key in answer)
    return 0 if status == "Completed" else 1


def describe(args) -> int:
    print(json.dumps(runner.describe_job(args.local, args.name), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.jobs.requests",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--project", default="penguins", help="COMPOSE_PROJECT")
    top.add_argument("--docker", default="docker")
    top.add_argument("--workload", default="", help="the workload a step's run belongs to")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("job", help="run a CreateProcessingJob, CreateTrainingJob or "
                        "CreateTransformJob request").add_argument(
        "request", help="REQUEST: the request body, a JSON file")
    commands.add_parser("describe", help="print a job's Describe*Job answer") \
        .add_argument("name", help="JOB: the job's name")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"job": job, "describe": describe}[args.command](args)
    except (api.RequestError, StorageError) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2 if isinstance(error, api.RequestError) else 1


if __name__ == "__main__":
    sys.exit(main())
