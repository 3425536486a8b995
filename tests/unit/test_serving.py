"""Serving internals in-process: settings, model loading, feature math, codecs, launcher."""

import json
import shutil

import numpy as np
import onnxruntime
import pytest

from serving import codecs, features, serve
from serving import config as settings
from serving import model as hooks

from endpoint_cases import MISSING_MARKERS, RECORD, distinct_records
from tiny_model import FEATURES, LABELS

pytestmark = pytest.mark.unit


def cgroup(tmp_path, v2=None, quota=None, period=100000):
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if quota is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(str(quota))
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(str(period))
    return tmp_path


@pytest.mark.parametrize(("v2", "quota", "expected"), [
    ("100000 100000\n", None, 1),
    ("150000 100000\n", None, 2),  # 1.5 CPUs round up
    (None, 50000, 1),
    (None, 100000, 1),
])
def test_workers_follow_the_cgroup_quota(tmp_path, v2, quota, expected):
    assert settings.cpu_count(cgroup(tmp_path, v2, quota)) == expected


def test_without_quota_workers_are_the_cpus_we_may_run_on(tmp_path):
    import os

    assert settings.cpu_count(cgroup(tmp_path, "max 100000\n")) == len(os.sched_getaffinity(0))


def test_settings_from_the_environment(tmp_path):
    config = settings.from_env({
        "SAGEMAKER_BASE_DIR": str(tmp_path), "SAGEMAKER_MODEL_SERVER_WORKERS": "4",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
        "SAGEMAKER_BIND_TO_PORT": "9000",
    })
    assert (config.model_dir, config.workers, config.timeout, config.port) == (
        tmp_path / "model", 4, 120, 9000)
    assert config.max_payload_bytes == 20 * 1024 * 1024


@pytest.mark.parametrize(("name", "value"), [
    ("SAGEMAKER_MODEL_SERVER_WORKERS", "two"),
    ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "0"),
    ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "image/png"),
])
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(settings.ConfigError, match=name):
        settings.from_env({name: value})


def test_nginx_config_carries_the_settings(tmp_path):
    config = settings.Config(model_dir=tmp_path, port=9090, timeout=90, max_payload_mb=6)
    text = serve.render_nginx(config, tmp_path, as_root=True)
    assert "listen 9090" in text
    # The app enforces the payload limit; nginx only bounds what it reads, above the limit.
    bound = int(text.split("client_max_body_size ", 1)[1].split(";", 1)[0])
    assert bound > config.max_payload_bytes
    assert f"client_body_buffer_size {config.max_payload_bytes};" in text
    assert "proxy_read_timeout 90s;" in text  # nginx decides the timeout (504)
    assert "server_tokens off;" in text and "user nobody nogroup;" in text
    assert "__" not in text
    assert "user " not in serve.render_nginx(config, tmp_path, as_root=False)


def test_gunicorn_drops_root_and_honours_the_settings(tmp_path):
    config = settings.Config(model_dir=tmp_path, workers=3, timeout=45)
    command = serve.gunicorn_command(config, as_root=True)
    assert command[command.index("--workers") + 1] == "3"
    # Later than nginx's 45 s: gunicorn only reclaims a worker nginx gave up on.
    assert int(command[command.index("--timeout") + 1]) > 45
    assert command[command.index("--user") + 1] == "nobody"
    assert "--user" not in serve.gunicorn_command(config, as_root=False)


def copy_model(source, target, without=None):
    for path in source.iterdir():
        if path.name != without:
            shutil.copy(path, target / path.name)
    return target


@pytest.mark.parametrize("missing", ["model.onnx", "features.json", "labels.json"])
def test_a_missing_file_is_named(tiny_model_dir, tmp_path, missing):
    with pytest.raises(hooks.ModelError, match=missing):
        hooks.load(copy_model(tiny_model_dir, tmp_path, without=missing))


@pytest.mark.parametrize(("name", "content"), [
    ("features.json", "{not json"),
    ("features.json", json.dumps({"numeric": [{"name": "x"}], "categorical": []})),
    ("labels.json", json.dumps(["only", "two"])),
    ("model.onnx", "not a model"),
    ("network.json", "{not json"),
    ("network.json", json.dumps({"layers": []})),
    ("network.json", json.dumps({"layers": [{"kernel": [[1.0]], "bias": [0.0],
                                             "activation": "relu"}]})),
    ("network.json", json.dumps({"layers": [{"kernel": [[1.0]] * 9, "bias": [0.0],
                                             "activation": "gelu"}]})),
])
def test_a_broken_file_is_named(tiny_model_dir, tmp_path, name, content):
    copy_model(tiny_model_dir, tmp_path)
    (tmp_path / name).write_text(content)
    with pytest.raises(hooks.ModelError, match=name):
        hooks.load(tmp_path)


def test_network_json_that_disagrees_with_the_onnx_model_is_refused(tiny_model_dir, tmp_path):
    copy_model(tiny_model_dir, tmp_path)
    spec = json.loads((tmp_path / "network.json").read_text())
    spec["layers"][0]["kernel"][2][3] += 0.5
    (tmp_path / "network.json").write_text(json.dumps(spec))
    with pytest.raises(hooks.ModelError, match="network.json: does not answer as model.onnx"):
        hooks.load(tmp_path)


def test_without_network_json_onnx_answers_alone(tiny_model_dir, tmp_path):
    both = hooks.load(tiny_model_dir)
    onnx_only = hooks.load(copy_model(tiny_model_dir, tmp_path, without="network.json"))
    assert both.layers is not None and onnx_only.layers is None
    for record in distinct_records(20):
        ours, theirs = hooks.predict(both, [record])[0], hooks.predict(onnx_only, [record])[0]
        assert ours["prediction"] == theirs["prediction"]
        assert ours["confidence"] == pytest.approx(theirs["confidence"], abs=1e-6)


def test_few_records_and_batches_answer_alike(tiny_model_dir):
    """Requests of up to DENSE_MAX records take the plain-Python path, larger ones onnxruntime."""
    model = hooks.load(tiny_model_dir)
    records = distinct_records(3 * (hooks.DENSE_MAX + hooks.FEW))
    batch = hooks.predict(model, records)
    few = [result for start in range(0, len(records), hooks.DENSE_MAX)
           for result in hooks.predict(model, records[start:start + hooks.DENSE_MAX])]
    assert [r["prediction"] for r in few] == [r["prediction"] for r in batch]
    assert len({r["confidence"] for r in batch}) > 1
    for one, many in zip(few, batch, strict=True):
        assert list(one["probabilities"].values()) == pytest.approx(
            list(many["probabilities"].values()), abs=1e-6)


def by_hand(record):
    """The feature vector the training transformer defines, computed the long way."""
    row = []
    for spec in FEATURES["numeric"]:
        value = record.get(spec["name"])
        value = spec["fill"] if value is None else float(value)
        row.append((value - spec["mean"]) / spec["scale"])
    for spec in FEATURES["categorical"]:
        value = record.get(spec["name"]) or spec["fill"]
        row += [1.0 if value == category else 0.0 for category in spec["categories"]]
    return row


@pytest.mark.parametrize("record", [
    RECORD,
    {**RECORD, "bill_length_mm": None, "sex": None},
    {**RECORD, "island": "Atlantis"},
    {"body_mass_g": "4000"},
])
def test_features_and_predictions_match_the_definition(tiny_model_dir, record):
    model = hooks.load(tiny_model_dir)
    expected = np.array([by_hand(record)], dtype=np.float32)
    assert hooks.features(model, [record]) == pytest.approx(expected, abs=1e-6)
    session = onnxruntime.InferenceSession(str(tiny_model_dir / "model.onnx"))
    direct = session.run(None, {session.get_inputs()[0].name: expected})[0][0]
    result = hooks.predict(model, [record])[0]
    assert [result["probabilities"][label] for label in LABELS] == pytest.approx(direct, abs=1e-6)
    assert result["prediction"] == LABELS[int(direct.argmax())]


@pytest.mark.parametrize(("record", "words"), [
    ({**RECORD, "bill_depth_mm": [1]}, ["record 0", "bill_depth_mm", "number"]),
    ({**RECORD, "flipper_length_mm": "1e999"}, ["flipper_length_mm", "finite"]),
    ({**RECORD, "island": {"name": "Dream"}}, ["island", "string"]),
    ({"colour": "black"}, ["record 0", "none of the fields"]),
])
def test_record_errors_name_record_and_field(tiny_model_dir, record, words):
    with pytest.raises(hooks.RecordError) as raised:
        hooks.predict(hooks.load(tiny_model_dir), [record])
    for word in words:
        assert word in str(raised.value)


def test_nan_is_a_missing_value(tiny_model_dir):
    model = hooks.load(tiny_model_dir)
    missing = hooks.features(model, [{**RECORD, "body_mass_g": None}])
    assert hooks.features(model, [{**RECORD, "body_mass_g": float("nan")}]) == pytest.approx(
        missing)


def test_missing_markers_are_processing_s(tiny_model_dir):
    assert frozenset(MISSING_MARKERS) == features.MISSING
    model = hooks.load(tiny_model_dir)
    missing = hooks.features(model, [{**RECORD, "body_mass_g": None, "sex": None}])
    for marker in MISSING_MARKERS:
        for text in (marker, f" {marker} "):
            record = {**RECORD, "body_mass_g": text, "sex": text}
            assert hooks.features(model, [record]) == pytest.approx(missing), repr(text)


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("text/csv; charset=utf-8", "text/csv"),
    ("application/x-ndjson", "application/jsonlines"),
    ("image/png, application/jsonlines;q=0.5", "application/jsonlines"),
    ("TEXT/CSV", "text/csv"),
    ("text/*", "text/csv"),
    ("application/*", "application/json"),
    ("text/csv, application/json", "text/csv"),  # equal preference: the client's order
    ("text/csv;q=0.5, application/json", "application/json"),
    ("application/json;q=0, text/csv", "text/csv"),
    ("application/json;q=0, */*", "text/csv"),  # the more specific range decides
    ("*/*;q=0.1, application/jsonlines", "application/jsonlines"),
    ("text/csv;level=1;q=0.2, application/json;q=0.1", "text/csv"),
    (",", "application/json"),  # nothing readable: as if there were no Accept
])
def test_accept_negotiation(accept, expected):
    assert codecs.negotiate(accept, "application/json") == expected


@pytest.mark.parametrize(("default", "expected"), [
    ("text/csv", "application/json"),
    ("application/jsonlines", "application/jsonlines"),
])
def test_application_any_prefers_an_application_default(default, expected):
    assert codecs.negotiate("application/*", default) == expected
    assert codecs.negotiate("*/*", default) == default


@pytest.mark.parametrize("accept", ["application/json;q=0", "image/png",
                                    "text/csv;q=0, application/*;q=0"])
def test_accept_without_an_acceptable_type_is_406(accept):
    with pytest.raises(codecs.CodecError) as raised:
        codecs.negotiate(accept, "application/json")
    assert raised.value.status == 406 and accept in raised.value.message


def test_csv_body_that_is_not_utf8_is_a_client_error():
    with pytest.raises(codecs.CodecError) as raised:
        codecs.decode(b"Biscoe,\xff\xfe,1,2,3,male\n", "text/csv")
    assert raised.value.status == 400 and "UTF-8" in raised.value.message


def test_per_record_and_vectorised_paths_agree(tiny_model_dir):
    from endpoint_cases import distinct_records

    model = hooks.load(tiny_model_dir)
    records = distinct_records(12) + [
        {**RECORD, "bill_length_mm": None, "island": "NA"}, {**RECORD, "sex": "unknown"},
        {**RECORD, "body_mass_g": "5000"}, {**RECORD, "flipper_length_mm": 1e300},
        {"island": None}, {**RECORD, "bill_depth_mm": "."},
    ]
    assert len(records) > hooks.FEW
    one_by_one = np.concatenate([hooks.features(model, [record]) for record in records])
    np.testing.assert_allclose(hooks.features(model, records), one_by_one, rtol=1e-6)
