"""A pipeline's Processing and Training steps: the step's Arguments are the CreateProcessingJob or
CreateTrainingJob request SageMaker's pipeline service sends, so the step names its job and
hands the request to the job runner (pipeline/api), the one path every job on this machine goes
through, `make job` too. The job is kept as any job run, LOCAL_DIR/<processing|training>/<job
name>/ (`make jobs`, `make describe JOB=…`), and the step's properties are its Describe*Job
answer. A job that does not complete fails the step with the job's FailureReason.
"""

from pathlib import Path

from pipeline.api import describe, runner
from pipeline.api import requests as api
from pipeline.api.storage import from_environment
from pipeline.workflow.executor import StepFailed

KINDS = {"Processing": api.PROCESSING, "Training": api.TRAINING}


def engine(args) -> runner.Engine:
    """The runner's settings from the command line (make passes its docker and project); the
    storage is the local S3 of the environment (make sdk-pipeline starts one)."""
    return runner.Engine(Path(args.local), project=getattr(args, "project", "penguins"),
                         docker=args.docker, storage=from_environment(), echo=False)


def job_runner(kind: str, engine: runner.Engine):
    """A step runner for `kind` (processing or training) over the job runner's `engine`."""

    def run(request) -> dict:
        body = {**request.arguments, runner.NAME_FIELD[kind]: request.job_name}
        what = f"{request.type} {request.name}"
        try:
            job = api.processing(body) if kind == api.PROCESSING else api.training(body)
            answer = runner.run(job, engine)
        except api.RequestError as error:
            raise StepFailed(f"{what}: {error}") from None
        status = answer[describe.STATUS[kind]]
        if status != "Completed":
            raise StepFailed(answer.get("FailureReason") or stopped(answer, job))
        return answer

    return run


def stopped(answer: dict, job: api.JobRequest) -> str:
    """A Stopped job's reason (Describe*Job gives a FailureReason for Failed ones only)."""
    if answer.get("SecondaryStatus") == describe.MAX_RUNTIME_EXCEEDED:
        return (f"Stopped: the training job {job.name} ran past "
                f"StoppingCondition.MaxRuntimeInSeconds ({job.max_runtime} s)")
    limit = f" (MaxRuntimeInSeconds is {job.max_runtime} s)" if job.max_runtime else ""
    return f"Stopped: the {job.kind} job {job.name} was stopped{limit}; see make describe"


def runners(engine: runner.Engine) -> dict:
    """The Processing and Training step runners over one engine."""
    return {step: job_runner(kind, engine) for step, kind in KINDS.items()}
