"""`python -m pipeline.monitoring.modelquality`: a model-quality monitoring job as a named run.

`make monitor-model`: the training image's `monitor` entrypoint with analysis_type=MODEL_QUALITY
(training/monitor/modelquality.py) as a processing job (a CreateProcessingJob request the job
runner runs, pipeline/monitoring/requests.py) over the capture folder (CAPTURE_DIR) and the ground
truth (GROUND_TRUTH_DIR, make ground-truth), both read-only inputs, for a window (START/END,
default the last hour), against a model-quality baseline: BASELINE_JOB's, else the one the registry
recorded for the version the endpoint serves, else the newest Completed model-quality baseline run
(make model-baseline). One run per production variant with capture in the window, as make
monitor-data does. The baseline is an input, copied into the run (processing/baseline/);
results land in <local>/monitoring/<run>/processing/resultdata/, beside the data-quality runs
`make monitoring` lists. Standard library only.
"""

import sys
from datetime import datetime
from pathlib import Path

from pipeline.monitoring import alarms, requests, variants
from pipeline.monitoring import dataquality as monitoring
from pipeline.runs import jobrun
from pipeline.runs.records import RunError

ANALYSIS = "MODEL_QUALITY"


def choose_baseline(args, variant: str | None = None) -> tuple[str, dict]:
    """(what it is, {"statistics": path, "constraints": path}) of a model-quality baseline."""
    return monitoring.choose_baseline(args, ANALYSIS, variant)


def environment(start: datetime, end: datetime, constraints: str | None = None) -> dict:
    """The analyzer's environment of a model-quality run, beyond what every monitoring job gets
    (pipeline/monitoring/requests.py): the problem type of the baseline's constraints.json and
    the built-in workloads' answer fields; None for `constraints` leaves both to a schedule's
    job definition, whose own environment and attributes are all the analyzer gets there, as
    on SageMaker."""
    found = {"analysis_type": ANALYSIS, "ground_truth_source": requests.GROUND_TRUTH,
             "start_time": monitoring.zulu(start), "end_time": monitoring.zulu(end)}
    if constraints is None:
        return found
    return {**found, "problem_type": requests.problem_type(constraints),
            "inference_attribute": "prediction", "probability_attribute": "confidence"}


def monitor(args) -> int:
    start, end = monitoring.window(args)
    monitoring.check_capture(args.capture)
    if not args.ground_truth.is_dir():
        raise RunError(f"GROUND_TRUTH_DIR={args.ground_truth}: no ground truth yet; write it "
                       "with make ground-truth")
    found = variants.captured(args.capture, start, end, args.variant)
    chosen = [(item, choose_baseline(args, item.variant)) for item in found]
    return max([monitor_one(args, item, baseline, start, end) for item, baseline in chosen])


def monitor_one(args, item: variants.Captured, baseline: tuple[str, dict], start: datetime,
                end: datetime, **execution) -> int:
    """One variant's model-quality run (`execution`: a schedule's, monitoring.analyse)."""
    jobrun.say(f"model quality of {item.folder}{variants.words(item)} with ground truth "
               f"{args.ground_truth} from {monitoring.zulu(start)} to "
               f"{monitoring.zulu(end)} against {baseline[0]}")
    scheduled = getattr(args, "environment", None) is not None
    return monitoring.analyse(
        args, ANALYSIS, start, end, baseline, environment=environment(
            start, end, None if scheduled else baseline[1].get("constraints")),
        inputs={"endpoint": (item.folder, requests.ENDPOINT),
                "groundtruth": (args.ground_truth, requests.GROUND_TRUTH)},
        outputs=("statistics.json", monitoring.VIOLATIONS, "report.html"), captured=item,
        **execution)


def main(argv: list[str] | None = None) -> int:
    import argparse

    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.modelquality",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("--capture", type=Path, required=True, help="CAPTURE_DIR")
    top.add_argument("--ground-truth", type=Path, required=True, help="GROUND_TRUTH_DIR")
    top.add_argument("--start", help="START (ISO 8601; default END - 1 hour)")
    top.add_argument("--end", help="END (ISO 8601; default now)")
    top.add_argument("--baseline-job", help="BASELINE_JOB: a model-quality baseline run")
    top.add_argument("--variant", help="VARIANT: only this production variant's capture")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--endpoint-dir", type=Path, help="ENDPOINT_DIR")
    alarms.add_arguments(top)
    args = top.parse_args(argv)
    try:
        return monitor(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
