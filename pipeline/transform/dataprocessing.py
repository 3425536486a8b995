"""Batch transform's record logic as SageMaker applies it: lines, mini-batches, DataProcessing.

SplitType=Line makes each non-blank line of an input file a record. MultiRecord packs
consecutive records of one file into a request body no larger than MaxPayloadInMB; SingleRecord
sends each alone. InputFilter picks what the model sees, JoinSource=Input joins the original
record with its output (CSV: the output's columns appended; JSON: the output under
`SageMakerOutput`), and OutputFilter picks what goes into the .out line. Filters are JSONPath
(jsonpath-ng), a CSV record being an array of its columns, as SageMaker reads one.
"""

import csv
import io
import json
import math
import re
from dataclasses import dataclass

from jsonpath_ng import parse
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.jsonpath import Fields

CSV = "text/csv"
# SageMaker's length limit of InputFilter and OutputFilter.
FILTER_MAX = 63
# The last bracket of an expression, e.g. `[0,5:]` or `['prediction','groundtruth']`.
LAST_BRACKET = re.compile(r"^(.*)\[([^\[\]]*)\]$")
# One index or slice of a selector: `3`, `-2`, `5:`, `1:4`, `:2`.
INDEX = re.compile(r"-?\d+|-?\d*:-?\d*(:-?\d*)?")


class TransformError(Exception):
    """A job that cannot go on: the message names the file, line, parameter or filter."""


@dataclass
class Record:
    number: int  # the line in its file, from 1
    text: str  # the line as read, without its newline
    payload: bytes  # what the endpoint is sent: the line after InputFilter


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_csv(content_type: str | None) -> bool:
    return media_type(content_type) == CSV


def read_lines(path, label: str) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line: SplitType=Line's records."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise TransformError(f"{label} line {line}: not UTF-8 text; batch transform input is "
                             "headerless CSV or JSON Lines") from None
    return [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), 1)
            if line.strip()]


class Filter:
    """One InputFilter or OutputFilter: a JSONPath expression as SageMaker supports it."""

    def __init__(self, expression: str | None, parameter: str):
        self.expression = (expression or "$").strip() or "$"
        self.parameter = parameter
        if len(self.expression) > FILTER_MAX:
            raise TransformError(f"{parameter}={self.expression!r}: longer than SageMaker's "
                                 f"{FILTER_MAX} characters")
        bracket = LAST_BRACKET.match(self.expression)
        selector = bracket.group(2) if bracket else ""
        self.many = "," in selector or ":" in selector or self.expression.endswith("*")
        parts = [part.strip() for part in selector.split(",")]
        # The positions an index selector asks for, to refuse those outside a record as
        # SageMaker does (jsonpath-ng drops them silently): (start, is a slice) per part.
        self.positions = [] if not bracket else [
            (int(part.split(":", 1)[0] or 0), ":" in part) for part in parts
            if INDEX.fullmatch(part)]
        if len(self.positions) != len(parts):
            self.positions = []
        try:
            self.prefix = parse(bracket.group(1)) if self.positions else None
            if bracket and len(parts) > 1 and any(":" in part for part in parts):
                # SageMaker's `$[0,5:]` (indexes and slices in one union), which jsonpath-ng
                # does not parse: the union of its parts, in order.
                self.paths = [parse(f"{bracket.group(1)}[{part}]") for part in parts]
            else:
                self.paths = [parse(self.expression)]
        except (JsonPathLexerError, JsonPathParserError, Exception) as error:
            raise TransformError(f"{parameter}={self.expression!r}: not a JSONPath expression "
                                 f"({error}); e.g. $, $[1:], $.features, "
                                 "$['id','SageMakerOutput']") from None

    @property
    def identity(self) -> bool:
        return self.expression == "$"

    def apply(self, value, where: str):
        """The selected part of value; TransformError naming `where` if nothing matches."""
        if self.identity:
            return value
        self.check_positions(value, where)
        matches = [match for path in self.paths for match in path.find(value)]
        if self.many:
            if matches and all(isinstance(match.path, Fields) for match in matches):
                return {match.path.fields[0]: match.value for match in matches}
            return [match.value for match in matches]
        if not matches:
            raise TransformError(f"{where}: {self.parameter} {self.expression} selects nothing "
                                 f"in {json.dumps(value)[:200]}")
        return matches[0].value

    def check_positions(self, value, where: str) -> None:
        """Refuse an index (or a slice's start) outside the list it selects from."""
        if not self.positions:
            return
        for target in self.prefix.find(value):
            if not isinstance(target.value, list):
                continue
            size = len(target.value)
            for start, is_slice in self.positions:
                if not -size <= start < size and not (is_slice and start == 0):
                    raise TransformError(
                        f"{where}: {self.parameter} {self.expression} asks for "
                        f"{'a slice from ' if is_slice else ''}index {start} of a record of "
                        f"{size} value(s); SageMaker refuses indexes outside the record")


def csv_row(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def csv_line(values) -> str:
    if isinstance(values, dict):
        raise TransformError(f"a CSV record filtered to named fields {list(values)}; select "
                             "columns by index, e.g. $[0,-2]")
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values if isinstance(values, list) else [values])
    return out.getvalue()


def json_value(line: str, where: str):
    try:
        return json.loads(line)
    except ValueError as error:
        raise TransformError(f"{where}: not a JSON record ({error})") from None


def prepare(lines: list[tuple[int, str]], content_type: str, input_filter: Filter,
            label: str) -> list[Record]:
    """Each line's record with the payload InputFilter leaves of it."""
    records = []
    for number, text in lines:
        where = f"{label} line {number}"
        if input_filter.identity:
            payload = text
        elif is_csv(content_type):
            payload = csv_line(input_filter.apply(csv_row(text), where))
        else:
            payload = json.dumps(input_filter.apply(json_value(text, where), where),
                                 separators=(",", ":"))
        records.append(Record(number, text, payload.encode()))
    return records


def mini_batches(records: list[Record], multi: bool, limit: int | None, label: str,
                 limit_name: str) -> list[list[Record]]:
    """Requests of one file: MultiRecord packs consecutive records up to `limit` bytes (None:
    MaxPayloadInMB=0, no limit, every record of the file in one request)."""
    limit = math.inf if limit is None else limit
    batches, current, size = [], [], 0
    for record in records:
        length = len(record.payload)
        if length > limit:
            raise TransformError(f"{label} line {record.number}: a record of {length} bytes is "
                                 f"over {limit_name} ({limit} bytes); raise it or split the "
                                 "record")
        # Records are sent one per line: each after the first costs its newline too.
        if current and (not multi or size + 1 + length > limit):
            batches.append(current)
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(record)
    if current:
        batches.append(current)
    return batches


def lines_text(batch: list[Record]) -> str:
    first, last = batch[0].number, batch[-1].number
    return f"line {first}" if first == last else f"lines {first}-{last}"


def body(batch: list[Record]) -> bytes:
    return b"\n".join(record.payload for record in batch)


def split_answer(answer: bytes, count: int, accept: str, where: str) -> list[str]:
    """One output record per input record, in order, from a response body."""
    text = answer.decode("utf-8", "replace")
    lines = [line.rstrip("\r") for line in text.rstrip("\n").split("\n")] if text.strip() else []
    if len(lines) == count:
        return lines
    if not is_csv(accept):
        try:  # a JSON array answer to a multi-record request: one element per record
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and len(value) == count:
            return [json.dumps(item, separators=(",", ":")) for item in value]
    raise TransformError(f"{where}: the endpoint answered {len(lines)} line(s) to {count} "
                         "record(s); AssembleWith=Line needs one output record per input record")


def assemble(record: Record, output: str, content_type: str, accept: str, join: bool,
             output_filter: Filter, where: str) -> str:
    """The .out line of one record: its output, joined with the input if asked, filtered."""
    if not join and output_filter.identity:
        return output
    result = csv_row(output) if is_csv(accept) else json_value(output, where)
    as_csv = is_csv(accept)
    if join:
        as_csv = is_csv(content_type)
        if as_csv:
            extra = result if isinstance(result, list) else [json.dumps(result)]
            result = csv_row(record.text) + extra
        else:
            original = json_value(record.text, where)
            result = ({**original, "SageMakerOutput": result} if isinstance(original, dict)
                      else {"SageMakerInput": original, "SageMakerOutput": result})
    result = output_filter.apply(result, where)
    return csv_line(result) if as_csv else json.dumps(result, separators=(",", ":"))
