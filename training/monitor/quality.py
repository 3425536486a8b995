"""Model-quality baseline (analysis_type=MODEL_QUALITY, problem_type=MulticlassClassification).

Reads ground truth and predictions joined by a batch transform (ground_truth_attribute and
inference_attribute name their columns: `_c0`, `_c1` of a headerless CSV, or JSON fields,
dotted for nested ones such as `SageMakerOutput.prediction`) and writes SageMaker's
model-quality statistics.json (multiclass_classification_metrics with the confusion matrix)
and constraints.json (multiclass_classification_constraints, each LessThanThreshold the
baseline's value), plus each metric of the best constant classifier
(`accuracy_best_constant_classifier`, `weighted_recall_best_constant_classifier`, ...): the
metric of predicting the most frequent ground-truth label for every record.

Standard deviations as SageMaker documents them: only with at least MIN_SAMPLES records, else
the string "NaN"; the sample deviation of the metric over SUBSAMPLES random subsamples of
SUBSAMPLE_SHARE of the records (drawn without replacement, seeded so a rerun gives the same
file).
"""

from datetime import UTC, datetime
from pathlib import Path

from training.contract.jobio import JobError, read_json

PROBLEM_TYPE = "MulticlassClassification"
# The constraint metrics in SageMaker's order; beta of each F-score.
METRICS = ("accuracy", "weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1",
           "weighted_f2")
BETAS = {"weighted_f0_5": 0.5, "weighted_f1": 1.0, "weighted_f2": 2.0}
# A metric's best-constant-classifier twin, in SageMaker's order (after the six metrics).
BEST_CONSTANT = {name: f"{name}_best_constant_classifier" for name in METRICS}
MIN_SAMPLES, SUBSAMPLES, SUBSAMPLE_SHARE, SEED = 200, 5, 0.8, 0
NAN = "NaN"  # how SageMaker writes a deviation it does not compute
CONSTRAINTS_KEY = "multiclass_classification_constraints"
# comparison_operator -> is the metric's value a violation of the threshold?
OPERATORS = {"LessThanThreshold": lambda value, limit: value < limit,
             "LessThanOrEqualToThreshold": lambda value, limit: value <= limit,
             "GreaterThanThreshold": lambda value, limit: value > limit,
             "GreaterThanOrEqualToThreshold": lambda value, limit: value >= limit}


def attribute(frame, name: str, role: str):
    """A column by its attribute name; a dotted name reaches into JSON objects."""
    if name in frame.columns:
        return frame[name]
    head, _, rest = name.partition(".")
    if rest and head in frame.columns:
        values = frame[head]
        for key in rest.split("."):
            values = values.map(lambda value, key=key: value.get(key)
                                if isinstance(value, dict) else None)
        return values
    raise JobError(f"{role}={name!r}: no such column or field (columns: "
                   f"{', '.join(map(str, frame.columns))})")


def scores(truth, predicted) -> dict:
    from sklearn.metrics import fbeta_score, precision_score, recall_score

    labels = sorted(set(truth) | set(predicted))
    common = {"labels": labels, "average": "weighted", "zero_division": 0}
    values = {"accuracy": float((truth == predicted).mean()),
              "weighted_recall": float(recall_score(truth, predicted, **common)),
              "weighted_precision": float(precision_score(truth, predicted, **common))}
    for name, beta in BETAS.items():
        values[name] = float(fbeta_score(truth, predicted, beta=beta, **common))
    return values


def all_scores(truth, predicted) -> dict:
    """The six metrics of the predictions and of the best constant classifier, by name."""
    import numpy as np

    labels, counts = np.unique(truth, return_counts=True)
    constant = np.full(len(truth), labels[int(np.argmax(counts))], dtype=truth.dtype)
    best = scores(truth, constant)
    return {**scores(truth, predicted), **{BEST_CONSTANT[name]: best[name] for name in METRICS}}


def subsamples(count: int) -> list:
    """The index sets the deviations come from: none under MIN_SAMPLES records."""
    import numpy as np

    if count < MIN_SAMPLES:
        return []
    rng = np.random.default_rng(SEED)
    size = int(count * SUBSAMPLE_SHARE)
    return [np.sort(rng.choice(count, size=size, replace=False)) for _ in range(SUBSAMPLES)]


def model_quality(frame, ground_truth: str, inference: str) -> tuple[dict, dict]:
    """statistics.json and constraints.json of the joined ground truth and predictions."""
    import numpy as np

    truth = attribute(frame, ground_truth, "ground_truth_attribute").astype(str).to_numpy()
    predicted = attribute(frame, inference, "inference_attribute").astype(str).to_numpy()
    if len(truth) == 0:
        raise JobError("no records to compute model quality from")
    values = all_scores(truth, predicted)
    samples = [all_scores(truth[pick], predicted[pick]) for pick in subsamples(len(truth))]
    labels = sorted(set(truth) | set(predicted))
    matrix = {actual: {guess: int(((truth == actual) & (predicted == guess)).sum())
                       for guess in labels} for actual in labels}
    metrics = {"confusion_matrix": matrix}
    for name in values:
        metrics[name] = {"value": values[name], "standard_deviation": float(np.std(
            [sample[name] for sample in samples], ddof=1)) if samples else NAN}
    statistics = {"version": 0.0,
                  "dataset": {"item_count": int(len(truth)),
                              "evaluation_time": datetime.now(UTC).isoformat(
                                  timespec="milliseconds").replace("+00:00", "Z")},
                  "multiclass_classification_metrics": metrics}
    constraints = {"version": 0.0, "multiclass_classification_constraints": {
        name: {"threshold": values[name], "comparison_operator": "LessThanThreshold"}
        for name in METRICS}}
    return statistics, constraints


def read_constraints(variable: str, path: Path, missing: str) -> dict:
    """{metric: (comparison_operator, threshold)} of a model-quality constraints.json, checked;
    JobError naming the JSON path of what is wrong."""
    value = read_json(variable, path, missing)
    listed = value.get(CONSTRAINTS_KEY) if isinstance(value, dict) else None
    if not isinstance(listed, dict) or not listed:
        raise JobError(f"{variable} {path}: no \"{CONSTRAINTS_KEY}\" object (expected a "
                       "model-quality baseline's constraints.json, make model-baseline)")
    found = {}
    for name, constraint in listed.items():
        where = f"{path} $.{CONSTRAINTS_KEY}.{name}"
        if name not in METRICS:
            raise JobError(f"{where}: unknown metric; use {', '.join(METRICS)}")
        operator = constraint.get("comparison_operator") if isinstance(constraint, dict) \
            else None
        threshold = constraint.get("threshold") if isinstance(constraint, dict) else None
        if operator not in OPERATORS:
            raise JobError(f"{where}.comparison_operator={operator!r}: use one of "
                           f"{', '.join(OPERATORS)}")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise JobError(f"{where}.threshold={threshold!r}: a number is expected")
        found[name] = (operator, float(threshold))
    return found


def violations(metrics: dict, constraints: dict) -> list[dict]:
    """SageMaker's model-quality violations (each constraint the metric breaks), in the
    baseline's order of metrics."""
    found = []
    for name, (operator, threshold) in constraints.items():
        value, deviation = metrics[name]["value"], metrics[name]["standard_deviation"]
        if OPERATORS[operator](value, threshold):
            found.append({"metric_name": name, "constraint_check_type": operator,
                          "description": f"Metric {name} with {value} +/- {deviation} was "
                                         f"{operator} '{threshold}'"})
    return found
