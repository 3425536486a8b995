"""Model quality of ProblemType MulticlassClassification: SageMaker's
multiclass_classification_metrics and multiclass_classification_constraints.

Metrics: accuracy and the support-weighted recall, precision and F0.5/F1/F2 of the predicted
labels (inference_attribute; probabilities are not needed), each also for the best constant
classifier, which predicts the most frequent ground-truth label for every record (ties: the
first label in sorted order). Constraints: the six metrics, each LessThanThreshold.
"""

from training.contract.jobio import JobError
from training.monitor import attributes

NAME = "MulticlassClassification"
STATISTICS_KEY = "multiclass_classification_metrics"
CONSTRAINTS_KEY = "multiclass_classification_constraints"
# The constraint metrics in SageMaker's order; beta of each F-score.
METRICS = ("accuracy", "weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1",
           "weighted_f2")
CONSTRAINTS = dict.fromkeys(METRICS, "LessThanThreshold")
BETAS = {"weighted_f0_5": 0.5, "weighted_f1": 1.0, "weighted_f2": 2.0}
# A metric's best-constant-classifier twin, in SageMaker's order (after the six metrics).
BEST_CONSTANT = {name: f"{name}_best_constant_classifier" for name in METRICS}
NAMES = (*METRICS, *BEST_CONSTANT.values())


def arrays(frame, ground_truth: str, inference: str | None, probability: str | None,
           threshold: float | None) -> tuple:
    """(truth, predicted) labels as text; probabilities play no part in these metrics."""
    if not inference:
        raise JobError(f"inference_attribute is not set: {NAME} compares predicted labels "
                       "with the ground truth (name the column or field, e.g. _c1)")
    return (attributes.labels(frame, ground_truth, "ground_truth_attribute"),
            attributes.labels(frame, inference, "inference_attribute"))


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


def scalars(truth, predicted) -> dict:
    """The six metrics of the predictions and of the best constant classifier, by name."""
    import numpy as np

    labels, counts = np.unique(truth, return_counts=True)
    constant = np.full(len(truth), labels[int(np.argmax(counts))], dtype=truth.dtype)
    best = scores(truth, constant)
    return {**scores(truth, predicted), **{BEST_CONSTANT[name]: best[name] for name in METRICS}}


def statistics(columns: tuple, metrics: dict) -> dict:
    """multiclass_classification_metrics: the confusion matrix (rows the ground truth), then the
    metrics ({"value", "standard_deviation"} each) in SageMaker's order."""
    truth, predicted = columns
    labels = sorted(set(truth) | set(predicted))
    matrix = {actual: {guess: int(((truth == actual) & (predicted == guess)).sum())
                       for guess in labels} for actual in labels}
    return {"confusion_matrix": matrix, **{name: metrics[name] for name in NAMES}}
