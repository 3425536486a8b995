"""The model hooks: load(model_dir) and predict(model, records), with numpy and onnxruntime only.

The training job ships the fitted scikit-learn transformer as plain arrays (features.json) and
the Keras network as ONNX, so serving needs neither scikit-learn nor TensorFlow, and a record
costs microseconds instead of the milliseconds of DataFrame -> transform -> model.predict.
"""

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving import dense

FEW = 8  # up to this many records, the per-record path beats numpy's per-call overhead
# Up to this many records, network.json in plain Python beats an onnxruntime call: measured in
# a busy worker, 20 µs less a request for one record, 16 for two, nothing left at four.
DENSE_MAX = 2
AGREEMENT = 1e-5  # network.json and model.onnx may differ by float32 rounding, no more
STANDARD_LIMIT = 1e4  # standard deviations; far outside any real penguin
MISSING = frozenset({"", "NA", "N/A", ".", "nan", "NaN"})


class ModelError(Exception):
    """The model folder cannot be served; the message names the file."""


class RecordError(ValueError):
    """A client record that cannot be predicted; the message names the record and field."""


@dataclass(frozen=True)
class Categorical:
    name: str
    size: int
    lookup: dict  # category, missing markers and None -> one-hot position


@dataclass(frozen=True)
class Model:
    session: object  # onnxruntime.InferenceSession
    input_name: str
    labels: tuple
    numeric: tuple  # field names
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    categorical: tuple  # of Categorical
    width: int
    specs: tuple  # (field, fill, mean, scale) as Python floats, for the per-record path
    fields: tuple  # every field the network reads, numeric first
    known: frozenset  # the same, for the per-request check
    outputs: list  # the session's output names
    layers: tuple | None  # network.json's Dense stack, if the training job wrote one


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot read ({error})") from None


def load(model_dir: Path) -> Model:
    """Load a model folder written by the training job, or raise ModelError naming the file."""
    import onnxruntime

    model_dir = Path(model_dir)
    labels = _read_json(model_dir / "labels.json")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{model_dir / 'labels.json'}: expected a list of class names")
    spec = _read_json(model_dir / "features.json")
    try:
        numeric = spec["numeric"]
        categorical = tuple(_categorical(c) for c in spec["categorical"])
        names = tuple(str(n["name"]) for n in numeric)
        fill, mean, scale = (np.array([float(n[key]) for n in numeric]) for key in
                             ("fill", "mean", "scale"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{model_dir / 'features.json'}: malformed ({error!r})") from None
    path = model_dir / "model.onnx"
    if not path.is_file():
        raise ModelError(f"{path}: missing")
    # Warnings only: its telemetry notice would otherwise open every worker's log.
    onnxruntime.set_default_logger_severity(3)
    options = onnxruntime.SessionOptions()
    # One thread per session: gunicorn workers give the parallelism.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelError(f"{path}: cannot load ({error})") from None
    width = len(names) + sum(c.size for c in categorical)
    scale = np.where(scale == 0, 1.0, scale)
    specs = tuple(zip(names, fill.tolist(), mean.tolist(), scale.tolist(), strict=True))
    fields = names + tuple(c.name for c in categorical)
    model = Model(session, session.get_inputs()[0].name, tuple(labels), names, fill, mean,
                  scale, categorical, width, specs, fields, frozenset(fields),
                  [output.name for output in session.get_outputs()][:1], None)
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


def _categorical(spec: dict) -> Categorical:
    positions = {str(value): i for i, value in enumerate(spec["categories"])}
    fill = positions.get(str(spec["fill"]), -1)
    # Missing values take the imputed category, as SimpleImputer(most_frequent) did.
    lookup = dict.fromkeys(MISSING, fill) | {None: fill} | positions
    return Categorical(str(spec["name"]), len(positions), lookup)


NUMBER_TYPES = frozenset({int, float, type(None)})
CATEGORY_TYPES = frozenset({str, type(None)})


def _number(value, record: int, field: str) -> float:
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)
    elif value is None:
        return math.nan
    elif kind is str:
        text = value.strip()
        if text in MISSING:
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise RecordError(f"record {record}: {field} must be a number, got {value!r}") from None
    else:
        raise RecordError(
            f"record {record}: {field} must be a number, got {type(value).__name__}"
        )
    if math.isinf(number):
        raise RecordError(f"record {record}: {field} must be finite, got {value!r}")
    return number


def _numbers(column: list, field: str) -> np.ndarray:
    # The common case, plain JSON numbers and nulls, converts in one call (None -> nan).
    if NUMBER_TYPES.issuperset(map(type, column)):
        values = np.array(column, dtype=np.float64)
        if not np.isinf(values).any():
            return values
    return np.array([_number(value, row, field) for row, value in enumerate(column)])


def _positions(column: list, feature: Categorical) -> np.ndarray:
    if not CATEGORY_TYPES.issuperset(map(type, column)):
        for row, value in enumerate(column):
            if type(value) not in CATEGORY_TYPES:
                raise RecordError(f"record {row}: {feature.name} must be a string, "
                                  f"got {type(value).__name__}")
    lookup = feature.lookup
    # Unknown categories stay all zeros, as OneHotEncoder(handle_unknown="ignore").
    return np.array([lookup.get(value, -1) for value in column], dtype=np.int64)


def _row(model: Model, record: dict, row: int) -> list:
    """One record's feature vector in plain Python: cheaper than numpy for a few records."""
    values = []
    for field, fill, mean, scale in model.specs:
        number = _number(record.get(field), row, field)
        if number != number:  # NaN: missing
            number = fill
        values.append(min(max((number - mean) / scale, -STANDARD_LIMIT), STANDARD_LIMIT))
    for feature in model.categorical:
        value = record.get(feature.name)
        if type(value) not in CATEGORY_TYPES:
            raise RecordError(f"record {row}: {feature.name} must be a string, "
                              f"got {type(value).__name__}")
        onehot = [0.0] * feature.size
        position = feature.lookup.get(value, -1)
        if position >= 0:
            onehot[position] = 1.0
        values.extend(onehot)
    return values


def _check(model: Model, records: list) -> None:
    known = model.known
    for row, record in enumerate(records):
        if type(record) is not dict:
            raise RecordError(f"record {row}: expected an object of fields, "
                              f"got {type(record).__name__}")
        if known.isdisjoint(record):
            raise RecordError(f"record {row}: has none of the fields {', '.join(model.fields)}")


def features(model: Model, records: list) -> np.ndarray:
    """The [N, width] float32 input of the network for raw records (dicts of fields)."""
    _check(model, records)
    count = len(records)
    if count <= FEW:
        return np.array([_row(model, record, row) for row, record in enumerate(records)],
                        dtype=np.float32)
    numbers = np.empty((count, len(model.numeric)))
    for col, field in enumerate(model.numeric):
        numbers[:, col] = _numbers([record.get(field) for record in records], field)
    numbers = np.where(np.isnan(numbers), model.fill, numbers)
    out = np.zeros((count, model.width), dtype=np.float32)
    # Out-of-range numbers are still predicted, but saturate: unbounded inputs overflow
    # float32 inside the network and come out as NaN probabilities.
    out[:, : len(model.numeric)] = np.clip((numbers - model.mean) / model.scale,
                                           -STANDARD_LIMIT, STANDARD_LIMIT)
    offset = len(model.numeric)
    rows = np.arange(count)
    for feature in model.categorical:
        positions = _positions([record.get(feature.name) for record in records], feature)
        hit = positions >= 0
        out[rows[hit], offset + positions[hit]] = 1.0
        offset += feature.size
    return out


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
        _check(model, records)
        rows = [dense.forward(model.layers, _row(model, record, number))
                for number, record in enumerate(records)]
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
        predict(model, [{field: None for field in model.fields}] * count)
