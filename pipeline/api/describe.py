"""The Describe*Job answer of a run, kept in its run.json beside the fields `make jobs` reads.

SageMaker's names are kept as the API spells them (capitalised: TrainingJobStatus,
SecondaryStatus, FailureReason, ModelArtifacts.S3ModelArtifacts, ProcessingJobStatus,
ExitMessage, …) and the run's own fields are lower-case (name, kind, status, start, …), so one
file serves both and `describe` is the capitalised half. Times are ISO 8601 in UTC, as the AWS
CLI prints them. Standard library only.
"""

import os
import re

from pipeline.api.requests import PROCESSING, TRAINING, JobRequest
from pipeline.api.transforms import TRANSFORM
from pipeline.runs import records as runs

# A local run's ARNs: the region of the environment (as boto3 takes it) and an account that is
# not anyone's.
ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"
STATUS = {PROCESSING: "ProcessingJobStatus", TRAINING: "TrainingJobStatus",
          TRANSFORM: "TransformJobStatus"}
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
# SageMaker's secondary statuses of a training job, with the line each transition says here.
MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    runs.COMPLETED: "Training job completed",
    runs.FAILED: "Training job failed",
    runs.STOPPED: "Training job stopped",
    MAX_RUNTIME_EXCEEDED: "Training job stopped: it exceeded MaxRuntimeInSeconds",
}
# The request's fields Describe*Job does not give back.
NOT_ECHOED = {"Tags"}


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def resource_arn(kind: str, name: str) -> str:
    """SageMaker's ARN of a resource of `kind` (model, endpoint, pipeline...): its name
    lower-cased, as the service writes it."""
    return f"arn:aws:sagemaker:{region()}:{ACCOUNT}:{kind}/{name.lower()}"


def arn(kind: str, name: str) -> str:
    """SageMaker's ARN of a job."""
    return resource_arn(f"{kind}-job", name)


def started(job: JobRequest, at: str) -> dict:
    """The InProgress answer of a job just created."""
    answer = {key: value for key, value in job.body.items() if key not in NOT_ECHOED}
    prefix = "ProcessingJob" if job.kind == PROCESSING else "TrainingJob"
    answer.update({f"{prefix}Arn": arn(job.kind, job.name), STATUS[job.kind]: runs.IN_PROGRESS,
                   "CreationTime": at, "LastModifiedTime": at})
    if job.kind == PROCESSING:
        answer["ProcessingStartTime"] = at
    else:
        answer.update(TrainingStartTime=at, SecondaryStatus="Starting",
                      SecondaryStatusTransitions=[{"Status": "Starting", "StartTime": at,
                                                   "StatusMessage": MESSAGES["Starting"]}])
    return answer


def transition(record: dict, status: str, at: str) -> None:
    """A training job's next secondary status; the one before it ends now."""
    steps = record.setdefault("SecondaryStatusTransitions", [])
    if steps and "EndTime" not in steps[-1]:
        steps[-1]["EndTime"] = at
    steps.append({"Status": status, "StartTime": at, "StatusMessage": MESSAGES[status]})
    record.update(SecondaryStatus=status, LastModifiedTime=at)


def ended(record: dict, job: JobRequest, status: str, at: str, *, reason: str | None = None,
          exit_message: str | None = None, model: str | None = None,
          max_runtime_exceeded: bool = False, metrics: tuple = ()) -> None:
    """The final answer: status, end time, why it failed, what it left."""
    record[STATUS[job.kind]] = status
    record["LastModifiedTime"] = at
    if status == runs.FAILED:
        record["FailureReason"] = (reason or "")[:1024]
    if job.kind == PROCESSING:
        record["ProcessingEndTime"] = at
        if exit_message:
            record["ExitMessage"] = exit_message[:1024]
        return
    secondary = MAX_RUNTIME_EXCEEDED if max_runtime_exceeded else status
    transition(record, secondary, at)
    record["SecondaryStatusTransitions"][-1]["EndTime"] = at
    record["TrainingEndTime"] = at
    seconds = int(round((runs.parse_time(at) - runs.parse_time(record["TrainingStartTime"]))
                        .total_seconds()))
    record["TrainingTimeInSeconds"] = record["BillableTimeInSeconds"] = seconds
    if model:
        record["ModelArtifacts"] = {"S3ModelArtifacts": model}
    if metrics:
        record["FinalMetricDataList"] = [{"MetricName": name, "Value": value, "Timestamp": at}
                                         for name, value in metrics]


def final_metrics(job: JobRequest, logs: str) -> tuple:
    """(name, last value) of each MetricDefinitions regex that matched the log, as SageMaker
    keeps the last value of each."""
    found = []
    for definition in job.metric_definitions:
        values = re.findall(definition["Regex"], logs)
        if values:
            value = values[-1][0] if isinstance(values[-1], tuple) else values[-1]
            try:
                found.append((definition["Name"], float(value)))
            except ValueError:
                continue  # SageMaker drops a match that is not a number
    return tuple(found)


def key_metric(metrics: tuple) -> dict | None:
    """What `make jobs` shows: validation:accuracy when the job reports it, else its first."""
    chosen = dict(metrics)
    name = "validation:accuracy" if "validation:accuracy" in chosen else next(iter(chosen), None)
    return {"name": name, "value": chosen[name]} if name else None


def answer(record: dict) -> dict:
    """The Describe*Job answer: the record's SageMaker fields."""
    return {key: value for key, value in record.items() if key[:1].isupper()}
