"""The processing job's fitted transformer as plain arrays: raw records -> network inputs.

features.json holds, per numeric field, the imputed fill, mean and scale, and per categorical
field, the imputed fill and the categories of its one-hot encoding; a test holds this module
to scikit-learn's answers on the whole test split.
"""

import math
from dataclasses import dataclass

import numpy as np

FEW = 8  # up to this many records, the per-record path beats numpy's per-call overhead
STANDARD_LIMIT = 1e4  # standard deviations; far outside any real penguin
# Strings read as a missing value, as processing reads them (training/process.py MISSING).
# "nan" and "NaN" too: what Python and pandas write for a float NaN, never a category or a number.
MISSING = frozenset({"", "NA", "N/A", ".", "nan", "NaN"})


class RecordError(ValueError):
    """A client record that cannot be predicted; the message names the record and field."""


@dataclass(frozen=True)
class Categorical:
    name: str
    size: int
    lookup: dict  # category, missing markers and None -> one-hot position


@dataclass(frozen=True)
class Transform:
    numeric: tuple  # field names
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    categorical: tuple  # of Categorical
    width: int
    specs: tuple  # (field, fill, mean, scale) as Python floats, for the per-record path
    fields: tuple  # every field the network reads, numeric first
    known: frozenset  # the same, for the per-request check


def parse(spec: dict) -> Transform:
    """The transform of features.json content (KeyError, TypeError or ValueError if malformed)."""
    numeric = spec["numeric"]
    categorical = tuple(_categorical(c) for c in spec["categorical"])
    names = tuple(str(n["name"]) for n in numeric)
    fill, mean, scale = (np.array([float(n[key]) for n in numeric]) for key in
                         ("fill", "mean", "scale"))
    scale = np.where(scale == 0, 1.0, scale)
    fields = names + tuple(c.name for c in categorical)
    return Transform(names, fill, mean, scale, categorical,
                     len(names) + sum(c.size for c in categorical),
                     tuple(zip(names, fill.tolist(), mean.tolist(), scale.tolist(), strict=True)),
                     fields, frozenset(fields))


def _categorical(spec: dict) -> Categorical:
    positions = {str(value): i for i, value in enumerate(spec["categories"])}
    fill = positions.get(str(spec["fill"]), -1)
    # Missing values take the imputed category, as SimpleImputer(most_frequent) did.
    lookup = dict.fromkeys(MISSING, fill) | {None: fill} | positions
    return Categorical(str(spec["name"]), len(positions), lookup)


NUMBER_TYPES = frozenset({int, float, type(None)})
CATEGORY_TYPES = frozenset({str, type(None)})


def bare(text: str) -> str:
    """A string value without the spaces around it: they are insignificant (as in processing),
    so `Biscoe, 48.6, male` and a JSON `" male"` mean what they would without them."""
    return text.strip()


def position(lookup: dict, value) -> int:
    """A category's one-hot position, -1 if unknown (missing values map to the fill's)."""
    found = lookup.get(value)
    if found is None and type(value) is str:
        found = lookup.get(bare(value))  # only a spaced or unknown value pays for this
    return -1 if found is None else found


def _number(value, record: int, field: str) -> float:
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)
    elif value is None:
        return math.nan
    elif kind is str:
        text = bare(value)
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
    found = [lookup.get(value, -1) for value in column]
    if -1 in found:  # a spaced or unknown value: only then the slower look, value by value
        found = [position(lookup, value) for value in column]
    # Unknown categories stay all zeros, as OneHotEncoder(handle_unknown="ignore").
    return np.array(found, dtype=np.int64)


def vector(transform: Transform, record: dict, row: int) -> list:
    """One record's feature vector in plain Python: cheaper than numpy for a few records."""
    values = []
    for field, fill, mean, scale in transform.specs:
        number = _number(record.get(field), row, field)
        if number != number:  # NaN: missing
            number = fill
        values.append(min(max((number - mean) / scale, -STANDARD_LIMIT), STANDARD_LIMIT))
    for feature in transform.categorical:
        value = record.get(feature.name)
        if type(value) not in CATEGORY_TYPES:
            raise RecordError(f"record {row}: {feature.name} must be a string, "
                              f"got {type(value).__name__}")
        onehot = [0.0] * feature.size
        found = position(feature.lookup, value)
        if found >= 0:
            onehot[found] = 1.0
        values.extend(onehot)
    return values


def check(transform: Transform, records: list) -> None:
    known = transform.known
    for row, record in enumerate(records):
        if type(record) is not dict:
            raise RecordError(f"record {row}: expected an object of fields, "
                              f"got {type(record).__name__}")
        if known.isdisjoint(record):
            raise RecordError(f"record {row}: has none of the fields "
                              f"{', '.join(transform.fields)}")


def vectors(transform: Transform, records: list) -> list[list]:
    """The checked records' feature vectors in plain Python, for a few records."""
    check(transform, records)
    return [vector(transform, record, row) for row, record in enumerate(records)]


def matrix(transform: Transform, records: list) -> np.ndarray:
    """The [N, width] float32 input of the network for raw records (dicts of fields)."""
    count = len(records)
    if count <= FEW:
        return np.array(vectors(transform, records), dtype=np.float32)
    check(transform, records)
    numbers = np.empty((count, len(transform.numeric)))
    for col, field in enumerate(transform.numeric):
        numbers[:, col] = _numbers([record.get(field) for record in records], field)
    numbers = np.where(np.isnan(numbers), transform.fill, numbers)
    out = np.zeros((count, transform.width), dtype=np.float32)
    # Out-of-range numbers are still predicted, but saturate: unbounded inputs overflow
    # float32 inside the network and come out as NaN probabilities.
    out[:, : len(transform.numeric)] = np.clip((numbers - transform.mean) / transform.scale,
                                               -STANDARD_LIMIT, STANDARD_LIMIT)
    offset = len(transform.numeric)
    rows = np.arange(count)
    for feature in transform.categorical:
        positions = _positions([record.get(feature.name) for record in records], feature)
        hit = positions >= 0
        out[rows[hit], offset + positions[hit]] = 1.0
        offset += feature.size
    return out
