"""The signature check: decoded records -> the graph's inputs, or RecordError naming record
and field. Model-agnostic: every name, type and missing marker comes from the signature."""

import math
from itertools import chain
from operator import itemgetter

import numpy as np

from serving import codecs, images, urls
from serving.signature import IMAGE_FIELDS, Signature

# Beyond this a number has no float32 value (the graph's input type): refused, not saturated.
FLOAT32_MAX = float(np.finfo(np.float32).max)
NUMBER_TYPES = frozenset({int, float, type(None)})
STRING_TYPES = frozenset({str, type(None)})
STR, LIST = {str}, {list}
PIXELS = itemgetter("pixels")


class RecordError(ValueError):
    """A client record that cannot be predicted; the message names the record and field."""


def _number(value, missing: frozenset, record: int, name: str) -> float:
    kind = type(value)
    if value is None:
        return math.nan
    if kind is str:
        text = value.strip()
        if text in missing:
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise RecordError(f"record {record}: {name} must be a number, got {value!r}") from None
    elif kind is float or kind is int:
        number = float(value)
    else:
        raise RecordError(f"record {record}: {name} must be a number, got {kind.__name__}")
    if abs(number) > FLOAT32_MAX:  # NaN passes: a missing value, as null is
        raise RecordError(f"record {record}: {name} must be finite and within ±{FLOAT32_MAX:.3g}"
                          f" (float32), got {value!r}")
    return number


def _numbers(signature: Signature, columns: dict, kinds: set | None) -> np.ndarray:
    """Every float field's values as float64, field after field (missing -> NaN), or
    RecordError naming record and field.

    All of them in one numpy call: JSON numbers and nulls as they are, CSV's strings through
    float() (which reads spaces and "nan" as the plain reading does) unless a missing marker
    is a number. Anything else (a marker, a wrong type, a value beyond float32) is read value
    by value. Few numpy calls: between two requests the worker's caches go cold, where each
    costs several microseconds. kinds: the values' types when known (a CSV body's are str).
    """
    names = signature.numbers
    flat = list(chain.from_iterable(columns[name] for name in names))
    kinds = kinds or set(map(type, flat))
    values = None
    try:
        if not codecs.COLUMNAR:
            pass
        elif kinds <= NUMBER_TYPES:
            values = np.array(flat, dtype=np.float64)
        elif kinds == STR and signature.float_markers_are_nan:
            values = np.fromiter(map(float, flat), np.float64, len(flat))
    except (ValueError, OverflowError):
        values = None
    # fmax/fmin skip NaN (a missing value passes); two calls, not abs, compare and any.
    if values is None or np.fmax.reduce(values) > FLOAT32_MAX \
            or np.fmin.reduce(values) < -FLOAT32_MAX:
        missing = signature.missing
        values = np.array([[_number(v, missing, row, name) for row, v in enumerate(columns[name])]
                           for name in names], dtype=np.float64)
    return values


def _string_column(signature: Signature, name: str, column: list, kinds: set | None) -> list:
    """One string field, stripped, missing markers and nulls as the signature's missing string.
    Each distinct value is read once: a column holds a few categories."""
    kinds = kinds or set(map(type, column))
    if not kinds <= STRING_TYPES:
        for row, value in enumerate(column):
            if type(value) not in STRING_TYPES:
                raise RecordError(f"record {row}: {name} must be a string, "
                                  f"got {type(value).__name__}")
    missing, fill = signature.missing, signature.missing_string
    read = {}
    for value in set(column):
        text = None if value is None else value.strip()
        read[value] = fill if text is None or text in missing else text
    return list(map(read.__getitem__, column))


def _check_objects(records: list, known: frozenset, names: tuple) -> None:
    for row, record in enumerate(records):
        if type(record) is not dict:
            raise RecordError(f"record {row}: expected an object of fields, "
                              f"got {type(record).__name__}")
        if known.isdisjoint(record):
            raise RecordError(f"record {row}: has none of the fields {', '.join(names)}")


def _columns(signature: Signature, batch) -> dict:
    """{field: list of its values}: a CSV body's columns, or each record's values (null for
    a field it lacks) after the records are checked to be objects with a known field."""
    if isinstance(batch, codecs.Columns):
        return {name: batch.column(index) for index, name in enumerate(signature.names)}
    # One pass each, in C; the loop that names the record runs only when one is wrong.
    if set(map(type, batch)) != {dict} or any(map(signature.known.isdisjoint, batch)):
        _check_objects(batch, signature.known, signature.names)
    return {name: [record.get(name) for record in batch] for name in signature.names}


def tabular(signature: Signature, batch) -> dict:
    """{field: [N, 1] array}: strings stripped, missing markers and nulls as the signature says."""
    columns = _columns(signature, batch)
    kinds = STR if isinstance(batch, codecs.Columns) else None  # a CSV body's cells: text
    feeds = {}
    if signature.numbers:
        numbers = _numbers(signature, columns, kinds).astype(np.float32).reshape(
            len(signature.numbers), -1, 1)
        feeds.update(zip(signature.numbers, numbers, strict=True))
    if signature.strings:
        strings = np.array([_string_column(signature, name, columns[name], kinds)
                            for name in signature.strings], dtype=object)[:, :, None]
        feeds.update(zip(signature.strings, strings, strict=True))
    return feeds


def picture(field_name: str, value, spec, limits: images.Limits,
            budget: images.Budget) -> np.ndarray:
    """The model input of one record's image field ("pixels", "image" or "url")."""
    if field_name == "pixels":
        return images.pixels(value, spec.height, spec.width, spec.max)
    if field_name == "url":
        data = urls.fetch(value, limits)
    else:  # bytes only from a picture sent as the body; JSON has strings alone
        data = value if type(value) is bytes else images.from_base64(value)
    return images.decode(data, spec.height, spec.width, spec.max, limits.max_pixels, budget)


def _all_pixels(spec, batch) -> np.ndarray | None:
    """[N, H, W] float32 of a batch whose every record is good "pixels" (or a CSV body's
    cells), read in whole-list operations; None for anything else, which `image` reads
    record by record (and names what is wrong)."""
    if isinstance(batch, codecs.Columns):
        flat = batch.cells
    else:
        if set(map(type, batch)) != {dict} or set(map(len, batch)) != {1}:
            return None
        try:
            value = list(map(PIXELS, batch))
        except KeyError:
            return None
        if set(map(type, value)) != LIST or set(map(len, value)) != {spec.height}:
            return None
        rows = list(chain.from_iterable(value))
        if set(map(type, rows)) != LIST or set(map(len, rows)) != {spec.width}:
            return None
        flat = list(chain.from_iterable(rows))
    if not set(map(type, flat)) <= images.NUMBER_TYPES:
        return None
    try:  # the reading of images.pixels, on the whole batch
        values = np.array(flat, dtype=np.float64)
    except ValueError:
        return None
    if not ((values >= 0) & (values <= spec.max)).all():  # NaN fails both, as in images
        return None
    return values.astype(np.float32).reshape(-1, spec.height, spec.width)


def image(signature: Signature, records: list, limits: images.Limits) -> dict:
    """{input: [N, H, W] float32} from each record's one of "pixels", "image" or "url"."""
    spec = signature.image
    if codecs.COLUMNAR and (pixels := _all_pixels(spec, records)) is not None:
        return {spec.input: pixels}
    _check_objects(records, signature.known, IMAGE_FIELDS)
    out = np.empty((len(records), spec.height, spec.width), dtype=np.float32)
    budget = limits.budget(spec.height, spec.width)  # the request's pictures, together
    for row, record in enumerate(records):
        given = [name for name in IMAGE_FIELDS if name in record]
        if len(given) != 1:
            raise RecordError(f"record {row}: give exactly one of {', '.join(IMAGE_FIELDS)}, "
                              f"not {' and '.join(given)}")
        try:
            out[row] = picture(given[0], record[given[0]], spec, limits, budget)
        except images.ImageError as error:
            raise RecordError(f"record {row}: {given[0]} {error}") from None
    return {spec.input: out}


def feeds(signature: Signature, records: list, limits: images.Limits) -> dict:
    """The graph's inputs for the records, or RecordError naming record and field."""
    if signature.image:
        return image(signature, records, limits)
    return tabular(signature, records)


def largest_number(signature: Signature, record) -> str:
    """The record's numeric field of largest magnitude, `name=value`, for an error message."""
    numbers = []
    for field in signature.fields:
        value = record.get(field.name) if type(record) is dict else None
        try:
            numbers.append((abs(float(value)), f"{field.name}={value!r}"))
        except (TypeError, ValueError):
            continue
    return max(numbers)[1] if numbers else "its values"
