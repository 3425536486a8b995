"""Model quality (analysis_type=MODEL_QUALITY) for each of SageMaker's ProblemTypes.

The job's environment says what to compute, as it tells SageMaker's model-quality container:
`problem_type` (MulticlassClassification, the default; BinaryClassification; Regression) and the
attributes that locate each record's values: `ground_truth_attribute`, `inference_attribute`
(the predicted label or number), `probability_attribute` and `probability_threshold_attribute`
(binary classification). Column names (`_c0`, `_c1` of a headerless CSV) or JSON fields, dotted
for nested ones such as `SageMakerOutput.prediction`.

Each problem type's module (training/monitor/multiclass.py, binary.py, regression.py) computes
its metrics; this one writes SageMaker's model-quality statistics.json (`<problem>_metrics`,
each metric `{"value", "standard_deviation"}`) and constraints.json (`<problem>_constraints`,
each constraint the baseline's value as `threshold` with the comparison operator SageMaker
suggests for it), reads a baseline's constraints back and lists the violations.

Standard deviations as SageMaker documents them: only with at least MIN_SAMPLES records, else
the string "NaN"; the sample deviation of the metric over SUBSAMPLES random subsamples of
SUBSAMPLE_SHARE of the records (drawn without replacement, seeded so a rerun gives the same
file).
"""

from datetime import UTC, datetime
from pathlib import Path

from training.contract.jobio import JobError, read_json
from training.monitor import binary, multiclass, regression

PROBLEMS = {module.NAME: module for module in (binary, multiclass, regression)}
DEFAULT_PROBLEM = multiclass.NAME
MIN_SAMPLES, SUBSAMPLES, SUBSAMPLE_SHARE, SEED = 200, 5, 0.8, 0
NAN = "NaN"  # how SageMaker writes a deviation it does not compute
# comparison_operator -> is the metric's value a violation of the threshold?
OPERATORS = {"LessThanThreshold": lambda value, limit: value < limit,
             "LessThanOrEqualToThreshold": lambda value, limit: value <= limit,
             "GreaterThanThreshold": lambda value, limit: value > limit,
             "GreaterThanOrEqualToThreshold": lambda value, limit: value >= limit}


def problem(name: str | None):
    """The module of a problem_type (default MulticlassClassification), JobError naming it."""
    name = name or DEFAULT_PROBLEM
    if name not in PROBLEMS:
        raise JobError(f"problem_type={name!r}: use one of {', '.join(sorted(PROBLEMS))}")
    return PROBLEMS[name]


def threshold(text: str | None) -> float | None:
    """probability_threshold_attribute as a number (None when not set)."""
    if text is None or not str(text).strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise JobError(f"probability_threshold_attribute={text!r}: not a number") from None


def subsamples(count: int) -> list:
    """The index sets the deviations come from: none under MIN_SAMPLES records."""
    import numpy as np

    if count < MIN_SAMPLES:
        return []
    rng = np.random.default_rng(SEED)
    size = int(count * SUBSAMPLE_SHARE)
    return [np.sort(rng.choice(count, size=size, replace=False)) for _ in range(SUBSAMPLES)]


def model_quality(frame, ground_truth: str, inference: str | None,
                  problem_type: str | None = None, probability: str | None = None,
                  probability_threshold: float | None = None) -> tuple[dict, dict]:
    """statistics.json and constraints.json of the joined ground truth and predictions."""
    import numpy as np

    kind = problem(problem_type)
    if len(frame) == 0:
        raise JobError("no records to compute model quality from")
    columns = kind.arrays(frame, ground_truth, inference, probability, probability_threshold)
    values = kind.scalars(*columns)
    samples = [kind.scalars(*(column[pick] for column in columns))
               for pick in subsamples(len(columns[0]))]
    metrics = {name: {"value": values[name], "standard_deviation": float(np.std(
        [sample[name] for sample in samples], ddof=1)) if samples else NAN}
        for name in values}
    statistics = {"version": 0.0,
                  "dataset": {"item_count": int(len(columns[0])),
                              "evaluation_time": datetime.now(UTC).isoformat(
                                  timespec="milliseconds").replace("+00:00", "Z")},
                  kind.STATISTICS_KEY: kind.statistics(columns, metrics)}
    constraints = {"version": 0.0, kind.CONSTRAINTS_KEY: {
        name: {"threshold": values[name], "comparison_operator": operator}
        for name, operator in kind.CONSTRAINTS.items()}}
    return statistics, constraints


def metrics_of(statistics: dict) -> dict:
    """The `<problem>_metrics` object of a model-quality statistics.json."""
    return next(statistics[kind.STATISTICS_KEY] for kind in PROBLEMS.values()
                if kind.STATISTICS_KEY in statistics)


def read_constraints(variable: str, path: Path, missing: str,
                     problem_type: str | None = None) -> dict:
    """{metric: (comparison_operator, threshold)} of a model-quality constraints.json for the
    problem type, checked; JobError naming the JSON path of what is wrong."""
    kind = problem(problem_type)
    key = kind.CONSTRAINTS_KEY
    value = read_json(variable, path, missing)
    listed = value.get(key) if isinstance(value, dict) else None
    if not isinstance(listed, dict) or not listed:
        other = next((name for name, module in PROBLEMS.items() if isinstance(value, dict)
                      and module.CONSTRAINTS_KEY in value), None)
        said = (f"it has \"{PROBLEMS[other].CONSTRAINTS_KEY}\": a baseline of problem_type "
                f"{other}, not {kind.NAME}" if other else
                "expected a model-quality baseline's constraints.json, make model-baseline")
        raise JobError(f"{variable} {path}: no \"{key}\" object ({said})")
    found = {}
    for name, constraint in listed.items():
        where = f"{path} $.{key}.{name}"
        if name not in kind.NAMES:
            raise JobError(f"{where}: unknown metric; use {', '.join(kind.NAMES)}")
        operator = constraint.get("comparison_operator") if isinstance(constraint, dict) \
            else None
        limit = constraint.get("threshold") if isinstance(constraint, dict) else None
        if operator not in OPERATORS:
            raise JobError(f"{where}.comparison_operator={operator!r}: use one of "
                           f"{', '.join(OPERATORS)}")
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise JobError(f"{where}.threshold={limit!r}: a number is expected")
        found[name] = (operator, float(limit))
    return found


def violations(metrics: dict, constraints: dict) -> list[dict]:
    """SageMaker's model-quality violations (each constraint the metric breaks), in the
    baseline's order of metrics."""
    found = []
    for name, (operator, limit) in constraints.items():
        value, deviation = metrics[name]["value"], metrics[name]["standard_deviation"]
        if OPERATORS[operator](value, limit):
            found.append({"metric_name": name, "constraint_check_type": operator,
                          "description": f"Metric {name} with {value} +/- {deviation} was "
                                         f"{operator} '{limit}'"})
    return found
