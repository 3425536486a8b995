"""Model-quality baseline (analysis_type=MODEL_QUALITY, problem_type=MulticlassClassification).

Reads ground truth and predictions joined by a batch transform (ground_truth_attribute and
inference_attribute name their columns: `_c0`, `_c1` of a headerless CSV, or JSON fields,
dotted for nested ones such as `SageMakerOutput.prediction`) and writes SageMaker's
model-quality statistics.json (multiclass_classification_metrics with the confusion matrix)
and constraints.json (multiclass_classification_constraints, each LessThanThreshold the
baseline's value). Standard deviations are bootstrap estimates (BOOTSTRAP seeded resamples),
an approximation of SageMaker's.
"""

from datetime import UTC, datetime

from training.contract.jobio import JobError

PROBLEM_TYPE = "MulticlassClassification"
# The constraint metrics in SageMaker's order; beta of each F-score.
METRICS = ("accuracy", "weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1",
           "weighted_f2")
BETAS = {"weighted_f0_5": 0.5, "weighted_f1": 1.0, "weighted_f2": 2.0}
BOOTSTRAP = 100


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


def model_quality(frame, ground_truth: str, inference: str) -> tuple[dict, dict]:
    """statistics.json and constraints.json of the joined ground truth and predictions."""
    import numpy as np

    truth = attribute(frame, ground_truth, "ground_truth_attribute").astype(str).to_numpy()
    predicted = attribute(frame, inference, "inference_attribute").astype(str).to_numpy()
    if len(truth) == 0:
        raise JobError("no records to compute model quality from")
    values = scores(truth, predicted)
    rng = np.random.default_rng(0)
    samples = [scores(truth[pick], predicted[pick]) for pick in
               (rng.integers(0, len(truth), len(truth)) for _ in range(BOOTSTRAP))]
    labels = sorted(set(truth) | set(predicted))
    matrix = {actual: {guess: int(((truth == actual) & (predicted == guess)).sum())
                       for guess in labels} for actual in labels}
    metrics = {"confusion_matrix": matrix}
    for name in METRICS:
        metrics[name] = {"value": values[name], "standard_deviation":
                         float(np.std([sample[name] for sample in samples]))}
    statistics = {"version": 0.0,
                  "dataset": {"item_count": int(len(truth)),
                              "evaluation_time": datetime.now(UTC).isoformat(
                                  timespec="milliseconds").replace("+00:00", "Z")},
                  "multiclass_classification_metrics": metrics}
    constraints = {"version": 0.0, "multiclass_classification_constraints": {
        name: {"threshold": values[name], "comparison_operator": "LessThanThreshold"}
        for name in METRICS}}
    return statistics, constraints
