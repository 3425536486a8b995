"""`python -m pipeline.transform.job` (`make transform`): a SageMaker batch transform job of the
built-in workload's model, as the CreateTransformJob request it builds.

The model (a registry version, MODEL_TAR, or the newest training run's) is kept as a CreateModel
request, LOCAL_DIR/models/<job>.json (the serving image, the archive's file:// URI), and the job
as a CreateTransformJob request over file:// URIs, its output the run's own output/; both go to
pipeline/transform/request.py, the path `make job REQUEST=…` takes. The run is
<local>/transform/<job>/ as any transform job's, its record naming where the model and the input
came from. Runs with the test venv's python (jsonpath-ng).
"""

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from pipeline.api import models
from pipeline.api.requests import RequestError
from pipeline.api.runner import Engine
from pipeline.api.transforms import transform as parse
from pipeline.registry import models as registry
from pipeline.runs import records as runs
from pipeline.transform import batch
from pipeline.transform import request as transforms
from pipeline.transform.dataprocessing import TransformError

# The program's job: the label column dropped on input, the output joined with the input,
# then kept: ground truth (the input's first column) and prediction (the output's first).
PROGRAM = {"input_filter": "$[1:]", "join_source": "Input", "output_filter": "$[0,-2]"}
INSTANCE_TYPE = "ml.m5.large"  # recorded only: one container serves the job


def uri(path: Path) -> str:
    return f"file://{Path(path).absolute()}"


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


def dataprocessing(args) -> dict:
    """DataProcessing: the program's for the default input, SageMaker's ($, None, $) for an
    input the user gives; each one given on the command line over both."""
    defaults = {} if args.input else PROGRAM
    chosen = {name: getattr(args, name) if getattr(args, name) is not None else
              defaults.get(name, "None" if name == "join_source" else "$") for name in PROGRAM}
    return {"InputFilter": chosen["input_filter"], "JoinSource": chosen["join_source"],
            "OutputFilter": chosen["output_filter"]}


def requests(args, name: str, archive: Path, data: Path) -> tuple[dict, dict]:
    """(the CreateModel request, the CreateTransformJob request) of the job."""
    model = {"ModelName": name, "PrimaryContainer": {"Image": args.image,
                                                     "ModelDataUrl": uri(archive)}}
    job = {"TransformJobName": name, "ModelName": name,
           "TransformInput": {"ContentType": args.content_type, "SplitType": "Line",
                              "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                              "S3Uri": uri(data)}}},
           "TransformOutput": {"S3OutputPath": uri(args.local / "transform" / name / "output"),
                               "Accept": args.accept, "AssembleWith": "Line"},
           "TransformResources": {"InstanceCount": 1, "InstanceType": INSTANCE_TYPE},
           "DataProcessing": dataprocessing(args)}
    for field, value in (("BatchStrategy", args.batch_strategy or None),
                         ("MaxPayloadInMB", args.max_payload_mb),
                         ("MaxConcurrentTransforms", args.max_concurrent)):
        if value is not None:
            job[field] = value
    return model, job


def transform(args) -> int:
    archive, model_input = model_archive(args)
    if args.from_training:
        print(f"transforming with the model of training run {model_input['run']}", flush=True)
    with tempfile.TemporaryDirectory() as prepared:
        if args.input:
            data, data_input = Path(args.input), {"path": str(Path(args.input).absolute())}
        else:
            data, data_input = default_input(args, Path(prepared))
        name = runs.job_name(args.local, "transform", args.workload)
        model, body = requests(args, name, archive, data)
        try:
            request = parse(body)
        except RequestError as error:
            raise TransformError(str(error)) from None
        kept = models.kept_path(args.local, name)
        models.keep(args.local, name, model)  # what make job keeps for a CreateModel
        print(f"transform run {name}: model {archive}, input {data}", flush=True)
        engine = Engine(args.local, project=args.compose_project, docker=args.docker,
                        workload=args.workload, announce=False)
        try:
            transforms.run(request, engine, args.ping_deadline, tuple(args.label),
                           inputs={"model": model_input, "data": data_input}, parameters={
                               key: body[key] for key in ("TransformInput", "TransformOutput",
                                                          "DataProcessing") if key in body}
                           | {key: body.get(key) for key in (
                               "BatchStrategy", "MaxPayloadInMB", "MaxConcurrentTransforms")})
        except RequestError as error:
            kept.unlink()  # no job, so no model of its own
            raise TransformError(str(error)) from None
    run = runs.load(args.local / "transform" / name)
    for pruned in runs.prune(args.local, "transform", args.keep, args.workload):
        models.kept_path(args.local, pruned).unlink(missing_ok=True)
    if run.status == runs.COMPLETED:
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
