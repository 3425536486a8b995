"""A pipeline's Transform step: its CreateTransformJob request run by the batch transform engine
(pipeline/transform): the model a CreateModel step kept (LOCAL_DIR/models/<ModelName>.json), its
archive extracted as SageMaker extracts it, its image started as a batch container, the input
downloaded from TransformInput's S3 prefix and each file's .out uploaded to S3OutputPath. The
answer is DescribeTransformJob's.
"""

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

from pipeline.transform import batch
from pipeline.transform.dataprocessing import TransformError
from pipeline.transform.job import Container
from pipeline.workflow import containers, records
from pipeline.workflow.executor import StepFailed
from training.contract.archive import extract

PING_DEADLINE = 120


def job_of(request: dict, data: Path, output: Path, environment: dict) -> batch.Job:
    source = request.get("TransformInput", {})
    processing = request.get("DataProcessing", {})
    return batch.Job(
        input=data, output=output, content_type=source.get("ContentType", "text/csv"),
        accept=request.get("TransformOutput", {}).get("Accept", "text/csv"),
        batch_strategy=request.get("BatchStrategy"),
        max_payload_mb=request.get("MaxPayloadInMB"),
        max_concurrent=request.get("MaxConcurrentTransforms"),
        input_filter=processing.get("InputFilter", "$"),
        join_source=processing.get("JoinSource", "None"),
        output_filter=processing.get("OutputFilter", "$"),
        environment={**environment, **request.get("Environment", {})})


def transform(local: Path, docker: str):
    def run(request) -> dict:
        job = request.arguments
        what = f"Transform {request.name}"
        kept = Path(local) / records.MODELS / f"{job.get('ModelName')}.json"
        if not kept.is_file():
            raise StepFailed(f"{what}: no model {job.get('ModelName')!r} (a CreateModel step "
                             f"keeps it in {kept.parent})")
        container = json.loads(kept.read_text()).get("PrimaryContainer", {})
        uri = job.get("TransformInput", {}).get("DataSource", {}).get(
            "S3DataSource", {}).get("S3Uri")
        target = job.get("TransformOutput", {}).get("S3OutputPath")
        if not uri or not target or "ModelDataUrl" not in container:
            raise StepFailed(f"{what}: needs TransformInput.DataSource.S3DataSource.S3Uri, "
                             "TransformOutput.S3OutputPath and a model with ModelDataUrl")
        folder = request.folder / "jobs" / request.job_name
        started = records.now()
        with tempfile.TemporaryDirectory() as temporary:
            containers.fetch(container["ModelDataUrl"], Path(temporary))
            (folder / "model").mkdir(parents=True, mode=0o755)
            extract(next(Path(temporary).iterdir()), folder / "model")
        containers.fetch(uri, folder / "input")
        batch_job = job_of(job, folder / "input", folder / "output",
                           container.get("Environment", {}))
        options = SimpleNamespace(docker=docker, compose_project="sdk-pipeline", label=[],
                                  image=container["Image"])
        started_container = None
        try:
            batch.check(batch_job)
            started_container = Container(options, request.job_name, folder / "model",
                                          batch_job)
            batch.wait_ping(started_container.port, started_container.id,
                            started_container.docker, PING_DEADLINE)
            figures = batch.run(batch_job, started_container.port, lambda line: None)
        except (TransformError, OSError) as error:
            raise StepFailed(f"{what}: {error}") from None
        finally:
            if started_container is not None:
                (folder / "logs.txt").write_text(started_container.stop())
        containers.put(folder / "output", target)
        return {**job, "TransformJobName": request.job_name,
                "TransformJobArn": records.arn("transform-job", request.job_name),
                "TransformJobStatus": "Completed", "TransformStartTime": records.iso(started),
                "TransformEndTime": records.iso(records.now()), "Figures": figures}

    return run
