"""Captured predictions merged with ground truth, as SageMaker's ground-truth merger does.

One DuckDB scan reads the capture files' endpointOutput (JSON: an answer object, a list of
them, {"predictions": [...]}, JSON Lines; CSV: one `prediction,confidence` row a record) and one
reads the ground-truth files ({"groundTruthData": {"data", "encoding"}, "eventMetadata":
{"eventId"}}). A captured request's key is its inferenceId, else its eventId; the n-th record of
a request meets the n-th label of its ground truth (one label, one line, for the usual
one-record request). When the same key has labels in several files, the newest file's (by its
yyyy/mm/dd/hh path and name) wins: a later upload corrects an earlier one. Unmatched records on
either side are left out of the metrics and counted. A binary classifier's probability (the
probability_attribute of the answer) is read beside its prediction the same way.
"""

import json

from training.monitor.records import CAPTURE_COLUMNS, window

TRUTH_COLUMNS = {"groundTruthData": "STRUCT(data VARCHAR, encoding VARCHAR)",
                 "eventMetadata": "STRUCT(eventId VARCHAR)", "eventVersion": "VARCHAR"}


def listed(files: list) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def column(attribute: str | None) -> int | None:
    """A CSV column index from an attribute: `_c1` or `1`; None for a field name."""
    if not attribute:
        return None
    text = attribute[2:] if attribute.startswith("_c") else attribute
    return int(text) if text.isdigit() else None


def json_path(attribute: str) -> str:
    """`prediction`, `a.b` or `$.a.b` as a quoted DuckDB JSON path."""
    keys = attribute.removeprefix("$.").split(".")
    return "'$" + "".join("." + json.dumps(key) for key in keys).replace("'", "''") + "'"


def value_of(record: str, attribute: str | None) -> str:
    """SQL for a record's value: the attribute of an object, else the scalar itself."""
    scalar = f"json_extract_string({record}, '$')"
    if not attribute or column(attribute) is not None:
        return f"CASE WHEN json_type({record}) IN ('OBJECT', 'ARRAY') THEN NULL ELSE {scalar} END"
    return (f"CASE WHEN json_type({record}) = 'OBJECT' THEN json_extract_string({record}, "
            f"{json_path(attribute)}) WHEN json_type({record}) = 'ARRAY' THEN NULL "
            f"ELSE {scalar} END")


def csv_value(line: str, attribute: str | None, default: int | None) -> str:
    """SQL for a CSV line's value: the attribute's column, else `default` (None: the line)."""
    index = column(attribute)
    index = default if index is None else index
    return f"trim({line})" if index is None else f"trim(split_part({line}, ',', {index + 1}))"


def exploded(table: str, attribute: str | None, csv_default: int | None) -> str:
    """SQL of (id, n, value, source) rows: every record of each body of `table`, numbered."""
    lines = ("list_filter(string_split(replace(data, chr(13), ''), chr(10)), "
             "lambda line: trim(line) <> '')")
    body = "CAST(data AS JSON)"
    items = (f"CASE WHEN json_type({body}) = 'ARRAY' THEN json_extract({body}, '$[*]') "
             f"WHEN json_type({body}, '$.predictions') = 'ARRAY' "
             f"THEN json_extract({body}, '$.predictions[*]') ELSE [{body}] END")
    numbered = "unnest(range(1, len(items) + 1)) AS n, unnest(items)"
    return f"""
        WITH json_bodies AS (
            SELECT key AS id, source, {items} AS items FROM {table}
            WHERE encoding = 'JSON' AND kind NOT LIKE '%jsonl%' AND json_valid(data)),
        json_lines AS (
            SELECT key AS id, source, list_transform({lines}, lambda line: CAST(
                CASE WHEN json_valid(line) THEN line ELSE 'null' END AS JSON)) AS items
            FROM {table} WHERE encoding = 'JSON' AND kind LIKE '%jsonl%'),
        csv_lines AS (
            SELECT key AS id, source, {lines} AS items FROM {table} WHERE encoding = 'CSV'),
        json_records AS (
            SELECT id, {numbered} AS rec, source FROM (
                SELECT * FROM json_bodies UNION ALL SELECT * FROM json_lines)),
        csv_records AS (SELECT id, {numbered} AS line, source FROM csv_lines)
        SELECT id, n, {value_of('rec', attribute)} AS value, source FROM json_records
        UNION ALL
        SELECT id, n, {csv_value('line', attribute, csv_default)}, source FROM csv_records"""


def merge(con, capture_files: list, truth_files: list, start: str | None, end: str | None,
          inference: str, ground_truth: str | None, probability: str | None = None) -> dict:
    """The `merged` table (id, n, truth, predicted, probability: NULL unless `probability`
    names the answer's probability) and counts of what met and what did not."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE answers AS
        SELECT coalesce(eventMetadata.inferenceId, eventMetadata.eventId) AS key,
               captureData.endpointOutput.data AS data,
               upper(captureData.endpointOutput.encoding) AS encoding,
               lower(split_part(captureData.endpointOutput.observedContentType, ';', 1)) AS kind,
               '' AS source
        FROM read_json({listed(capture_files)}, format = 'newline_delimited',
                       columns = {CAPTURE_COLUMNS!r})
        WHERE captureData.endpointOutput.data IS NOT NULL
        {window(start, end)}""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE labels AS
        SELECT eventMetadata.eventId AS key, groundTruthData.data AS data,
               upper(groundTruthData.encoding) AS encoding, '' AS kind, filename AS source
        FROM read_json({listed(truth_files)}, format = 'newline_delimited',
                       columns = {TRUTH_COLUMNS!r}, filename = true)
        WHERE eventMetadata.eventId IS NOT NULL AND groundTruthData.data IS NOT NULL""")
    for target, table, attribute, default in (
            ("answers_values", "answers", inference, 0),
            ("labels_values", "labels", ground_truth, None),
            ("probabilities", "answers", probability, 0)):
        if target == "probabilities" and not probability:
            con.execute("CREATE OR REPLACE TEMP TABLE probabilities AS "
                        "SELECT id, n, value FROM answers_values WHERE false")
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS "
                    f"{exploded(table, attribute, default)}")
    # The newest file's label of each (key, n): a later upload corrects an earlier one.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE truth AS
        SELECT id, n, value FROM (
            SELECT *, row_number() OVER (PARTITION BY id, n ORDER BY source DESC) AS pick
            FROM labels_values) WHERE pick = 1""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE merged AS
        SELECT p.id, p.n, t.value AS truth, p.value AS predicted, s.value AS probability
        FROM answers_values p JOIN truth t ON p.id = t.id AND p.n = t.n
        LEFT JOIN probabilities s ON p.id = s.id AND p.n = s.n
        WHERE p.value IS NOT NULL AND t.value IS NOT NULL
        ORDER BY p.id, p.n""")
    counts = {}
    for name, sql in (
            ("requests", "SELECT count(*) FROM answers"),
            ("predictions", "SELECT count(*) FROM answers_values"),
            ("unreadable_predictions", "SELECT count(*) FROM answers_values WHERE value IS NULL"),
            ("labels", "SELECT count(*) FROM truth"),
            ("merged", "SELECT count(*) FROM merged"),
            ("unmatched_predictions", """SELECT count(*) FROM answers_values p WHERE NOT EXISTS (
                SELECT 1 FROM merged m WHERE m.id = p.id AND m.n = p.n)"""),
            ("unmatched_labels", """SELECT count(*) FROM truth t WHERE NOT EXISTS (
                SELECT 1 FROM merged m WHERE m.id = t.id AND m.n = t.n)""")):
        counts[name] = con.execute(sql).fetchall()[0][0]
    return counts
