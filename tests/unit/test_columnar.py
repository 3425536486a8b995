"""The columnar reading of bodies (serving/codecs.COLUMNAR) answers exactly as the plain one:
the csv module and the signature check record by record. Same status, same bytes, on the case
tables and on bodies the tables lack (batches, markers, spaces, quotes, label columns)."""

import pytest

from serving import codecs, records
from serving import config as settings
from serving import model as hooks
from serving.app import create_app

from endpoint_cases import (
    CASES,
    IMAGE_CASES,
    PIXELS,
    RECORD,
    Reply,
    digit_pixels,
    distinct_records,
    json_body,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    return create_app(config=settings.Config(model_dir=tiny_model_dir)).test_client()


@pytest.fixture(scope="module")
def image_client(tiny_image_model_dir):
    return create_app(config=settings.Config(model_dir=tiny_image_model_dir)).test_client()


def send(client, method, path, body=None, headers=None) -> Reply:
    response = client.open(path, method=method, data=body, headers=headers or {})
    return Reply(response.status_code, dict(response.headers), response.get_data())


def both_readings(client, monkeypatch, method, path, body, headers):
    columnar = send(client, method, path, body, headers)
    monkeypatch.setattr(codecs, "COLUMNAR", False)
    plain = send(client, method, path, body, headers)
    monkeypatch.setattr(codecs, "COLUMNAR", True)
    assert (columnar.status, columnar.body) == (plain.status, plain.body)
    return columnar


def csv_of(records: list) -> bytes:
    return "".join(",".join("" if r[name] is None else str(r[name]) for name in RECORD) + "\n"
                   for r in records).encode()


# Bodies beyond the table's: batches of distinct records, markers, spaces, labels, quotes.
ROWS = csv_of(distinct_records(40))
EQUAL_BODIES = [
    (json_body(distinct_records(40)), "application/json"),
    (ROWS, "text/csv"),
    (b"Adelie," + ROWS.replace(b"\n", b"\nAdelie,", 39), "text/csv"),  # a label column
    (ROWS.replace(b",", b", ").replace(b"\n", b"\n  \n "), "text/csv"),  # spaces, blank lines
    (ROWS.replace(b"male", b'"male"'), "text/csv"),  # quotes: the csv module's business
    (ROWS.replace(b"\n", b"\r\n"), "text/csv"),
    (b"Dream,NA,,181,.,\nBiscoe, nan ,1_6.5,1e3,-0,NaN\n", "text/csv"),
    (b"Dream,inf,1,2,3,male\n", "text/csv"),
    (b"Dream,1,2,3,4,male\nGentoo,Dream,1,2,3,4,male\n", "text/csv"),  # labelled unlike line 1
    (json_body([RECORD, {**RECORD, "body_mass_g": "1e39"}]), "application/json"),
    (json_body([RECORD, {**RECORD, "island": None, "bill_depth_mm": " 7 "}]), "application/json"),
]


ACCEPTS = ["application/json", "text/csv", "application/jsonlines"]


@pytest.mark.parametrize(("body", "content_type"), EQUAL_BODIES)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_batches_answer_alike_in_both_readings(client, monkeypatch, body, content_type,
                                                accept):
    reply = both_readings(client, monkeypatch, "POST", "/invocations", body,
                          {"Content-Type": content_type, "Accept": accept})
    assert reply.status in (200, 400)


def image(index: int) -> dict:
    return {"pixels": [[(v + index) % 17 for v in row] for row in digit_pixels()]}


IMAGES = [image(i) for i in range(30)]
PIXEL_ROWS = "".join(",".join(str(v) for row in r["pixels"] for v in row) + "\n"
                     for r in IMAGES).encode()
IMAGE_BODIES = [
    (json_body(IMAGES), "application/json"),
    (json_body({"instances": IMAGES + [PIXELS]}), "application/json"),
    (json_body([{"pixels": [[str(v) for v in row] for row in r["pixels"]]} for r in IMAGES]),
     "application/json"),  # numbers as strings
    (json_body(IMAGES + [{"pixels": [[1.5] * 8] * 8, "url": "x"}]), "application/json"),
    (json_body(IMAGES + [{"pixels": [[True] * 8] * 8}]), "application/json"),
    (json_body(IMAGES + [{"pixels": [[0] * 8] * 7 + [[0] * 7]}]), "application/json"),
    (PIXEL_ROWS, "text/csv"),
    (PIXEL_ROWS.replace(b",", b", "), "text/csv"),
    (PIXEL_ROWS.replace(b"\n", b"\n3,", 29)[:-2] + b"\n", "text/csv"),
    (PIXEL_ROWS + b"," * 63 + b"\n", "text/csv"),  # empty values: not numbers
]


@pytest.mark.parametrize(("body", "content_type"), IMAGE_BODIES)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_image_batches_answer_alike_in_both_readings(image_client, monkeypatch, body,
                                                      content_type, accept):
    reply = both_readings(image_client, monkeypatch, "POST", "/invocations", body,
                          {"Content-Type": content_type, "Accept": accept})
    assert reply.status in (200, 400)


@pytest.mark.parametrize("case", CASES + IMAGE_CASES, ids=lambda case: case.id)
def test_each_case_answers_alike_in_both_readings(client, image_client, monkeypatch, case):
    chosen = image_client if case in IMAGE_CASES else client
    both_readings(chosen, monkeypatch, case.method, case.path, case.body, case.headers)


def test_plain_batches_take_the_columnar_reading(tiny_model_dir, tiny_image_model_dir):
    """What the equality above is worth: well-formed batches are read as columns."""
    tabular = hooks.load(tiny_model_dir).signature
    for body in (ROWS, ROWS.replace(b",", b", ")):
        assert isinstance(codecs.decode(body, "text/csv", tabular)[0], codecs.Columns)
    spec = hooks.load(tiny_image_model_dir).signature.image
    assert records._all_pixels(spec, IMAGES).shape == (30, 8, 8)
    columns, _ = codecs.decode(PIXEL_ROWS, "text/csv", hooks.load(tiny_image_model_dir).signature)
    assert records._all_pixels(spec, columns).shape == (30, 8, 8)
