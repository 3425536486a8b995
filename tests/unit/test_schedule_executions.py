"""The monitoring schedule's executions (pipeline/monitoring/executions.py) in-process: each one a
monitoring run through the job runner, against the baseline the schedule was created with
(its variant's own when it has one), bounded by the schedule's MaxRuntimeInSeconds and stopped
with it; and make monitor-schedule / monitor-schedule-stop starting and ending the host process.
A docker stand-in plays the analyzer (monitor_cases.FAKE_DOCKER)."""

import json
import threading
import time
from argparse import Namespace
from datetime import timedelta
from pathlib import Path

import monitor_cases as cases
import pytest

from pipeline.monitoring import dataquality, executions, processes, schedule, variants
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline
END = cases.HOUR + timedelta(hours=1)


@pytest.fixture
def fake(tmp_path, monkeypatch) -> dict:
    found = cases.fake_analyzer(tmp_path, monkeypatch)
    return found


def planned(tmp_path: Path, fake: dict, **options) -> executions.Executions:
    """A schedule as make monitor-schedule leaves it: a model-quality baseline (and v2's own)
    in its folder, LOCAL_DIR/schedules/penguins/<name>/baseline/, schedule.json beside it."""
    local = tmp_path / "local"
    folder = local / "schedules" / "penguins" / "penguins-model-quality-schedule"
    for place, accuracy in ((folder / "baseline", 0.5), (folder / "baseline" / "v2", 0.9)):
        place.mkdir(parents=True)
        (place / "statistics.json").write_text("{}")
        (place / "constraints.json").write_text(json.dumps({"accuracy": accuracy}))
    plan = {"name": "penguins-monitoring-schedule", "workload": "penguins", "interval": 3600,
            "window": 3600, "max_runtime": 3600, "capture": str(tmp_path / "capture"),
            "ground_truth": str(tmp_path / "truth"),
            "baselines": {"MODEL_QUALITY": {"from": "baseline run b1"}},
            "variant_baselines": {"MODEL_QUALITY": {"v2": {"from": "registry version 2"}}},
            **options}
    (tmp_path / "truth").mkdir()
    args = Namespace(local=local, workload="penguins", compose=fake["compose"],
                     docker=fake["docker"], image="penguins-training:test", keep=20,
                     capture=tmp_path / "capture", ground_truth=tmp_path / "truth",
                     on_violation=None, retrain_command=None)
    return executions.Executions(args, plan, folder)


def test_each_variant_is_an_execution_through_the_runner_against_its_own_baseline(tmp_path,
                                                                                  fake):
    for variant in ("v1", "v2"):
        cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}]),
                    variant=variant)
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Dream"}]), variant="old",
                hour=cases.HOUR.replace(day=1))  # a variant of an earlier config
    planned(tmp_path, fake).tick(cases.HOUR, END)
    done = sorted(runs.runs(tmp_path / "local", "monitoring"),
                  key=lambda run: run.record["variant"])
    assert [run.record["variant"] for run in done] == ["v1", "v2"]
    for run, accuracy, what in ((done[0], 0.5, "baseline run b1"),
                                (done[1], 0.9, "registry version 2")):
        assert run.status == "Completed" and run.record["schedule"] == \
            "penguins-monitoring-schedule"
        assert run.record["window"] == {"start": "2026-11-23T21:00:00Z",
                                        "end": "2026-11-23T22:00:00Z"}
        assert run.record["inputs"]["baseline"]["from"] == what
        assert json.loads((run.folder / "processing" / "baseline" / "constraints.json")
                          .read_text()) == {"accuracy": accuracy}
        body = json.loads((run.folder / "request.json").read_text())
        assert body["ProcessingJobName"] == run.name
        assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
        assert body["Environment"]["analysis_type"] == "MODEL_QUALITY"
        assert run.record["ProcessingJobStatus"] == "Completed"
    row = dataquality.table(done[:1]).splitlines()[1].split()
    assert row[1:4] == ["MODEL_QUALITY", "v1", "Completed"]


def test_an_execution_longer_than_the_max_runtime_is_stopped_by_the_runner(tmp_path, fake,
                                                                            monkeypatch):
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}]))
    monkeypatch.setenv("FAKE_ANALYZER_SECONDS", "30")
    schedule_of = planned(tmp_path, fake, max_runtime=1)
    [item] = variants.captured(tmp_path / "capture", cases.HOUR, END)
    assert schedule_of.execute("MODEL_QUALITY", cases.HOUR, END, item) == 1
    [run] = runs.runs(tmp_path / "local", "monitoring")
    assert (run.status, run.record["failure_reason"]) == ("Stopped",
                                                          "MaxRuntimeInSeconds reached")
    assert f"stop -t 120 penguins-{run.name}-algo-1" in fake["calls"].read_text()


def test_sigterm_stops_the_running_execution_and_starts_no_other(tmp_path, fake, monkeypatch):
    for variant in ("v1", "v2"):
        cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}]),
                    variant=variant)
    monkeypatch.setenv("FAKE_ANALYZER_SECONDS", "30")
    schedule_of = planned(tmp_path, fake)

    def stop_once_running() -> None:
        deadline = time.monotonic() + 20
        while schedule_of.running is None and time.monotonic() < deadline:
            time.sleep(0.02)
        schedule_of.stop()  # what SIGTERM's handler calls

    stopper = threading.Thread(target=stop_once_running)
    stopper.start()
    schedule_of.tick(cases.HOUR, END)
    stopper.join()
    [run] = runs.runs(tmp_path / "local", "monitoring")  # v2's never started
    assert (run.status, run.record["exit_code"]) == ("Stopped", 143)
    assert run.record["ProcessingJobStatus"] == "Stopped"


def test_make_monitor_schedule_starts_the_host_process_and_stop_ends_it(tmp_path, fake):
    local = tmp_path / "local"
    cases.filed_baseline(local)
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}]))
    options = ["--local", str(local), "--compose", fake["compose"], "--docker", fake["docker"],
               "--image", "penguins-training:test"]
    assert schedule.main([*options, "start", "--capture", str(tmp_path / "capture"),
                          "--ground-truth", str(tmp_path / "truth"), "--interval", "1",
                          "--window", str(10 ** 9)]) == 0
    folder = local / "schedules" / "penguins" / "penguins-data-quality-schedule"
    pid, when = (folder / "schedule.pid").read_text().split()
    try:
        deadline, done = time.monotonic() + 60, []
        while len(done) < 2 and time.monotonic() < deadline:
            done = [run for run in runs.runs(local, "monitoring") if run.status != "InProgress"]
            time.sleep(0.1)
    finally:
        assert schedule.main([*options, "stop"]) == 0
    assert len(done) >= 2, (folder / "schedule.log").read_text()
    assert all(run.status == "Completed" and run.record["analysis_type"] == "DATA_QUALITY"
               and run.record["schedule"] == "penguins-monitoring-schedule" for run in done)
    assert len({run.record["window"]["end"] for run in done}) == len(done)  # one per boundary
    assert processes.started(int(pid)) is None  # it ended
    assert not (folder / "schedule.pid").exists()
    described = json.loads((folder / "describe.json").read_text())
    assert described["MonitoringScheduleStatus"] == "Stopped"
    assert described["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"] == \
        "Completed"


def test_a_job_name_another_schedule_took_first_is_given_up_for_a_new_one(tmp_path, fake,
                                                                          monkeypatch):
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}]))
    (tmp_path / "local" / "monitoring" / "penguins-monitoring-taken").mkdir(parents=True)
    names = iter(["penguins-monitoring-taken", "penguins-monitoring-free"])
    monkeypatch.setattr(executions.runs, "job_name", lambda *_: next(names))
    schedule_of = planned(tmp_path, fake)
    [item] = variants.captured(tmp_path / "capture", cases.HOUR, END)
    assert schedule_of.execute("MODEL_QUALITY", cases.HOUR, END, item) == 0
    [run] = runs.runs(tmp_path / "local", "monitoring")
    assert (run.name, run.status) == ("penguins-monitoring-free", "Completed")
