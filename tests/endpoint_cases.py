"""The endpoint's contract as a table of cases, asserted in-process and against the image.

Each layer supplies a `send(method, path, body, headers) -> Reply`; the cases and their checks
are the same, so the in-process test client (werkzeug's) and real HTTP through nginx prove the
same things.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

RECORD = {
    "island": "Biscoe",
    "bill_length_mm": 48.6,
    "bill_depth_mm": 16.0,
    "flipper_length_mm": 230,
    "body_mass_g": 5800,
    "sex": "male",
}
CSV_LINE = "Biscoe,48.6,16.0,230,5800,male"
MB = 1024 * 1024
# The strings processing and serving both read as a missing value, spaces around them aside.
MISSING_MARKERS = ("", "NA", "N/A", ".", "nan", "NaN")


@dataclass
class Reply:
    status: int
    headers: dict  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Case:
    id: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    status: int = 200
    check: Callable[[Reply, list], None] | None = None


def json_body(value) -> bytes:
    return json.dumps(value).encode()


def assert_result(result: dict, labels: list) -> None:
    """One prediction: a known species, its confidence, and probabilities summing to 1."""
    assert set(result) == {"prediction", "confidence", "probabilities"}, result
    assert set(result["probabilities"]) == set(labels)
    assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-4)
    best = max(result["probabilities"], key=result["probabilities"].get)
    assert result["prediction"] == best
    assert math.isclose(result["confidence"], result["probabilities"][best], abs_tol=1e-6)


def is_json(reply: Reply) -> None:
    assert reply.headers["content-type"].startswith("application/json"), reply.headers


def one_result(reply: Reply, labels: list) -> None:
    is_json(reply)
    assert_result(reply.json(), labels)


def results(count: int) -> Callable[[Reply, list], None]:
    def check(reply: Reply, labels: list) -> None:
        is_json(reply)
        body = reply.json()
        assert isinstance(body, list) and len(body) == count, body
        for result in body:
            assert_result(result, labels)

    return check


def predictions(reply: Reply, labels: list) -> None:
    is_json(reply)
    body = reply.json()
    assert list(body) == ["predictions"] and len(body["predictions"]) == 2
    for result in body["predictions"]:
        assert_result(result, labels)


def csv_lines(count: int) -> Callable[[Reply, list], None]:
    def check(reply: Reply, labels: list) -> None:
        assert reply.headers["content-type"].startswith("text/csv")
        lines = reply.body.decode().splitlines()
        assert len(lines) == count
        for line in lines:
            species, confidence = line.split(",")
            assert species in labels and 0 < float(confidence) <= 1

    return check


def json_lines(count: int) -> Callable[[Reply, list], None]:
    def check(reply: Reply, labels: list) -> None:
        assert reply.headers["content-type"].startswith("application/jsonlines")
        lines = reply.body.decode().splitlines()
        assert len(lines) == count
        for line in lines:
            assert_result(json.loads(line), labels)

    return check


def error_naming(*words: str) -> Callable[[Reply, list], None]:
    def check(reply: Reply, labels: list) -> None:
        is_json(reply)
        message = reply.json()["error"]
        assert isinstance(message, str) and message
        for word in words:
            assert word in message, (word, message)
        assert "Traceback" not in message

    return check


def allowed(method: str) -> Callable[[Reply, list], None]:
    def check(reply: Reply, labels: list) -> None:
        error_naming()(reply, labels)
        assert method in reply.headers["allow"]

    return check


def empty(reply: Reply, labels: list) -> None:
    assert reply.body == b""


JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
JSONL = {"Content-Type": "application/jsonlines"}
POST = "POST"
INV = "/invocations"

CASES = [
    Case("ping", "GET", "/ping", check=empty),
    Case("json-record", POST, INV, json_body(RECORD), JSON, check=one_result),
    Case("json-batch", POST, INV, json_body([RECORD, RECORD, {**RECORD, "sex": None}]), JSON,
         check=results(3)),
    Case("json-instances", POST, INV, json_body({"instances": [RECORD, RECORD]}), JSON,
         check=predictions),
    Case("charset-tolerated", POST, INV, json_body(RECORD),
         {"Content-Type": "application/json; charset=utf-8"}, check=one_result),
    Case("csv-in-json-out", POST, INV, f"{CSV_LINE}\n{CSV_LINE}\n".encode(),
         {**CSV, "Accept": "application/json"}, check=results(2)),
    Case("csv-label-column-ignored", POST, INV, f"Gentoo,{CSV_LINE}\n".encode(),
         {**CSV, "Accept": "text/csv"}, check=csv_lines(1)),
    Case("csv-charset-tolerated", POST, INV, f"{CSV_LINE}\n".encode(),
         {"Content-Type": "text/csv; charset=utf-8", "Accept": "text/csv"}, check=csv_lines(1)),
    Case("csv-missing-values", POST, INV, b"Dream,NA,,181,.,\n", {**CSV, "Accept": "text/csv"},
         check=csv_lines(1)),
    Case("jsonlines", POST, INV, (json.dumps(RECORD) + "\n" + json.dumps(RECORD)).encode(),
         {**JSONL, "Accept": "application/jsonlines"}, check=json_lines(2)),
    Case("accept-any", POST, INV, json_body(RECORD), {**JSON, "Accept": "*/*"}, check=one_result),
    Case("accept-list-first-supported", POST, INV, json_body([RECORD]),
         {**JSON, "Accept": "text/html, text/csv, application/json"}, check=csv_lines(1)),
    Case("accept-highest-q-value", POST, INV, json_body([RECORD]),
         {**JSON, "Accept": "text/html, text/csv;q=0.9, application/json"}, check=results(1)),
    Case("accept-q-zero-is-not-acceptable", POST, INV, json_body([RECORD]),
         {**JSON, "Accept": "application/json;q=0, text/csv"}, check=csv_lines(1)),
    Case("accept-text-any", POST, INV, json_body([RECORD]), {**JSON, "Accept": "text/*"},
         check=csv_lines(1)),
    Case("accept-application-any", POST, INV, json_body(RECORD),
         {**JSON, "Accept": "application/*"}, check=one_result),
    Case("species-and-unknown-fields-ignored", POST, INV,
         json_body({**RECORD, "species": "Adelie", "colour": "black"}), JSON, check=one_result),
    Case("unknown-island-ignored", POST, INV, json_body({**RECORD, "island": "Atlantis"}), JSON,
         check=one_result),
    Case("nulls-and-missing-keys", POST, INV,
         json_body({"island": None, "bill_length_mm": 40, "sex": None}), JSON, check=one_result),
    Case("out-of-range-numbers", POST, INV, json_body({**RECORD, "body_mass_g": 1e9}), JSON,
         check=one_result),
    Case("numbers-within-float32", POST, INV,
         json_body([{**RECORD, "bill_length_mm": 3e38}, {**RECORD, "body_mass_g": -1e30}]),
         JSON, check=results(2)),
    # Beyond float32 (the graph's input type) a number is refused, not silently made infinite.
    Case("numbers-beyond-float32", POST, INV,
         json_body([RECORD, {**RECORD, "body_mass_g": -1e300}]), JSON, 400,
         error_naming("record 1", "body_mass_g", "float32")),
    Case("numeric-strings", POST, INV, json_body({**RECORD, "bill_length_mm": "48.6"}), JSON,
         check=one_result),
    # Client mistakes: 4xx with a JSON error that names the problem.
    Case("empty-body", POST, INV, b"", JSON, 400, error_naming()),
    Case("malformed-json", POST, INV, b'{"island": "Biscoe",', JSON, 400, error_naming()),
    Case("wrong-type", POST, INV, json_body({**RECORD, "bill_length_mm": "long"}), JSON, 400,
         error_naming("bill_length_mm")),
    Case("bool-is-not-a-number", POST, INV, json_body({**RECORD, "body_mass_g": True}), JSON,
         400, error_naming("body_mass_g")),
    Case("bad-record-index", POST, INV, json_body([RECORD, {**RECORD, "sex": 3}]), JSON, 400,
         error_naming("sex", "1")),
    Case("record-not-an-object", POST, INV, json_body([RECORD, "Biscoe"]), JSON, 400,
         error_naming("1")),
    Case("csv-wrong-column-count", POST, INV, f"{CSV_LINE}\nBiscoe,48.6\n".encode(), CSV, 400,
         error_naming("line 2")),
    Case("jsonlines-malformed-line", POST, INV, (json.dumps(RECORD) + "\n{nope\n").encode(),
         JSONL, 400, error_naming("line 2")),
    Case("unsupported-content-type", POST, INV, b"hello", {"Content-Type": "text/plain"}, 415,
         error_naming("text/plain")),
    # A picture as the body is for image models only.
    Case("image-body-to-a-tabular-model", POST, INV, b"\x89PNG\r\n\x1a\n",
         {"Content-Type": "image/png"}, 415, error_naming("image/png", "application/json")),
    Case("unsupported-accept", POST, INV, json_body(RECORD), {**JSON, "Accept": "image/png"},
         406, error_naming("image/png")),
    Case("accept-refusing-every-type", POST, INV, json_body(RECORD),
         {**JSON, "Accept": "application/json;q=0, text/*;q=0, image/png"}, 406,
         error_naming("q=0")),
    Case("custom-attributes-too-long", POST, INV, json_body(RECORD),
         {**JSON, "X-Amzn-SageMaker-Custom-Attributes": "x" * 1025}, 400,
         error_naming("Custom-Attributes")),
    Case("unknown-path", "GET", "/nowhere", status=404, check=error_naming()),
    Case("wrong-method", "GET", INV, status=405, check=allowed("POST")),
    Case("trace-refused", "TRACE", "/ping", status=405, check=error_naming()),
]


def check_case(case: Case, reply: Reply, labels: list) -> None:
    assert reply.status == case.status, (reply.status, reply.body[:500])
    if case.check:
        case.check(reply, labels)


def padded_json(size: int) -> bytes:
    """A valid one-record JSON body of exactly `size` bytes (padded with whitespace)."""
    body = json_body(RECORD)
    return body[:-1] + b" " * (size - len(body)) + b"}"


def distinct_records(count: int) -> list[dict]:
    return [
        {**RECORD, "bill_length_mm": 35 + i * 0.7, "flipper_length_mm": 180 + i * 2,
         "island": ["Biscoe", "Dream", "Torgersen"][i % 3], "sex": ["male", "female", None][i % 3]}
        for i in range(count)
    ]


# Checks that take several requests; `send(method, path, body, headers) -> Reply`.
JSON_HEADERS = {"Content-Type": "application/json"}


def check_batch_order(send) -> None:
    """A batch answers as the same records one by one would, in order."""
    records = distinct_records(40)
    batch = send("POST", INV, json_body(records), JSON_HEADERS).json()
    singles = [send("POST", INV, json_body(r), JSON_HEADERS).json() for r in records]
    assert [b["prediction"] for b in batch] == [s["prediction"] for s in singles]
    for b, s in zip(batch, singles, strict=True):
        for label, p in b["probabilities"].items():
            assert abs(p - s["probabilities"][label]) < 1e-5
    assert len({b["confidence"] for b in batch}) > 1  # distinct records, distinct answers


def check_payload_limit(send, megabytes: int = 6) -> None:
    """Exactly the limit is accepted, one byte more is 413 with a JSON error."""
    assert send("POST", INV, padded_json(megabytes * MB), JSON_HEADERS).status == 200
    refused = send("POST", INV, padded_json(megabytes * MB + 1), JSON_HEADERS)
    assert refused.status == 413
    # The app's own words in both layers: one place decides (serving/bodies.py read).
    assert f"request body of {megabytes * MB + 1} bytes" in refused.json()["error"]


def _answer(send, body: str, content_type: str):
    reply = send("POST", INV, body.encode(), {"Content-Type": content_type,
                                             "Accept": "application/json"})
    assert reply.status == 200, reply.body[:500]
    return reply.json()


# One record and a batch: the same answers whatever the batch size.
SIZES = (1, 20)


def check_spaces_are_insignificant(send) -> None:
    """Spaces around a CSV field or a JSON string change no answer, alone or in a batch."""
    spaced = ", ".join(CSV_LINE.split(",")).replace(" male", ' "male" ')  # a quote after a space
    padded = {**RECORD, "island": " Biscoe", "sex": "male ", "bill_length_mm": " 48.6 "}
    for count in SIZES:
        plain = _answer(send, f"{CSV_LINE}\n" * count, "text/csv")
        assert _answer(send, f"{spaced}\n" * count, "text/csv") == plain
        assert _answer(send, json.dumps([padded] * count), "application/json") == plain


def check_missing_markers(send) -> None:
    """Each missing-value marker, spaced or not, answers as a null does."""
    nulls = {**RECORD, "bill_depth_mm": None, "sex": None}
    for count in SIZES:
        expected = _answer(send, json.dumps([nulls] * count), "application/json")
        assert expected != _answer(send, json.dumps([RECORD] * count), "application/json")
        for marker in MISSING_MARKERS:
            for text in (marker, f" {marker} "):
                line = f"Biscoe,48.6,{text},230,5800,{text}\n"
                assert _answer(send, line * count, "text/csv") == expected, repr(text)


def check_large_bodies_refused_as_json(send, megabytes: int = 6, rounds: int = 5) -> None:
    """Refusals of large bodies are their 4xx with a JSON error, every time (never a 502)."""
    headers = {**JSON_HEADERS, "Accept": "image/png"}
    for _ in range(rounds):
        too_large = send("POST", INV, padded_json(2 * megabytes * MB), JSON_HEADERS)
        assert too_large.status == 413, too_large.body[:200]
        assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" in too_large.json()["error"]
        refused = send("POST", INV, padded_json(megabytes * MB), headers)
        assert refused.status == 406, refused.body[:200]
        assert "image/png" in refused.json()["error"]


def check_request_id_and_attributes(send) -> None:
    headers = {**JSON_HEADERS, "X-Amzn-SageMaker-Inference-Id": "abc-123",
               "X-Amzn-SageMaker-Custom-Attributes": "trace=1"}
    reply = send("POST", INV, json_body(RECORD), headers)
    assert reply.headers["x-amzn-sagemaker-inference-id"] == "abc-123"
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    generated = send("POST", INV, json_body(RECORD), JSON_HEADERS)
    assert len(generated.headers["x-amzn-sagemaker-inference-id"]) >= 16


# An image model's cases: the tiny 8x8 digits-like model in-process, a Digits archive later.
def digit_pixels(height: int = 8, width: int = 8, top: float = 16.0) -> list:
    """A bright vertical stroke on a dark background, as the models take it."""
    return [[top if 2 * width // 8 <= col < 4 * width // 8 else 0.0 for col in range(width)]
            for _row in range(height)]


def picture(kind: str = "PNG", size: int = 32, light: bool = False) -> bytes:
    """A PNG/JPEG of the stroke, `size` pixels square; dark ink on white paper when light."""
    import io

    from PIL import Image

    ink, paper = (0, 255) if light else (255, 0)
    image = Image.new("L", (size, size), paper)
    # The columns of digit_pixels' stroke (2 and 3 of 8), scaled to the picture.
    image.paste(ink, (size * 2 // 8, 0, size * 4 // 8, size))
    out = io.BytesIO()
    image.convert("RGB").save(out, kind)
    return out.getvalue()


def bilevel_png(side: int) -> bytes:
    """A 1-bit PNG of one colour: a few hundred bytes that decode to side x side pixels."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


def png_with_inflating_chunk(kind: bytes = b"zTXt") -> bytes:
    """The stroke's PNG with a compressed chunk that inflates to 2 MB (Pillow stops at 1 MB)."""
    import struct
    import zlib

    data = (b"Comment\0\0" if kind == b"zTXt" else b"icc\0\0") + zlib.compress(b"\0" * 2 * MB)
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = picture("PNG")
    return png[:33] + chunk + png[33:]  # after the signature (8 bytes) and IHDR (25)


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


PIXELS = {"pixels": digit_pixels()}
PIXEL_CSV = ",".join(str(v) for row in digit_pixels() for v in row)

IMAGE_CASES = [
    Case("image-pixels", POST, INV, json_body(PIXELS), JSON, check=one_result),
    Case("image-png-base64", POST, INV, json_body({"image": b64(picture("PNG"))}), JSON,
         check=one_result),
    Case("image-jpeg-base64", POST, INV, json_body({"image": b64(picture("JPEG"))}), JSON,
         check=one_result),
    Case("image-batch-mixed", POST, INV,
         json_body({"instances": [PIXELS, {"image": b64(picture("PNG", light=True))}]}), JSON,
         check=predictions),
    Case("image-csv-pixel-rows", POST, INV, f"{PIXEL_CSV}\n3,{PIXEL_CSV}\n".encode(),
         {**CSV, "Accept": "text/csv"}, check=csv_lines(2)),
    Case("image-jsonlines", POST, INV, (json.dumps(PIXELS) + "\n" + json.dumps(PIXELS)).encode(),
         {**JSONL, "Accept": "application/jsonlines"}, check=json_lines(2)),
    Case("image-wrong-shape", POST, INV, json_body([PIXELS, {"pixels": [[0] * 8] * 7}]), JSON,
         400, error_naming("record 1", "pixels", "8 rows of 8")),
    Case("image-pixel-out-of-range", POST, INV, json_body({"pixels": [[17] * 8] * 8}), JSON,
         400, error_naming("record 0", "pixels", "between 0 and 16")),
    Case("image-pixel-not-a-number", POST, INV, json_body({"pixels": [[True] * 8] * 8}), JSON,
         400, error_naming("record 0", "pixels", "bool")),
    Case("image-bad-base64", POST, INV, json_body([PIXELS, {"image": "not base64!"}]), JSON,
         400, error_naming("record 1", "image", "base64")),
    Case("image-not-an-image", POST, INV, json_body({"image": b64(b"GIF89a no picture")}), JSON,
         400, error_naming("record 0", "image", "PNG or JPEG")),
    Case("image-two-inputs", POST, INV, json_body({**PIXELS, "image": b64(picture())}), JSON,
         400, error_naming("record 0", "exactly one of")),
    Case("image-no-input", POST, INV, json_body({"island": "Biscoe"}), JSON, 400,
         error_naming("record 0", "pixels")),
    Case("image-url-off-by-default", POST, INV, json_body({"url": "http://localhost/x.png"}),
         JSON, 400, error_naming("record 0", "url", "IMAGE_URL_ALLOWED_HOSTS")),
    Case("image-csv-wrong-width", POST, INV, b"1,2,3\n", CSV, 400,
         error_naming("line 1", "64 pixel values")),
    Case("image-png-body", POST, INV, picture("PNG"), {"Content-Type": "image/png"},
         check=one_result),
    Case("image-x-image-jpeg-body", POST, INV, picture("JPEG", light=True),
         {"Content-Type": "application/x-image"}, check=one_result),
    Case("image-body-not-an-image", POST, INV, b"GIF89a no picture",
         {"Content-Type": "image/jpeg"}, 400, error_naming("record 0", "image", "PNG or JPEG")),
    # Hostile pictures and URLs: refused before the work, never a 500 (docs/hardening.md).
    Case("image-over-the-request-pixel-budget", POST, INV,
         json_body([PIXELS, {"image": b64(bilevel_png(4096))}]), JSON, 400,
         error_naming("record 1", "image", "16777216 pixels", "IMAGE_REQUEST_PIXELS")),
    Case("image-png-chunk-inflating-past-1-mb", POST, INV, png_with_inflating_chunk(),
         {"Content-Type": "image/png"}, 400, error_naming("record 0", "image", "damaged")),
    Case("image-png-cut-inside-a-chunk", POST, INV, picture("PNG")[:16],
         {"Content-Type": "image/png"}, 400, error_naming("record 0", "image", "damaged")),
    Case("image-url-that-is-no-url", POST, INV, json_body({"url": "http://[::1/"}), JSON, 400,
         error_naming("record 0", "url", "not a URL")),
]


def check_picture_bodies_answer_as_base64_records(send) -> None:
    """A picture sent as the body gets the answer of the same picture as a JSON "image"."""
    for kind, content_type in (("PNG", "image/png"), ("JPEG", "application/x-image")):
        for light in (False, True):
            data = picture(kind, size=40, light=light)
            raw = send("POST", INV, data, {"Content-Type": content_type})
            wrapped = send("POST", INV, json_body({"image": b64(data)}), JSON_HEADERS)
            assert raw.status == wrapped.status == 200, raw.body[:200]
            assert raw.json() == wrapped.json()


# Any ONNX graph (tiny_model.build_two_inputs: "features" FP32 [batch, 3], "offset" INT64
# [batch, 1] -> "scores" = features * 2 + offset, "total" = row sums), over v2 JSON.
def v2_input(name: str, datatype: str, shape: list, data: list) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


FEATURES = v2_input("features", "FP32", [2, 3], [1, 2, 3, 4, 5, 6])
OFFSET = v2_input("offset", "INT64", [2, 1], [1, -1])


def v2_outputs(expected: dict, request_id=None) -> Callable[[Reply, list], None]:
    """The v2 answer: every output named, typed and shaped, with the expected values."""
    def check(reply: Reply, _labels: list) -> None:
        is_json(reply)
        body = reply.json()
        assert body["model_name"] and body.get("id") == request_id, body
        outputs = {o["name"]: o for o in body["outputs"]}
        assert set(outputs) == set(expected), body
        for name, (datatype, shape, data) in expected.items():
            assert (outputs[name]["datatype"], outputs[name]["shape"]) == (datatype, shape)
            assert all(math.isclose(a, b, abs_tol=1e-5)
                       for a, b in zip(outputs[name]["data"], data, strict=True)), outputs[name]

    return check


def json_equal(expected) -> Callable[[Reply, list], None]:
    def check(reply: Reply, _labels: list) -> None:
        is_json(reply)
        assert reply.json() == expected, reply.json()

    return check


SCORES = ("FP32", [2, 3], [3, 5, 7, 7, 9, 11])
TOTALS = ("FP32", [2], [15, 27])

ANY_ONNX_CASES = [
    Case("v2-two-inputs", POST, INV, json_body({"inputs": [FEATURES, OFFSET], "id": "r-1"}),
         JSON, check=v2_outputs({"scores": SCORES, "total": TOTALS}, "r-1")),
    Case("v2-nested-data", POST, INV, json_body({"inputs": [
        {**FEATURES, "data": [[1, 2, 3], [4, 5, 6]]}, {**OFFSET, "data": [[1], [-1]]}]}),
         JSON, check=v2_outputs({"scores": SCORES, "total": TOTALS})),
    Case("v2-chosen-output", POST, INV, json_body({"inputs": [FEATURES, OFFSET],
                                                   "outputs": [{"name": "total"}]}),
         JSON, check=v2_outputs({"total": TOTALS})),
    Case("instances-rows", POST, INV, json_body({"instances": [
        {"features": [1, 2, 3], "offset": [1]}, {"features": [4, 5, 6], "offset": [-1]}]}),
         JSON, check=json_equal({"predictions": [{"scores": [3, 5, 7], "total": 15},
                                                 {"scores": [7, 9, 11], "total": 27}]})),
    Case("columnar-inputs", POST, INV, json_body({"inputs": {
        "features": [[1, 2, 3]], "offset": [[0]]}}), JSON,
         check=json_equal({"outputs": {"scores": [[2, 4, 6]], "total": [12]}})),
    Case("any-ping", "GET", "/ping", check=empty),
    # Mistakes: 400s naming the input.
    Case("v2-wrong-shape", POST, INV, json_body({"inputs": [
        {**FEATURES, "shape": [2, 4], "data": [0] * 8}, OFFSET]}), JSON, 400,
         error_naming("features", "[2, 4]", "[?, 3]")),
    Case("v2-shape-and-data-disagree", POST, INV, json_body({"inputs": [
        {**FEATURES, "shape": [3, 3]}, OFFSET]}), JSON, 400,
         error_naming("features", "9 values", "6")),
    Case("v2-wrong-datatype", POST, INV, json_body({"inputs": [
        {**FEATURES, "datatype": "FP64"}, OFFSET]}), JSON, 400,
         error_naming("features", "FP64", "FP32")),
    Case("v2-strings-for-numbers", POST, INV, json_body({"inputs": [
        FEATURES, {**OFFSET, "data": ["one", "two"]}]}), JSON, 400,
         error_naming("offset", "INT64", "strings")),
    Case("v2-fraction-for-an-integer", POST, INV, json_body({"inputs": [
        FEATURES, {**OFFSET, "data": [1.5, 2]}]}), JSON, 400,
         error_naming("offset", "whole numbers")),
    Case("v2-beyond-float32", POST, INV, json_body({"inputs": [
        {**FEATURES, "data": [1e39, 2, 3, 4, 5, 6]}, OFFSET]}), JSON, 400,
         error_naming("features", "FP32")),
    Case("v2-missing-input", POST, INV, json_body({"inputs": [FEATURES]}), JSON, 400,
         error_naming("offset")),
    Case("v2-unknown-input", POST, INV, json_body({"inputs": [
        FEATURES, OFFSET, v2_input("colour", "FP32", [1], [1])]}), JSON, 400,
         error_naming("colour", "features, offset")),
    Case("v2-unknown-output", POST, INV, json_body({"inputs": [FEATURES, OFFSET],
                                                    "outputs": [{"name": "nope"}]}),
         JSON, 400, error_naming("nope", "scores, total")),
    Case("plain-array-needs-one-input", POST, INV, json_body([[1, 2, 3]]), JSON, 400,
         error_naming("single-input", "features, offset")),
    Case("instance-without-an-input", POST, INV, json_body({"instances": [
        {"features": [1, 2, 3]}]}), JSON, 400, error_naming("instances[0]", "offset")),
    Case("any-empty-body", POST, INV, b"", JSON, 400, error_naming("empty")),
    Case("any-malformed-json", POST, INV, b'{"inputs": [', JSON, 400, error_naming("JSON")),
    Case("any-csv-is-unsupported", POST, INV, b"1,2,3\n", CSV, 415,
         error_naming("text/csv", "application/json")),
    Case("any-accept-refusing-json", POST, INV, json_body({"inputs": [FEATURES, OFFSET]}),
         {**JSON, "Accept": "text/csv"}, 406, error_naming("text/csv")),
]


# text/csv rows for a single-input 2-D numeric graph without a signature (tiny_model.build_iris:
# "features" FP32 [?, 4] -> "scores" [?, 3], the class of each row decided by petal sizes).
IRIS_CSV = b"5.1,3.5,1.4,0.2\n6.0,2.9,4.5,1.5\r\n6.9,3.1,5.9,2.3\n"


def iris_classes(kind: str, classes: list) -> Callable[[Reply, list], None]:
    """The rows' scores, answered as JSON (a plain array) or CSV lines: argmax and sums."""
    def check(reply: Reply, _labels: list) -> None:
        assert reply.headers["content-type"].startswith(kind), reply.headers
        if kind == "text/csv":
            rows = [[float(v) for v in line.split(",")] for line in reply.body.decode()
                    .splitlines()]
        else:
            rows = reply.json()
        assert [row.index(max(row)) for row in rows] == classes, rows
        assert all(math.isclose(sum(row), 1, abs_tol=1e-5) for row in rows)

    return check


ANY_ONNX_CSV_CASES = [
    Case("csv-rows-answered-as-json", POST, INV, IRIS_CSV, CSV,
         check=iris_classes("application/json", [0, 1, 2])),
    Case("csv-rows-answered-as-csv", POST, INV, IRIS_CSV, {**CSV, "Accept": "text/csv"},
         check=iris_classes("text/csv", [0, 1, 2])),
    Case("json-rows-answered-as-csv", POST, INV, json_body([[6.9, 3.1, 5.9, 2.3]]),
         {**JSON, "Accept": "text/csv"}, check=iris_classes("text/csv", [2])),
    Case("csv-a-word-for-a-number", POST, INV, b"5.1,3.5,1.4,0.2\n6.0,two,4.5,1.5\n", CSV, 400,
         error_naming("row 2, column 2", "'two'", "features")),
    Case("csv-a-header-row", POST, INV, b"sepal_length,sepal_width,a,b\n5.1,3.5,1.4,0.2\n", CSV,
         400, error_naming("row 1, column 1", "sepal_length", "no header")),
    Case("csv-an-empty-cell", POST, INV, b"5.1,3.5,1.4,0.2\n5.1,3.5,,0.2\n", CSV, 400,
         error_naming("row 2, column 3")),
    Case("csv-a-row-too-short", POST, INV, b"5.1,3.5,1.4,0.2\n5.1,3.5,1.4\n", CSV, 400,
         error_naming("row 2", "3 columns", "features", "4")),
    Case("csv-beyond-float32", POST, INV, b"1e39,3.5,1.4,0.2\n", CSV, 400,
         error_naming("features", "FP32")),
    Case("csv-no-rows", POST, INV, b"\n", CSV, 400, error_naming("no rows")),
    Case("csv-not-utf8", POST, INV, b"5.1,\xff\n", CSV, 400, error_naming("UTF-8")),
    Case("csv-jsonlines-accept", POST, INV, IRIS_CSV, {**CSV, "Accept": "application/jsonlines"},
         406, error_naming("application/jsonlines", "text/csv")),
]

# The two example inference handlers (examples/endpoint-toolkit, examples/endpoint-tfs-handler)
# on tiny_model.build_iris answer alike: the same table runs on both, in-process and on the image.
IRIS_JSON = {"features": [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.9, 2.3]]}


def labelled(*labels: str) -> Callable[[Reply, list], None]:
    def check(reply: Reply, _labels: list) -> None:
        is_json(reply)
        predictions = reply.json()["predictions"]
        assert [p["label"] for p in predictions] == list(labels), predictions
        for p in predictions:
            assert math.isclose(sum(p["scores"]), 1, abs_tol=1e-4)

    return check


HANDLER_CASES = [
    Case("handler-ping", "GET", "/ping", check=empty),
    Case("handler-json", POST, INV, json_body(IRIS_JSON), JSON,
         check=labelled("setosa", "virginica")),
    Case("handler-csv", POST, INV, b"6.0,2.9,4.5,1.5\n5.1,3.5,1.4,0.2\n",
         {**CSV, "Accept": "application/json"}, check=labelled("versicolor", "setosa")),
    # A ValueError while decoding, or the REST API's refusal passed on, is the client's.
    Case("handler-wrong-width", POST, INV, json_body({"features": [[1, 2, 3]]}), JSON, 400,
         error_naming("features", "[1, 3]")),
    Case("handler-malformed-json", POST, INV, b'{"features": [', JSON, 400, error_naming()),
    Case("handler-not-utf8", POST, INV, b"\x00\xff{not json", JSON, 400, error_naming()),
    Case("handler-unsupported-type", POST, INV, b"hello", {"Content-Type": "text/plain"}, 400,
         error_naming("text/plain")),
    Case("handler-payload-limit", POST, INV, padded_json(6 * MB + 1), JSON, 413,
         error_naming("SAGEMAKER_MAX_PAYLOAD_IN_MB")),
]
