"""serving.answers writes exactly the bytes of a per-record encoding: orjson.dumps of each
result dict (JSON, JSON Lines) and `label,{confidence}` with Python's float repr (CSV), on
probabilities that take each of orjson's and repr's number forms, and on awkward labels."""

import math

import numpy as np
import orjson
import pytest

from serving import answers

pytestmark = pytest.mark.unit

LABELS = ("Adelie", "Chinstrap", "Gentoo")


def per_record(labels: tuple, probs: np.ndarray) -> tuple[bytes, bytes, list]:
    """The JSON list, the CSV lines and the result dicts, written record by record."""
    rows, winners = probs.tolist(), probs.argmax(axis=1).tolist()
    results = [{"prediction": labels[w], "confidence": row[w],
                "probabilities": dict(zip(labels, row, strict=True))}
               for w, row in zip(winners, rows, strict=True)]
    lines = "\n".join(f"{labels[w]},{row[w]}" for w, row in zip(winners, rows, strict=True))
    return orjson.dumps(results), lines.encode(), results


def encoded(labels: tuple, probs: np.ndarray) -> answers.Answers:
    found = answers.of(labels, probs.ravel().tolist(), probs.argmax(axis=1).tolist())
    assert found is not None
    return found


def softmax(rows: np.ndarray) -> np.ndarray:
    exp = np.exp(rows - rows.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


RNG = np.random.default_rng(24)
PROBABILITIES = {
    "softmax": softmax(RNG.normal(size=(300, 3))),
    "confident (tiny losers)": softmax(RNG.normal(scale=30, size=(300, 3))),
    "one record": softmax(RNG.normal(size=(1, 3))),
    # Winners of any size: positional and exponent forms where orjson and repr differ.
    "tiny winners": (RNG.random((300, 3)) * 10.0 ** RNG.integers(-12, 3, (300, 1))
                     ).astype(np.float32),
    "huge and negative": (RNG.normal(size=(300, 3)) * 10.0 ** RNG.integers(-3, 30, (300, 1))
                          ).astype(np.float32),
    "zeros and ties": np.array([[0, 0, 0], [-0.0, 0, 0], [0.5, 0.5, 0], [1, 1e-5, 1e-7]],
                               dtype=np.float32),
    "float64 output": RNG.random((50, 3)) * 10.0 ** RNG.integers(-8, 20, (50, 1)),
}


@pytest.mark.parametrize("name", PROBABILITIES)
def test_bytes_equal_the_per_record_encoding(name):
    probs = PROBABILITIES[name]
    json_list, csv_lines, results = per_record(LABELS, probs)
    found = encoded(LABELS, probs)
    assert b"[" + found.json(b",") + b"]" == json_list
    assert found.json(b"\n") == b"\n".join(map(orjson.dumps, results))
    assert found.csv() == csv_lines
    assert found.results() == results


@pytest.mark.parametrize("labels", [
    ("100%", "%s", "%%d"),  # % in labels is no format directive
    ('qu"ote', "back\\slash", "new\nline"),
    ("Pingüino", "企鹅", "\u2028"),
    ("twin", "other", "twin"),  # a label named twice: dict(zip()) keeps one key
])
def test_awkward_labels(labels):
    probs = PROBABILITIES["softmax"][:40]
    json_list, csv_lines, results = per_record(labels, probs)
    found = encoded(labels, probs)
    assert b"[" + found.json(b",") + b"]" == json_list
    assert found.csv() == csv_lines
    assert found.results() == results


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_not_finite_is_no_answer(bad):
    probs = PROBABILITIES["softmax"][:5].astype(np.float64)
    probs[3, 1] = bad
    assert answers.of(LABELS, probs.ravel().tolist(), [0] * 5) is None
