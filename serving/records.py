"""The signature check: decoded records -> the graph's inputs, or RecordError naming record
and field. Model-agnostic: every name, type and missing marker comes from the signature."""

import math

import numpy as np

from serving import images, urls
from serving.signature import IMAGE_FIELDS, Signature

# Beyond this a number has no float32 value (the graph's input type): refused, not saturated.
FLOAT32_MAX = float(np.finfo(np.float32).max)
NUMBER_TYPES = frozenset({int, float, type(None)})
STRING_TYPES = frozenset({str, type(None)})


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


def _numbers(signature: Signature, records: list) -> dict:
    """{field: [N, 1] float32} for every float field; missing -> NaN.

    Plain JSON numbers and nulls convert in one numpy call (None -> NaN); anything else is
    read value by value. Few numpy calls, not vectorised checks: between two requests the
    worker's caches go cold, where each numpy call costs several microseconds.
    """
    names = signature.numbers
    columns = [[record.get(name) for record in records] for name in names]
    flat = [value for column in columns for value in column]
    if not NUMBER_TYPES.issuperset(map(type, flat)) or any(
            value is not None and abs(value) > FLOAT32_MAX for value in flat):
        missing = signature.missing
        columns = [[_number(v, missing, row, name) for row, v in enumerate(column)]
                   for name, column in zip(names, columns, strict=True)]
    values = np.array(columns, dtype=np.float32)[:, :, None]
    return dict(zip(names, values, strict=True))


def _strings(signature: Signature, records: list) -> dict:
    """{field: [N, 1] object} for every string field, stripped; missing -> the signature's."""
    missing, fill = signature.missing, signature.missing_string
    columns = []
    for name in signature.strings:
        column = [record.get(name) for record in records]
        if not STRING_TYPES.issuperset(map(type, column)):
            for row, value in enumerate(column):
                if type(value) not in STRING_TYPES:
                    raise RecordError(f"record {row}: {name} must be a string, "
                                      f"got {type(value).__name__}")
        stripped = (None if value is None else value.strip() for value in column)
        columns.append([fill if text is None or text in missing else text for text in stripped])
    values = np.array(columns, dtype=object)[:, :, None]
    return dict(zip(signature.strings, values, strict=True))


def _check_objects(records: list, known: frozenset, names: tuple) -> None:
    for row, record in enumerate(records):
        if type(record) is not dict:
            raise RecordError(f"record {row}: expected an object of fields, "
                              f"got {type(record).__name__}")
        if known.isdisjoint(record):
            raise RecordError(f"record {row}: has none of the fields {', '.join(names)}")


def tabular(signature: Signature, records: list) -> dict:
    """{field: [N, 1] array}: strings stripped, missing markers and nulls as the signature says."""
    _check_objects(records, signature.known, signature.names)
    feeds = _numbers(signature, records) if signature.numbers else {}
    if signature.strings:
        feeds.update(_strings(signature, records))
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


def image(signature: Signature, records: list, limits: images.Limits) -> dict:
    """{input: [N, H, W] float32} from each record's one of "pixels", "image" or "url"."""
    spec = signature.image
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
