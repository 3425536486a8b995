"""Data-quality monitoring job: SageMaker Model Monitor's analyzer over captured traffic.

Runs as a processing job in the training image (entrypoint `monitor`). Environment, as the
analyzer's: `dataset_format` ({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
"endpointOutput"]}}), `dataset_source` (the capture destination, default
/opt/ml/processing/input/endpoint), `output_path` (default /opt/ml/processing/resultdata),
`baseline_statistics`, `baseline_constraints`, `record_preprocessor_script`, `start_time`,
`end_time` (ISO 8601; the files of every hour folder that overlaps [start, end), and of them
the records whose inferenceTime is in it). `publish_cloudwatch_metrics` has nowhere to publish.

Writes statistics.json (training/monitor/baseline.py's statistics of the features the record
preprocessor gives), constraint_violations.json (training/monitor/checks.py), report.html and
report.png (training/monitor/report.py). Without a record_preprocessor_script, the workload's
`monitor_features` hook (--workload; the request's input fields when it has none).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from training.contract.jobio import JobError, atomic_write, base_dir, fail
from training.monitor import baseline
from training.monitor import checks as monitor_checks
from training.monitor import records as monitor_records
from training.monitor.baseline import CONSTRAINTS_ENV, STATISTICS_ENV, VIOLATIONS
from training.monitor.window import (
    DEFAULT_OUTPUT,
    DEFAULT_SOURCE,
    SOURCE_ENV,
    capture_files,
    time_window,
)
from training.workloads import registry as workloads

OUTPUT_ENV, FORMAT_ENV = "output_path", "dataset_format"
SCRIPT_ENV = "record_preprocessor_script"
DEFAULT_BASELINE = "/opt/ml/processing/baseline"
CAPTURE_FORMAT = "sagemakerCaptureJson"
STATISTICS = "statistics.json"
REPORT, PICTURE = "report.html", "report.png"


def read_json(variable: str, default: Path) -> dict:
    return monitor_checks.read_baseline(variable, Path(os.environ.get(variable) or default),
                                        "run make baseline, or name the baseline with "
                                        "BASELINE_JOB")


def features(con, workload: str, names: list):
    """The record preprocessor's frame: the user's script, else the workload's hook."""
    script = os.environ.get(SCRIPT_ENV, "").strip()
    if script:
        from training.monitor import script as monitor_script

        return monitor_script.features(con, Path(script))
    hook = getattr(workloads.get(workload), "monitor_features", monitor_records.input_fields)
    return hook(con, names)


def check_format() -> None:
    text = os.environ.get(FORMAT_ENV, "").strip()
    if not text:
        return
    try:
        value = json.loads(text)
    except ValueError as error:
        raise JobError(f"{FORMAT_ENV} is not JSON ({error})") from None
    if not isinstance(value, dict) or CAPTURE_FORMAT not in value:
        raise JobError(f"{FORMAT_ENV}={text}: this job reads captured traffic; use "
                       f'{{"{CAPTURE_FORMAT}": {{"captureIndexNames": ["endpointInput", '
                       '"endpointOutput"]}}')


def analyse(workload: str) -> tuple[dict, list, Path]:
    import duckdb

    check_format()
    start, end, window = time_window()
    source = Path(os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE)
    output = Path(os.environ.get(OUTPUT_ENV) or DEFAULT_OUTPUT)
    statistics_in = read_json(STATISTICS_ENV, Path(DEFAULT_BASELINE) / STATISTICS)
    constraints = read_json(CONSTRAINTS_ENV, Path(DEFAULT_BASELINE) / "constraints.json")
    files = capture_files(source, start, end, window)
    began = time.monotonic()
    con = duckdb.connect()
    names = [f["name"] for f in constraints["features"]]
    try:
        counts = monitor_records.load(con, files,
                                      start and start.isoformat(), end and end.isoformat())
        data = monitor_records.cap_extra(features(con, workload, names), names)
    except duckdb.Error as error:
        raise JobError(f"cannot read the capture files in {source}: "
                       f"{' '.join(str(error).split())}") from None
    if data.empty or data.shape[1] == 0:
        raise JobError(f"no captured records in {len(files)} file(s) of {source}{window} "
                       f"({counts['requests']} requests, {counts['base64']} stored BASE64)")
    current, _ = baseline.baseline(data)
    violations = monitor_checks.check(con, statistics_in, constraints, current, data)
    atomic_write(output / STATISTICS, json.dumps(current, indent=4) + "\n")
    atomic_write(output / VIOLATIONS, json.dumps({"violations": violations}, indent=4) + "\n")
    extra = data.attrs[monitor_records.EXTRA_ATTR]
    print(f"analysed {counts['requests']} captured requests ({len(data)} records, "
          f"{len(files)} files{window}) in {time.monotonic() - began:.1f} s"
          + (f"; {extra['count']} field name(s) beyond the baseline's, "
             f"{len(extra['analysed'])} analysed" if extra["count"] else ""), flush=True)
    try:
        from training.monitor import report as monitor_report

        atomic_write(output / REPORT, monitor_report.html(statistics_in, current, violations,
                                                          window.strip() or "all captured"))
        atomic_write(output / PICTURE, monitor_report.grid(statistics_in, current, violations))
    except Exception as error:  # the report is for people; the JSON files are the result
        print(f"warning: no {REPORT}: {type(error).__name__}: {error}", file=sys.stderr)
    return current, violations, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default=workloads.DEFAULT,
                        help="whose record preprocessor hook to use by default")
    args = parser.parse_args(argv)
    if os.environ.get(baseline.ANALYSIS_ENV, "").strip().upper() == "MODEL_QUALITY":
        # One analyzer, as SageMaker's image: analysis_type picks the analysis.
        from training.monitor import modelquality as monitor_model

        return monitor_model.main([])
    message = base_dir() / "output" / "message"
    try:
        current, violations, output = analyse(args.workload)
    except JobError as error:
        return fail(message, str(error))
    except OSError as error:
        return fail(message, f"cannot read the capture or write the results: {error}")
    kinds = sorted({v["constraint_check_type"] for v in violations})
    print(f"{len(violations)} violation(s){': ' + ', '.join(kinds) if kinds else ''} over "
          f"{current['dataset']['item_count']} records: {output / VIOLATIONS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
