"""`python -m pipeline.jobs.steps STEP`: run a pipeline step as a named job through docker-compose.

Each step says which run it took its input from, runs the job's container with that run's
folders mounted, streams the job's log (and keeps it in the run's logs.txt), and records how
the run ended. Standard library only: make runs it with the host's python3.
"""

import argparse
import json
import sys
from pathlib import Path

from pipeline.jobs import scripts
from pipeline.jobs import training as trainingjob
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
    arguments, options = ["--workload", args.workload, "--seed", str(args.seed)], ()
    inputs = {"input": {"path": str(data)}}
    if args.script:
        inputs["code"] = {"path": str(Path(args.script).resolve())}
    run = jobrun.start(args, "processing", arguments=arguments, inputs=inputs)
    if args.script:  # ScriptProcessor(command=["python3"], code=SCRIPT), arguments=ARGUMENTS
        arguments, options = scripts.script_command(run.folder, args.script, args.arguments)
        run.record["arguments"] = arguments
        runs.write_record(run.folder, run.record)
    for name in ("input", "train", "validation", "test", "pipeline", "baseline"):
        (run.folder / "processing" / name).mkdir(parents=True, exist_ok=True)
    (run.folder / "output").mkdir()
    code = jobrun.compose_run(args.compose, "processing", arguments,
                              {"JOB_DIR": run.folder, "DATA_DIR": data}, run.folder / runs.LOGS,
                              options=options)
    return jobrun.end(args, run, code)


def evaluate(args) -> int:
    trained = runs.take(args.local, "training", args.training_job, args.workload)
    processed = trained.record["inputs"]["train"]["run"]
    test = args.local / "processing" / processed / "processing" / "test"
    if not test.is_dir():
        raise RunError(f"the test split of processing run {processed} is gone from {test} "
                       "(removed by KEEP_RUNS or by hand): run make pipeline again")
    jobrun.say(f"evaluating the model of training run {trained.name} on the test split of "
               f"{processed}")
    run = jobrun.start(args, "evaluation", inputs={
        "model": {"run": trained.name, "path": str(trained.folder / MODEL_TAR)},
        "test": {"run": processed, "path": str(test)}})
    arguments, options = [], ()
    if getattr(args, "script", None):  # the user's evaluation script, as ScriptProcessor runs it
        arguments, options = scripts.script_command(run.folder, args.script, args.arguments)
    for name in ("processing/test", "processing/model", "processing/evaluation", "output"):
        (run.folder / name).mkdir(parents=True, exist_ok=True)
    code = jobrun.compose_run(args.compose, "evaluation", arguments,
                              {"JOB_DIR": run.folder, "TEST_DIR": test,
                               "MODEL_DIR": trained.folder / "output"}, run.folder / runs.LOGS,
                              options=options)
    metric = None
    if code == 0:
        try:
            report = json.loads((run.folder / EVALUATION_JSON).read_text())
            accuracy = report["multiclass_classification_metrics"]["accuracy"]["value"]
            metric = {"name": "test:accuracy", "value": float(accuracy)}
        except (OSError, ValueError, TypeError, KeyError) as error:
            jobrun.say(f"no test accuracy: {EVALUATION_JSON} lacks multiclass_classification_"
                       f"metrics.accuracy.value ({type(error).__name__}: {error})")
    return jobrun.end(args, run, code, metric)


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


STEPS = {"process": process, "train": trainingjob.train, "evaluate": evaluate,
         "register": register, "list": jobs, "clean": clean}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.jobs.steps", description=__doc__.splitlines()[0])
    top.add_argument("step", choices=STEPS)
    jobrun.common_arguments(top)
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
