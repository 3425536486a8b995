"""`python -m pipeline.modelmonitor`: a model-quality monitoring job as a named run.

`make monitor-model`: the training image's `monitor-model` entrypoint (training/monitor_model.py)
as a processing job over the capture folder (CAPTURE_DIR) and the ground truth
(GROUND_TRUTH_DIR, make ground-truth), both read-only, for a window (START/END, default the last
hour), against a model-quality baseline: BASELINE_JOB's, else the one the registry recorded for
the version the endpoint serves, else the newest Completed model-quality baseline run (make
model-baseline). The baseline is copied into the run (processing/baseline/); results land in
<local>/monitoring/<run>/processing/resultdata/, beside the data-quality runs `make monitoring`
lists. Standard library only.
"""

import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline import baseline as baselines
from pipeline import deployments, jobs, monitoring, runs
from pipeline.runs import RunError

ANALYSIS = "MODEL_QUALITY"
REGISTRY_KEY = "model_quality"  # the registry's name of this baseline (jobs.baselines_of)


def served_baseline(args) -> tuple[str, dict] | None:
    """The model-quality baseline the registry recorded for the version being served."""
    if not args.endpoint_dir or not args.registry:
        return None
    try:
        version = deployments.live(deployments.load(args.endpoint_dir))["version"]
        meta = json.loads((args.registry / str(version) / "metadata.json").read_text())
        files = meta["baselines"][REGISTRY_KEY]
    except (OSError, ValueError, KeyError, TypeError, deployments.HistoryError):
        return None  # nothing served from the registry, or no model baseline recorded for it
    if all(Path(files.get(name.split(".")[0], "")).is_file() for name in baselines.FILES):
        return f"registry version {version}", files
    return None


def choose_baseline(args) -> tuple[str, dict]:
    """(what it is, {"statistics": path, "constraints": path}) of a model-quality baseline."""
    if not args.baseline_job:
        served = served_baseline(args)
        if served:
            return served
    candidates = ([runs.take(args.local, "baseline", args.baseline_job, args.workload)]
                  if args.baseline_job else
                  [run for run in runs.runs(args.local, "baseline")
                   if run.status == runs.COMPLETED and run.record.get("workload") == args.workload
                   and run.record.get("analysis_type") == ANALYSIS])
    if not candidates:
        raise RunError(f"no Completed model-quality baseline run of {args.workload} in "
                       f"{args.local / 'baseline'}: run make model-baseline first")
    chosen = candidates[0]
    if chosen.record.get("analysis_type", "DATA_QUALITY") != ANALYSIS:
        raise RunError(f"BASELINE_JOB={chosen.name} is a data-quality baseline; name a "
                       "model-quality one (make model-baseline)")
    return f"baseline run {chosen.name}", {
        name.split(".")[0]: str(chosen.folder / baselines.OUTPUT / name)
        for name in baselines.FILES}


def environment(start: datetime, end: datetime) -> dict:
    """The analyzer's environment of a model-quality run (the schedule's too)."""
    return {"analysis_type": ANALYSIS, "problem_type": "MulticlassClassification",
            "dataset_format": json.dumps({"sagemakerCaptureJson": {
                "captureIndexNames": ["endpointInput", "endpointOutput"]}}),
            "dataset_source": "/opt/ml/processing/input/endpoint",
            "ground_truth_source": "/opt/ml/processing/groundtruth",
            "output_path": f"/opt/ml/{monitoring.RESULTS}",
            "baseline_constraints": "/opt/ml/processing/baseline/constraints.json",
            "inference_attribute": "prediction", "probability_attribute": "confidence",
            "start_time": monitoring.zulu(start), "end_time": monitoring.zulu(end),
            "publish_cloudwatch_metrics": "Disabled"}


def monitor(args) -> int:
    end = monitoring.when(args.end, datetime.now(UTC), "END")
    start = monitoring.when(args.start, end - timedelta(hours=1), "START")
    if start >= end:
        raise RunError(f"START={monitoring.zulu(start)} is not before END={monitoring.zulu(end)}")
    if not args.capture.is_dir():
        raise RunError(f"CAPTURE_DIR={args.capture}: no capture folder yet; serve with capture "
                       "on (make serve) and send traffic (make traffic)")
    if not args.ground_truth.is_dir():
        raise RunError(f"GROUND_TRUTH_DIR={args.ground_truth}: no ground truth yet; write it "
                       "with make ground-truth")
    what, files = choose_baseline(args)
    jobs.say(f"model quality of {args.capture} with ground truth {args.ground_truth} from "
             f"{monitoring.zulu(start)} to {monitoring.zulu(end)} against {what}")
    run = jobs.start(args, "monitoring", analysis_type=ANALYSIS,
                     inputs={"endpoint": {"path": str(args.capture)},
                             "groundtruth": {"path": str(args.ground_truth)},
                             "baseline": {"from": what, **files}},
                     window={"start": monitoring.zulu(start), "end": monitoring.zulu(end)})
    for name in ("processing/baseline", monitoring.RESULTS, "output"):
        (run.folder / name).mkdir(parents=True)
    try:
        for name in baselines.FILES:
            shutil.copyfile(files[name.split(".")[0]], run.folder / "processing/baseline" / name)
    except OSError as error:
        (run.folder / "output/message").write_text(f"cannot copy the baseline: {error}\n")
        return jobs.end(args, run, 1)
    options = [item for key, value in environment(start, end).items()
               for item in ("-e", f"{key}={value}")]
    code = jobs.compose_run(args.compose, "monitoring", [],
                            {"JOB_DIR": run.folder, "CAPTURE_DIR": args.capture,
                             "GROUND_TRUTH_DIR": args.ground_truth}, run.folder / runs.LOGS,
                            options=(*options, "--entrypoint", "/usr/bin/tini -- monitor-model"))
    metric = None
    if code == 0:
        found = monitoring.violations(run)
        metric = {"name": "violations", "value": float(len(found or []))}
        run.record["outputs"] = {name: str(run.folder / monitoring.RESULTS / name) for name in
                                 ("statistics.json", monitoring.VIOLATIONS, "report.html")}
    return jobs.end(args, run, code, metric)


def main(argv: list[str] | None = None) -> int:
    import argparse

    top = jobs.common_arguments(argparse.ArgumentParser(prog="pipeline.modelmonitor",
                                                        description=__doc__.splitlines()[0]))
    top.add_argument("--capture", type=Path, required=True, help="CAPTURE_DIR")
    top.add_argument("--ground-truth", type=Path, required=True, help="GROUND_TRUTH_DIR")
    top.add_argument("--start", help="START (ISO 8601; default END - 1 hour)")
    top.add_argument("--end", help="END (ISO 8601; default now)")
    top.add_argument("--baseline-job", help="BASELINE_JOB: a model-quality baseline run")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--endpoint-dir", type=Path, help="ENDPOINT_DIR")
    args = top.parse_args(argv)
    try:
        return monitor(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
