"""The wire formats: decode(body, content_type) into records, encode(results, accept)."""

import csv
import io

import orjson

# The documented CSV column order: the raw Penguins features, as batch transform sends them.
CSV_FIELDS = ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
              "sex")
JSON = "application/json"
CSV = "text/csv"
JSONLINES = "application/jsonlines"
# Spellings of JSON Lines in the wild, all answered as application/jsonlines.
JSONLINES_ALIASES = {JSONLINES, "application/jsonl", "application/x-jsonlines",
                     "application/json-lines", "application/x-ndjson"}
SUPPORTED = (JSON, CSV, JSONLINES)

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


def _decode_json(body: bytes):
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


def _decode_jsonlines(body: bytes):
    records = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            raise CodecError(400, f"malformed JSON on line {number}: {error}") from None
    return records, ROWS


def _decode_csv(body: bytes):
    records = []
    width = len(CSV_FIELDS)
    try:
        # skipinitialspace: a quote after a space still quotes, as in processing's reader;
        # the spaces around a value are the record check's business (features.bare).
        rows = csv.reader(io.StringIO(_text(body)), skipinitialspace=True)
        for number, row in enumerate(rows, start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) == width + 1:
                row = row[1:]  # a leading label column, as batch transform sends it
            elif len(row) != width:
                raise CodecError(400, f"CSV line {number} has {len(row)} columns; expected "
                                      f"{width} ({','.join(CSV_FIELDS)}) or {width + 1} with a "
                                      "leading label")
            records.append(dict(zip(CSV_FIELDS, row, strict=True)))
    except csv.Error as error:
        raise CodecError(400, f"malformed CSV: {error}") from None
    return records, ROWS


DECODERS = {JSON: _decode_json, CSV: _decode_csv} | dict.fromkeys(JSONLINES_ALIASES,
                                                                  _decode_jsonlines)


def decode(body: bytes, content_type: str | None) -> tuple[list, str]:
    """Records and the shape of the body, or CodecError (400 malformed/empty, 415 type)."""
    kind = media_type(content_type) or JSON
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise CodecError(415, f"unsupported Content-Type {kind!r}; use one of "
                              f"{', '.join(SUPPORTED)}")
    if not body.strip():
        raise CodecError(400, "empty body: send at least one record")
    records, shape = decoder(body)
    if not records:
        raise CodecError(400, "no records in the body")
    return records, shape


def negotiate(accept: str | None, default: str) -> str:
    """The answer's type: the first supported type of Accept, the default for */*, or 406."""
    if not accept or not accept.strip():
        return default
    for part in accept.split(","):
        kind = media_type(part)
        if kind == "*/*":
            return default
        if kind == "application/*":
            return default if default.startswith("application/") else JSON
        if kind == "text/*":
            return CSV
        if kind in (JSON, CSV):
            return kind
        if kind in JSONLINES_ALIASES:
            return JSONLINES
    raise CodecError(406, f"unsupported Accept {accept!r}; use one of {', '.join(SUPPORTED)}")


def encode(results: list[dict], accept: str, shape: str) -> bytes:
    """The body for an accepted type; a JSON answer mirrors the shape of a JSON request."""
    # No trailing newline: batch transform's AssembleWith=Line appends one after each
    # response, and a second would add an empty output line.
    if accept == CSV:
        return "\n".join(f"{r['prediction']},{r['confidence']}" for r in results).encode()
    if accept == JSONLINES:
        return b"\n".join(orjson.dumps(r) for r in results)
    if shape == RECORD:
        return orjson.dumps(results[0])
    if shape == INSTANCES:
        return orjson.dumps({"predictions": results})
    return orjson.dumps(results)
