"""Hooks that act: the runner (a command, a URL on a real local HTTP server), the monitor's
alarm (ON_VIOLATION, RETRAIN_ON_VIOLATION) and the registry's ON_APPROVE."""

import json
import os
import shlex
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.monitoring import alarms
from pipeline.registry import models as registry
from pipeline.runs import hooks
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline

EVENT = {"detail-type": "Test Event", "detail": {"n": 1}}
FACTS = {"MONITORING_RUN": "penguins-monitor-1", "VIOLATION_COUNT": "2"}
PY = shlex.quote(sys.executable)


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1 that keeps what it was sent and answers `status`."""
    received, answer = [], {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(answer["status"])
            self.end_headers()
            self.wfile.write(b"not today" if answer["status"] >= 400 else b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/alarm", received, answer
    httpd.shutdown()
    httpd.server_close()


# (hook, ok, code, words in the outcome)
COMMANDS = [
    ("true", True, 0, "exited with code 0"),
    ("exit 3", False, 3, "exited with code 3"),
    ("kill -TERM $$", False, 143, "exited with code 143"),
    ("no-such-command-here-at-all", False, 127, "exited with code 127"),
]


@pytest.mark.parametrize("hook, ok, code, words", COMMANDS)
def test_a_command_hook_reports_how_it_ended(tmp_path, hook, ok, code, words):
    outcome = hooks.fire("ON_VIOLATION", hook, EVENT, FACTS, tmp_path / "event.json")
    assert (outcome.ok, outcome.code) == (ok, code)
    assert words in outcome.text and "ON_VIOLATION" in outcome.text


def test_a_command_hook_gets_the_facts_and_the_event_file(tmp_path):
    seen = tmp_path / "seen.json"
    script = ("import json, os, sys; json.dump({k: os.environ[k] for k in "
              "('MONITORING_RUN', 'VIOLATION_COUNT', 'HOOK_EVENT')}, open(sys.argv[1], 'w'))")
    hook = f"{PY} -c {shlex.quote(script)} {shlex.quote(str(seen))}"
    assert hooks.fire("ON_VIOLATION", hook, EVENT, FACTS, tmp_path / "event.json").ok
    got = json.loads(seen.read_text())
    assert got["MONITORING_RUN"] == "penguins-monitor-1" and got["VIOLATION_COUNT"] == "2"
    assert json.loads(Path(got["HOOK_EVENT"]).read_text()) == EVENT


@pytest.mark.parametrize("status, ok", [(200, True), (204, True), (500, False), (404, False)])
def test_a_url_hook_posts_the_event_as_json(tmp_path, server, status, ok):
    url, received, answer = server
    answer["status"] = status
    outcome = hooks.fire("ON_VIOLATION", url, EVENT, FACTS, tmp_path / "event.json")
    assert received == [("application/json", EVENT)]
    assert (outcome.ok, outcome.code) == (ok, status)
    assert f"answered {status}" in outcome.text
    if not ok:
        assert "not today" in outcome.text


def test_a_url_with_nothing_listening_says_so(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/deploy"
    outcome = hooks.fire("ON_APPROVE", dead, EVENT, FACTS, tmp_path / "event.json")
    assert not outcome.ok and outcome.code == 0 and "no answer" in outcome.text


@pytest.mark.parametrize("hook, words", [
    ("   ", "ON_VIOLATION is empty"),
    ("http://example.com/hook", "must be on this machine"),
    ("https://10.0.0.5:8443/x", "not 10.0.0.5"),
])
def test_a_hook_that_cannot_run_is_refused_naming_it(tmp_path, hook, words):
    with pytest.raises(hooks.HookError, match=words):
        hooks.fire("ON_VIOLATION", hook, EVENT, FACTS, tmp_path / "event.json")
    assert not (tmp_path / "event.json").exists()


def monitoring_run(local: Path, found: list, schedule: str | None = None) -> runs.Run:
    capture = local / "capture" / "penguins" / "penguins-endpoint" / "AllTraffic"
    capture.mkdir(parents=True, exist_ok=True)
    fields = {"analysis_type": "DATA_QUALITY",
              "inputs": {"endpoint": {"path": str(local / "capture" / "penguins")}},
              "window": {"start": "2026-11-23T21:00:00Z", "end": "2026-11-23T22:00:00Z"}}
    if schedule:
        fields["schedule"] = schedule
    run = runs.create(local, "monitoring", "penguins", **fields)
    results = run.folder / "processing" / "resultdata"
    results.mkdir(parents=True)
    (results / alarms.VIOLATIONS).write_text(json.dumps({"violations": found}))
    runs.finish(run, 0)
    return run


FOUND = [{"feature_name": "bill_length_mm", "constraint_check_type": "baseline_drift_check",
          "description": "drift"},
         {"feature_name": "island", "constraint_check_type": "categorical_values_check"}]


def test_an_alarm_is_a_cloudwatch_alarm_state_change_with_the_executions_facts(tmp_path, server):
    url, received, _ = server
    run = monitoring_run(tmp_path, FOUND)
    assert alarms.act(run, FOUND, url, None) == 0
    (_, event), = received
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["source"] == "aws.cloudwatch"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["alarmName"] == "penguins-endpoint-data-quality-violations"
    execution = event["detail"]["monitoringExecution"]
    assert execution["runName"] == run.name and execution["violationCount"] == 2
    assert execution["monitoringExecutionStatus"] == "CompletedWithViolations"
    assert (execution["endpointName"], execution["variantName"]) == ("penguins-endpoint",
                                                                     "AllTraffic")
    assert Path(execution["constraintViolations"]).is_file()
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    assert metric["namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    kept = json.loads((run.folder / alarms.ALARM).read_text())
    assert kept["event"] == event and kept["on_violation"]["ok"]


def test_a_failed_alarm_hook_fails_the_command_and_keeps_the_run_completed(tmp_path):
    run = monitoring_run(tmp_path, FOUND)
    assert alarms.act(run, FOUND, "exit 4", None) == 1
    assert runs.load(run.folder).status == runs.COMPLETED
    assert json.loads((run.folder / alarms.ALARM).read_text())["on_violation"]["code"] == 4


@pytest.mark.parametrize("found, hook", [([], "exit 9"), (FOUND, None)])
def test_no_violations_or_no_hook_raises_nothing(tmp_path, found, hook):
    run = monitoring_run(tmp_path, found)
    assert alarms.act(run, found, hook, None) == 0
    assert not (run.folder / alarms.ALARM).exists()


def test_the_retrain_is_told_which_run_raised_the_alarm(tmp_path):
    run = monitoring_run(tmp_path, FOUND)
    seen = tmp_path / "trigger"
    command = f"printf %s \"$RETRAIN_TRIGGER\" > {shlex.quote(str(seen))}"
    assert alarms.act(run, FOUND, None, command) == 0
    assert seen.read_text() == run.name
    assert json.loads((run.folder / alarms.ALARM).read_text())["retrain"]["exit_code"] == 0
    assert alarms.act(monitoring_run(tmp_path, FOUND), FOUND, None, "exit 2") == 1


def test_the_watcher_acts_once_on_scheduled_executions_with_violations(tmp_path):
    scheduled = monitoring_run(tmp_path, FOUND, schedule="penguins-monitoring-schedule")
    clean = monitoring_run(tmp_path, [], schedule="penguins-monitoring-schedule")
    manual = monitoring_run(tmp_path, FOUND)
    log = tmp_path / "fired"
    hook = f"echo $MONITORING_RUN >> {shlex.quote(str(log))}"
    for _ in range(2):
        assert alarms.main(["watch", "--local", str(tmp_path), "--workload", "penguins",
                            "--on-violation", hook, "--once", "--since", "0"]) == 0
    assert log.read_text().split() == [scheduled.name]
    assert not (clean.folder / alarms.ALARM).exists()
    assert not (manual.folder / alarms.ALARM).exists()


def version(group: Path, tmp_path: Path, accuracy=0.6) -> dict:
    tar = tmp_path / "model.tar.gz"
    tar.write_bytes(b"a model")
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps(
        {"multiclass_classification_metrics": {"accuracy": {"value": accuracy}}}))
    return registry.register(group, tar, evaluation, {}, 0.7, 0.5, lineage={"alarm": "m-1"})


def test_on_approve_runs_after_the_approval_with_the_versions_facts(tmp_path, capsys):
    group = tmp_path / "registry" / "penguins"
    version(group, tmp_path)
    seen = tmp_path / "seen.json"
    script = ("import json, os, sys; json.dump({k: os.environ[k] for k in ('MODEL_VERSION', "
              "'MODEL_APPROVAL_STATUS', 'MODEL_DATA', 'HOOK_EVENT')}, open(sys.argv[1], 'w'))")
    hook = f"{PY} -c {shlex.quote(script)} {shlex.quote(str(seen))}"
    assert registry.main(["--group-dir", str(group), "approve", "--version", "1",
                          "--on-approve", hook]) == 0
    got = json.loads(seen.read_text())
    assert (got["MODEL_VERSION"], got["MODEL_APPROVAL_STATUS"]) == ("1", "Approved")
    assert Path(got["MODEL_DATA"]).is_file()
    event = json.loads(Path(got["HOOK_EVENT"]).read_text())
    assert event["detail-type"] == "SageMaker Model Package State Change"
    assert event["detail"]["ModelApprovalStatus"] == "Approved"
    assert event["detail"]["ModelPackageVersion"] == 1
    meta = registry.read_metadata(group / "1", 1)
    assert meta["approval_history"][-1]["on_approve"]["ok"]


def test_a_failed_on_approve_names_its_exit_code_and_the_approval_stays(tmp_path, capsys):
    group = tmp_path / "registry" / "penguins"
    version(group, tmp_path)
    assert registry.main(["--group-dir", str(group), "approve", "--version", "1",
                          "--on-approve", "exit 5"]) == 1
    assert "exited with code 5" in capsys.readouterr().err
    meta = registry.read_metadata(group / "1", 1)
    assert meta["approval_status"] == registry.APPROVED
    assert meta["approval_history"][-1]["on_approve"]["code"] == 5


def test_a_bad_on_approve_changes_nothing(tmp_path, capsys):
    group = tmp_path / "registry" / "penguins"
    version(group, tmp_path)
    assert registry.main(["--group-dir", str(group), "approve", "--version", "1",
                          "--on-approve", "http://192.0.2.1/deploy"]) == 1
    assert "must be on this machine" in capsys.readouterr().err
    assert registry.read_metadata(group / "1", 1)["approval_status"] == registry.PENDING


def test_on_approve_does_not_run_when_nothing_changed(tmp_path, capsys):
    group = tmp_path / "registry" / "penguins"
    version(group, tmp_path, accuracy=0.9)  # registered Approved already
    assert registry.main(["--group-dir", str(group), "approve", "--version", "1",
                          "--on-approve", "exit 7"]) == 0
    assert "ON_APPROVE not run" in capsys.readouterr().out


def test_the_schedules_watcher_starts_and_stop_ends_it(tmp_path):
    from argparse import Namespace

    from pipeline.monitoring import schedule

    folder = tmp_path / "schedules" / "penguins"
    folder.mkdir(parents=True)
    args = Namespace(local=tmp_path, workload="penguins", compose="docker compose",
                     docker="docker", image="penguins-training:test", keep=5, watch_every=0.5,
                     on_violation="true", retrain_command=None)
    schedule.start_watcher(args, folder)
    pid, when = (folder / alarms.WATCHER_PID).read_text().split()
    pid = int(pid)
    assert schedule.processes.started(pid) == when
    schedule.stop_watcher(folder)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:  # reap it: it is this process's child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()
    assert not (folder / alarms.WATCHER_PID).exists()
    schedule.stop_watcher(folder)  # nothing left to stop: no error
    (folder / alarms.WATCHER_PID).write_text(f"{os.getpid()} 1\n")  # a pid now someone else's
    schedule.stop_watcher(folder)  # is left alone (this test still runs)


def test_the_alarm_of_one_variants_run_names_that_variant(tmp_path):
    capture = tmp_path / "capture" / "penguins" / "penguins-endpoint" / "v2" / "2026" / "12"
    capture.mkdir(parents=True)
    run = runs.create(tmp_path, "monitoring", "penguins", analysis_type="MODEL_QUALITY",
                      inputs={"endpoint": {"path": str(capture.parent.parent)}},
                      endpoint="penguins-endpoint", variant="v2")
    fact = alarms.facts(run, FOUND)
    assert (fact["ENDPOINT_NAME"], fact["VARIANT_NAME"]) == ("penguins-endpoint", "v2")
    assert fact["ALARM_NAME"] == "penguins-endpoint-model-quality-violations"
