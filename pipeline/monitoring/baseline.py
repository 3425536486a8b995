"""`python -m pipeline.monitoring.baseline`: the data-quality (or model-quality) baseline job as a
named run.

The training image's `baseline` entrypoint (training/monitor/baseline.py) runs as a processing job,
Model Monitor's baselining request (CreateProcessingJob, pipeline/monitoring/requests.py) handed
to the job runner (pipeline/api/runner.py), so the run keeps request.json and a
DescribeProcessingJob run.json. Its dataset is the newest Completed processing run's (or
PROCESSING_JOB's): Penguins' baseline/train-baseline.csv
(raw features with a header, no label), or, for Digits, the train split (headerless, label
first: the label dropped; the job baselines the pixel statistics Digits' record preprocessor
gives, `--workload`, as the data-quality monitor checks them). statistics.json and
constraints.json land in <local>/baseline/<run>/processing/output/. With --model-quality it
runs on the newest Completed transform run's .out files (TRANSFORM_JOB) instead: ground truth and
prediction joined by the program's transform (`_c0`, `_c1` of its CSV; JSON: `groundtruth`,
`SageMakerOutput.prediction`), for PROBLEM_TYPE (MulticlassClassification, the built-in
workloads'; BinaryClassification or Regression for a transform of such a model). Standard
library only.
"""

import argparse
import sys

from pipeline.api.monitoringjobs import PROBLEM_TYPES
from pipeline.api.submit import submit
from pipeline.monitoring import requests
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

OUTPUT = "processing/output"
FILES = ("statistics.json", "constraints.json")


def source(processed: runs.Run) -> tuple:
    """(the dataset input: a file or a folder, dataset_format, job arguments) for a processing
    run's workload; the job baselines what the workload's monitor hook gives (--workload)."""
    workload = ["--workload", processed.record.get("workload", "penguins")]
    penguins = processed.folder / "processing" / "baseline" / "train-baseline.csv"
    if penguins.is_file():
        return penguins, {"csv": {"header": True}}, workload
    train = processed.folder / "processing" / "train"
    if train.is_dir():
        return train, {"csv": {"header": False}}, ["--drop-first-column", *workload]
    raise RunError(f"processing run {processed.name} has neither {penguins} nor a train split: "
                   "run make process again")


def run_baseline(args, source_run: str, dataset, dataset_format: dict, arguments: list,
                 environment: dict | None = None) -> int:
    """A baseline job's CreateProcessingJob request (pipeline/monitoring/requests.py) through
    the job runner: the run keeps request.json, and run.json with the DescribeProcessingJob
    answer beside the fields the registry's lineage and the monitors read."""
    name = runs.job_name(args.local, "baseline", args.workload)
    body = requests.baselining_job(name, args.image, args.local / "baseline" / name, dataset,
                                   dataset_format, arguments, environment)
    analysis = (environment or {}).get("analysis_type", "DATA_QUALITY")
    run = submit(args, body, "baseline", analysis_type=analysis,
                 arguments=arguments, dataset_format=dataset_format,
                 inputs={"baseline_dataset_input": {"run": source_run, "path": str(dataset)}})
    if run.status == runs.COMPLETED:
        run.record["outputs"] = {name: str(run.folder / OUTPUT / name) for name in FILES}
        runs.write_record(run.folder, run.record)
    return jobrun.report(args, run)


def baseline(args) -> int:
    processed = runs.take(args.local, "processing", args.processing_job, args.workload)
    data, dataset_format, arguments = source(processed)
    jobrun.say(f"baselining {data} of processing run {processed.name}")
    return run_baseline(args, processed.name, data, dataset_format, arguments)


def model_baseline(args) -> int:
    transformed = runs.take(args.local, "transform", args.transform_job, args.workload)
    output = transformed.folder / "output"
    parameters = transformed.record.get("parameters", {})
    joined_csv = (parameters.get("DataProcessing", {}).get("JoinSource") == "Input"
                  and "csv" in parameters.get("TransformInput", {}).get("ContentType", ""))
    as_csv = joined_csv or "csv" in parameters.get("TransformOutput", {}).get("Accept", "")
    dataset_format = {"csv": {"header": False}} if as_csv else {"json": {"lines": True}}
    truth = args.ground_truth_attribute or ("_c0" if as_csv else "groundtruth")
    inference = args.inference_attribute or ("_c1" if as_csv else "SageMakerOutput.prediction")
    problem = args.problem_type or "MulticlassClassification"
    jobrun.say(f"{problem} model-quality baseline of transform run {transformed.name} "
               f"(ground truth {truth}, prediction {inference})")
    optional = {name: value for name, value in (
        ("probability_attribute", args.probability_attribute),
        ("probability_threshold_attribute", args.probability_threshold_attribute)) if value}
    return run_baseline(args, transformed.name, output, dataset_format, [], {
        "analysis_type": "MODEL_QUALITY", "problem_type": problem,
        "ground_truth_attribute": truth, "inference_attribute": inference, **optional})


def lineage(local, source_run: str, workload: str,
            analysis: str = "DATA_QUALITY") -> tuple[str, dict] | None:
    """The newest Completed baseline run made from a run (data quality: the processing run;
    model quality: the transform run) and its files, for the registry."""
    for run in runs.runs(local, "baseline"):
        made_from = run.record.get("inputs", {}).get("baseline_dataset_input", {}).get("run")
        if (run.status == runs.COMPLETED and made_from == source_run
                and run.record.get("analysis_type", "DATA_QUALITY") == analysis
                and run.record.get("workload") == workload):
            return run.name, {name.split(".")[0]: str(run.folder / OUTPUT / name)
                              for name in FILES}
    return None


def main(argv: list[str] | None = None) -> int:
    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.baseline",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("--processing-job", help="PROCESSING_JOB")
    top.add_argument("--model-quality", action="store_true")
    top.add_argument("--transform-job", help="TRANSFORM_JOB, with --model-quality")
    top.add_argument("--ground-truth-attribute")
    top.add_argument("--inference-attribute")
    top.add_argument("--problem-type", choices=PROBLEM_TYPES,
                     help="PROBLEM_TYPE, with --model-quality (default MulticlassClassification)")
    top.add_argument("--probability-attribute")
    top.add_argument("--probability-threshold-attribute")
    args = top.parse_args(argv)
    try:
        return model_baseline(args) if args.model_quality else baseline(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
