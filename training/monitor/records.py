"""Captured records for the data-quality monitor: capture files -> DuckDB tables -> features.

`load` reads every selected capture file in one DuckDB scan into the table `captured` (one row
per captured request) and decodes the requests' bodies into `records` (one row per record a
request carried: `rec` a JSON object, or `row` a CSV row's values), as serving decodes them: a
JSON object, a list of objects, {"instances": [...]}, JSON Lines, headerless CSV rows. Bodies
stored BASE64 (content types outside the capture's JSON and CSV lists) are counted, not decoded.
CSV values are split at commas: a quoted comma is not supported.

A record preprocessor (hook) turns `records` into a frame of strings, one column per feature,
NaN for a missing value. `input_fields` is the default: the request's own fields.

Field names a client invents must not make the monitor slower: `input_fields` counts every
field name in one aggregate and extracts the baseline's features plus at most EXTRA_MAX others
(the most frequent, then by name); `cap_extra` holds any hook's frame to the same bound. The
frame's attrs["extra_fields"] says how many names beyond the baseline's the window held and
which are analysed (the checks report the rest as a count).
"""

import json

from training.contract.jobio import MISSING

# What read_json is told, so 1M lines need no schema inference (keys as SageMaker writes them).
CAPTURE_COLUMNS = {
    "captureData": "STRUCT(endpointInput STRUCT(observedContentType VARCHAR, mode VARCHAR, "
                   "data VARCHAR, encoding VARCHAR), endpointOutput STRUCT(observedContentType "
                   "VARCHAR, mode VARCHAR, data VARCHAR, encoding VARCHAR))",
    "eventMetadata": "STRUCT(eventId VARCHAR, inferenceId VARCHAR, inferenceTime VARCHAR)",
    "eventVersion": "VARCHAR",
}
# Fields beyond the baseline's analysed by name in one run; the rest are only counted.
EXTRA_MAX = 10
EXTRA_ATTR = "extra_fields"
MISSING_SQL = ", ".join("'" + value.replace("'", "''") + "'" for value in MISSING)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def window(start: str | None, end: str | None) -> str:
    """`AND …` conditions keeping the captured records whose inferenceTime is in [start, end)."""
    time = "CAST(eventMetadata.inferenceTime AS TIMESTAMPTZ)"
    conditions = []
    if start:
        conditions.append(f"{time} >= TIMESTAMPTZ '{start}'")
    if end:
        conditions.append(f"{time} < TIMESTAMPTZ '{end}'")
    return ("AND " + " AND ".join(conditions)) if conditions else ""


def load(con, files: list, start: str | None, end: str | None) -> dict:
    """captured and records tables of the files (records whose inferenceTime is in [start,
    end) when given); returns counts for the log."""
    listed = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE captured AS
        SELECT captureData.endpointInput.data AS data,
               upper(captureData.endpointInput.encoding) AS encoding,
               lower(split_part(captureData.endpointInput.observedContentType, ';', 1)) AS kind,
               captureData.endpointOutput.data AS output_data,
               upper(captureData.endpointOutput.encoding) AS output_encoding,
               captureData.endpointOutput.observedContentType AS output_type,
               captureData.endpointInput.observedContentType AS input_type,
               eventMetadata.eventId AS event_id, eventMetadata.inferenceId AS inference_id,
               eventMetadata.inferenceTime AS time, eventVersion AS version
        FROM read_json({listed}, format = 'newline_delimited', columns = {CAPTURE_COLUMNS!r})
        WHERE captureData.endpointInput.data IS NOT NULL
        {window(start, end)}""")
    # A JSON body is a record, a list of records or {"instances": [...]}; JSON Lines and CSV
    # bodies hold one record a line.
    con.execute(r"""
        CREATE OR REPLACE TEMP TABLE records AS
        WITH json_bodies AS (
            SELECT CAST(data AS JSON) AS body FROM captured
            WHERE encoding = 'JSON' AND kind NOT LIKE '%jsonl%' AND json_valid(data)),
        json_lines AS (
            SELECT CAST(line AS JSON) AS rec FROM (
                SELECT unnest(string_split(data, chr(10))) AS line FROM captured
                WHERE encoding = 'JSON' AND kind LIKE '%jsonl%')
            WHERE trim(line) <> '' AND json_valid(line)),
        unnested AS (
            SELECT unnest(CASE
                WHEN json_type(body) = 'ARRAY' THEN json_extract(body, '$[*]')
                WHEN json_type(body, '$.instances') = 'ARRAY'
                    THEN json_extract(body, '$.instances[*]')
                ELSE [body] END) AS rec FROM json_bodies)
        SELECT rec, CAST(NULL AS VARCHAR[]) AS row FROM unnested
        WHERE json_type(rec) = 'OBJECT'
        UNION ALL
        SELECT rec, NULL FROM json_lines WHERE json_type(rec) = 'OBJECT'
        UNION ALL
        SELECT NULL, list_transform(string_split(line, ','), lambda v: trim(v)) FROM (
            SELECT unnest(string_split(replace(data, chr(13), ''), chr(10))) AS line
            FROM captured WHERE encoding = 'CSV')
        WHERE trim(line) <> ''""")
    counts = dict(zip(("requests", "base64"), con.execute(
        "SELECT count(*), count(*) FILTER (WHERE encoding NOT IN ('JSON', 'CSV')) "
        "FROM captured").fetchall()[0], strict=True))
    counts["records"] = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    return counts


def text(expression: str) -> str:
    """A value as the baseline reads it: trimmed text, MISSING markers and JSON null as NULL."""
    return f"CASE WHEN trim({expression}) IN ({MISSING_SQL}) THEN NULL ELSE trim({expression}) END"


def field_names(con, names: list) -> tuple[list, list, int]:
    """(the baseline's names the records carry, at most EXTRA_MAX other names, how many other
    names there are): one aggregate over every record's keys, whatever their number."""
    con.execute("CREATE OR REPLACE TEMP TABLE field_counts AS SELECT key, count(*) AS n FROM ("
                "SELECT unnest(json_keys(rec)) AS key FROM records WHERE rec IS NOT NULL) "
                "GROUP BY key")
    known = {row[0] for row in con.execute(
        "SELECT key FROM field_counts WHERE list_contains(?::VARCHAR[], key)", [names]).fetchall()}
    others = "FROM field_counts WHERE NOT list_contains(?::VARCHAR[], key)"
    count = con.execute(f"SELECT count(*) {others}", [names]).fetchall()[0][0]
    extra = [row[0] for row in con.execute(f"SELECT key {others} ORDER BY n DESC, key LIMIT ?",
                                           [names, EXTRA_MAX]).fetchall()]
    return [n for n in names if n in known], extra, count


def input_fields(con, names: list):
    """The default hook: the fields the records carry (JSON keys; CSV columns by position,
    named as the baseline's features, a leading label column dropped, `_c<i>` beyond them),
    at most EXTRA_MAX beyond the baseline's."""
    import pandas as pd

    known, extra, count = field_names(con, names)
    keys = known + extra
    frames = []
    if keys:
        # One parse of each record for all its fields (a path list), not one a field.
        paths = "[" + ", ".join(path(key) for key in keys) + "]"
        select = ", ".join(f"{text(f'v[{i + 1}]')} AS {quoted(key)}"
                           for i, key in enumerate(keys))
        frames.append(con.execute(
            f"SELECT {select} FROM (SELECT json_extract_string(rec, {paths}) AS v "
            "FROM records WHERE rec IS NOT NULL)").df())
    # A row one wider than the features has a leading label (as batch transform sends it).
    drop = f"CASE WHEN len(row) = {len(names) + 1} THEN 1 ELSE 0 END"
    widest = con.execute(f"SELECT max(len(row) - {drop}) FROM records "
                         "WHERE row IS NOT NULL").fetchall()[0][0]
    if widest:
        beyond = max(0, widest - len(names))
        count += beyond
        shown = min(beyond, EXTRA_MAX - len(extra))
        columns = [*names, *(f"_c{i}" for i in range(len(names), len(names) + shown))][:widest]
        extra += columns[len(names):]
        select = ", ".join(f"{text(f'row[{i + 1} + {drop}]')} AS {quoted(name)}"
                           for i, name in enumerate(columns))
        frames.append(con.execute(f"SELECT {select} FROM records WHERE row IS NOT NULL").df())
    if not frames:
        return pd.DataFrame()
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    data = data.astype("string")
    data.attrs[EXTRA_ATTR] = {"count": count, "analysed": extra}
    return data


def cap_extra(data, names: list):
    """Any hook's frame with at most EXTRA_MAX columns beyond the baseline's names, and
    attrs[EXTRA_ATTR] saying how many there were and which are kept."""
    known = set(names)
    extra = [column for column in data.columns if column not in known]
    counted = data.attrs.get(EXTRA_ATTR, {})
    kept = extra[:EXTRA_MAX]
    if len(extra) > EXTRA_MAX:
        data = data.drop(columns=extra[EXTRA_MAX:])
    data.attrs[EXTRA_ATTR] = {"count": max(counted.get("count", 0), len(extra)),
                              "analysed": kept}
    return data


def path(key: str) -> str:
    """A JSON path to a top-level key, quoted for SQL."""
    return "'$." + json.dumps(key).replace("'", "''") + "'"


def records_from_frame(con, frame) -> None:
    """`records` of a dataset's rows (the baseline job's), so a hook sees them as CSV rows."""
    con.register("dataset_rows", frame.astype(object).where(frame.notna(), None))
    values = ", ".join(f"CAST({quoted(str(c))} AS VARCHAR)" for c in frame.columns)
    con.execute("CREATE OR REPLACE TEMP TABLE records AS SELECT CAST(NULL AS JSON) AS rec, "
                f"list_value({values}) AS row FROM dataset_rows")
    con.unregister("dataset_rows")
