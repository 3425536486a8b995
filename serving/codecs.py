"""The wire formats: decode(body, content_type) into records, encode(results, accept)."""

import csv
import functools
import io

import orjson
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

JSON = "application/json"
CSV = "text/csv"
JSONLINES = "application/jsonlines"
# Spellings of JSON Lines in the wild, all answered as application/jsonlines.
JSONLINES_ALIASES = {JSONLINES, "application/jsonl", "application/x-jsonlines",
                     "application/json-lines", "application/x-ndjson"}
SUPPORTED = (JSON, CSV, JSONLINES)
# A whole picture as the body (SageMaker's image algorithms take application/x-image): one
# record, for a model whose signature has an image input.
IMAGE_TYPES = ("application/x-image", "image/png", "image/jpeg")
OFFERS = (JSON, CSV, JSONLINES, *sorted(JSONLINES_ALIASES - {JSONLINES}))

# Shapes of a JSON body, mirrored by the JSON answer.
RECORD, LIST, INSTANCES, ROWS = "record", "list", "instances", "rows"


class CodecError(Exception):
    """A client mistake in the body or headers: an HTTP status and a message naming it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(header: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return (header or "").split(";", 1)[0].strip().lower()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CodecError(400, f"body is not UTF-8 text (byte {error.start})") from None


def _decode_json(body: bytes, _layout):
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise CodecError(400, f"malformed JSON: {error}") from None
    if isinstance(value, dict):
        if "instances" in value:
            records = value["instances"]
            if not isinstance(records, list):
                raise CodecError(400, '"instances" must be a list of records')
            return records, INSTANCES
        return [value], RECORD
    if isinstance(value, list):
        return value, LIST
    raise CodecError(400, "expected a JSON object, a list of objects or {\"instances\": [...]}, "
                          f"got {type(value).__name__}")


def _decode_jsonlines(body: bytes, _layout):
    records = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            raise CodecError(400, f"malformed JSON on line {number}: {error}") from None
    return records, ROWS


class Columns:
    """A CSV body's cells, row by row in one flat list of strings, `width` a row (the label
    column dropped): the signature check reads a field as one slice, with no record per row.
    Indexed, it gives the records the csv module's reading would (`decode`'s plain path)."""

    __slots__ = ("cells", "width", "layout")

    def __init__(self, cells: list, width: int, layout):
        self.cells, self.width, self.layout = cells, width, layout

    def __len__(self) -> int:
        return len(self.cells) // self.width

    def __getitem__(self, row: int) -> dict:
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self.layout.csv_record(self.cells[row * self.width:(row + 1) * self.width])

    def column(self, index: int) -> list:
        return self.cells[index::self.width]


# Off: every CSV body through the csv module (tests hold both readings equal on the case tables).
COLUMNAR = True


def _csv_columns(text: str, layout) -> Columns | None:
    """The csv module's reading of a body in whole-string operations; None where only it
    reads the body right (quotes, carriage returns, NULs, a row of another width or
    labelled unlike the others, a field over its size limit): the plain path then decides."""
    if '"' in text or "\r" in text or "\x00" in text:
        return None
    if " " in text:  # skipinitialspace: a field's leading spaces are not part of it
        while ", " in text:
            text = text.replace(", ", ",")
        while "\n " in text:
            text = text.replace("\n ", "\n")
        text = text.lstrip(" ")
    lines = [line for line in text.split("\n") if line and not line.isspace()]
    if not lines:
        return None
    width = layout.csv_width
    commas = set(map(str.count, lines, [","] * len(lines)))
    if len(commas) != 1 or commas.pop() not in (width - 1, width):
        return None
    cells = ",".join(lines).split(",")
    if len(cells) != len(lines) * width:
        del cells[::width + 1]  # a leading label column, as batch transform sends it
    if len(text) > csv.field_size_limit() and max(map(len, cells)) > csv.field_size_limit():
        return None
    return Columns(cells, width, layout)


def _decode_csv(body: bytes, layout):
    """Headerless rows in the layout's column order (a signature: csv_width, csv_record)."""
    records = []
    text = _text(body)
    columns = _csv_columns(text, layout) if COLUMNAR else None
    if columns is not None:
        return columns, ROWS
    width = layout.csv_width
    try:
        # skipinitialspace: a quote after a space still quotes, as in processing's reader;
        # the spaces around a value are the record check's business.
        rows = csv.reader(io.StringIO(text), skipinitialspace=True)
        for number, row in enumerate(rows, start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) == width + 1:
                row = row[1:]  # a leading label column, as batch transform sends it
            elif len(row) != width:
                raise CodecError(400, f"CSV line {number} has {len(row)} columns; expected "
                                      f"{width} ({layout.csv_columns()}) or {width + 1} with "
                                      "a leading label")
            records.append(layout.csv_record(row))
    except csv.Error as error:
        raise CodecError(400, f"malformed CSV: {error}") from None
    return records, ROWS


def _decode_image(body: bytes, _layout):
    """The body is the picture: one record, decoded by the signature check like "image"."""
    return [{"image": body}], RECORD


DECODERS = ({JSON: _decode_json, CSV: _decode_csv}
            | dict.fromkeys(JSONLINES_ALIASES, _decode_jsonlines)
            | dict.fromkeys(IMAGE_TYPES, _decode_image))


def decode(body: bytes, content_type: str | None, layout) -> tuple[list, str]:
    """Records and the shape of the body, or CodecError (400 malformed/empty, 415 type).

    layout: the model's signature, which says what a CSV row holds and whether the model
    takes pictures.
    """
    kind = media_type(content_type) or JSON
    decoder = DECODERS.get(kind)
    image = layout.image is not None
    if decoder is None or (decoder is _decode_image and not image):
        takes = [*SUPPORTED, *(IMAGE_TYPES if image else ())]
        raise CodecError(415, f"unsupported Content-Type {kind!r}; this model takes "
                              f"{', '.join(takes)}")
    if not body.strip():
        raise CodecError(400, "empty body: send at least one record")
    records, shape = decoder(body, layout)
    if not records:
        raise CodecError(400, "no records in the body")
    return records, shape


def negotiate(accept: str | None, default: str) -> str:
    """The answer's type for an Accept header, or CodecError 406 if it accepts none of ours."""
    if not accept or not accept.strip():
        return default
    kind = _best_type(accept, default)
    if kind is None:
        raise CodecError(406, f"unsupported Accept {accept!r}: it accepts none of "
                              f"{', '.join(SUPPORTED)}")
    return kind


@functools.lru_cache(maxsize=256)
def _best_type(accept: str, default: str) -> str | None:
    """werkzeug's reading of Accept: q-values (q=0 refuses), then the more specific range.

    Clients send a handful of distinct headers, so the parse is cached: it costs more than
    a one-record prediction.
    """
    # Parameters other than q (`text/csv; charset=utf-8`) do not change what we answer.
    client = MIMEAccept([(media_type(value), quality)
                         for value, quality in parse_accept_header(accept)])
    if not client:
        return default  # nothing readable in it: as if there were no Accept
    # Offer the types the client names in its order (werkzeug keeps it among equal q-values),
    # so `text/csv, application/json` is CSV; */* and application/* prefer the default.
    named = [kind for kind, _quality in client if kind in OFFERS]
    match = client.best_match(dict.fromkeys([*named, default, *OFFERS]))
    return JSONLINES if match in JSONLINES_ALIASES else match


def encode(answers, accept: str, shape: str) -> bytes:
    """The body for an accepted type; a JSON answer mirrors the shape of a JSON request.

    answers: serving.answers.Answers, which writes the records' CSV lines or JSON objects.
    """
    # No trailing newline: batch transform's AssembleWith=Line appends one after each
    # response, and a second would add an empty output line.
    if accept == CSV:
        return answers.csv()
    if accept == JSONLINES:
        return answers.json(b"\n")
    if shape == RECORD:
        return answers.json(b",")
    if shape == INSTANCES:
        return b'{"predictions":[' + answers.json(b",") + b"]}"
    return b"[" + answers.json(b",") + b"]"
