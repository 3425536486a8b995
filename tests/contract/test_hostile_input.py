"""Hostile input against the running serving image, and a training job that cannot write
its model: each is answered or failed by name, with no 5xx, traceback or worker lost. Least
privilege: no worker runs as root."""

import json
import os
import random

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoint_cases import MB, RECORD, padded_json
from harness import TRAINING_IMAGE, Endpoint, training_tree

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1300"))  # per strategy; four of them
FIELDS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
          "sex", "species"]
CONTENT_TYPES = ["application/json", "text/csv", "application/jsonlines", "text/plain",
                 "application/json; charset=utf-8", "", "multipart/form-data", "*/*"]
ACCEPTS = [None, "*/*", "application/json", "text/csv", "application/jsonlines", "image/png",
           "text/csv, application/json", ""]
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzzed(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    try:
        server.wait_ready()
        server.session = requests.Session()
        server.sent = 0
        server.before = set(server.wait_workers(2))
        yield server
    finally:
        server.remove()


def check(server: Endpoint, body: bytes, content_type: str, accept: str | None):
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    reply = server.session.post(f"{server.url}/invocations", data=body, headers=headers,
                                timeout=60)
    server.sent += 1
    assert reply.status_code < 500, (reply.status_code, body[:300], reply.text[:300])
    if reply.status_code == 200 and reply.headers["Content-Type"] == "application/json":
        answer = reply.json()
        answer = answer.get("predictions", [answer]) if isinstance(answer, dict) else answer
        for result in answer:
            assert 0 <= result["confidence"] <= 1, result  # never NaN (null) or out of range
    if reply.status_code >= 400:
        assert reply.headers["Content-Type"].startswith("application/json"), reply.text[:300]
        message = reply.json()["error"]
        assert message and "Traceback" not in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.floats(min_value=-1e308, max_value=1e308) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=7),
    max_leaves=30,
)
records = st.fixed_dictionaries({}, optional={
    field: st.none() | st.floats() | st.integers() | st.text(max_size=12) | st.booleans()
    | st.sampled_from(["Biscoe", "Dream", "NA", ".", "", "male", "1e999", "-0", "∞"])
    for field in FIELDS})


@FUZZ
@given(value=json_values, accept=st.sampled_from(ACCEPTS))
def test_fuzz_json_structures(fuzzed, value, accept):
    check(fuzzed, json.dumps(value).encode(), "application/json", accept)


@FUZZ
@given(batch=st.lists(records, max_size=20) | records.map(lambda r: {"instances": [r]}),
       accept=st.sampled_from(ACCEPTS))
def test_fuzz_records(fuzzed, batch, accept):
    check(fuzzed, json.dumps(batch).encode(), "application/json", accept)


@FUZZ
@given(body=st.binary(max_size=300), content_type=st.sampled_from(CONTENT_TYPES),
       accept=st.sampled_from(ACCEPTS))
def test_fuzz_random_bytes(fuzzed, body, content_type, accept):
    check(fuzzed, body, content_type, accept)


@FUZZ
@given(lines=st.lists(st.lists(st.text(max_size=8) | st.floats().map(str), max_size=8),
                      max_size=10),
       content_type=st.sampled_from(["text/csv", "application/jsonlines"]))
def test_fuzz_csv_and_json_lines(fuzzed, lines, content_type):
    body = "\n".join(",".join(cells) for cells in lines).encode()
    check(fuzzed, body, content_type, None)


EDGE_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"bill_length_mm": NaN}',
    b'{"bill_length_mm": Infinity}',
    b'{"bill_length_mm": 1e400}',
    b"[]",
    b'{"instances": []}',
    ("[" + ",".join([json.dumps(RECORD)] * 10_000) + "]").encode(),
    '{"island": "\u00e9\U0001F427\u0000"}'.encode(),
]


@pytest.mark.parametrize("body", EDGE_BODIES)
def test_edge_bodies(fuzzed, body):
    check(fuzzed, body, "application/json", None)


def test_bodies_around_the_limit(fuzzed):
    check(fuzzed, padded_json(6 * MB - 1), "application/json", None)
    check(fuzzed, padded_json(6 * MB + 1), "application/json", None)
    check(fuzzed, b"x" * (6 * MB + 10), "text/csv", None)


def test_fuzzing_left_the_server_healthy(fuzzed):
    """After a hostile burst of its own (and whatever fuzzing ran before it on this server):
    /ping still 200, no worker restarted, no traceback logged."""
    chance = random.Random(11)
    burst = EDGE_BODIES + [chance.randbytes(chance.randrange(300)) for _ in range(300)]
    for i, body in enumerate(burst):
        check(fuzzed, body, CONTENT_TYPES[i % len(CONTENT_TYPES)], ACCEPTS[i % len(ACCEPTS)])
    print(f"\nrequests to the fuzzed server: {fuzzed.sent}")
    assert requests.get(f"{fuzzed.url}/ping", timeout=2).status_code == 200
    assert set(fuzzed.workers()) == fuzzed.before
    assert "Traceback" not in fuzzed.logs()


def test_workers_do_not_run_as_root(endpoint):
    rows = endpoint.container.top(ps_args="-eo pid,user,args")["Processes"]
    nginx_workers = [user for _pid, user, args in rows if args.startswith("nginx: worker")]
    assert nginx_workers and set(nginx_workers) == {"nobody"}
    assert endpoint.workers() and {user for user, _ in endpoint.workers().values()} == {"nobody"}
    reply = requests.get(f"{endpoint.url}/nowhere", timeout=5)
    assert reply.headers["Server"] == "nginx"  # no version


@pytest.mark.parametrize("mount", ["read-only", "full"])
def test_unwritable_model_dir_fails_the_job(docker_client, processed, tmp_path, mount):
    volumes = training_tree(tmp_path, processed, {"epochs": "1"})
    options = {}
    if mount == "read-only":
        volumes[tmp_path / "model"] = ("/opt/ml/model", "ro")
    else:
        options["tmpfs"] = {"/opt/ml/model": "size=4k"}
    container = docker_client.containers.run(
        TRAINING_IMAGE, "train", detach=True, network_mode="none", labels={"penguins.test": "1"},
        volumes={str(h): {"bind": b, "mode": m} for h, (b, m) in volumes.items()}, **options)
    try:
        status = container.wait(timeout=120)
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert status["StatusCode"] != 0, logs
    assert "/opt/ml/model" in (tmp_path / "output" / "failure").read_text()
    assert "training complete" not in logs

