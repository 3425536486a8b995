"""`python -m pipeline.monitoring.baseline`: the data-quality (or model-quality) baseline job as a
named run.

The training image's `baseline` entrypoint (training/monitor/baseline.py) runs as a processing job
on the newest Completed processing run (or PROCESSING_JOB): Penguins' baseline/train-baseline.csv
(raw features with a header, no label), or, for Digits, the train split (headerless, label
first: the label dropped; the job baselines the pixel statistics Digits' record preprocessor
gives, `--workload`, as the data-quality monitor checks them). statistics.json and
constraints.json land in <local>/baseline/<run>/processing/output/. With --model-quality it
runs on the newest Completed transform run's .out files (TRANSFORM_JOB) instead: ground truth and
prediction joined by the program's transform (`_c0`, `_c1` of its CSV; JSON: `groundtruth`,
`SageMakerOutput.prediction`). Standard library only.
"""

import argparse
import json
import shutil
import sys

from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

OUTPUT = "processing/output"
FILES = ("statistics.json", "constraints.json")


def source(processed: runs.Run) -> tuple:
    """(folder to mount, dataset_format, job arguments) for a processing run's workload; the
    job baselines what the workload's monitor hook gives (--workload)."""
    workload = ["--workload", processed.record.get("workload", "penguins")]
    penguins = processed.folder / "processing" / "baseline" / "train-baseline.csv"
    if penguins.is_file():
        return penguins, {"csv": {"header": True}}, workload
    train = processed.folder / "processing" / "train"
    if train.is_dir():
        return train, {"csv": {"header": False}}, ["--drop-first-column", *workload]
    raise RunError(f"processing run {processed.name} has neither {penguins} nor a train split: "
                   "run make process again")


def baseline(args) -> int:
    processed = runs.take(args.local, "processing", args.processing_job, args.workload)
    data, dataset_format, arguments = source(processed)
    jobrun.say(f"baselining {data} of processing run {processed.name}")
    run = jobrun.start(args, "baseline", analysis_type="DATA_QUALITY", arguments=arguments,
                       inputs={"baseline_dataset_input": {"run": processed.name,
                                                          "path": str(data)}},
                       dataset_format=dataset_format)
    for name in ("processing/input", OUTPUT, "output"):
        (run.folder / name).mkdir(parents=True)
    if data.is_file():  # the one file, not the test split beside it
        mounted = run.folder / "dataset"
        mounted.mkdir()
        shutil.copyfile(data, mounted / data.name)
    else:
        mounted = data
    options = ["-e", f"dataset_format={json.dumps(dataset_format)}",
               "-e", "dataset_source=/opt/ml/processing/input",
               "-e", f"output_path=/opt/ml/{OUTPUT}",
               "--entrypoint", "/usr/bin/tini -- baseline"]
    code = jobrun.compose_run(args.compose, "processing", arguments,
                              {"JOB_DIR": run.folder, "DATA_DIR": mounted},
                              run.folder / runs.LOGS, options=tuple(options))
    if code == 0:
        run.record["outputs"] = {name: str(run.folder / OUTPUT / name) for name in FILES}
    return jobrun.end(args, run, code)


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
    jobrun.say(f"model-quality baseline of transform run {transformed.name} "
               f"(ground truth {truth}, prediction {inference})")
    run = jobrun.start(args, "baseline", analysis_type="MODEL_QUALITY",
                       inputs={"baseline_dataset_input": {"run": transformed.name,
                                                          "path": str(output)}},
                       dataset_format=dataset_format)
    for name in ("processing/input", OUTPUT, "output"):
        (run.folder / name).mkdir(parents=True)
    environment = {"analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
                   "ground_truth_attribute": truth, "inference_attribute": inference,
                   "dataset_format": json.dumps(dataset_format),
                   "dataset_source": "/opt/ml/processing/input",
                   "output_path": f"/opt/ml/{OUTPUT}"}
    options = [item for key, value in environment.items() for item in ("-e", f"{key}={value}")]
    code = jobrun.compose_run(args.compose, "processing", [],
                              {"JOB_DIR": run.folder, "DATA_DIR": output}, run.folder / runs.LOGS,
                              options=(*options, "--entrypoint", "/usr/bin/tini -- baseline"))
    if code == 0:
        run.record["outputs"] = {name: str(run.folder / OUTPUT / name) for name in FILES}
    return jobrun.end(args, run, code)


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
    args = top.parse_args(argv)
    try:
        return model_baseline(args) if args.model_quality else baseline(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
