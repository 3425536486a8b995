"""A batch's answers, encoded from its flat list of probabilities in a few whole-list
operations: orjson writes every number at once and one %-format places them in templates
made once per model, so no dict and no format call is made per record.

The bytes are those of orjson.dumps over results() (JSON) and of `label,confidence` lines
with Python's float repr (CSV): tests/unit/test_answers.py holds them equal.
"""

import functools
from itertools import chain
from operator import add

import orjson

# orjson writes NaN and ±inf as null: a search of its output is the finite check.
NOT_FINITE = b"null"


def _escaped(text: bytes) -> bytes:
    return text.replace(b"%", b"%%")


@functools.lru_cache(maxsize=64)
def _templates(labels: tuple) -> tuple:
    """(JSON templates, CSV templates, columns), each template by winner.

    columns: the probability columns a JSON record's object holds, in its key order; a label
    named twice keeps its first place and its last value, as dict(zip(labels, row)) does.
    """
    columns = {label: column for column, label in enumerate(labels)}
    probabilities = b",".join(_escaped(orjson.dumps(label)) + b":%s" for label in columns)
    json = tuple(b'{"prediction":' + _escaped(orjson.dumps(label)) + b',"confidence":%s,'
                 b'"probabilities":{' + probabilities + b"}}" for label in labels)
    csv = tuple(_escaped(label.encode()) + b",%s" for label in labels)
    return json, csv, tuple(columns.values())


class Answers:
    """labels; flat: the [N, classes] probabilities as one list of floats, row after row;
    numbers: orjson's text of each (bytes); winners: each record's column of the highest."""

    __slots__ = ("labels", "flat", "numbers", "winners")

    def __init__(self, labels: tuple, flat: list, numbers: list, winners: list):
        self.labels, self.flat, self.numbers, self.winners = labels, flat, numbers, winners

    def _starts(self):
        return range(0, len(self.flat), len(self.labels))

    def results(self) -> list[dict]:
        """One result per record, in order: prediction, confidence and every probability."""
        labels, flat, width = self.labels, self.flat, len(self.labels)
        rows = [flat[start:start + width] for start in self._starts()]
        return [{"prediction": labels[winner], "confidence": row[winner],
                 "probabilities": dict(zip(labels, row, strict=True))}
                for winner, row in zip(self.winners, rows, strict=True)]

    def json(self, separator: bytes) -> bytes:
        """Each record's JSON object (orjson.dumps of its result), joined by `separator`."""
        templates, _csv, columns = _templates(self.labels)
        numbers, width = self.numbers, len(self.labels)
        confidences = map(numbers.__getitem__, map(add, self._starts(), self.winners))
        values = chain.from_iterable(zip(confidences, *(numbers[column::width]
                                                        for column in columns), strict=True))
        return separator.join(map(templates.__getitem__, self.winners)) % tuple(values)

    def csv(self) -> bytes:
        """`prediction,confidence` lines, the confidence as Python's repr writes it."""
        _json, templates, _columns = _templates(self.labels)
        confidences = tuple(map(self.numbers.__getitem__, map(add, self._starts(),
                                                                self.winners)))
        # orjson writes 0.00001 where repr writes 1e-05 (and 1e-7 for 1e-07): a confidence
        # below 1e-4 or in exponent form is written by repr, all of them then.
        written = b",".join(confidences)
        if b"e" in written or b"0.0000" in written:
            confidences = tuple(repr(self.flat[index]).encode() for index in
                                map(add, self._starts(), self.winners))
        return b"\n".join(map(templates.__getitem__, self.winners)) % confidences


def of(labels: tuple, flat: list, winners: list) -> "Answers | None":
    """The answers of probabilities given as one flat list, or None if any is not finite."""
    text = orjson.dumps(flat)
    if NOT_FINITE in text:
        return None
    return Answers(labels, flat, text[1:-1].split(b","), winners)
