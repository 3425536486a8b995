"""`python -m pipeline.jobs.steps STEP`: run a pipeline step as a named job run.

process, train and evaluate build the SageMaker request of the built-in workload's job
(pipeline/jobs/builtin.py) and hand it to the job runner (pipeline/api/runner.py), the one path
every job container takes; each says which run it took its input from, and the run keeps the
request, its log and a Describe-style run.json. register, list and clean need no container.
Standard library only: make runs it with the host's python3.
"""

import argparse
import json
import sys
from pathlib import Path

from pipeline.api.submit import submit
from pipeline.jobs import builtin
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

# What the evaluation step reads and the registry's lineage names.
EVALUATION_JSON = "processing/evaluation/evaluation.json"
MODEL_TAR = "output/model.tar.gz"


def process(args) -> int:
    data = Path(args.data)
    if not data.is_dir():
        raise RunError(f"no input folder {data}: run make data, or put your raw files there")
    image = getattr(args, "processing_image", None) or args.image
    code = builtin.script(args.script, args.arguments) if args.script else None
    name = runs.job_name(args.local, "processing", args.workload)
    body = builtin.processing_job(name, image, args.local, data, args.workload, args.seed, code)
    inputs = {"input": {"path": str(data.absolute())}}
    if code:
        inputs["code"] = {"path": str(Path(args.script).resolve())}
    arguments = [*body["AppSpecification"]["ContainerEntrypoint"][1:],
                 *body["AppSpecification"]["ContainerArguments"]]
    run = submit(args, body, "processing", inputs=inputs, arguments=arguments)
    return jobrun.report(args, run)


def train(args) -> int:
    instances = builtin.instance_count(str(args.instances))
    source = runs.take(args.local, "processing", args.processing_job, args.workload)
    jobrun.say(f"training on processing run {source.name}")
    channels = {name: source.folder / "processing" / name for name in builtin.CHANNELS}
    hps = builtin.hyperparameters(args.hyperparameter)
    inputs = {name: {"run": source.name, "path": str(path)} for name, path in channels.items()}
    if getattr(args, "entry_point", None):  # script mode: the user's code, not a workload
        program, folder = builtin.entry_point(args.entry_point, args.source_dir)
        # As the SDK's estimators send it; the runner fetches the folder into the run.
        hps |= {"sagemaker_program": program,
                "sagemaker_submit_directory": builtin.uri(folder.resolve())}
        inputs["code"] = {"path": str(folder.resolve())}
    name = runs.job_name(args.local, "training", args.workload)
    body = builtin.training_job(name, args.image, args.local, channels, hps, instances)
    run = submit(args, body, "training", inputs=inputs)
    return jobrun.report(args, run)


def evaluate(args) -> int:
    trained = runs.take(args.local, "training", args.training_job, args.workload)
    processed = trained.record["inputs"]["train"]["run"]
    test = args.local / "processing" / processed / "processing" / "test"
    if not test.is_dir():
        raise RunError(f"the test split of processing run {processed} is gone from {test} "
                       "(removed by KEEP_RUNS or by hand): run make pipeline again")
    jobrun.say(f"evaluating the model of training run {trained.name} on the test split of "
               f"{processed}")
    image = getattr(args, "processing_image", None) or args.image
    script = getattr(args, "script", None)  # the user's evaluation script
    code = builtin.script(script, args.arguments) if script else None
    name = runs.job_name(args.local, "evaluation", args.workload)
    body = builtin.evaluation_job(name, image, args.local, trained.folder / MODEL_TAR, test,
                                  code)
    run = submit(args, body, "evaluation", inputs={
        "model": {"run": trained.name, "path": str(trained.folder / MODEL_TAR)},
        "test": {"run": processed, "path": str(test)}})
    if run.status == runs.COMPLETED:
        try:
            report = json.loads((run.folder / EVALUATION_JSON).read_text())
            accuracy = report["multiclass_classification_metrics"]["accuracy"]["value"]
            run.record["metric"] = {"name": "test:accuracy", "value": float(accuracy)}
            runs.write_record(run.folder, run.record)
        except (OSError, ValueError, TypeError, KeyError) as error:
            jobrun.say(f"no test accuracy: {EVALUATION_JSON} lacks multiclass_classification_"
                       f"metrics.accuracy.value ({type(error).__name__}: {error})")
    return jobrun.report(args, run)


def register(args) -> int:
    from pipeline.registry import models as registry

    evaluated = runs.take(args.local, "evaluation", args.evaluation_job, args.workload)
    trained_name = evaluated.record["inputs"]["model"]["run"]
    trained = runs.load(args.local / "training" / trained_name)
    if trained is None:
        raise RunError(f"training run {trained_name} (evaluated by {evaluated.name}) is gone "
                       f"from {args.local / 'training'}: run make pipeline again")
    jobrun.say(f"registering the model of training run {trained.name}, evaluated by "
               f"{evaluated.name}")
    lineage = {"processing": trained.record["inputs"]["train"]["run"],
               "training": trained.name, "evaluation": evaluated.name}
    if trained.record.get("tuning_job"):
        lineage["tuning"] = trained.record["tuning_job"]  # a trial of a tuning job
    found = baselines_of(args, lineage, trained.name)
    approve_at = args.approve_at
    if args.triggered_by:
        # A retrain a monitor's alarm started (RETRAIN_ON_VIOLATION=1) waits for a person:
        # it is never Approved by its accuracy alone, so it can never deploy by itself.
        lineage["alarm"] = args.triggered_by
        approve_at = float("inf")
    try:
        meta = registry.register(args.registry, trained.folder / MODEL_TAR,
                                 evaluated.folder / EVALUATION_JSON,
                                 trained.record.get("hyperparameters", {}),
                                 approve_at, args.pending_at, lineage=lineage,
                                 baselines=found)
    except registry.RegistryError as error:
        raise RunError(str(error)) from None
    jobrun.say(f"registered version {meta['version']} as {meta['approval_status']} "
               f"(accuracy {meta['accuracy']:.4f}) in {args.registry / str(meta['version'])}")
    return 0


def baselines_of(args, lineage: dict, trained: str) -> dict:
    """The version's Model Monitor baselines, if made: data quality from its processing run,
    model quality from a transform run of its model; their runs go into lineage."""
    from pipeline.monitoring import baseline

    found = {}
    data = baseline.lineage(args.local, lineage["processing"], args.workload)
    if data:
        lineage["baseline"], found["data_quality"] = data
    transformed = next((run for run in runs.runs(args.local, "transform")
                        if run.status == runs.COMPLETED
                        and run.record.get("inputs", {}).get("model", {}).get("run") == trained),
                       None)
    if transformed:
        lineage["transform"] = transformed.name
        model = baseline.lineage(args.local, transformed.name, args.workload, "MODEL_QUALITY")
        if model:
            lineage["model_baseline"], found["model_quality"] = model
    return found


def jobs(args) -> int:
    found = runs.runs(args.local)
    jobrun.say(runs.table(found) if found else f"no job runs yet in {args.local}")
    return 0


def clean(args) -> int:
    # Only folders with a run record: anything else a user keeps there is left alone.
    removed = sum(len(runs.prune(args.local, kind, 0)) for kind in runs.KINDS)
    jobrun.say(f"removed {removed} job run(s) from {args.local}")
    return 0


STEPS = {"process": process, "train": train, "evaluate": evaluate,
         "register": register, "list": jobs, "clean": clean}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.jobs.steps", description=__doc__.splitlines()[0])
    top.add_argument("step", choices=STEPS)
    jobrun.common_arguments(top)
    top.add_argument("--processing-image", help="PROCESSING_IMAGE (default: --image)")
    top.add_argument("--data", help="the processing input folder")
    top.add_argument("--seed", type=int, default=42)
    top.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE")
    top.add_argument("--instances", default="1", help="INSTANCES: training hosts")
    top.add_argument("--script", help="SCRIPT / EVALUATION_SCRIPT: the user's script")
    top.add_argument("--arguments", default="", help="ARGUMENTS: the script's arguments")
    top.add_argument("--entry-point", help="ENTRY_POINT: the user's training script")
    top.add_argument("--source-dir", help="SOURCE_DIR: the entry point's folder")
    top.add_argument("--processing-job")
    top.add_argument("--training-job")
    top.add_argument("--evaluation-job")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--approve-at", type=float, default=0.70)
    top.add_argument("--pending-at", type=float, default=0.50)
    top.add_argument("--triggered-by", help="RETRAIN_TRIGGER: the monitoring run whose alarm "
                     "started this retrain (registered PendingManualApproval)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.keep < 1 and args.step != "clean":
        print(f"KEEP_RUNS={args.keep}: keep at least 1 run of each kind", file=sys.stderr)
        return 2
    try:
        return STEPS[args.step](args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
