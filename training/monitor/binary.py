"""Model quality of ProblemType BinaryClassification: SageMaker's binary_classification_metrics
and binary_classification_constraints.

Labels are 0 and 1 (1 the positive class). The predicted label is inference_attribute's; without
one it is probability_attribute's value at or above probability_threshold_attribute (default
0.5), as a monitor given only the endpoint's probability works. The ROC and precision-recall
curves and the AUC rank the records by probability_attribute; without one, by the predicted
label itself (a curve of one threshold).

The curves are those of Spark's BinaryClassificationMetrics (what SageMaker's analyzer runs on):
one point per distinct score, highest first, counting the records at or above it as positive;
the ROC curve starts at (0, 0) and ends at (1, 1), the precision-recall curve starts at recall 0
with the first point's precision; the AUC is the trapezoidal area under the ROC curve. A rate
whose denominator is zero (no positive or no negative record) is 0.

The best constant classifier predicts the positive class for every record, as SageMaker's
documented example shows (recall 1, precision and accuracy the share of positives).
Constraints: each metric LessThanThreshold, except the error rates false_positive_rate and
false_negative_rate, which are violated when they grow: GreaterThanThreshold.
"""

from training.contract.jobio import JobError
from training.monitor import attributes

NAME = "BinaryClassification"
STATISTICS_KEY = "binary_classification_metrics"
CONSTRAINTS_KEY = "binary_classification_constraints"
DEFAULT_THRESHOLD = 0.5
BETAS = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}
BEST = "_best_constant_classifier"
# The scalar metrics in SageMaker's order (the curves go before auc, the matrix first).
NAMES = ("recall", "precision", "accuracy", f"recall{BEST}", f"precision{BEST}",
         f"accuracy{BEST}", "true_positive_rate", "true_negative_rate", "false_positive_rate",
         "false_negative_rate", "auc", "f0_5", "f1", "f2", f"f0_5{BEST}", f"f1{BEST}",
         f"f2{BEST}")
CONSTRAINTS = {name: "GreaterThanThreshold" if name.startswith("false_") else
               "LessThanThreshold" for name in NAMES if not name.endswith(BEST)}


def arrays(frame, ground_truth: str, inference: str | None, probability: str | None,
           threshold: float | None) -> tuple:
    """(truth, predicted, scores): 0/1 labels and the score each record is ranked by."""
    if not inference and not probability:
        raise JobError(f"neither inference_attribute nor probability_attribute is set: {NAME} "
                       "needs the predicted label, or the probability to threshold")
    truth = attributes.binary(frame, ground_truth, "ground_truth_attribute")
    scores = (attributes.numbers(frame, probability, "probability_attribute") if probability
              else None)
    if inference:
        predicted = attributes.binary(frame, inference, "inference_attribute")
    else:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        predicted = (scores >= limit).astype(int)
    return truth, predicted, predicted.astype(float) if scores is None else scores


def ratio(part: float, whole: float) -> float:
    return float(part / whole) if whole else 0.0


def fbeta(precision: float, recall: float, beta: float) -> float:
    return ratio((1 + beta * beta) * precision * recall, beta * beta * precision + recall)


def curves(truth, scores) -> tuple[list, list, list, list]:
    """(false positive rates, true positive rates, precisions, recalls) of Spark's curves."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], truth[order]
    # The last record of each run of equal scores: one point per distinct threshold.
    ends = np.r_[np.nonzero(np.diff(ranked))[0], len(ranked) - 1]
    true_positives = np.cumsum(hits)[ends]
    false_positives = (np.arange(1, len(hits) + 1) - np.cumsum(hits))[ends]
    positives, negatives = int(hits.sum()), int(len(hits) - hits.sum())
    tpr = [ratio(count, positives) for count in true_positives]
    fpr = [ratio(count, negatives) for count in false_positives]
    precisions = [ratio(tp, tp + fp) for tp, fp in zip(true_positives, false_positives,
                                                       strict=True)]
    return [0.0, *fpr, 1.0], [0.0, *tpr, 1.0], [precisions[0], *precisions], [0.0, *tpr]


def auc(fpr: list, tpr: list) -> float:
    return float(sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2
                     for i in range(len(fpr) - 1)))


def scalars(truth, predicted, scores) -> dict:
    tp = int(((truth == 1) & (predicted == 1)).sum())
    fp = int(((truth == 0) & (predicted == 1)).sum())
    fn = int(((truth == 1) & (predicted == 0)).sum())
    count = len(truth)
    positives, negatives = tp + fn, count - tp - fn
    recall, precision = ratio(tp, positives), ratio(tp, tp + fp)
    share = ratio(positives, count)  # precision and accuracy of always predicting 1
    best_recall = 1.0 if positives else 0.0
    fpr, tpr, _, _ = curves(truth, scores)
    values = {"recall": recall, "precision": precision,
              "accuracy": ratio(int((truth == predicted).sum()), count),
              f"recall{BEST}": best_recall, f"precision{BEST}": share, f"accuracy{BEST}": share,
              "true_positive_rate": recall,
              # 1 - the false positive rate, as SageMaker's example computes it.
              "true_negative_rate": 1.0 - ratio(fp, negatives) if negatives else 0.0,
              "false_positive_rate": ratio(fp, negatives),
              "false_negative_rate": ratio(fn, positives), "auc": auc(fpr, tpr)}
    for name, beta in BETAS.items():
        values[name] = fbeta(precision, recall, beta)
    for name, beta in BETAS.items():
        values[f"{name}{BEST}"] = fbeta(share, best_recall, beta)
    return values


def statistics(columns: tuple, metrics: dict) -> dict:
    """binary_classification_metrics: the confusion matrix ("0"/"1", rows the ground truth),
    the metrics in SageMaker's order with the two curves before auc."""
    truth, predicted, scores = columns
    matrix = {str(actual): {str(guess): int(((truth == actual) & (predicted == guess)).sum())
                            for guess in (0, 1)} for actual in (0, 1)}
    fpr, tpr, precisions, recalls = curves(truth, scores)
    found = {"confusion_matrix": matrix}
    for name in NAMES:
        if name == "auc":
            found["receiver_operating_characteristic_curve"] = {
                "false_positive_rates": fpr, "true_positive_rates": tpr}
            found["precision_recall_curve"] = {"precisions": precisions, "recalls": recalls}
        found[name] = metrics[name]
    return found
