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
from pipeline import jobs, monitoring, runs
from pipeline.runs import RunError

ANALYSIS = "MODEL_QUALITY"


def choose_baseline(args) -> tuple[str, dict]:
    """(what it is, {"statistics": path, "constraints": path}) of a model-quality baseline."""
    return monitoring.choose_baseline(args, ANALYSIS)


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
