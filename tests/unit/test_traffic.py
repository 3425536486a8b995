"""`make traffic` in-process: requests built from a processing run's test split, SHIFT, the run."""

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.monitoring import traffic
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

pytestmark = pytest.mark.pipeline
TABULAR = {"island": "Biscoe", "bill_length_mm": 48.6, "body_mass_g": 5800.0, "sex": "MALE"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processing_run(local, sample: dict, files: dict, workload: str = "penguins") -> runs.Run:
    run = runs.create(local, "processing", workload)
    for name, text in {"pipeline/sample.json": json.dumps(sample), **files}.items():
        path = run.folder / "processing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    runs.finish(run, 0)
    return run


def tabular(local):
    return processing_run(local, TABULAR, {"baseline/test-baseline.csv": (
        "species,island,bill_length_mm,body_mass_g,sex\n"
        "Adelie,Torgersen,39.1,3750.0,MALE\nGentoo,Biscoe,46.1,4500.0,\n")})


def images(local):
    return processing_run(local, {"pixels": [[0.0, 1.0], [2.0, 3.0]]}, {
        "baseline/.keep": "", "test/test.csv": "7,0,16,8,4\n1,1,2,3,4\n"}, "digits")


def test_records_are_keyed_by_the_raw_header_and_typed_as_the_sample(tmp_path):
    assert traffic.test_records(tabular(tmp_path)) == [
        ("Adelie", {"island": "Torgersen", "bill_length_mm": 39.1, "body_mass_g": 3750.0,
                    "sex": "MALE"}),
        ("Gentoo", {"island": "Biscoe", "bill_length_mm": 46.1, "body_mass_g": 4500.0,
                    "sex": None})]


def test_headerless_rows_are_poured_into_the_shape_of_the_samples_one_field(tmp_path):
    assert traffic.test_records(images(tmp_path)) == [
        ("7", {"pixels": [[0.0, 16.0], [8.0, 4.0]]}), ("1", {"pixels": [[1.0, 2.0], [3.0, 4.0]]})]


def test_a_row_of_the_wrong_size_is_named_by_file_and_line(tmp_path):
    run = images(tmp_path)
    (run.folder / "processing" / "test" / "test.csv").write_text("7,0,16,8,4\n1,2,3\n")
    with pytest.raises(RunError, match=r"test\.csv line 2: 3 values; expected the label and 4 "
                                       "for pixels"):
        traffic.test_records(run)


@pytest.mark.parametrize(("text", "expected"), [
    (None, {}),
    ("bill_length_mm=+10", {"bill_length_mm": ("+", 10.0)}),
    (" body_mass_g=*1.2 , pixels=-0.5", {"body_mass_g": ("*", 1.2), "pixels": ("-", 0.5)}),
])
def test_shift_is_read_as_feature_operator_number(text, expected):
    assert traffic.shifts(text) == expected


@pytest.mark.parametrize("text", ["bill_length_mm=10", "=+1", "bill_length_mm=+ten",
                                  "bill_length_mm", "bill_length_mm=/2"])
def test_a_shift_that_cannot_be_read_is_refused_with_the_entry(text):
    with pytest.raises(RunError, match=re.escape(f"SHIFT entry {text!r}")):
        traffic.shifts(text)


def test_shift_moves_numbers_images_value_by_value_and_leaves_missing_values():
    record = {"pixels": [[1.0, 2.0], [3.0, 0.0]], "body_mass_g": None}
    changed = traffic.apply(record, {"pixels": ("*", 2.0), "body_mass_g": ("+", 1.0)})
    assert changed == {"pixels": [[2.0, 4.0], [6.0, 0.0]], "body_mass_g": None}
    with pytest.raises(RunError, match="SHIFT island: the feature holds 'Biscoe', not a number"):
        traffic.apply(dict(TABULAR), {"island": ("+", 1.0)})
    with pytest.raises(RunError, match="SHIFT beak: no such feature; the requests have island"):
        traffic.apply(dict(TABULAR), {"beak": ("+", 1.0)})


class Recorder(BaseHTTPRequestHandler):
    """An endpoint stand-in: keeps every invocation, answers `status`."""

    seen: list = []
    status = 200

    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.headers[traffic.INFERENCE_ID], json.loads(body)))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "refused"}' if self.status != 200 else b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    Recorder.seen, Recorder.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    thread.join()


def arguments(local, port, count=5, shift=None):
    return traffic.parser().parse_args(["--local", str(local), "--port", str(port),
                                        "--count", str(count)] + (["--shift", shift] if shift
                                                                  else []))


def test_a_traffic_run_sends_test_records_with_inference_ids_and_records_their_labels(
        tmp_path, endpoint):
    tabular(tmp_path)
    assert traffic.traffic(arguments(tmp_path, endpoint, shift="bill_length_mm=+10")) == 0
    run = runs.take(tmp_path, "traffic", None, "penguins")
    sent = [json.loads(line) for line in (run.folder / traffic.SENT).read_text().splitlines()]
    ids = [f"{run.name}-{number}" for number in range(5)]
    assert [line["inferenceId"] for line in sent] == [seen[0] for seen in Recorder.seen] == ids
    assert [line["label"] for line in sent] == ["Adelie", "Gentoo", "Adelie", "Gentoo", "Adelie"]
    assert [seen[1]["bill_length_mm"] for seen in Recorder.seen[:2]] == [49.1, 56.1]
    assert all(line["time"].endswith("Z") for line in sent)
    assert run.record["inputs"]["test"]["run"].startswith("penguins-process-")


def test_a_refused_request_fails_the_run_with_the_endpoints_answer(tmp_path, endpoint):
    tabular(tmp_path)
    Recorder.status = 400
    with pytest.raises(RunError, match=r"answered 400: \{\"error\": \"refused\"\}"):
        traffic.traffic(arguments(tmp_path, endpoint))
    failed = runs.runs(tmp_path, "traffic")[0]
    assert failed.status == runs.FAILED and "answered 400" in failed.record["failure_reason"]


def test_no_run_is_recorded_when_nothing_listens_or_no_processing_run_exists(tmp_path):
    with pytest.raises(RunError, match="no Completed processing run of penguins"):
        traffic.traffic(arguments(tmp_path, free_port()))
    tabular(tmp_path)
    with pytest.raises(RunError, match="no endpoint answers on .*; start one with make serve"):
        traffic.traffic(arguments(tmp_path, free_port()))
    assert runs.runs(tmp_path, "traffic") == []
