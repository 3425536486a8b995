"""Model-quality monitoring job: captured predictions merged with ground truth, against a baseline.

Runs as a processing job in the training image (entrypoint `monitor-model`), as SageMaker's
ground-truth merger and model-quality analyzer together. Environment, as the analyzer's:
`analysis_type` (MODEL_QUALITY), `problem_type` (MulticlassClassification, the default;
BinaryClassification; Regression), `dataset_source` (the capture destination, default
/opt/ml/processing/input/endpoint), `ground_truth_source` (default
/opt/ml/processing/groundtruth), `output_path` (default /opt/ml/processing/resultdata),
`baseline_constraints` (the model-quality baseline's constraints.json, of the same problem
type), `inference_attribute` (the answer's field, default `prediction`; a CSV answer's column
`_c0`/`0`, default its first), `ground_truth_attribute` (a JSON label's field or a CSV label's
column; default the whole label), `probability_attribute` (binary classification: the answer's
probability of class 1, which ranks the records for the ROC curve and, without an
inference_attribute, gives the predicted label at `probability_threshold_attribute`, default
0.5; the other problem types need none), `start_time`/`end_time`: the capture files of hour
folders overlapping [start, end) and of them the requests whose inferenceTime is in it; ground
truth of every hour from start on, since labels come later.

Writes statistics.json (training/monitor/quality.py's `<problem>_metrics` of the merged
records), constraint_violations.json (each baseline constraint the metric breaks:
`{"metric_name", "constraint_check_type": <the comparison operator>, "description"}`) and
report.html (training/monitor/modelreport.py).
"""

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from training.contract.jobio import JobError, atomic_write, base_dir, fail
from training.monitor import merge as model_merge
from training.monitor import quality
from training.monitor.baseline import (
    ANALYSIS_ENV,
    CONSTRAINTS_ENV,
    INFERENCE_ENV,
    OUTPUT_ENV,
    PROBABILITY_ENV,
    PROBLEM_ENV,
    SOURCE_ENV,
    THRESHOLD_ENV,
    VIOLATIONS,
)
from training.monitor.baseline import TRUTH_ENV as TRUTH_ATTRIBUTE_ENV
from training.monitor.window import (
    DEFAULT_OUTPUT,
    DEFAULT_SOURCE,
    capture_files,
    hour_of,
    time_window,
)

TRUTH_ENV, DEFAULT_TRUTH = "ground_truth_source", "/opt/ml/processing/groundtruth"
DEFAULT_CONSTRAINTS = "/opt/ml/processing/baseline/constraints.json"
STATISTICS, REPORT = "statistics.json", "report.html"


def baseline_constraints(problem: str) -> tuple[dict, Path]:
    """{metric: (operator, threshold)} of the baseline's constraints.json, checked."""
    path = Path(os.environ.get(CONSTRAINTS_ENV) or DEFAULT_CONSTRAINTS)
    return quality.read_constraints(CONSTRAINTS_ENV, path, "run make model-baseline, or name "
                                    "one with BASELINE_JOB", problem), path


def truth_files(source: Path, start) -> list[Path]:
    """Every complete ground-truth file (*.jsonl) of the hours from start's on."""
    if not source.is_dir():
        raise JobError(f"{TRUTH_ENV} {source}: no such folder (make ground-truth writes it)")
    return [path for path in sorted(source.rglob("*.jsonl")) if not path.name.startswith(".")
            and not (start and (hour := hour_of(path)) and hour + timedelta(hours=1) <= start)]


def check_environment() -> tuple:
    """(the problem type's module, the answer's attribute the merger reads as the prediction,
    inference_attribute, probability_attribute, probability_threshold_attribute)."""
    analysis = os.environ.get(ANALYSIS_ENV, "MODEL_QUALITY")
    if analysis != "MODEL_QUALITY":
        raise JobError(f"analysis_type={analysis!r}: this job is MODEL_QUALITY (the monitor "
                       "entrypoint checks data quality)")
    kind = quality.problem(os.environ.get(PROBLEM_ENV))
    inference = os.environ.get(INFERENCE_ENV, "").strip() or None
    probability = os.environ.get(PROBABILITY_ENV, "").strip() or None
    limit = quality.threshold(os.environ.get(THRESHOLD_ENV))
    if kind.NAME != "BinaryClassification":
        probability = None  # recorded by the endpoint, but no metric of these needs it
    if probability and not inference:
        # The predicted label is the probability at or above the threshold.
        return kind, probability, None, probability, limit
    inference = inference or "prediction"
    return kind, inference, inference, probability, limit


def merged_quality(merged, problem: str, truth: str | None, inference: str | None,
                   probability: str | None, limit: float | None) -> dict:
    """statistics.json of the merged records; an error names a record by its request's key (and
    its place in a multi-record request) and a value by the attribute the user gave."""
    truth = f"{truth} (ground truth)" if truth in (inference, probability) else truth
    names = {"truth": truth or "groundTruthData.data", "predicted": inference,
             "probability": probability}
    frame = merged.rename(columns={key: name for key, name in names.items() if name})
    frame.index = [f"captured record {key!r}" + (f" #{n}" if n > 1 else "")
                   for key, n in zip(merged["id"], merged["n"], strict=True)]
    statistics, _ = quality.model_quality(frame, names["truth"], inference, problem,
                                          probability, limit)
    return statistics


def analyse() -> tuple[dict, list, dict, Path]:
    import duckdb
    import pandas as pd

    kind, read, inference, probability, limit = check_environment()
    start, end, window = time_window()
    constraints, constraints_path = baseline_constraints(kind.NAME)
    source = Path(os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE)
    truth_source = Path(os.environ.get(TRUTH_ENV) or DEFAULT_TRUTH)
    output = Path(os.environ.get(OUTPUT_ENV) or DEFAULT_OUTPUT)
    captured = capture_files(source, start, end, window)
    labelled = truth_files(truth_source, start)
    if not labelled:
        raise JobError(f"no ground-truth file (*.jsonl) in {truth_source}: write ground truth "
                       "(make ground-truth)")
    began = time.monotonic()
    con = duckdb.connect()
    truth_attribute = os.environ.get(TRUTH_ATTRIBUTE_ENV, "").strip() or None
    try:
        counts = model_merge.merge(con, captured, labelled, start and start.isoformat(),
                                   end and end.isoformat(), read, truth_attribute, probability)
        merged = con.execute("SELECT id, n, truth, predicted, probability FROM merged").df()
    except duckdb.Error as error:
        raise JobError(f"cannot read the capture files in {source} or the ground truth in "
                       f"{truth_source}: {' '.join(str(error).split())}") from None
    print(f"merged {counts['merged']} of {counts['predictions']} captured predictions "
          f"({counts['requests']} requests{window}) with {counts['labels']} ground-truth labels; "
          f"{counts['unmatched_predictions']} predictions without a label and "
          f"{counts['unmatched_labels']} labels without a prediction left out "
          f"({time.monotonic() - began:.1f} s)", flush=True)
    if counts["unreadable_predictions"]:
        print(f"warning: {counts['unreadable_predictions']} captured answers have no "
              f"{'inference' if inference else 'probability'}_attribute={read!r}",
              file=sys.stderr, flush=True)
    if merged.empty:
        raise JobError(f"no captured prediction{window} has ground truth in {truth_source} "
                       f"({counts['predictions']} predictions, {counts['labels']} labels, joined "
                       "on inferenceId, else eventId): write it with make ground-truth")
    statistics = merged_quality(pd.DataFrame(merged), kind.NAME, truth_attribute, inference,
                                probability, limit)
    found = quality.violations(quality.metrics_of(statistics), constraints)
    atomic_write(output / STATISTICS, json.dumps(statistics, indent=4) + "\n")
    atomic_write(output / VIOLATIONS, json.dumps({"violations": found}, indent=4) + "\n")
    try:
        from training.monitor import modelreport as model_report

        atomic_write(output / REPORT, model_report.html(
            statistics, constraints, found, counts, window.strip() or "all captured",
            str(constraints_path)))
    except Exception as error:  # the report is for people; the JSON files are the result
        print(f"warning: no {REPORT}: {type(error).__name__}: {error}", file=sys.stderr)
    return statistics, found, counts, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitor-model", description=__doc__.splitlines()[0])
    # The same arguments as the data-quality monitor's; model quality needs no workload hook.
    parser.add_argument("--workload", help="accepted, unused: metrics are the same for all")
    parser.parse_args(argv)
    message = base_dir() / "output" / "message"
    try:
        statistics, found, _, output = analyse()
    except JobError as error:
        return fail(message, str(error))
    except OSError as error:
        return fail(message, f"cannot read the capture or ground truth, or write the results: "
                              f"{error}")
    metrics = quality.metrics_of(statistics)
    headline = "accuracy" if "accuracy" in metrics else next(iter(metrics))
    names = ", ".join(v["metric_name"] for v in found)
    print(f"{len(found)} violation(s){': ' + names if found else ''} over "
          f"{statistics['dataset']['item_count']} records ({headline} "
          f"{metrics[headline]['value']:.4f}): {output / VIOLATIONS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
