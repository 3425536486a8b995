"""Batch transform's record logic in-process: lines, mini-batches, filters, joins, assembly."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.transform import batch
from pipeline.transform import dataprocessing as dp
from pipeline.transform.dataprocessing import Filter, Record, TransformError

pytestmark = pytest.mark.pipeline

JSONLINES = "application/jsonlines"

# (expression, value, expected): SageMaker's documented examples and the program's filters.
FILTER_CASES = [
    ("$", {"a": 1}, {"a": 1}),
    ("$[1:]", ["Adelie", "Biscoe", "39.1"], ["Biscoe", "39.1"]),
    ("$[0,-2]", ["Adelie", "Biscoe", "Gentoo", "0.9"], ["Adelie", "Gentoo"]),
    ("$[0,5:]", list("abcdefg"), ["a", "f", "g"]),
    ("$[-1]", ["a", "b", "c"], "c"),
    ("$.features", {"id": 3, "features": [1, 2]}, [1, 2]),
    ("$.SageMakerOutput['prediction','groundtruth']",
     {"x": 1, "SageMakerOutput": {"prediction": "Adelie", "groundtruth": "Gentoo", "c": 0.5}},
     {"prediction": "Adelie", "groundtruth": "Gentoo"}),
    ("$['id','SageMakerOutput']", {"id": 7, "f": 2, "SageMakerOutput": {"p": 1}},
     {"id": 7, "SageMakerOutput": {"p": 1}}),
]


@pytest.mark.parametrize(("expression", "value", "expected"), FILTER_CASES)
def test_a_filter_selects_what_sagemaker_selects(expression, value, expected):
    assert Filter(expression, "OutputFilter").apply(value, "f line 1") == expected


def test_a_filter_that_selects_nothing_names_the_line_and_the_filter():
    with pytest.raises(TransformError, match=r"in.csv line 4: OutputFilter \$.missing"):
        Filter("$.missing", "OutputFilter").apply({"a": 1}, "in.csv line 4")


@pytest.mark.parametrize("expression", ["$[", "$.." + "a" * 70])
def test_a_bad_filter_is_refused_naming_the_parameter(expression):
    with pytest.raises(TransformError, match="InputFilter="):
        Filter(expression, "InputFilter")


def test_lines_are_the_non_blank_lines_with_their_numbers(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,1\r\n\nb,2\n\n")
    assert dp.read_lines(path, "in.csv") == [(1, "a,1"), (3, "b,2")]


def test_an_input_that_is_not_utf8_fails_naming_file_and_line(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,1\nb,\xff\n")
    with pytest.raises(TransformError, match="in.csv line 2: not UTF-8"):
        dp.read_lines(path, "in.csv")


def test_the_input_filter_drops_the_label_column_of_a_csv_record():
    records = dp.prepare([(1, 'Adelie,"Torgersen, North",39.1')], dp.CSV, Filter("$[1:]", "I"),
                         "in.csv")
    assert records[0].payload == b'"Torgersen, North",39.1'
    assert records[0].text == 'Adelie,"Torgersen, North",39.1'


def test_the_input_filter_picks_a_json_records_field():
    records = dp.prepare([(2, '{"id": 1, "features": {"a": 2}}')], JSONLINES,
                         Filter("$.features", "I"), "in.jsonl")
    assert json.loads(records[0].payload) == {"a": 2}


def make_records(sizes):
    return [Record(number, "x", b"x" * size) for number, size in enumerate(sizes, 1)]


def test_multi_record_batches_never_exceed_the_payload_limit_and_keep_order():
    records = make_records([4, 4, 4, 9, 1, 1])
    batches = dp.mini_batches(records, True, 10, "in.csv", "MaxPayloadInMB=1")
    assert [[r.number for r in b] for b in batches] == [[1, 2], [3], [4], [5, 6]]
    assert all(len(dp.body(b)) <= 10 for b in batches)
    assert len(dp.body(batches[0])) == 9  # two records and the newline between them


def test_single_record_sends_each_record_alone():
    batches = dp.mini_batches(make_records([1, 1, 1]), False, 10, "in.csv", "M")
    assert [len(b) for b in batches] == [1, 1, 1]


def test_a_record_over_the_payload_limit_fails_naming_file_and_line():
    with pytest.raises(TransformError, match="in.csv line 2: a record of 11 bytes is over "
                                             "MaxPayloadInMB=1"):
        dp.mini_batches(make_records([3, 11]), True, 10, "in.csv", "MaxPayloadInMB=1")


def test_an_answer_splits_into_one_output_per_record():
    assert dp.split_answer(b"a,1\nb,2\n", 2, dp.CSV, "w") == ["a,1", "b,2"]
    assert dp.split_answer(b'[{"p":1},{"p":2}]', 2, "application/json", "w") == [
        '{"p":1}', '{"p":2}']


def test_an_answer_with_the_wrong_number_of_records_fails_naming_the_lines():
    with pytest.raises(TransformError, match="in.csv lines 1-3: the endpoint answered 2"):
        dp.split_answer(b"a\nb", 3, dp.CSV, "in.csv lines 1-3")


def test_a_csv_join_appends_the_output_columns_to_the_original_record():
    record = Record(1, "Adelie,Biscoe,39.1", b"Biscoe,39.1")
    line = dp.assemble(record, "Gentoo,0.93", dp.CSV, dp.CSV, True, Filter("$", "O"), "w")
    assert line == "Adelie,Biscoe,39.1,Gentoo,0.93"
    kept = dp.assemble(record, "Gentoo,0.93", dp.CSV, dp.CSV, True, Filter("$[0,-2]", "O"), "w")
    assert kept == "Adelie,Gentoo"


def test_a_json_join_puts_the_output_under_sagemakeroutput():
    record = Record(1, '{"id": 4, "groundtruth": "Adelie"}', b"")
    line = dp.assemble(record, '{"prediction": "Gentoo", "confidence": 0.9}', JSONLINES,
                       JSONLINES, True, Filter("$['groundtruth','SageMakerOutput']", "O"), "w")
    assert json.loads(line) == {"groundtruth": "Adelie",
                                "SageMakerOutput": {"prediction": "Gentoo", "confidence": 0.9}}


def test_a_json_join_of_a_non_object_record_keeps_it_under_sagemakerinput():
    record = Record(1, "[1, 2]", b"")
    line = dp.assemble(record, '{"p": 1}', JSONLINES, JSONLINES, True, Filter("$", "O"), "w")
    assert json.loads(line) == {"SageMakerInput": [1, 2], "SageMakerOutput": {"p": 1}}


def test_without_join_or_filter_the_output_line_is_kept_as_the_endpoint_wrote_it():
    record = Record(1, "a", b"a")
    assert dp.assemble(record, "Gentoo, 0.90", dp.CSV, dp.CSV, False, Filter("$", "O"),
                       "w") == "Gentoo, 0.90"


class Echo(BaseHTTPRequestHandler):
    """A stand-in endpoint: answers each CSV line with its first column upper-cased, and
    refuses a line whose first column is `bad`."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.answer(404, b"{}")

    def do_POST(self):  # noqa: N802
        lines = self.rfile.read(int(self.headers["Content-Length"])).decode().split("\n")
        if any(line.split(",")[0] == "bad" for line in lines):
            self.answer(400, b'{"error": "bad record"}')
        else:
            self.answer(200, "\n".join(line.split(",")[0].upper() + ",1" for line in lines)
                        .encode())

    def answer(self, status, data):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_each_input_file_gets_its_out_file_in_input_order(echo, tmp_path):
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("".join(f"r{i},x\n" for i in range(50)))
    (data / "sub" / "b.csv").write_text("q,1\n\nz,2\n")
    job = batch.Job(data, tmp_path / "out", batch_strategy="MultiRecord", max_concurrent=3)
    report = batch.run(job, echo, say=lambda message: None)
    assert (tmp_path / "out" / "a.csv.out").read_text() == "".join(
        f"R{i},1\n" for i in range(50))
    assert (tmp_path / "out" / "sub" / "b.csv.out").read_text() == "Q,1\nZ,1\n"
    assert report["records"] == 52
    assert report["settings"] == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD",
                                  "MaxPayloadInMB": 6}


def test_a_refused_record_fails_naming_its_file_and_line_and_leaves_no_out_file(echo, tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("a,1\nb,2\n\nbad,3\nc,4\n")
    job = batch.Job(data, tmp_path / "out", batch_strategy="MultiRecord")
    with pytest.raises(TransformError, match=r"in.csv line 4: the endpoint refused the record "
                                             r"with 400: \{\"error\": \"bad record\"\}"):
        batch.run(job, echo, say=lambda message: None)
    assert not any(Path(tmp_path).rglob("*.out*"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("batch_strategy", "Many", "BatchStrategy='Many'"),
    ("max_payload_mb", 0, "MaxPayloadInMB=0"),
    ("max_concurrent", 0, "MaxConcurrentTransforms=0"),
    ("join_source", "Output", "JoinSource='Output'"),
])
def test_a_parameter_sagemaker_would_refuse_is_refused_before_anything_starts(
        tmp_path, field, value, message):
    (tmp_path / "in.csv").write_text("a\n")
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", **{field: value})
    with pytest.raises(TransformError, match=message):
        batch.check(job)
