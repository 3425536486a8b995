"""The model hooks: load(model_dir) and predict(model, records), with numpy and onnxruntime only.

The training job ships the fitted scikit-learn transformer as plain arrays (features.json) and
the Keras network as ONNX, so serving needs neither scikit-learn nor TensorFlow, and a record
costs microseconds instead of the milliseconds of DataFrame -> transform -> model.predict.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving import dense
from serving.features import FEW, RecordError, Transform, matrix, vectors
from serving.features import parse as parse_features

__all__ = ["DENSE_MAX", "FEW", "Model", "ModelError", "RecordError", "features", "load",
           "predict", "probabilities", "warm"]

# Up to this many records, network.json in plain Python beats an onnxruntime call: measured in
# a busy worker, 20 µs less a request for one record, 16 for two, nothing left at four.
DENSE_MAX = 2
AGREEMENT = 1e-5  # network.json and model.onnx may differ by float32 rounding, no more


class ModelError(Exception):
    """The model folder cannot be served; the message names the file."""


@dataclass(frozen=True)
class Model:
    session: object  # onnxruntime.InferenceSession
    input_name: str
    outputs: list  # the session's output names
    labels: tuple
    transform: Transform
    layers: tuple | None  # network.json's Dense stack, if the training job wrote one

    @property
    def width(self) -> int:
        return self.transform.width


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot read ({error})") from None


def _session(path: Path):
    import onnxruntime

    if not path.is_file():
        raise ModelError(f"{path}: missing")
    # Errors only, so each worker's start adds no onnxruntime warnings to the endpoint's log.
    onnxruntime.set_default_logger_severity(3)
    options = onnxruntime.SessionOptions()
    # One thread per session: gunicorn workers give the parallelism.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelError(f"{path}: cannot load ({error})") from None


def load(model_dir: Path) -> Model:
    """Load a model folder written by the training job, or raise ModelError naming the file."""
    model_dir = Path(model_dir)
    labels = _read_json(model_dir / "labels.json")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{model_dir / 'labels.json'}: expected a list of class names")
    try:
        transform = parse_features(_read_json(model_dir / "features.json"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{model_dir / 'features.json'}: malformed ({error!r})") from None
    path = model_dir / "model.onnx"
    session = _session(path)
    model = Model(session, session.get_inputs()[0].name,
                  [output.name for output in session.get_outputs()][:1], tuple(labels),
                  transform, None)
    width = transform.width
    # Seeded inputs well beyond real penguins, and all zeros: any wrong weight shows.
    probe = np.random.default_rng(0).normal(0, 3, (16, width)).astype(np.float32)
    probe[0] = 0
    try:
        probabilities = _run(model, probe)
    except Exception as error:
        raise ModelError(f"{path}: does not take {width} features ({error})") from None
    if probabilities.shape != (len(probe), len(labels)):
        raise ModelError(f"{path}: gives {probabilities.shape[1]} classes, "
                         f"labels.json names {len(labels)}")
    network = model_dir / "network.json"
    if not network.is_file():
        return model
    try:
        layers = dense.parse(_read_json(network), width)
    except dense.NetworkError as error:
        raise ModelError(f"{network}: {error}") from None
    got = np.array([dense.forward(layers, row) for row in probe.tolist()])
    if got.shape != probabilities.shape or not np.allclose(got, probabilities, atol=AGREEMENT):
        raise ModelError(f"{network}: does not answer as {path.name} does")
    return dataclasses.replace(model, layers=layers)


def features(model: Model, records: list) -> np.ndarray:
    """The [N, width] float32 input of the network for raw records (dicts of fields)."""
    return matrix(model.transform, records)


def _run(model: Model, inputs: np.ndarray) -> np.ndarray:
    return model.session.run(model.outputs, {model.input_name: inputs})[0]


def probabilities(model: Model, records: list) -> np.ndarray:
    """Class probabilities [N, classes] for raw records."""
    return _run(model, features(model, records))


def predict(model: Model, records: list) -> list[dict]:
    """One result per record, in order: prediction, confidence and every class's probability."""
    if not records:
        return []
    labels = model.labels
    if model.layers is not None and len(records) <= DENSE_MAX:
        rows = [dense.forward(model.layers, row) for row in vectors(model.transform, records)]
    else:
        rows = probabilities(model, records).tolist()
    results = []
    for row in rows:
        winner = row.index(max(row))
        results.append({
            "prediction": labels[winner],
            "confidence": row[winner],
            "probabilities": dict(zip(labels, row, strict=True)),
        })
    return results


def warm(model: Model) -> None:
    """A prediction on each path, so the first request pays no first-call cost."""
    for count in (1, FEW + 1):
        predict(model, [dict.fromkeys(model.transform.fields)] * count)
