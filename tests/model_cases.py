"""Model-quality monitoring cases shared by the unit and contract tests: captured answers and
ground truth in SageMaker's formats, and a hand-checked confusion matrix."""

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import monitor_cases as cases

# (true label, predicted label) pairs, counted by hand:
#   truth A: predicted A 3x, B 1x; truth B: predicted B 2x; truth C: predicted A 1x, C 1x.
PAIRS = [("A", "A")] * 3 + [("A", "B")] + [("B", "B")] * 2 + [("C", "A"), ("C", "C")]
MATRIX = {"A": {"A": 3, "B": 1, "C": 0}, "B": {"A": 0, "B": 2, "C": 0},
          "C": {"A": 1, "B": 0, "C": 1}}
# accuracy 6/8; recall A 3/4, B 2/2, C 1/2 (weighted by support 4, 2, 2 = accuracy);
# precision A 3/4, B 2/3, C 1/1; F1 A 3/4, B 4/5, C 2/3.
EXPECTED = {"accuracy": 6 / 8, "weighted_recall": 6 / 8,
            "weighted_precision": (4 * 3 / 4 + 2 * 2 / 3 + 2 * 1) / 8,
            "weighted_f1": (4 * 3 / 4 + 2 * 4 / 5 + 2 * 2 / 3) / 8}


def answer(prediction: str, classes=("A", "B", "C")) -> str:
    """The endpoint's JSON answer to one record."""
    return json.dumps({"prediction": prediction, "confidence": 0.9, "probabilities": {
        label: 0.9 if label == prediction else 0.1 / (len(classes) - 1) for label in classes}})


def captured(predictions: list[str], ids: list[str | None], when: datetime = cases.HOUR,
             output=answer) -> list[str]:
    """Capture lines, one request a prediction; an id of None: a request without inferenceId."""
    return [cases.line('{"x": 1}', when=when + timedelta(seconds=number),
                       inference_id=key, output=output(prediction))
            for number, (prediction, key) in enumerate(zip(predictions, ids, strict=True))]


def event_id(capture_line: str) -> str:
    return json.loads(capture_line)["eventMetadata"]["eventId"]


def truth_line(key: str, label: str, encoding: str = "CSV") -> str:
    return json.dumps({"groundTruthData": {"data": label, "encoding": encoding},
                       "eventMetadata": {"eventId": key}, "eventVersion": "0"})


def write_truth(root: Path, lines: list[str], hour: datetime = cases.HOUR,
                name: str = "00-00-000") -> Path:
    folder = root / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{uuid.uuid4()}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def constraints(thresholds: dict) -> dict:
    return {"version": 0.0, "multiclass_classification_constraints": {
        name: {"threshold": value, "comparison_operator": "LessThanThreshold"}
        for name, value in thresholds.items()}}
