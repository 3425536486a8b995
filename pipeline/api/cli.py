"""`python -m pipeline.api.cli job REQUEST.json | describe NAME`: what `make job` and `make
describe` run. Standard library only: make runs it with the host's python3."""

import argparse
import json
import sys
from pathlib import Path

from pipeline.api import requests as api
from pipeline.api import runner
from pipeline.api.storage import StorageError, from_environment


def job(args) -> int:
    request = api.load(Path(args.request))
    settings = {"compose": args.compose} if args.compose else {}
    settings["storage"] = from_environment()
    answer = runner.run_job(request, args.local, project=args.project, docker=args.docker,
                            workload=args.workload or None, **settings)
    status = answer.get("TrainingJobStatus") or answer.get("ProcessingJobStatus")
    return 0 if status == "Completed" else 1


def describe(args) -> int:
    print(json.dumps(runner.describe_job(args.local, args.name), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.api.cli", description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--project", default="penguins", help="COMPOSE_PROJECT")
    top.add_argument("--compose", default="", help="DOCKER_COMPOSE (default: as make finds it)")
    top.add_argument("--docker", default="docker")
    top.add_argument("--workload", default="", help="the workload a step's run belongs to")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("job", help="run a CreateProcessingJob or CreateTrainingJob request") \
        .add_argument("request", help="REQUEST: the request body, a JSON file")
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
