"""Model quality of ProblemType Regression: SageMaker's regression_metrics and
regression_constraints.

Metrics of the predicted numbers (inference_attribute) against the true ones
(ground_truth_attribute): mae, mse, rmse and r2 = 1 - SS_res / SS_tot (with a constant ground
truth, SS_tot = 0: 1 when every prediction is exact, else 0, as scikit-learn's r2_score).
Constraints: the three errors are violated when they grow (GreaterThanThreshold), r2 when it
falls (LessThanThreshold).
"""

from training.contract.jobio import JobError
from training.monitor import attributes

NAME = "Regression"
STATISTICS_KEY = "regression_metrics"
CONSTRAINTS_KEY = "regression_constraints"
NAMES = ("mae", "mse", "rmse", "r2")
CONSTRAINTS = {"mae": "GreaterThanThreshold", "mse": "GreaterThanThreshold",
               "rmse": "GreaterThanThreshold", "r2": "LessThanThreshold"}


def arrays(frame, ground_truth: str, inference: str | None, probability: str | None,
           threshold: float | None) -> tuple:
    """(truth, predicted) as numbers; a probability means nothing to a regression."""
    if not inference:
        raise JobError(f"inference_attribute is not set: {NAME} compares the predicted number "
                       "with the ground truth (name the column or field, e.g. _c1)")
    return (attributes.numbers(frame, ground_truth, "ground_truth_attribute"),
            attributes.numbers(frame, inference, "inference_attribute"))


def scalars(truth, predicted) -> dict:
    errors = predicted - truth
    squared = float((errors * errors).sum())
    total = float(((truth - truth.mean()) ** 2).sum())
    mse = squared / len(truth)
    r2 = 1.0 - squared / total if total else (1.0 if squared == 0 else 0.0)
    return {"mae": float(abs(errors).mean()), "mse": mse, "rmse": mse ** 0.5, "r2": r2}


def statistics(columns: tuple, metrics: dict) -> dict:
    """regression_metrics: the four metrics, {"value", "standard_deviation"} each."""
    return {name: metrics[name] for name in NAMES}
