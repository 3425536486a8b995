"""A CreateTransformJob request (pipeline/api/transforms.py) run by the batch engine: what `make
job REQUEST=…` and a pipeline's Transform step call, as the job runner (pipeline/api/runner.py)
runs processing and training requests.

The model is the CreateModel request kept under LOCAL_DIR/models/<ModelName>.json (a pipeline's
Model step keeps it); its archive (PrimaryContainer.ModelDataUrl) is fetched and extracted as
SageMaker extracts it, its image started as a batch container (job.py's Container), the input
fetched from TransformInput's URI and each file's .out stored under S3OutputPath. The run is
<local>/transform/<TransformJobName>/ (request.json, model/, input/, output/, logs.txt and
run.json: the run's record and the DescribeTransformJob answer). One container serves the job
whatever TransformResources.InstanceCount says: the output is the same, only slower. Records
are split by line whatever SplitType says.
"""

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

from pipeline.api import describe
from pipeline.api.requests import RequestError
from pipeline.api.runner import Engine, open_run
from pipeline.api.storage import StorageError
from pipeline.api.transforms import TRANSFORM, TransformRequest
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.transform import batch
from pipeline.transform.dataprocessing import CSV, TransformError
from pipeline.transform.job import Container, unpack

# <local>/models/<ModelName>.json: a CreateModel request, as a pipeline's Model step keeps it.
MODELS = "models"
PING_DEADLINE = 120
STATUS = "TransformJobStatus"


def model_of(local: Path, name: str) -> dict:
    """The kept CreateModel request's PrimaryContainer; RequestError, as CreateTransformJob
    refuses a model it does not know."""
    kept = Path(local) / MODELS / f"{name}.json"
    if not kept.is_file():
        raise RequestError(f"ModelName: no model {name!r} (CreateModel requests are kept in "
                           f"{kept.parent}; a pipeline's Model step keeps one there)")
    container = json.loads(kept.read_text()).get("PrimaryContainer", {})
    if not container.get("Image") or not container.get("ModelDataUrl"):
        raise RequestError(f"ModelName: model {name!r} has no PrimaryContainer.Image and "
                           f"ModelDataUrl ({kept})")
    return container


def job_of(request: TransformRequest, data: Path, output: Path, environment: dict) -> batch.Job:
    """The engine's job by SageMaker's names; the model's Environment under the request's."""
    return batch.Job(input=data, output=output, content_type=request.content_type or CSV,
                     accept=request.accept or CSV, batch_strategy=request.batch_strategy,
                     max_payload_mb=request.max_payload_mb,
                     max_concurrent=request.max_concurrent,
                     input_filter=request.input_filter, join_source=request.join_source,
                     output_filter=request.output_filter,
                     environment={**environment, **request.environment})


def run(request: TransformRequest, engine: Engine) -> dict:
    """The job, start to end; its DescribeTransformJob answer (RequestError before any run)."""
    container = model_of(engine.local, request.model)
    try:
        engine.storage.check(request.input_uri, "TransformInput.DataSource.S3DataSource.S3Uri",
                             reading=True)
        engine.storage.check(request.output_uri, "TransformOutput.S3OutputPath")
    except StorageError as error:
        raise RequestError(str(error)) from None
    at = runs.iso(runs.now())
    fields = {key: value for key, value in request.body.items()
              if key not in describe.NOT_ECHOED}
    fields.update(TransformJobArn=describe.arn(TRANSFORM, request.name), CreationTime=at,
                  TransformStartTime=at, **{STATUS: runs.IN_PROGRESS})
    job_run = open_run(engine, TRANSFORM, request.name, "TransformJobName", request.body,
                       image=container["Image"], **fields)
    jobrun.say(f"transform job {request.name}: {container['Image']} over {request.input_uri}")
    reason = _transform(request, engine, job_run, container)
    runs.finish(job_run, 0 if reason is None else 1)
    job_run.record.update({STATUS: job_run.record["status"], "TransformEndTime":
                           job_run.record["end"]})
    if reason is not None:
        job_run.record["FailureReason"] = job_run.record["failure_reason"] = reason[:1024]
    runs.write_record(job_run.folder, job_run.record)
    jobrun.say(f"transform job {request.name} {job_run.record['status']}"
               + (f": {reason}" if reason else f" ({job_run.folder})"))
    return describe.answer(job_run.record)


def _transform(request: TransformRequest, engine: Engine, job_run: runs.Run,
               container: dict) -> str | None:
    """The work; None when it completed, else the FailureReason."""
    folder, started = job_run.folder, None
    with (folder / runs.LOGS).open("w") as log:
        try:
            with tempfile.TemporaryDirectory() as temporary:
                engine.storage.fetch(container["ModelDataUrl"], Path(temporary))
                (folder / "model").mkdir(mode=0o755)
                unpack(next(Path(temporary).iterdir()), folder / "model")
            engine.storage.fetch(request.input_uri, folder / "input")
            job = job_of(request, folder / "input", folder / "output",
                         container.get("Environment", {}))
            batch.check(job)
            options = SimpleNamespace(docker=engine.docker, compose_project=engine.project,
                                      label=[], image=container["Image"])
            started = Container(options, f"{engine.project}-{request.name}".lower(),
                                folder / "model", job)
            batch.wait_ping(started.port, started.id, started.docker, PING_DEADLINE)
            job_run.record["transform"] = batch.run(
                job, started.port, lambda line: log.write(line + "\n"))
        except StorageError as error:
            return f"ClientError: {error}"
        except (TransformError, OSError) as error:
            return f"AlgorithmError: {error}"
        finally:
            if started is not None:
                log.write(started.stop())
    try:
        engine.storage.store(folder / "output", request.output_uri)
    except StorageError as error:
        return f"ClientError: cannot upload the job's output: {error}"
    return None
