"""Data Capture in-process: SageMaker's record format, sampling, files, drain and failures."""

import base64
import json
import math
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

from serving import capture as capturing
from serving import config as settings
from serving.app import create_app

pytestmark = pytest.mark.unit
# One record of the program's real AWS capture (sagemaker-examples/capture-record.jsonl).
SAGEMAKER = json.loads(
    '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    '"data":"Torgersen,39.1,18.7,181.0,3750.0,MALE","encoding":"CSV"},"endpointOutput":'
    '{"observedContentType":"text/csv; charset=utf-8","mode":"OUTPUT","data":"Adelie,0.96\\n",'
    '"encoding":"CSV"}},"eventMetadata":{"eventId":"08a239af-c98c-4984-b9bf-4ea049d88617",'
    '"inferenceId":"0","inferenceTime":"2024-03-30T18:40:45Z"},"eventVersion":"0"}')
LAYOUT = re.compile(r"penguins-endpoint/AllTraffic/(\d{4})/(\d{2})/(\d{2})/(\d{2})/"
                    r"\d{2}-\d{2}-\d{3}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-"
                    r"[0-9a-f]{12}\.jsonl")
RECORD = {"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0,
          "flipper_length_mm": 230.0, "body_mass_g": 5800.0, "sex": "MALE"}


def on(destination: Path, **fields) -> capturing.Settings:
    return capturing.Settings(destination=destination, sampling_percentage=100.0,
                              endpoint="penguins-endpoint", **fields)


def captured(destination: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(destination.rglob("*.jsonl"))
            for line in path.read_text().splitlines()]


def keys(value):
    """The nested key order of a record, as a comparable tree."""
    if isinstance(value, dict):
        return [(key, keys(item)) for key, item in value.items()]
    return None


@pytest.mark.parametrize(("content_type", "body", "encoding"), [
    ("text/csv", b"Torgersen,39.1,18.7,181.0,3750.0,MALE", "CSV"),
    ("text/csv; charset=utf-8", b"Biscoe,48.6,16.0,230.0,5800.0,MALE\n", "CSV"),
    ("application/json", json.dumps(RECORD).encode(), "JSON"),
    ("application/jsonlines", b'{"island": "Dream"}\n{"island": "Biscoe"}', "BASE64"),
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\xff", "BASE64"),
    ("text/csv", b"caf\xe9,1.0", "BASE64"),  # not UTF-8: kept byte for byte
])
def test_each_content_type_is_stored_as_sagemaker_stores_it(content_type, body, encoding):
    config = on(Path("/unused"))
    line = capturing.record(config, (1711824045.5, body, content_type, b"Adelie,0.96\n",
                                     "text/csv; charset=utf-8", "0"))
    assert keys(line) == keys(SAGEMAKER)
    entry = line["captureData"]["endpointInput"]
    assert (entry["observedContentType"], entry["mode"], entry["encoding"]) == \
        (content_type, "INPUT", encoding)
    stored = base64.b64decode(entry["data"]) if encoding == "BASE64" else entry["data"].encode()
    assert stored == body
    assert line["captureData"]["endpointOutput"] == SAGEMAKER["captureData"]["endpointOutput"] \
        | {"data": "Adelie,0.96\n"}
    assert line["eventMetadata"]["inferenceTime"] == "2024-03-30T18:40:45Z"
    assert line["eventVersion"] == "0"


def test_text_that_json_must_escape_and_odd_content_types_and_ids_come_back_whole():
    config = on(Path("/unused"))
    body = 'Dream,"quoted \\ field",\u00e9t\u00e9 \U0001f427\t\n\x00'.encode()
    odd_type = 'text/csv; note="a \\"quoted\\" value"'
    line = capturing.record(config, (0.0, body, odd_type, b'{"a": "\\u00e9"}',
                                     "application/json", 'id "7" \u00e9'))
    assert line["captureData"]["endpointInput"] == {
        "observedContentType": odd_type, "mode": "INPUT", "data": body.decode(),
        "encoding": "CSV"}
    assert line["captureData"]["endpointOutput"]["data"] == '{"a": "\\u00e9"}'
    assert line["eventMetadata"]["inferenceId"] == 'id "7" \u00e9'


def test_the_content_type_lists_decide_the_encoding_and_the_options_the_sides():
    config = on(Path("/unused"), json_types=frozenset({"application/jsonlines"}),
                capture_output=False)
    line = capturing.record(config, (0.0, b'{"a": 1}', "application/jsonlines", b"{}",
                                     "application/json", None))
    assert line["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert list(line["captureData"]) == ["endpointInput"]
    assert list(line["eventMetadata"]) == ["eventId", "inferenceTime"]


@pytest.fixture
def served(tiny_model_dir, tmp_path):
    """An app with capture on at 100 % into tmp_path/capture; the capture stopped after."""
    destination = tmp_path / "capture"
    destination.mkdir()
    config = settings.Config(model_dir=tiny_model_dir, capture=on(destination))
    app = create_app(config=config)
    capture = app.extensions["capture"]
    yield app.test_client(), capture, destination
    capture.stop()


def test_successful_invocations_are_captured_with_the_answer_sent_and_the_inference_id(served):
    client, capture, destination = served
    answers = []
    for number, accept in enumerate(("application/json", "text/csv")):
        reply = client.post("/invocations", json=RECORD, headers={
            "Accept": accept, "X-Amzn-SageMaker-Inference-Id": f"id-{number}"})
        assert reply.status_code == 200
        answers.append((reply.get_data(as_text=True), accept))
    plain = client.post("/invocations", data="Biscoe,48.6,16.0,230.0,5800.0,MALE",
                        content_type="text/csv")
    refused = client.post("/invocations", data="{not json", content_type="application/json")
    assert (plain.status_code, refused.status_code) == (200, 400)
    capture.stop()
    lines = sorted(captured(destination), key=lambda line: line["eventMetadata"].get(
        "inferenceId", "~"))
    assert [line["eventMetadata"].get("inferenceId") for line in lines] == ["id-0", "id-1", None]
    for line, (answer, accept) in zip(lines, answers, strict=False):
        assert json.loads(line["captureData"]["endpointInput"]["data"]) == RECORD
        output = line["captureData"]["endpointOutput"]
        assert (output["data"], output["observedContentType"]) == (answer, accept)
    assert lines[2]["captureData"]["endpointInput"]["data"] == "Biscoe,48.6,16.0,230.0,5800.0,MALE"
    assert capture.counts == {"captured": 3, "dropped": 0, "failed": 0, "skipped": 0,
                              "removed": 0}


def test_files_are_laid_out_by_endpoint_variant_and_the_hour_of_their_records(tmp_path,
                                                                               monkeypatch):
    capture = capturing.Capture(on(tmp_path))
    for moment in (1711825199.9, 1711825200.0, 1711825201.0):  # 18:59:59.9, then 19:00
        monkeypatch.setattr(capturing.time, "time", lambda moment=moment: moment)
        capture.submit(b"{}", "application/json", b"{}", "application/json", None)
    capture.flush()
    files = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.jsonl"))
    assert [LAYOUT.fullmatch(name).groups() for name in files] == [
        ("2024", "03", "30", "18"), ("2024", "03", "30", "19")]
    assert files[0].split("/")[-1].startswith("59-59-900-")
    assert [len(captured(tmp_path / Path(name).parent)) for name in files] == [1, 2]


def test_event_ids_are_distinct_random_version_4_uuids():
    ids = capturing.event_ids(2000)
    assert len(set(ids)) == 2000
    assert all(str(uuid.UUID(value)) == value and uuid.UUID(value).version == 4
               and uuid.UUID(value).variant == uuid.RFC_4122 for value in ids)
    # Every hex digit appears where the random bits are: nothing fixed but version and variant.
    assert {value[19] for value in ids} == set("89ab")
    assert {value[0] for value in ids} == set("0123456789abcdef")


def test_the_writers_remembered_types_and_seconds_stay_bounded(monkeypatch):
    monkeypatch.setattr(capturing, "MAX_CACHED", 8)
    encoder = capturing.Encoder(on(Path("/unused")))
    items = [(1711824045.0 + second, b"{}", f"application/x-{second}", b"{}",
              "application/json", None) for second in range(50)]
    lines = [json.loads(line) for line in encoder.lines(items).splitlines()]
    assert len(encoder._encodings) <= 8 and len(encoder._stamps) <= 8
    assert [line["eventMetadata"]["inferenceTime"] for line in lines[-2:]] == [
        "2024-03-30T18:41:33Z", "2024-03-30T18:41:34Z"]
    assert {line["captureData"]["endpointInput"]["encoding"] for line in lines} == {"BASE64"}


def test_sampling_keeps_about_the_percentage_asked(tmp_path):
    capture = capturing.Capture(capturing.Settings(destination=tmp_path,
                                                   sampling_percentage=30.0))
    sent = 2000
    for _ in range(sent):
        capture.submit(b"{}", "application/json", b"{}", "application/json", None)
    capture.flush()
    kept = len(captured(tmp_path))
    bound = 5 * math.sqrt(sent * 0.3 * 0.7)  # five standard deviations: fails once in ~3.5M
    assert abs(kept - 0.3 * sent) < bound, kept


def test_none_is_kept_at_zero_percent(tmp_path):
    capture = capturing.Capture(capturing.Settings(destination=tmp_path,
                                                   sampling_percentage=0.0))
    for _ in range(500):
        capture.submit(b"{}", "application/json", b"{}", "application/json", None)
    capture.flush()
    assert captured(tmp_path) == []


def test_a_reader_only_ever_sees_whole_files(tmp_path, monkeypatch):
    """A file seen under its *.jsonl name is whole lines and never grows after."""
    monkeypatch.setattr(capturing, "BATCH", 100)  # many files of about 5 MB
    capture = capturing.Capture(on(tmp_path)).start()
    body = json.dumps(RECORD).encode() * 200  # large files: a write takes a while
    sizes, broken = {}, []

    def send():
        for number in range(3000):
            capture.submit(body, "application/json", body, "application/json", str(number))
            if number % 10 == 0:
                time.sleep(0.005)  # the writer keeps up: many files, few drops
        capture.stop()

    sender = threading.Thread(target=send)
    sender.start()
    while sender.is_alive():
        for path in tmp_path.rglob("*.jsonl"):
            if path in sizes:  # read whole once; after that, it must not change
                if path.stat().st_size != sizes[path]:
                    broken.append(path)
                continue
            text = path.read_bytes()
            sizes[path] = len(text)
            try:
                whole = text.endswith(b"\n") and all(json.loads(line) for line in
                                                     text.splitlines())
            except ValueError:
                whole = False
            if not whole:
                broken.append(path)
    sender.join()
    assert len(sizes) > 10 and broken == []
    # What the writer could not keep up with is counted as dropped.
    assert len(captured(tmp_path)) == capture.counts["captured"] == \
        3000 - capture.counts["dropped"]
    assert not [path for path in tmp_path.rglob("*") if path.name.startswith(".")]


def test_stop_writes_everything_still_pending(tmp_path):
    capture = capturing.Capture(on(tmp_path)).start()
    for number in range(5000):
        capture.submit(b"{}", "application/json", b"{}", "application/json", str(number))
    capture.stop()
    ids = {line["eventMetadata"]["inferenceId"] for line in captured(tmp_path)}
    assert ids == {str(number) for number in range(5000)}


def test_two_workers_never_share_a_file(tmp_path):
    first, second = capturing.Capture(on(tmp_path)), capturing.Capture(on(tmp_path))
    for number in range(10):
        for worker in (first, second):
            worker.submit(b"{}", "application/json", b"{}", "application/json", str(number))
    first.flush()
    second.flush()
    assert len(list(tmp_path.rglob("*.jsonl"))) == 2
    assert len(captured(tmp_path)) == 20


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path, monkeypatch):
    monkeypatch.setattr(capturing, "MAX_PENDING", 10)
    capture = capturing.Capture(on(tmp_path))  # no writer: nothing leaves the queue
    for _ in range(15):
        capture.submit(b"{}", "application/json", b"{}", "application/json", None)
    assert capture.counts["dropped"] == 5
    capture.flush()
    assert len(captured(tmp_path)) == 10


def test_an_unwritable_destination_is_counted_and_logged_while_requests_succeed(
        tiny_model_dir, tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the capture folder should be")
    config = settings.Config(model_dir=tiny_model_dir, capture=on(blocked))
    app = create_app(config=config)
    capture = app.extensions["capture"]
    client = app.test_client()
    try:
        assert [client.post("/invocations", json=RECORD).status_code for _ in range(3)] == \
            [200] * 3
    finally:
        capture.stop()
    assert capture.counts == {"captured": 0, "dropped": 0, "failed": 3, "skipped": 0,
                              "removed": 0}
    assert "cannot write 3 captured record(s)" in caplog.text


def test_folders_and_files_made_below_the_destination_are_owner_only(tmp_path):
    tmp_path.chmod(0o777)  # a destination open to all: what is made below it is not
    capture = capturing.Capture(on(tmp_path))
    capture.submit(b"{}", "application/json", b"{}", "application/json", None)
    capture.flush()
    made = [path for path in tmp_path.rglob("*") if path.is_dir()]
    assert len(made) == 6 and {path.stat().st_mode & 0o777 for path in made} == {0o700}
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600


def test_a_record_over_the_size_bound_is_skipped_whole_counted_and_logged(tmp_path, caplog):
    capture = capturing.Capture(on(tmp_path, max_record_bytes=1000))
    capture.submit(b"x" * 600, "text/csv", b"y" * 400, "text/csv", "fits")
    capture.submit(b"x" * 600, "text/csv", b"y" * 401, "text/csv", "too-large")
    # Only the sides captured count: the answer is not kept, so the request fits.
    (tmp_path / "input").mkdir()
    alone = capturing.Capture(on(tmp_path / "input", max_record_bytes=1000,
                                 capture_output=False))
    alone.submit(b"x" * 1000, "text/csv", b"y" * 10_000, "text/csv", "input-only")
    capture.flush()
    alone.flush()
    assert sorted(line["eventMetadata"]["inferenceId"] for line in captured(tmp_path)) == \
        ["fits", "input-only"]
    assert (capture.counts["captured"], capture.counts["skipped"]) == (1, 1)
    assert "skipped capturing a record of 1001 bytes" in caplog.text
    assert "DATA_CAPTURE_MAX_RECORD_MB" in caplog.text


def test_past_the_quota_the_oldest_files_are_removed_counted_and_logged(tmp_path, caplog,
                                                                         monkeypatch):
    capture = capturing.Capture(on(tmp_path, max_total_bytes=20_000))
    moments = iter(range(1_700_000_000, 1_700_100_000, 1800))  # half an hour apart
    monkeypatch.setattr(capturing.time, "time", lambda: next(moments))
    for number in range(12):
        capture.submit(b"x" * 2000, "text/csv", b"y", "text/csv", str(number))
        capture.flush()
        files = list(tmp_path.rglob("*.jsonl"))
        assert sum(path.stat().st_size for path in files) <= 20_000
    kept = [int(line["eventMetadata"]["inferenceId"]) for line in captured(tmp_path)]
    assert kept == list(range(12 - len(kept), 12)) and 5 <= len(kept) < 12  # the newest
    assert capture.counts["removed"] == 12 - len(kept)
    assert "oldest capture file(s)" in caplog.text and "DATA_CAPTURE_MAX_TOTAL_MB" in caplog.text


def test_the_size_bound_and_the_quota_are_settings():
    base = {"DATA_CAPTURE_DESTINATION": "/opt/ml/capture"}
    default = settings.from_env(base).capture
    assert (default.max_record_bytes, default.max_total_bytes) == (12 * 2**20, 1024 * 2**20)
    chosen = settings.from_env({**base, "DATA_CAPTURE_MAX_RECORD_MB": "2",
                                "DATA_CAPTURE_MAX_TOTAL_MB": "0"}).capture
    assert (chosen.max_record_bytes, chosen.max_total_bytes) == (2 * 2**20, 0)
    for name, value in (("DATA_CAPTURE_MAX_RECORD_MB", "0"), ("DATA_CAPTURE_MAX_TOTAL_MB", "-1"),
                        ("DATA_CAPTURE_MAX_TOTAL_MB", "lots")):
        with pytest.raises(settings.ConfigError, match=f"^{name}="):
            settings.from_env({**base, name: value})


def test_capture_is_off_unless_a_destination_is_set():
    assert settings.from_env({}).capture is None
    on_ = settings.from_env({"DATA_CAPTURE_DESTINATION": "/opt/ml/capture",
                             "DATA_CAPTURE_OPTIONS": "output",
                             "DATA_CAPTURE_CSV_CONTENT_TYPES": "text/csv, Text/Plain"}).capture
    assert (on_.destination, on_.sampling_percentage, on_.capture_input, on_.capture_output,
            on_.csv_types, on_.endpoint, on_.variant) == (
        Path("/opt/ml/capture"), 20.0, False, True, frozenset({"text/csv", "text/plain"}),
        "endpoint", "AllTraffic")


@pytest.mark.parametrize(("name", "value"), [
    ("DATA_CAPTURE_DESTINATION", "capture"),
    ("DATA_CAPTURE_SAMPLING_PERCENTAGE", "101"),
    ("DATA_CAPTURE_SAMPLING_PERCENTAGE", "-1"),
    ("DATA_CAPTURE_SAMPLING_PERCENTAGE", "half"),
    ("DATA_CAPTURE_OPTIONS", "Input,Headers"),
    ("DATA_CAPTURE_OPTIONS", ","),
    ("DATA_CAPTURE_JSON_CONTENT_TYPES", "json"),
    ("DATA_CAPTURE_CSV_CONTENT_TYPES", "text/csv; charset=utf-8"),
    ("DATA_CAPTURE_ENDPOINT_NAME", "my/endpoint"),
    ("DATA_CAPTURE_VARIANT_NAME", "-AllTraffic"),
])
def test_a_capture_setting_that_cannot_be_used_is_refused_by_name(name, value):
    environ = {"DATA_CAPTURE_DESTINATION": "/opt/ml/capture", name: value}
    with pytest.raises(settings.ConfigError, match=f"^{name}="):
        settings.from_env(environ)
