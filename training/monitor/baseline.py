"""Data-quality baseline job: SageMaker Model Monitor's statistics.json and constraints.json.

The analyzer's contract: `dataset_source` (a folder of CSV or JSON Lines files), `dataset_format`
(`{"csv": {"header": true}}`, `{"csv": {"header": false}}`: columns `_c0`, `_c1`, ...,
`{"json": {"lines": true}}`), `output_path`. `--drop-first-column` drops a leading label column
first. `--workload NAME` baselines what that workload's data-quality record preprocessor gives
(its `monitor_features`, training/monitor/analyzer.py's default hook: Digits' pixel statistics,
Penguins' input fields), so the monitor compares like with like.

Approximations, documented: a column is Integral when every present value is a whole number
without a decimal point, Fractional when every present value is a number, String otherwise,
Unknown when no value is present; std_dev is the population deviation (Deequ's); the 10 KLL
buckets are equal-width from min to max with exact counts; the sketch keeps every value while
there are at most k (2048) of them, as SageMaker's does, and beyond that compacts levels as KLL
does (sort, keep every other item) with capacity k per level. A String feature gets `domains`
by Deequ's categorical range rule (what SageMaker's analyzer suggests constraints with): it has
a histogram (at most HISTOGRAM_MAX distinct values) and at most UNIQUE_SHARE_MAX of the
histogram's entries (its categories, and missing values as one more) are seen once; the domains
are its categories, most frequent first (ties in first-seen order).

With analysis_type=MODEL_QUALITY the job writes the model-quality baseline instead, of the
`problem_type` and attributes the environment names (training/monitor/quality.py).

A drift check (a pipeline QualityCheck step with skip_check=False): when the environment names
`baseline_constraints` (and, for data quality, `baseline_statistics`, which the distribution
checks need), the job also checks what it just profiled against that baseline and writes
constraint_violations.json beside the other two: data quality by the monitor's checks
(training/monitor/checks.py), model quality by each metric against its constraint's threshold
and comparison operator (training/monitor/quality.py), as the monitoring jobs write it.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from training.contract.jobio import MISSING, JobError, atomic_write, base_dir, fail
from training.monitor import checks
from training.monitor.checks import MONITORING_CONFIG

BUCKETS = 10
SKETCH = {"c": 0.64, "k": 2048}
# Deequ's ColumnProfiler histogram threshold and CategoricalRangeRule's share of singletons.
HISTOGRAM_MAX, UNIQUE_SHARE_MAX = 120, 0.1
# The analyzer's environment variables: lower case, as SageMaker's analyzer names them.
FORMAT_ENV, SOURCE_ENV, OUTPUT_ENV = "dataset_format", "dataset_source", "output_path"
ANALYSIS_ENV, PROBLEM_ENV = "analysis_type", "problem_type"
TRUTH_ENV, INFERENCE_ENV = "ground_truth_attribute", "inference_attribute"
PROBABILITY_ENV, THRESHOLD_ENV = "probability_attribute", "probability_threshold_attribute"
STATISTICS_ENV, CONSTRAINTS_ENV = "baseline_statistics", "baseline_constraints"
VIOLATIONS = "constraint_violations.json"
DEFAULT_SOURCE = "/opt/ml/processing/input/baseline_dataset_input"
DEFAULT_OUTPUT = "/opt/ml/processing/output"


def read_dataset(source: Path, dataset_format: dict, drop_first: bool, as_text: bool = True):
    """Every file of the source as one frame of strings, missing values as NaN (as_text=False:
    JSON values as they are, for model quality's nested attributes)."""
    import pandas as pd

    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise JobError(f"dataset_source {source}: no file to baseline")
    frames = []
    for path in files:
        try:
            if "json" in dataset_format:
                frame = pd.read_json(path, lines=True, dtype=False)
                frame = frame.astype("string") if as_text else frame
            elif "csv" in dataset_format:
                header = dataset_format["csv"].get("header", True)
                frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                                    header=0 if header else None)
                if not header:
                    frame.columns = [f"_c{i}" for i in range(frame.shape[1])]
            else:
                raise JobError(f"dataset_format {json.dumps(dataset_format)}: use "
                               '{"csv": {"header": true|false}} or {"json": {"lines": true}}')
        except (ValueError, UnicodeDecodeError) as error:
            raise JobError(f"{path.name}: not readable as {json.dumps(dataset_format)} "
                           f"({error})") from None
        if drop_first:
            frame = frame.iloc[:, 1:]
            if "csv" in dataset_format and not dataset_format["csv"].get("header", True):
                frame.columns = [f"_c{i}" for i in range(frame.shape[1])]
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    if data.empty or data.shape[1] == 0:
        raise JobError(f"dataset_source {source}: no rows or no columns")
    if not as_text:
        return data
    text = data.astype("string").apply(lambda column: column.str.strip())
    return text.mask(text.isin(MISSING))


def inferred_type(present) -> str:
    import pandas as pd

    if present.empty:
        return "Unknown"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return "String"
    return "Integral" if present.str.fullmatch(r"[+-]?\d+").all() else "Fractional"


def kll_sketch(values: list[float]) -> list[list[float]]:
    """KLL compactor levels: level 0 first (arrival order while nothing was compacted)."""
    levels, capacity = [[]], SKETCH["k"]
    for value in values:
        levels[0].append(value)
        level = 0
        while len(levels[level]) > capacity:
            ordered = sorted(levels[level])
            # Alternate which half survives so compactions do not bias one way.
            keep = ordered[(level + len(levels)) % 2::2]
            levels[level] = []
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].extend(keep)
            level += 1
    return levels


def buckets(values, low: float, high: float) -> list[dict]:
    import numpy as np

    if low == high:
        return [{"lower_bound": low, "upper_bound": high, "count": int(len(values))}]
    edges = np.linspace(low, high, BUCKETS + 1)
    counts, _ = np.histogram(values, bins=edges)  # the last bucket includes max
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]),
             "count": int(counts[i])} for i in range(BUCKETS)]


def categorical_range(order: list, counts, missing: int) -> list | None:
    """Deequ's categorical range rule: the domains, or None when the rule does not apply."""
    if len(order) > HISTOGRAM_MAX:
        return None
    entries = [int(counts[value]) for value in order] + ([missing] if missing else [])
    if not entries or sum(count == 1 for count in entries) / len(entries) > UNIQUE_SHARE_MAX:
        return None
    return sorted(order, key=lambda value: -int(counts[value]))


def feature(name: str, column, count: int) -> tuple[dict, dict]:
    """One feature's statistics and constraints."""
    import pandas as pd

    present = column.dropna()
    kind = inferred_type(present)
    common = {"num_present": int(len(present)), "num_missing": int(count - len(present))}
    statistics = {"name": name, "inferred_type": kind}
    constraints = {"name": name, "inferred_type": kind,
                   "completeness": float(len(present) / count) if count else 0.0}
    if kind in ("Integral", "Fractional"):
        values = pd.to_numeric(present).astype(float).to_numpy()
        low, high = float(values.min()), float(values.max())
        statistics["numerical_statistics"] = {
            "common": common, "mean": float(values.mean()), "sum": float(values.sum()),
            "std_dev": float(values.std()), "min": low, "max": high,
            "distribution": {"kll": {"buckets": buckets(values, low, high), "sketch": {
                "parameters": dict(SKETCH), "data": kll_sketch(values.tolist())}}}}
        constraints["num_constraints"] = {"is_non_negative": bool(low >= 0)}
    else:
        counts = present.value_counts(sort=False)
        order = list(dict.fromkeys(present.tolist()))  # first-seen order
        statistics["string_statistics"] = {
            "common": common, "distinct_count": int(len(order)),
            "distribution": {"categorical": {"buckets": [
                {"value": value, "count": int(counts[value])} for value in order]}}}
        domains = categorical_range(order, counts, common["num_missing"])
        if kind == "String" and domains is not None:
            constraints["string_constraints"] = {"domains": domains}
    return statistics, constraints


def baseline(data) -> tuple[dict, dict]:
    """statistics.json and constraints.json of a frame of strings (NaN: missing)."""
    count = len(data)
    pairs = [feature(str(name), data[name], count) for name in data.columns]
    statistics = {"version": 0.0, "dataset": {"item_count": count},
                  "features": [s for s, _ in pairs]}
    constraints = {"version": 0.0, "features": [c for _, c in pairs],
                   "monitoring_config": json.loads(json.dumps(MONITORING_CONFIG))}
    return statistics, constraints


def workload_features(data, workload: str):
    """The dataset's rows through the workload's record preprocessor, as the monitor sees them."""
    import duckdb

    from training.monitor import records as monitor_records
    from training.workloads import registry as workloads

    hook = getattr(workloads.get(workload), "monitor_features", monitor_records.input_fields)
    con = duckdb.connect()
    monitor_records.records_from_frame(con, data)
    return hook(con, [str(name) for name in data.columns])


def data_violations(data, current: dict) -> list[dict]:
    """The profiled frame's violations of the baseline the environment names."""
    import duckdb

    hint = "the drift check's baseline is missing"
    constraints = checks.read_baseline(CONSTRAINTS_ENV,
                                       Path(os.environ[CONSTRAINTS_ENV].strip()), hint)
    named = os.environ.get(STATISTICS_ENV, "").strip()
    statistics = checks.read_baseline(STATISTICS_ENV, Path(named), hint) if named \
        else {"features": []}
    return checks.check(duckdb.connect(), statistics, constraints, current, data)


def model_violations(current: dict) -> list[dict]:
    from training.monitor import quality

    path = Path(os.environ[CONSTRAINTS_ENV].strip())
    constraints = quality.read_constraints(CONSTRAINTS_ENV, path,
                                           "the drift check's baseline is missing",
                                           os.environ.get(PROBLEM_ENV))
    return quality.violations(quality.metrics_of(current), constraints)


def model_quality(source: Path, dataset_format: dict) -> tuple[dict, dict]:
    """The model-quality baseline of the problem type and attributes the environment names."""
    from training.monitor import quality

    kind = quality.problem(os.environ.get(PROBLEM_ENV))
    names = {variable: os.environ.get(variable, "").strip() or None
             for variable in (TRUTH_ENV, INFERENCE_ENV, PROBABILITY_ENV)}
    if not names[TRUTH_ENV]:
        raise JobError(f"{TRUTH_ENV} is not set: name the column or field, e.g. _c0")
    limit = quality.threshold(os.environ.get(THRESHOLD_ENV))
    data = read_dataset(source, dataset_format, False, as_text=False)
    return quality.model_quality(data, names[TRUTH_ENV], names[INFERENCE_ENV], kind.NAME,
                                 names[PROBABILITY_ENV], limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--drop-first-column", action="store_true",
                        help="the first column is a label, not a feature")
    parser.add_argument("--workload", help="baseline this workload's monitored features")
    args = parser.parse_args(argv)
    message = base_dir() / "output" / "message"
    try:
        try:
            dataset_format = json.loads(os.environ.get(FORMAT_ENV, '{"csv": {"header": true}}'))
        except ValueError as error:
            raise JobError(f"dataset_format is not JSON ({error})") from None
        if not isinstance(dataset_format, dict):
            raise JobError("dataset_format must be a JSON object, e.g. "
                           '{"csv": {"header": true}}')
        source = Path(os.environ.get(SOURCE_ENV, DEFAULT_SOURCE))
        output = Path(os.environ.get(OUTPUT_ENV, DEFAULT_OUTPUT))
        analysis = os.environ.get(ANALYSIS_ENV, "DATA_QUALITY")
        checked = bool(os.environ.get(CONSTRAINTS_ENV, "").strip())
        if analysis == "MODEL_QUALITY":
            statistics, constraints = model_quality(source, dataset_format)
            found = model_violations(statistics) if checked else None
        elif analysis == "DATA_QUALITY":
            data = read_dataset(source, dataset_format, args.drop_first_column)
            if args.workload:
                data = workload_features(data, args.workload)
            statistics, constraints = baseline(data)
            found = data_violations(data, statistics) if checked else None
        else:
            raise JobError(f"{ANALYSIS_ENV}={analysis!r}: use DATA_QUALITY or MODEL_QUALITY")
        atomic_write(output / "statistics.json", json.dumps(statistics, indent=4) + "\n")
        atomic_write(output / "constraints.json", json.dumps(constraints, indent=4) + "\n")
        if found is not None:
            atomic_write(output / VIOLATIONS, json.dumps({"violations": found}, indent=4) + "\n")
    except JobError as error:
        return fail(message, str(error))
    except OSError as error:
        return fail(message, f"cannot write the baseline: {error}")
    print(f"{analysis.lower().replace('_', '-')} baseline of "
          f"{statistics['dataset']['item_count']} records: {output / 'statistics.json'}, "
          f"{output / 'constraints.json'}", flush=True)
    if found is not None:
        names = sorted({v.get("feature_name") or v.get("metric_name") for v in found})
        print(f"{len(found)} violation(s) of {os.environ[CONSTRAINTS_ENV]}"
              f"{': ' + ', '.join(names) if names else ''}: {output / VIOLATIONS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
