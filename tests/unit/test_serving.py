"""Serving internals in-process: settings, model loading, the signature check, codecs, launcher."""

import dataclasses
import json
import os
import re

import numpy as np
import onnxruntime
import pytest

from serving import codecs, images, openapi, serve
from serving import config as settings
from serving import model as hooks

from endpoint_cases import MISSING_MARKERS, RECORD
from tiny_model import LABELS

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
    text = serve.render_nginx(config, tmp_path)
    assert "listen 9090" in text
    # The app enforces the payload limit; nginx only bounds what it reads, above the limit.
    bound = int(text.split("client_max_body_size ", 1)[1].split(";", 1)[0])
    assert bound > config.max_payload_bytes
    assert f"client_body_buffer_size {config.max_payload_bytes};" in text
    assert "uwsgi_read_timeout 90s;" in text  # nginx decides the timeout (504)
    assert "server_tokens off;" in text
    assert "__" not in text
    # nginx runs as serve does: no master that keeps root to switch its workers' user; a root
    # that could not give up root keeps its workers root too (nginx's default is nobody).
    assert "\nuser " not in text
    assert "\nuser root root;" in serve.render_nginx(config, tmp_path, root=True)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_model_server_honours_the_settings_and_runs_as_serve_does(tmp_path):
    config = settings.Config(model_dir=tmp_path, workers=3, timeout=45,
                             socket=str(tmp_path / "s.sock"))
    command = serve.model_server_command(config, tmp_path)
    assert option(command, "--processes") == "3"
    assert option(command, "--uwsgi-socket") == str(tmp_path / "s.sock")
    # Later than nginx's 45 s: uWSGI only reclaims a worker nginx gave up on.
    assert int(option(command, "--harakiri")) > 45
    assert option(command, "--master-fifo") == str(tmp_path / serve.CONTROL_FIFO)
    # Each worker loads its own model after the fork; one that cannot stops the server.
    assert {"--lazy-apps", "--need-app", "--strict"} <= set(command)
    assert "--uid" not in command and "--gid" not in command


@pytest.mark.parametrize(("somaxconn", "backlog"), [("4096", 1024), ("128", 128), (None, 128)])
def test_the_backlog_stays_within_the_kernels_bound(tmp_path, somaxconn, backlog):
    path = tmp_path / "somaxconn"
    if somaxconn is not None:
        path.write_text(somaxconn + "\n")
    assert serve.backlog(path) == backlog


def test_uwsgis_banner_is_drained_and_its_warnings_and_errors_are_not():
    drained = re.compile(serve.BANNER)
    for line in ("*** Starting uWSGI 2.0.30 (64bit) on [Sat Dec  5 02:22:44 2026] ***",
                 "spawned uWSGI worker 1 (pid: 8, cores: 1)", "your mercy for graceful "
                 "operations on workers is 8 seconds", "goodbye to uWSGI."):
        assert drained.search(line), line
    for line in ("DAMN ! worker 1 (pid: 8) died, killed by signal 9 :( trying respawn ...",
                 "OOPS ! failed loading app in worker 1 (pid 7)", "Respawned uWSGI worker 1",
                 "2026-12-05 02:24:02,563 ERROR serving: cannot serve: model.onnx: missing",
                 "HARAKIRI ON WORKER 1 (pid: 8, try: 1)", "Traceback (most recent call last):"):
        assert not drained.search(line), line


# /proc/self/status's CapEff of a container started as root: Docker's default set, and
# docker-compose.yml's confined colours (CHOWN, KILL, SETGID, SETUID); --cap-drop ALL.
DOCKER_DEFAULT, CONFINED, NO_CAPABILITIES = "00000000a80425fb", "00000000000000e1", "0" * 16
WITHOUT_CHOWN = "00000000000000e0"


class Started(Exception):
    """What the launcher would have run next (exec or the first child), instead of running it."""


def launch_as_root(monkeypatch, tmp_path, capabilities: str, pid: int):
    """serve.main() as root with these effective capabilities and pid, up to what it runs
    first; (that command, the drops asked for, the rendered nginx.conf)."""
    config = settings.Config(model_dir=tmp_path / "model", socket=str(tmp_path / "g.sock"))
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython\nCapEff:\t{capabilities}\n")
    drops, euid = [], [0]

    def drop(run_dir):
        drops.append(run_dir)
        euid[0] = 65534

    monkeypatch.setattr(serve.settings, "from_env", lambda: config)
    monkeypatch.setattr(serve, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(serve.privileges, "STATUS", status)
    monkeypatch.setattr(serve.privileges, "drop", drop)
    monkeypatch.setattr(serve.signal, "signal", lambda *_: None)
    monkeypatch.setattr(serve.os, "geteuid", lambda: euid[0])
    monkeypatch.setattr(serve.os, "getpid", lambda: pid)

    def started(*args):
        raise Started(args[-1])

    monkeypatch.setattr(serve.os, "execv", started)
    monkeypatch.setattr(serve.subprocess, "Popen", started)
    with pytest.raises(Started) as run:
        serve.main([])
    conf = tmp_path / "run" / "nginx.conf"
    return run.value.args[0], drops, conf.read_text() if conf.exists() else None


@pytest.mark.parametrize("capabilities", [DOCKER_DEFAULT, CONFINED])
def test_root_as_pid_1_drops_then_execs_tini_to_serve_unprivileged(monkeypatch, tmp_path,
                                                                    capabilities):
    (tmp_path / "g.sock").write_text("")  # root's leftover socket: nobody could not remove it
    command, drops, conf = launch_as_root(monkeypatch, tmp_path, capabilities, pid=1)
    assert drops == [tmp_path / "run"]
    assert command == [serve.TINI, "--", serve.sys.executable, "-m", "serving.serve",
                       serve.PREPARED]
    assert conf is None  # the unprivileged serve writes it
    assert not (tmp_path / "g.sock").exists()


def test_root_below_an_init_drops_and_starts_masters_without_user(monkeypatch, tmp_path):
    command, drops, conf = launch_as_root(monkeypatch, tmp_path, DOCKER_DEFAULT, pid=7)
    assert drops == [tmp_path / "run"]
    assert "import pyuwsgi; pyuwsgi.run()" in command and "--uid" not in command
    assert "\nuser " not in conf


@pytest.mark.parametrize(("capabilities", "missing"), [
    (WITHOUT_CHOWN, "CAP_CHOWN"), (NO_CAPABILITIES, "CAP_CHOWN, CAP_SETGID, CAP_SETUID")])
def test_root_that_cannot_give_up_root_serves_as_root_and_says_why(monkeypatch, tmp_path, capsys,
                                                                   capabilities, missing):
    command, drops, conf = launch_as_root(monkeypatch, tmp_path, capabilities, pid=1)
    assert drops == [] and "import pyuwsgi; pyuwsgi.run()" in command
    assert "\nuser root root;" in conf
    assert f"started as root without {missing}, which giving up root takes" in \
        capsys.readouterr().err


@pytest.mark.parametrize(("capabilities", "missing"), [
    (DOCKER_DEFAULT, []), (CONFINED, []), (WITHOUT_CHOWN, ["CAP_CHOWN"]),
    ("0000000000000041", ["CAP_SETUID"]),
    (NO_CAPABILITIES, ["CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"]),
])
def test_missing_capabilities_are_read_from_capeff(capabilities, missing):
    from serving import privileges

    status = f"Name:\tx\nCapInh:\t{DOCKER_DEFAULT}\nCapEff:\t{capabilities}\n"
    assert privileges.missing_capabilities(status) == missing


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root takes root")
def test_drop_hands_over_run_dir_and_stdout_and_root_is_gone_for_good(tmp_path):
    from serving import privileges

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the drop is for good: in a child, reporting on the pipe it was handed
        code = 1
        try:
            os.dup2(write, 1)
            privileges.drop(run_dir)
            try:
                os.setuid(0)
            except PermissionError:
                pass
            else:
                os._exit(3)
            os.write(1, json.dumps([os.getresuid(), os.getresgid(), os.getgroups(),
                                    os.fstat(1).st_uid, os.environ["HOME"]]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    report = os.read(read, 4096)
    assert os.waitpid(child, 0)[1] == 0
    os.close(read)
    uids, gids, groups, stdout_owner, home = json.loads(report)
    assert uids == gids == [65534] * 3 and groups == [] and stdout_owner == 65534
    assert run_dir.stat().st_uid == 65534 and home == str(run_dir)


def signed(source, target, signature=None, raw=None):
    """A copy of source's model.onnx with its signature replaced (raw: the stored text)."""
    import onnx

    from training.model import graph

    model = onnx.load(str(source / "model.onnx"))
    if raw is None:
        graph.write_signature(model, signature)
    else:
        entry = next(p for p in model.metadata_props if p.key == graph.SIGNATURE_KEY)
        entry.value = raw
    onnx.save(model, str(target / "model.onnx"))
    return target


def stored_signature(model_dir):
    from training.model import graph

    return graph.read_signature(model_dir / "model.onnx")


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(hooks.ModelError, match="model.onnx: missing"):
        hooks.load(tmp_path)


def test_a_model_that_is_not_onnx_is_named(tmp_path):
    (tmp_path / "model.onnx").write_text("not a model")
    with pytest.raises(hooks.ModelError, match="model.onnx: cannot load"):
        hooks.load(tmp_path)


def test_a_model_without_a_signature_is_served_from_its_graph(tiny_model_dir, tmp_path):
    import onnx

    from serving import anyonnx

    model = onnx.load(str(tiny_model_dir / "model.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "model.onnx"))
    graph = hooks.load(tmp_path)
    assert isinstance(graph, anyonnx.GraphModel)
    assert [t.name for t in graph.inputs] == list(RECORD)


def edited(model_dir, **changes):
    return {**stored_signature(model_dir), **changes}


@pytest.mark.parametrize(("change", "words"), [
    ({"version": 2}, "version 2"),
    ({"labels": ["only", "two"]}, "gives 3 classes"),
    ({"labels": []}, "labels"),
    ({"output": {"name": "scores"}}, "no output 'scores'"),
    ({"inputs": [{"name": "island", "type": "string", "shape": [None, 1]}]}, "not the graph's"),
    ({"inputs": [{"name": "island", "type": "int64", "shape": [None, 1]}]}, "'int64'"),
    ({"missing": {"values": "NA"}}, "missing"),
    ({"image": {"input": "island", "height": 8, "width": 8, "max": 16}}, "exactly that one"),
])
def test_a_signature_that_does_not_fit_is_named(tiny_model_dir, tmp_path, change, words):
    signed(tiny_model_dir, tmp_path, edited(tiny_model_dir, **change))
    with pytest.raises(hooks.ModelError, match="model.onnx: ") as raised:
        hooks.load(tmp_path)
    assert words in str(raised.value)


@pytest.mark.parametrize(("image", "words"), [
    ({"input": "pixels", "height": 7, "width": 8, "max": 16}, "[null, 7, 8]"),
    ({"input": "pixels", "height": 8, "width": 8, "max": 0}, "positive \"max\""),
    ({"input": "pixels", "height": "8", "width": 8, "max": 16}, "height"),
])
def test_an_image_signature_that_does_not_fit_is_named(tiny_image_model_dir, tmp_path, image,
                                                        words):
    signed(tiny_image_model_dir, tmp_path, edited(tiny_image_model_dir, image=image))
    with pytest.raises(hooks.ModelError, match="model.onnx: ") as raised:
        hooks.load(tmp_path)
    assert words.replace("\\", "") in str(raised.value)


def test_a_signature_that_is_not_json_is_named(tiny_model_dir, tmp_path):
    signed(tiny_model_dir, tmp_path, raw="{not json")
    with pytest.raises(hooks.ModelError, match="model.onnx: sagemaker_signature is not JSON"):
        hooks.load(tmp_path)


def training_reading(records):
    """The graph's inputs as the training job makes them from the same records (data.feeds)."""
    import pandas as pd

    from training.workloads.penguins import data as penguins_data
    from training.workloads.penguins.data import FEATURES, bare

    frame = pd.DataFrame([{f: None if r.get(f) is None else str(r.get(f)) for f in FEATURES}
                          for r in records], dtype=object)
    frame = bare(frame.fillna(""))
    for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        frame[column] = pd.to_numeric(frame[column])
    return penguins_data.feeds(frame)


SKEW_RECORDS = [
    RECORD,
    {**RECORD, "sex": " male", "island": "Dream "},  # a space after the comma
    {**RECORD, "bill_length_mm": "nan", "sex": "nan"},  # "nan" is missing in both
    {**RECORD, "bill_depth_mm": None, "island": "NA", "sex": "."},
    {**RECORD, "island": "Atlantis"},
    {"body_mass_g": "4000"},
]


def test_serving_reads_records_as_training_does(tiny_model_dir):
    """The two skews of issue 12: spaces and "nan" mean the same in serving and processing."""
    model = hooks.load(tiny_model_dir)
    ours = hooks.probabilities(model, SKEW_RECORDS, images.Limits())
    session = onnxruntime.InferenceSession(str(tiny_model_dir / "model.onnx"))
    theirs = session.run(["probabilities"], training_reading(SKEW_RECORDS))[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    results = hooks.predict(model, SKEW_RECORDS)
    assert [r["prediction"] for r in results] == [LABELS[i] for i in theirs.argmax(axis=1)]
    assert results[1] != results[0]  # Dream is not Biscoe: the values were read, not dropped


@pytest.mark.parametrize(("record", "words"), [
    ({**RECORD, "bill_depth_mm": [1]}, ["record 0", "bill_depth_mm", "number"]),
    ({**RECORD, "flipper_length_mm": "1e999"}, ["flipper_length_mm", "finite", "float32"]),
    ({**RECORD, "flipper_length_mm": 1e39}, ["flipper_length_mm", "float32"]),
    ({**RECORD, "island": {"name": "Dream"}}, ["island", "string"]),
    ({**RECORD, "body_mass_g": False}, ["body_mass_g", "bool"]),
    ({"colour": "black"}, ["record 0", "none of the fields"]),
])
def test_record_errors_name_record_and_field(tiny_model_dir, record, words):
    with pytest.raises(hooks.RecordError) as raised:
        hooks.predict(hooks.load(tiny_model_dir), [RECORD, record][1:])
    for word in words:
        assert word in str(raised.value)


def test_numbers_up_to_float32_s_largest_are_answered_finite(tiny_model_dir):
    model = hooks.load(tiny_model_dir)
    top = float(np.finfo(np.float32).max)
    for value in (top, -top, 1e30, "3.4e38"):
        result = hooks.predict(model, [{**RECORD, "body_mass_g": value}])[0]
        assert 0 <= result["confidence"] <= 1, value


def test_a_non_finite_answer_is_a_record_error_naming_the_largest_number(tiny_model_dir):
    class Overflowing:
        def run(self, outputs, feeds):
            answer = np.full((len(feeds["island"]), 3), 1 / 3, dtype=np.float32)
            answer[1] = np.nan
            return [answer]

    model = dataclasses.replace(hooks.load(tiny_model_dir), session=Overflowing())
    with pytest.raises(hooks.RecordError, match="record 1: .*body_mass_g=3e\\+38"):
        hooks.predict(model, [RECORD, {**RECORD, "body_mass_g": 3e38}])


def without_imputation(source, target):
    """source's signature on a graph that imputes nothing: NaN in, NaN out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source / "model.onnx"))
    numbers = [i.name for i in model.graph.input
               if i.type.tensor_type.elem_type == TensorProto.FLOAT]
    weights = numpy_helper.from_array(np.ones((len(numbers), len(LABELS)), np.float32), "w")
    nodes = [helper.make_node("Concat", numbers, ["x"], axis=1),
             helper.make_node("MatMul", ["x", "w"], ["scores"]),
             helper.make_node("Softmax", ["scores"], [model.graph.output[0].name], axis=1)]
    bare = helper.make_model(
        helper.make_graph(nodes, "bare", model.graph.input, model.graph.output, [weights]),
        opset_imports=[o for o in model.opset_import if o.domain == ""])
    bare.ir_version = model.ir_version
    bare.metadata_props.extend(model.metadata_props)
    onnx.save(bare, str(target / "model.onnx"))
    return target


def test_a_model_that_answers_nan_for_all_missing_still_serves(tiny_model_dir, tmp_path):
    from serving.app import create_app

    app = create_app(without_imputation(tiny_model_dir, tmp_path),
                     settings.Config(model_dir=tmp_path)).test_client()
    assert app.post("/invocations", json=RECORD).status_code == 200
    refused = app.post("/invocations", json={"island": "Dream"})
    assert refused.status_code == 400
    assert "record 0: the model gives no finite answer" in refused.get_json()["error"]


def test_nan_and_every_missing_marker_read_as_null(tiny_model_dir):
    model = hooks.load(tiny_model_dir)
    limits = images.Limits()
    missing = hooks.probabilities(model, [{**RECORD, "body_mass_g": None, "sex": None}], limits)
    assert not np.allclose(missing, hooks.probabilities(model, [RECORD], limits))
    values = [float("nan")] + [text for marker in MISSING_MARKERS
                               for text in (marker, f" {marker} ")]
    for value in values:
        record = {**RECORD, "body_mass_g": value, "sex": None if value != value else value}
        assert hooks.probabilities(model, [record], limits) == pytest.approx(missing), repr(value)


def test_missing_markers_are_the_signature_s(tiny_model_dir):
    assert hooks.load(tiny_model_dir).signature.missing == frozenset(MISSING_MARKERS)


def test_csv_columns_follow_the_signature(tiny_model_dir, tiny_image_model_dir):
    tabular = hooks.load(tiny_model_dir).signature
    records, _ = codecs.decode(b"Gentoo,Biscoe,1,2,3,4,male\nDream,5,6,7,8,\n", "text/csv",
                               tabular)
    assert records[0] == dict(zip(tabular.names, ["Biscoe", "1", "2", "3", "4", "male"],
                                  strict=True))
    assert records[1]["island"] == "Dream" and records[1]["sex"] == ""
    image = hooks.load(tiny_image_model_dir).signature
    row = ",".join(str(i % 17) for i in range(64))
    records, _ = codecs.decode(f"{row}\n7,{row}\n".encode(), "text/csv", image)
    assert records[0] == records[1] == {"pixels": [[str(i % 17) for i in range(r * 8, r * 8 + 8)]
                                                   for r in range(8)]}


def test_the_openapi_record_schema_is_the_signature_s(tiny_model_dir, tiny_image_model_dir):
    tabular = openapi.document(hooks.load(tiny_model_dir).signature)
    record = tabular["components"]["schemas"]["Record"]
    assert list(record["properties"]) == ["island", "bill_length_mm", "bill_depth_mm",
                                          "flipper_length_mm", "body_mass_g", "sex"]
    assert record["properties"]["island"]["type"] == "string"
    image = openapi.document(hooks.load(tiny_image_model_dir).signature)
    choices = image["components"]["schemas"]["Record"]["oneOf"]
    assert [list(c["properties"]) for c in choices] == [["pixels"], ["image"], ["url"]]
    assert choices[0]["properties"]["pixels"]["items"]["items"]["maximum"] == 16.0
    assert "64 pixel values" in str(image["paths"]["/invocations"])
    bodies = [set(doc["paths"]["/invocations"]["post"]["requestBody"]["content"])
              for doc in (tabular, image)]
    assert bodies[1] - bodies[0] == {"application/x-image", "image/png", "image/jpeg"}


def test_the_openapi_document_names_every_route(tiny_model_dir):
    from serving.app import ROUTES

    paths = openapi.document(hooks.load(tiny_model_dir).signature)["paths"]
    assert set(paths) == {path for path, _methods, _view in ROUTES}


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


def test_csv_body_that_is_not_utf8_is_a_client_error(tiny_model_dir):
    signature = hooks.load(tiny_model_dir).signature
    with pytest.raises(codecs.CodecError) as raised:
        codecs.decode(b"Biscoe,\xff\xfe,1,2,3,male\n", "text/csv", signature)
    assert raised.value.status == 400 and "UTF-8" in raised.value.message
