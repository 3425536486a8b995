"""A CreateTransformJob request (pipeline/api/transforms.py) run by the batch engine: what `make
job REQUEST=…`, `make transform` (pipeline/transform/job.py builds its request) and a pipeline's
Transform step call, as the job runner (pipeline/api/runner.py) runs processing and training
requests.

The model is the CreateModel request kept under LOCAL_DIR/models/<ModelName>.json (a pipeline's
Model step and make transform keep one); its archive (PrimaryContainer.ModelDataUrl) is fetched
and extracted as SageMaker extracts it, its image started as a batch container (`serve`,
SAGEMAKER_BATCH=true and the job's settings in its environment, published on localhost only,
stopped with SIGTERM at the end), the input fetched from TransformInput's URI and each file's
.out stored under S3OutputPath. The run is <local>/transform/<TransformJobName>/ (request.json,
model/, input/, output/, logs.txt: the job's lines, then the container's log, and run.json: the
run's record and the DescribeTransformJob answer). One container serves the job whatever
TransformResources.InstanceCount says: the output is the same, only slower. Records are split
by line whatever SplitType says.
"""

import json
import shlex
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

from pipeline.api import describe
from pipeline.api.models import MODELS
from pipeline.api.requests import RequestError
from pipeline.api.runner import ALGORITHM_ERROR, Engine, open_run
from pipeline.api.storage import StorageError, file_path
from pipeline.api.transforms import TRANSFORM, TransformRequest
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.transform import batch
from pipeline.transform.dataprocessing import CSV, TransformError
from training.contract.archive import extract

PING_DEADLINE = 120
STATUS = "TransformJobStatus"


def unpack(archive: Path, model: Path) -> None:
    """The model archive extracted as SageMaker does, or a TransformError naming why not."""
    try:
        extract(archive, model)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise TransformError(f"model archive {archive}: not a usable model.tar.gz "
                             f"({' '.join(str(error).split())})") from None


class Container:
    """A model's image as a batch transform's container, on a localhost port."""

    def __init__(self, engine: Engine, image: str, name: str, model: Path, job: batch.Job,
                 labels: tuple = ()):
        self.docker = shlex.split(engine.docker)
        environment = {"SAGEMAKER_BATCH": "true", **job.environment}
        # 0 (chunked; ask /execution-parameters) is the host's to act on: the container
        # keeps its own defaults then.
        for variable, value in (("SAGEMAKER_MAX_PAYLOAD_IN_MB", job.max_payload_mb),
                                ("SAGEMAKER_BATCH_STRATEGY", job.batch_strategy and
                                 batch.STRATEGIES[job.batch_strategy]),
                                ("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", job.max_concurrent)):
            if value:
                environment[variable] = str(value)
        labels = [f"com.docker.compose.project={engine.project}", *labels]
        command = [*self.docker, "run", "-d", "--name", name, "-p", "127.0.0.1::8080",
                   "-v", f"{model.absolute()}:/opt/ml/model:ro",
                   *[f"--label={label}" for label in labels],
                   *[f"--env={key}={value}" for key, value in environment.items()],
                   image, "serve"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise TransformError(f"cannot start {image}: {done.stderr.strip()}")
        self.id = done.stdout.strip()
        port = subprocess.run([*self.docker, "port", self.id, "8080/tcp"], capture_output=True,
                              text=True).stdout.split()
        self.port = int(port[0].rsplit(":", 1)[1]) if port else 0

    def stop(self) -> str:
        """SIGTERM (SIGKILL 30 s later, as SageMaker), then its log; the container removed."""
        subprocess.run([*self.docker, "stop", "-t", "30", self.id], capture_output=True)
        logs = subprocess.run([*self.docker, "logs", self.id], capture_output=True, text=True,
                              errors="replace")
        subprocess.run([*self.docker, "rm", "-f", self.id], capture_output=True)
        return logs.stdout + logs.stderr


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


def run(request: TransformRequest, engine: Engine, ping_deadline: float = PING_DEADLINE,
        labels: tuple = (), **record) -> dict:
    """The job, start to end; its DescribeTransformJob answer (RequestError before any run).
    `record` adds to the run record's fields (make transform names where its model and input
    came from); `labels` go on the container beside the engine's compose project."""
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
                       image=container["Image"], **fields, **record)
    if engine.announce:
        jobrun.say(f"transform job {request.name}: {container['Image']} over "
                   f"{request.input_uri}")
    reason = _transform(request, engine, job_run, container, ping_deadline, labels)
    if reason is not None:  # the run's own field says why without SageMaker's prefix
        failure = job_run.folder / runs.FAILURE_FILES[TRANSFORM]
        failure.parent.mkdir(exist_ok=True)
        failure.write_text(" ".join(reason.removeprefix(ALGORITHM_ERROR).split())[:1024] + "\n")
    runs.finish(job_run, 0 if reason is None else 1)
    job_run.record.update({STATUS: job_run.record["status"], "TransformEndTime":
                           job_run.record["end"]})
    if reason is not None:
        job_run.record["FailureReason"] = reason[:1024]
    runs.write_record(job_run.folder, job_run.record)
    if engine.announce:
            jobrun.say(f"transform job {request.name} {job_run.record['status']}"
                   + (f": {reason}" if reason else f" ({job_run.folder})"))
    return describe.answer(job_run.record)


def _transform(request: TransformRequest, engine: Engine, job_run: runs.Run, container: dict,
               ping_deadline: float, labels: tuple) -> str | None:
    """The work; None when it completed, else the FailureReason."""
    folder, started = job_run.folder, None
    with (folder / runs.LOGS).open("w") as log:
        def say(line: str) -> None:
            if engine.echo:
                print(line, flush=True)
            log.write(line + "\n")

        try:
            (folder / "model").mkdir(mode=0o755)
            archive = file_path(container["ModelDataUrl"])
            if archive is not None and archive.is_file():  # read where it is: no copy
                unpack(archive, folder / "model")
            else:
                with tempfile.TemporaryDirectory() as temporary:
                    engine.storage.fetch(container["ModelDataUrl"], Path(temporary))
                    unpack(next(Path(temporary).iterdir()), folder / "model")
            engine.storage.fetch(request.input_uri, folder / "input")
            job = job_of(request, folder / "input", folder / "output",
                         container.get("Environment", {}))
            batch.check(job)
            started = Container(engine, container["Image"],
                                f"{engine.project}-{request.name}".lower(), folder / "model",
                                job, labels)
            batch.wait_ping(started.port, started.id, started.docker, ping_deadline)
            job_run.record["transform"] = batch.run(job, started.port, say)
        except StorageError as error:
            say(f"error: {error}")
            return f"ClientError: {error}"
        except Exception as error:  # noqa: BLE001 (any end is recorded: no run left InProgress)
            if not isinstance(error, TransformError | OSError):
                error = TransformError(f"internal error: {type(error).__name__}: {error}")
            say(f"error: {error}")
            return f"{ALGORITHM_ERROR}{error}"
        finally:
            if started is not None:
                log.write(started.stop())
    try:
        engine.storage.store(folder / "output", request.output_uri)
    except StorageError as error:
        return f"ClientError: cannot upload the job's output: {error}"
    return None
