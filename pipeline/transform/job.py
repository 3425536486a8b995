"""`python -m pipeline.transform.job`: a SageMaker batch transform job with the serving image.

A run of kind "transform" under <local>/transform/<name>/: model/ (the archive extracted as
SageMaker extracts it), input/ (the default input, prepared), output/<file>.out, run.json and
logs.txt (the job's lines, then the container's log). The serving container is started as
SageMaker starts one for batch (`serve`, SAGEMAKER_BATCH=true and the job's settings in its
environment), published on localhost only, and stopped with SIGTERM at the end. Runs with the
test venv's python (jsonpath-ng); the engine is pipeline/transform/batch.py.
"""

import argparse
import csv
import shlex
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

from pipeline.registry import models as registry
from pipeline.runs import records as runs
from pipeline.transform import batch
from pipeline.transform.batch import Job
from pipeline.transform.dataprocessing import TransformError
from training.contract.archive import extract

# The program's job: the label column dropped on input, the output joined with the input,
# then kept: ground truth (the input's first column) and prediction (the output's first).
PROGRAM = {"input_filter": "$[1:]", "join_source": "Input", "output_filter": "$[0,-2]"}


def model_archive(args) -> tuple[Path, dict]:
    if args.model_tar:
        path = Path(args.model_tar)
        if not path.is_file():
            raise TransformError(f"MODEL_TAR={path}: no such model archive")
        return path, {"path": str(path.absolute())}
    if args.from_training:  # the pipeline's step: the model just trained, before registration
        trained = runs.take(args.local, "training", args.training_job, args.workload)
        path = trained.folder / "output" / "model.tar.gz"
        # Its test split is the one of the processing run it was trained on.
        args.processing_job = args.processing_job or trained.record["inputs"]["train"]["run"]
        return path, {"run": trained.name, "path": str(path)}
    try:
        path = registry.resolve(args.registry, registry.parse_number(args.model_version))
    except registry.RegistryError as error:
        raise TransformError(str(error)) from None
    return path, {"version": int(path.parent.name), "path": str(path)}


def unpack(archive: Path, model: Path) -> None:
    """The model archive extracted as SageMaker does, or a TransformError naming why not."""
    try:
        extract(archive, model)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise TransformError(f"model archive {archive}: not a usable model.tar.gz "
                             f"({' '.join(str(error).split())})") from None


def default_input(args, folder: Path) -> tuple[Path, dict]:
    """The test split of the newest Completed processing run, as headerless CSV, label first."""
    source = runs.take(args.local, "processing", args.processing_job, args.workload)
    baseline = source.folder / "processing" / "baseline" / "test-baseline.csv"
    if baseline.is_file():  # raw fields with a header: batch input is headerless
        with baseline.open(newline="") as file:
            rows = list(csv.reader(file))[1:]
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "test-baseline.csv").open("w", newline="") as file:
            csv.writer(file, lineterminator="\n").writerows(rows)
        return folder, {"run": source.name, "path": str(baseline)}
    test = source.folder / "processing" / "test"
    return test, {"run": source.name, "path": str(test)}


class Container:
    """The serving image as a batch transform's container, on a localhost port."""

    def __init__(self, args, name: str, model: Path, job: Job):
        self.docker = shlex.split(args.docker)
        environment = {"SAGEMAKER_BATCH": "true", **job.environment}
        # 0 (chunked; ask /execution-parameters) is the host's to act on: the container
        # keeps its own defaults then.
        for variable, value in (("SAGEMAKER_MAX_PAYLOAD_IN_MB", job.max_payload_mb),
                                ("SAGEMAKER_BATCH_STRATEGY", job.batch_strategy and
                                 batch.STRATEGIES[job.batch_strategy]),
                                ("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", job.max_concurrent)):
            if value:
                environment[variable] = str(value)
        labels = [f"com.docker.compose.project={args.compose_project}", *args.label]
        command = [*self.docker, "run", "-d", "--name", name, "-p", "127.0.0.1::8080",
                   "-v", f"{model.absolute()}:/opt/ml/model:ro",
                   *[f"--label={label}" for label in labels],
                   *[f"--env={key}={value}" for key, value in environment.items()],
                   args.image, "serve"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise TransformError(f"cannot start {args.image}: {done.stderr.strip()}")
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


def job_of(args, data: Path, output: Path) -> Job:
    """The job's parameters; DataProcessing defaults to the program's for the default input,
    to SageMaker's ($, None, $) for an input the user gives."""
    defaults = {} if args.input else PROGRAM
    for name in PROGRAM:
        if getattr(args, name) is None:
            setattr(args, name, defaults.get(name, "None" if name == "join_source" else "$"))
    return Job(input=data, output=output, content_type=args.content_type, accept=args.accept,
               batch_strategy=args.batch_strategy or None,
               max_payload_mb=args.max_payload_mb, max_concurrent=args.max_concurrent,
               input_filter=args.input_filter, join_source=args.join_source,
               output_filter=args.output_filter)


def transform(args) -> int:
    archive, model_input = model_archive(args)
    if args.from_training:
        print(f"transforming with the model of training run {model_input['run']}", flush=True)
    run = runs.create(args.local, "transform", args.workload, image=args.image)
    log = (run.folder / runs.LOGS).open("w")

    def say(message: str) -> None:
        print(message, flush=True)
        log.write(message + "\n")

    code, container = 1, None
    try:
        if args.input:
            data, data_input = Path(args.input), {"path": str(Path(args.input).absolute())}
        else:
            data, data_input = default_input(args, run.folder / "input")
        job = job_of(args, data, run.folder / "output")
        run.record.update(inputs={"model": model_input, "data": data_input}, parameters={
            "TransformInput": {"ContentType": job.content_type, "SplitType": "Line"},
            "TransformOutput": {"Accept": job.accept, "AssembleWith": "Line"},
            "BatchStrategy": job.batch_strategy, "MaxPayloadInMB": job.max_payload_mb,
            "MaxConcurrentTransforms": job.max_concurrent,
            "DataProcessing": {"InputFilter": job.input_filter, "JoinSource": job.join_source,
                               "OutputFilter": job.output_filter}})
        batch.check(job)
        model = run.folder / "model"
        model.mkdir(mode=0o755)
        unpack(archive, model)
        say(f"transform run {run.name}: model {archive}, input {data}")
        container = Container(args, run.name, model, job)
        batch.wait_ping(container.port, container.id, container.docker, args.ping_deadline)
        run.record["transform"] = batch.run(job, container.port, say)
        code = 0
    except Exception as error:  # noqa: BLE001 (any end is recorded: no run left InProgress)
        if not isinstance(error, TransformError | runs.RunError | OSError):
            error = TransformError(f"internal error: {type(error).__name__}: {error}")
        say(f"error: {error}")
        (run.folder / "output").mkdir(exist_ok=True)
        (run.folder / runs.FAILURE_FILES["transform"]).write_text(
            " ".join(str(error).split())[:1024] + "\n")
    finally:
        if container is not None:
            log.write(container.stop())
        log.close()
    runs.finish(run, code)
    runs.prune(args.local, "transform", args.keep, args.workload)
    if code == 0:
        print(f"transform run {run.name} Completed in {runs.duration(run.record)}: "
              f"{run.folder / 'output'}", flush=True)
        return 0
    print(f"transform run {run.name} Failed: {run.record['failure_reason']} "
          f"(log: {run.folder / runs.LOGS})", file=sys.stderr, flush=True)
    return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.transform.job",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--model-version", help="MODEL_VERSION (default: latest Approved)")
    top.add_argument("--model-tar", help="MODEL_TAR: an archive instead of the registry's")
    top.add_argument("--from-training", action="store_true",
                     help="the newest Completed training run's model (or --training-job)")
    top.add_argument("--training-job", help="TRAINING_JOB, with --from-training")
    top.add_argument("--input", help="TRANSFORM_INPUT: a file or folder (default: test split)")
    top.add_argument("--processing-job", help="PROCESSING_JOB for the default input")
    top.add_argument("--image", default="penguins-serving:latest")
    top.add_argument("--docker", default="docker")
    top.add_argument("--compose-project", default="penguins")
    top.add_argument("--label", action="append", default=[], help="extra container label")
    top.add_argument("--content-type", default="text/csv")
    top.add_argument("--accept", default="text/csv")
    top.add_argument("--batch-strategy", choices=["", *batch.STRATEGIES], default="")
    top.add_argument("--max-payload-mb", type=int)
    top.add_argument("--max-concurrent", type=int)
    top.add_argument("--input-filter")
    top.add_argument("--join-source")
    top.add_argument("--output-filter")
    top.add_argument("--ping-deadline", type=float, default=60)
    top.add_argument("--keep", type=int, default=20, help="KEEP_RUNS")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return transform(args)
    except (TransformError, runs.RunError) as error:
        print(f"transform: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
