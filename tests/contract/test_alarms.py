"""Monitor alarms that act, through make with the real images: a data-quality run with
violations fires ON_VIOLATION (a command, then a URL on 127.0.0.1), RETRAIN_ON_VIOLATION=1 runs
the pipeline and leaves a PendingManualApproval version naming the alarm's run, and make approve
runs ON_APPROVE. A LOCAL_DIR and compose project of the test's own; the images are those under
test (TRAINING_IMAGE, SERVING_IMAGE), so make builds nothing (IMAGES_BUILT=1)."""

import json
import shlex
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import monitor_cases as cases
import pytest

from harness import compose_project, filed_runs

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("alarms")
DUMP = ("import json, os, sys; json.dump({k: v for k, v in os.environ.items() if k in "
        "sys.argv[2:]}, open(sys.argv[1], 'w'))")


def make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def dump_env(path: Path, *names: str) -> str:
    """A hook command that writes the named environment variables to `path` as JSON."""
    return " ".join(shlex.quote(part) for part in (sys.executable, "-c", DUMP, str(path), *names))


@pytest.fixture(scope="module")
def local(tmp_path_factory, processed, trained):
    """A registered version with its data baseline, made from the session's runs (the retrain
    below runs the whole pipeline), and an hour of drifted captured traffic."""
    folder = tmp_path_factory.mktemp("alarms")
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}", "EPOCHS=2",
                "IMAGES_BUILT=1", "PENDING_THRESHOLD=0", "ACCURACY_THRESHOLD=0"]
    filed_runs(folder, processed, trained)
    for target in ("evaluate", "baseline", "register"):
        done = make(target, *settings)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    hour = (datetime.now(UTC) - timedelta(minutes=30)).replace(minute=0, second=0,
                                                                microsecond=0)
    drifted = cases.penguins(200, seed=3, shift={"bill_length_mm": 1.6, "body_mass_g": 1.5})
    cases.write(folder / "capture" / "penguins", cases.json_lines(drifted, when=hour), hour=hour)
    window = [f"START={hour:%Y-%m-%dT%H:%M:%SZ}",
              f"END={hour + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"]
    return folder, settings + window


def versions(folder: Path) -> dict[int, dict]:
    group = folder / "registry" / "penguins"
    return {int(path.parent.name): json.loads(path.read_text())
            for path in group.glob("*/metadata.json")}


def newest_monitoring_run(folder: Path) -> dict:
    found = [json.loads(path.read_text()) for path in (folder / "monitoring").glob("*/run.json")]
    return max(found, key=lambda record: record["start"])


def test_violations_fire_on_violation_and_the_retrain_leaves_a_pending_version(local, tmp_path):
    folder, settings = local
    before = versions(folder)
    assert [meta["approval_status"] for meta in before.values()] == ["Approved"]
    seen = tmp_path / "alarm.json"
    hook = dump_env(seen, "MONITORING_RUN", "ANALYSIS_TYPE", "VIOLATION_COUNT",
                    "CONSTRAINT_VIOLATIONS", "ENDPOINT_NAME", "VARIANT_NAME", "HOOK_EVENT")
    done = make("monitor-data", *settings, f"ON_VIOLATION={hook}", "RETRAIN_ON_VIOLATION=1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = newest_monitoring_run(folder)
    facts = json.loads(seen.read_text())
    assert facts["MONITORING_RUN"] == run["name"]
    assert facts["ANALYSIS_TYPE"] == "DATA_QUALITY"
    listed = json.loads(Path(facts["CONSTRAINT_VIOLATIONS"]).read_text())["violations"]
    assert int(facts["VIOLATION_COUNT"]) == len(listed) > 0
    assert any(v["feature_name"] == "bill_length_mm" for v in listed)
    assert (facts["ENDPOINT_NAME"], facts["VARIANT_NAME"]) == ("penguins-endpoint", "AllTraffic")
    event = json.loads(Path(facts["HOOK_EVENT"]).read_text())
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["detail"]["monitoringExecution"]["runName"] == run["name"]

    after = versions(folder)
    new = [meta for number, meta in after.items() if number not in before]
    assert len(new) == 1, after
    # Pending although ACCURACY_THRESHOLD=0 would approve anything: a person decides.
    assert new[0]["approval_status"] == "PendingManualApproval"
    assert new[0]["lineage"]["alarm"] == run["name"]
    assert new[0]["lineage"]["training"] != before[1]["lineage"]["training"]
    alarm = json.loads((folder / "monitoring" / run["name"] / "alarm.json").read_text())
    assert alarm["retrain"]["exit_code"] == 0 and alarm["on_violation"]["ok"]

    approved = tmp_path / "approved.json"
    hook = dump_env(approved, "MODEL_VERSION", "MODEL_APPROVAL_STATUS", "MODEL_DATA")
    done = make("approve", *settings, f"VERSION={new[0]['version']}", f"ON_APPROVE={hook}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(approved.read_text()) == {
        "MODEL_VERSION": str(new[0]["version"]), "MODEL_APPROVAL_STATUS": "Approved",
        "MODEL_DATA": str(folder / "registry" / "penguins" / str(new[0]["version"]) /
                          "model.tar.gz")}


def test_a_url_hook_gets_the_alarm_and_a_failing_one_fails_the_command(local):
    folder, settings = local
    received, status = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alarm"
    try:
        done = make("monitor-data", *settings, f"ON_VIOLATION={url}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (event,) = received
        assert event["detail"]["monitoringExecution"]["runName"] == \
            newest_monitoring_run(folder)["name"]
        status[0] = 503
        done = make("monitor-data", *settings, f"ON_VIOLATION={url}")
        assert done.returncode != 0
        assert f"ON_VIOLATION POST {url} answered 503" in done.stderr
        assert newest_monitoring_run(folder)["status"] == "Completed"
    finally:
        server.shutdown()
        server.server_close()
