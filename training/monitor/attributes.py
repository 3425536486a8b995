"""The model-quality analyzer's attributes: the columns or fields that hold each record's ground
truth, prediction and probability, read and checked.

A record that lacks a needed value, or holds text where a number is needed, fails the job with
a message naming the attribute, the record and the value: metrics over silently dropped or
coerced records would compare with the baseline wrongly without anyone seeing why. A record is
named by its frame index: a row number of a baseline dataset (1 = its first record), or the
label the monitor gives each merged record (its inferenceId, else eventId).
"""

import math

from training.contract.jobio import JobError


def attribute(frame, name: str, role: str):
    """A column by its attribute name; a dotted name reaches into JSON objects."""
    if name in frame.columns:
        return frame[name]
    head, _, rest = name.partition(".")
    if rest and head in frame.columns:
        values = frame[head]
        for key in rest.split("."):
            values = values.map(lambda value, key=key: value.get(key)
                                if isinstance(value, dict) else None)
        return values
    raise JobError(f"{role}={name!r}: no such column or field (columns: "
                   f"{', '.join(map(str, frame.columns))})")


def record(label) -> str:
    """How an error names a record: a baseline row by its number from 1, else its label."""
    return f"record {label + 1}" if isinstance(label, int) else str(label)


def missing(value) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, float) and math.isnan(value)


def present(values, name: str, role: str):
    """The values, JobError naming the first record without one."""
    for label, value in values.items():
        if missing(value):
            raise JobError(f"{record(label)} has no {role}={name!r} (a value is needed in "
                           "every record)")
    return values


def labels(frame, name: str, role: str):
    """Class labels as text: an answer's 7 and a label's "7" are the same class."""
    values = present(attribute(frame, name, role), name, role)
    return values.map(lambda value: str(int(value)) if isinstance(value, float)
                      and value.is_integer() else str(value).strip()).to_numpy()


def number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        found = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def numbers(frame, name: str, role: str):
    """Finite numbers, JobError naming the first record whose value is not one."""
    import numpy as np

    values = present(attribute(frame, name, role), name, role)
    found = []
    for label, value in values.items():
        converted = number(value)
        if converted is None:
            raise JobError(f"{record(label)}: {role}={name!r} is {value!r}, not a number")
        found.append(converted)
    return np.asarray(found, dtype=float)


def binary(frame, name: str, role: str):
    """Binary labels as 0/1 integers: 0 or 1 (as numbers or text, 1.0 too) or true/false."""
    import numpy as np

    values = present(attribute(frame, name, role), name, role)
    found = []
    for label, value in values.items():
        text = str(value).strip().lower()
        converted = {"true": 1.0, "false": 0.0}.get(text, number(value))
        if converted not in (0.0, 1.0):
            raise JobError(f"{record(label)}: {role}={name!r} is {value!r}, not a binary "
                           "label (0 or 1, true or false)")
        found.append(int(converted))
    return np.asarray(found, dtype=int)
