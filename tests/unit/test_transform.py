"""Batch transform's record logic in-process: lines, mini-batches, filters, joins, assembly."""

import json
import re
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


@pytest.mark.parametrize(("fields", "message"), [
    ({"batch_strategy": "Many"}, "BatchStrategy='Many'"),
    ({"max_payload_mb": -1}, "MaxPayloadInMB=-1: give 0 \\(chunked\\) to 100"),
    ({"max_payload_mb": 101}, "MaxPayloadInMB=101"),
    ({"max_concurrent": -1}, "MaxConcurrentTransforms=-1"),
    ({"max_concurrent": 11, "max_payload_mb": 10},
     "MaxConcurrentTransforms=11 x MaxPayloadInMB=10 is 110 MB; SageMaker allows at most 100"),
    ({"max_concurrent": 17}, "MaxConcurrentTransforms=17 x MaxPayloadInMB=6 is 102 MB"),
    ({"join_source": "Output"}, "JoinSource='Output'"),
    # SageMaker's valid values: chunked payloads, concurrency from /execution-parameters.
    ({"max_payload_mb": 0, "max_concurrent": 50}, None),
    ({"max_concurrent": 0}, None),
    ({"max_concurrent": 10, "max_payload_mb": 10}, None),
])
def test_a_parameter_is_refused_before_anything_starts_exactly_when_sagemaker_refuses_it(
        tmp_path, fields, message):
    (tmp_path / "in.csv").write_text("a\n")
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", **fields)
    if message is None:
        batch.check(job)
        return
    with pytest.raises(TransformError, match=message):
        batch.check(job)


def read_body(handler) -> bytes:
    """A request body, with Content-Length or chunked (MaxPayloadInMB=0)."""
    if handler.headers.get("Transfer-Encoding") != "chunked":
        return handler.rfile.read(int(handler.headers["Content-Length"]))
    data = b""
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        data += handler.rfile.read(size)
        handler.rfile.readline()
    handler.rfile.readline()
    return data


class Scripted(Echo):
    """A stand-in endpoint whose answer to every mini-batch is `answer(lines)`; it keeps what
    it was sent and offers `offered` at /execution-parameters."""

    answer_for = None
    offered = None
    seen: list = []

    def do_GET(self):  # noqa: N802
        if self.path == "/execution-parameters" and self.offered:
            self.answer(200, json.dumps(self.offered).encode())
        else:
            self.answer(404, b"{}")

    def do_POST(self):  # noqa: N802
        data = read_body(self)
        self.seen.append((self.headers.get("Transfer-Encoding"), data))
        self.answer(200, type(self).answer_for(data.decode().split("\n")))


@pytest.fixture
def scripted():
    def start(answer_for, offered=None):
        handler = type("Handler", (Scripted,), {"answer_for": staticmethod(answer_for),
                                                "offered": offered, "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], handler.seen

    servers = []
    yield start
    for server in servers:
        server.shutdown()


# (the container's answer to a 2-record mini-batch, the .out SageMaker writes for it with
# AssembleWith=Line and no join or filter: the answer as it came, then one newline).
PASS_THROUGH = [
    (b'[{"p":1},{"p":2}]', b'[{"p":1},{"p":2}]\n'),
    (b'{"predictions": [[0.1,0.9],[0.8,0.2]]}', b'{"predictions": [[0.1,0.9],[0.8,0.2]]}\n'),
    (b"A,1\nB,2\n", b"A,1\nB,2\n\n"),
    (b"A,1\r\nB,2", b"A,1\r\nB,2\n"),
]


@pytest.mark.parametrize(("answer", "out"), PASS_THROUGH)
def test_without_join_or_filter_each_answer_is_written_as_the_container_wrote_it(
        scripted, tmp_path, answer, out):
    port, _ = scripted(lambda lines: answer)
    (tmp_path / "in.csv").write_text("a,1\nb,2\n")
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", accept="application/json")
    batch.run(job, port, say=lambda message: None)
    assert (tmp_path / "out" / "in.csv.out").read_bytes() == out


def test_a_json_array_answer_is_split_per_record_when_a_join_needs_records(scripted,
                                                                          tmp_path):
    port, _ = scripted(lambda lines: json.dumps([{"p": line[0]} for line in lines]).encode())
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    job = batch.Job(tmp_path / "in.jsonl", tmp_path / "out", content_type=JSONLINES,
                    accept="application/json", join_source="Input")
    batch.run(job, port, say=lambda message: None)
    assert [json.loads(line) for line in (tmp_path / "out" / "in.jsonl.out").read_text()
            .splitlines()] == [{"id": 1, "SageMakerOutput": {"p": "{"}},
                               {"id": 2, "SageMakerOutput": {"p": "{"}}]


def test_max_payload_zero_sends_each_file_in_one_chunked_request(scripted, tmp_path):
    port, seen = scripted(lambda lines: "\n".join(lines).upper().encode())
    (tmp_path / "in.csv").write_text("".join(f"r{i},x\n" for i in range(300)))
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", max_payload_mb=0)
    report = batch.run(job, port, say=lambda message: None)
    assert report["settings"]["MaxPayloadInMB"] == 0 and report["mini_batches"] == 1
    assert [encoding for encoding, _ in seen] == ["chunked"]
    assert seen[0][1] == "".join(f"r{i},x\n" for i in range(300)).rstrip("\n").encode()


def test_max_concurrent_zero_takes_the_containers_execution_parameters(scripted, tmp_path):
    offered = {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD",
               "MaxPayloadInMB": 6}
    port, seen = scripted(lambda lines: b"x", offered)
    (tmp_path / "in.csv").write_text("a\nb\n")
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", max_concurrent=0)
    report = batch.run(job, port, say=lambda message: None)
    assert report["settings"] == offered and len(seen) == 2


JOINED = "Adelie,Torgersen,39.1,18.7,181,3750,MALE,Adelie,0.9"  # 9 columns


@pytest.mark.parametrize(("expression", "index"), [
    ("$[0,9]", "index 9 of a record of 9"),
    ("$[0,20:]", "a slice from index 20 of a record of 9"),
    ("$[-10]", "index -10 of a record of 9"),
])
def test_an_index_outside_the_record_fails_naming_the_filter_and_the_record(expression, index):
    with pytest.raises(TransformError, match=rf"in.csv line 3: OutputFilter "
                                             rf"{re.escape(expression)} asks for {index}"):
        Filter(expression, "OutputFilter").apply(dp.csv_row(JOINED), "in.csv line 3")
    assert Filter("$[0,-1]", "OutputFilter").apply(dp.csv_row(JOINED), "w") == ["Adelie", "0.9"]


def test_a_transform_whose_output_filter_leaves_the_record_fails_and_writes_nothing(
        scripted, tmp_path):
    port, _ = scripted(lambda lines: "\n".join("Adelie,0.9" for _ in lines).encode())
    (tmp_path / "in.csv").write_text("Adelie,Torgersen,39.1,18.7,181,3750,MALE\n")
    job = batch.Job(tmp_path / "in.csv", tmp_path / "out", join_source="Input",
                    output_filter="$[0,9]")
    with pytest.raises(TransformError, match=r"in.csv line 1: OutputFilter \$\[0,9\] asks"):
        batch.run(job, port, say=lambda message: None)
    assert not (tmp_path / "out" / "in.csv.out").exists()


def symlink_archive(path: Path) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        data = b"{}"
        member = tarfile.TarInfo("labels.json")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("model.onnx")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return path


@pytest.mark.parametrize(("make_archive", "reason"), [
    (lambda path: (path.write_bytes(b"not a tar at all\n"), path)[1], "not a usable model.tar"),
    (symlink_archive, "member 'model.onnx' is not a file or folder"),
])
def test_a_model_archive_that_cannot_be_used_ends_the_run_failed_naming_why(
        tmp_path, make_archive, reason):
    from pipeline.runs import records as runs
    from pipeline.transform import job as transform

    archive = make_archive(tmp_path / "model.tar.gz")
    (tmp_path / "in.csv").write_text("a\n")
    code = transform.main(["--local", str(tmp_path / "local"), "--model-tar", str(archive),
                           "--input", str(tmp_path / "in.csv"), "--docker", "false"])
    [run] = runs.runs(tmp_path / "local", "transform")
    assert code == 1 and run.status == runs.FAILED
    assert run.record["failure_reason"].startswith(f"model archive {archive}: ")
    assert reason in run.record["failure_reason"]


def test_make_transform_runs_its_createtransformjob_request_with_a_kept_createmodel(tmp_path):
    """make transform goes the way make job's CreateTransformJob goes: its model kept as a
    CreateModel request under LOCAL_DIR/models/, its request beside the run, and make describe
    answers DescribeTransformJob (the failed archive ends it before any container)."""
    import json

    from pipeline.api.runner import describe_job
    from pipeline.runs import records as runs
    from pipeline.transform import job as transform

    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not a tar at all\n")
    (tmp_path / "in.csv").write_text("a\n")
    local = tmp_path / "local"
    code = transform.main(["--local", str(local), "--model-tar", str(archive), "--image",
                           "penguins-serving:x", "--input", str(tmp_path / "in.csv"),
                           "--batch-strategy", "MultiRecord", "--docker", "false"])
    [run] = runs.runs(local, "transform")
    assert code == 1
    request = json.loads((run.folder / "request.json").read_text())
    assert request["ModelName"] == run.name and request["BatchStrategy"] == "MultiRecord"
    assert request["DataProcessing"] == {"InputFilter": "$", "JoinSource": "None",
                                         "OutputFilter": "$"}
    model = json.loads((local / "models" / f"{run.name}.json").read_text())
    assert model["PrimaryContainer"] == {"Image": "penguins-serving:x",
                                         "ModelDataUrl": f"file://{archive}"}
    described = describe_job(local, run.name)
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(f"AlgorithmError: model archive {archive}")


def test_make_transform_prunes_the_models_of_the_runs_it_prunes(tmp_path):
    from pipeline.runs import records as runs
    from pipeline.transform import job as transform

    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not a tar at all\n")
    (tmp_path / "in.csv").write_text("a\n")
    local = tmp_path / "local"
    for _ in range(2):
        transform.main(["--local", str(local), "--model-tar", str(archive), "--input",
                        str(tmp_path / "in.csv"), "--docker", "false", "--keep", "1"])
    [run] = runs.runs(local, "transform")
    assert [path.name for path in (local / "models").iterdir()] == [f"{run.name}.json"]
