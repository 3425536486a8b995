"""A make command's job through the job runner: the runner's settings from make's, a
CreateProcessingJob of file:// URIs whose outputs land in the run's own folder, and the ended run
a request leaves.

Every host command that starts a job (the built-in steps in pipeline/jobs/, tuning's trials, the
baselines and monitors in pipeline/monitoring/) builds SageMaker's request and hands it over
here, so all of them take one path into a container. Standard library only.
"""

import shlex
from pathlib import Path

from pipeline.api import requests as api
from pipeline.api import runner
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

# The environment the compose job services gave the built-in jobs: caches a job may write.
ENVIRONMENT = {"KERAS_HOME": "/tmp/.keras", "MPLCONFIGDIR": "/tmp/matplotlib"}
INSTANCE_TYPE = "ml.m5.large"  # recorded only: a host here is a container
MAX_RUNTIME = 86400  # SageMaker's default for training (one day), for every step's job


def uri(path: Path | str) -> str:
    """A host path as a file:// URI; an s3:// URI (a schedule's request may name one) as it is."""
    if isinstance(path, str) and path.startswith("s3://"):
        return path
    return f"file://{Path(path).absolute()}"


def processing_input(name: str, path: Path, local_path: str) -> dict:
    return {"InputName": name, "S3Input": {"S3Uri": uri(path), "LocalPath": local_path,
                                           "S3DataType": "S3Prefix", "S3InputMode": "File"}}


def processing(name: str, image: str, inputs: list, outputs: dict, folder: Path,
               entrypoint: list, arguments: list, environment: dict | None = None) -> dict:
    """A CreateProcessingJob request whose outputs (name -> LocalPath) are uploaded into the
    run's own folder, where the job wrote them; `environment` adds to the caches' variables."""
    return {
        "ProcessingJobName": name,
        "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": entrypoint,
                             "ContainerArguments": arguments},
        "Environment": {**ENVIRONMENT, **(environment or {})},
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": output, "S3Output": {
                "S3Uri": uri(folder / local.removeprefix("/opt/ml/")), "LocalPath": local,
                "S3UploadMode": "EndOfJob"}} for output, local in outputs.items()]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                  "InstanceType": INSTANCE_TYPE,
                                                  "VolumeSizeInGB": 1}},
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME},
    }


def engine(args) -> runner.Engine:
    """The job runner's settings from make's: the project is the one COMPOSE's -p names; the
    runner writes each job's own compose file and project."""
    project = jobrun.compose_project(shlex.split(args.compose), default="penguins")
    return runner.Engine(args.local, project=project, docker=args.docker,
                         workload=args.workload, announce=False)


def submit(args, body: dict, kind: str, **record) -> runs.Run:
    """Run a make command's request as a run of `kind`; the ended run (its status, reason and
    metric recorded). RunError when the request is refused."""
    try:
        runner.run(api.parse(body), engine(args), kind=kind, **record)
    except api.RequestError as error:
        raise RunError(str(error)) from None
    folder = args.local / kind / body.get("ProcessingJobName", body.get("TrainingJobName"))
    return runs.load(folder)
