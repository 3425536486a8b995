"""make monitor-schedule from CreateMonitoringSchedule requests, in-process: make's own requests for
the built-in monitors (MONITOR_* where SageMaker's rules allow, this machine's overrides beyond),
a user's own request (REQUEST=) run by the schedule's host process, and each schedule's
request.json and DescribeMonitoringSchedule record. A docker stand-in plays the analyzer
(monitor_cases.FAKE_DOCKER)."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import monitor_cases as cases
import pytest

from pipeline.api import schedules
from pipeline.monitoring import schedule, schedulerecords, schedulerequests
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline


@pytest.fixture
def options(tmp_path, monkeypatch) -> list[str]:
    fake = cases.fake_analyzer(tmp_path, monkeypatch)
    return ["--local", str(tmp_path / "local"), "--compose", fake["compose"],
            "--docker", fake["docker"], "--image", "penguins-training:test"]


def start(tmp_path: Path, options: list, *extra: str) -> Path:
    assert schedule.main([*options, "start", "--capture", str(tmp_path / "capture"),
                          "--ground-truth", str(tmp_path / "truth"), *extra]) == 0
    return tmp_path / "local" / "schedules" / "penguins"


def stop(options: list) -> None:
    assert schedule.main([*options, "stop"]) == 0


def filed(tmp_path: Path) -> Path:
    """A baseline's two files, {} each, in a folder of their own."""
    baseline = tmp_path / "baseline"
    baseline.mkdir(exist_ok=True)
    for name in ("statistics.json", "constraints.json"):
        (baseline / name).write_text("{}")
    return baseline


def test_make_sends_the_sdks_requests_for_each_monitor_with_a_baseline(tmp_path, options):
    local = tmp_path / "local"
    data, model = cases.filed_baseline(local), cases.filed_baseline(local, "MODEL_QUALITY")
    folder = start(tmp_path, options)
    try:
        for name, analysis, run in (("penguins-data-quality", "DATA_QUALITY", data),
                                    ("penguins-model-quality", "MODEL_QUALITY", model)):
            own = folder / f"{name}-schedule"
            plan = json.loads((own / "schedule.json").read_text())
            assert (plan["interval"], plan["window"]) == (None, None)  # all in the requests
            assert list(plan["schedules"]) == [analysis]  # a process of its own
            assert schedule.processes.running(own / schedulerecords.PID)
            body = json.loads((own / "request.json").read_text())
            parsed = schedules.parse(body)
            assert parsed.expression == "cron(0 * ? * * *)" and parsed.definition_name == name
            job = schedules.definition(json.loads((own / "job-definition.json").read_text()))
            assert job.analysis == analysis and job.max_runtime == 3600
            assert job.constraints == f"file://{run.folder}/processing/output/constraints.json"
            described = json.loads((own / "describe.json").read_text())
            assert described["MonitoringScheduleStatus"] == "Scheduled"
            assert described["MonitoringScheduleArn"].endswith(f":monitoring-schedule/{name}"
                                                               "-schedule")
            assert described["EndpointName"] == "penguins-endpoint"
        baseline = folder / "penguins-model-quality-schedule" / "baseline"
        assert json.loads((baseline / "constraints.json").read_text()) == {"of": model.name}
        assert not (baseline / "statistics.json").exists()  # not SageMaker's
    finally:
        stop(options)
    assert json.loads((folder / "penguins-data-quality-schedule" / "describe.json").read_text())[
        "MonitoringScheduleStatus"] == "Stopped"


@pytest.mark.parametrize(("extra", "config", "overrides"), [
    (["--interval", "7200", "--window", "3600"],
     {"ScheduleExpression": "cron(0 0/2 ? * * *)", "DataAnalysisStartTime": "-PT3600S"},
     (None, None)),
    (["--interval", "86400"], {"ScheduleExpression": "cron(0 0 ? * * *)"}, (None, None)),
    # a test's clock and window, beyond what a request can say: this machine's only
    (["--interval", "3", "--window", str(10 ** 9)], {"ScheduleExpression": "cron(0 * ? * * *)"},
     (3, 10 ** 9)),
    (["--interval", "18000"], {"ScheduleExpression": "cron(0 * ? * * *)"}, (18000, None)),
])
def test_monitor_variables_go_into_the_request_where_sagemaker_allows(tmp_path, options, extra,
                                                                       config, overrides):
    cases.filed_baseline(tmp_path / "local")
    folder = start(tmp_path, options, *extra)
    stop(options)
    body = json.loads((folder / "penguins-data-quality-schedule" / "request.json").read_text())
    assert body["MonitoringScheduleConfig"]["ScheduleConfig"] == config
    plan = json.loads((folder / "penguins-data-quality-schedule" / "schedule.json").read_text())
    assert (plan["interval"], plan["window"]) == overrides


def test_a_users_request_runs_now_once_and_its_record_says_how_it_ended(tmp_path, options):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}], when=hour),
                hour=hour)
    request = cases.inline_request("my-schedule", f"file://{filed(tmp_path)}",
                                   f"file://{tmp_path}/reports")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    folder = start(tmp_path, options, "--request", str(path))
    record = folder / "my-schedule" / "describe.json"
    deadline = time.monotonic() + 60
    while json.loads(record.read_text())["MonitoringScheduleStatus"] != "Stopped":
        assert time.monotonic() < deadline, (folder / "my-schedule" / "schedule.log").read_text()
        time.sleep(0.1)
    described = json.loads(record.read_text())
    summary = described["LastMonitoringExecutionSummary"]
    assert summary["MonitoringExecutionStatus"] == "Completed", summary
    [run] = runs.runs(tmp_path / "local", "monitoring")
    assert run.record["MonitoringScheduleName"] == "my-schedule"
    assert summary["ProcessingJobArn"] == run.record["ProcessingJobArn"]
    body = json.loads((run.folder / "request.json").read_text())
    assert body["AppSpecification"]["ImageUri"] == "penguins-training:test"  # the analyzer's
    assert body["Environment"]["team"] == "ml"
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 120}
    assert run.record["window"]["start"] == (datetime.fromisoformat(
        summary["ScheduledTime"].replace("Z", "+00:00")) - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    at = datetime.fromisoformat(summary["ScheduledTime"].replace("Z", "+00:00"))
    copied = tmp_path / "reports" / "penguins-endpoint" / "my-schedule" / at.strftime(
        "%Y/%m/%d/%H") / "constraint_violations.json"
    assert copied.is_file()
    assert json.loads((folder / "my-schedule" / "request.json").read_text()) == request
    stop(options)


def test_a_wrong_request_starts_nothing_and_names_file_and_field(tmp_path, options, capsys):
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"MonitoringScheduleName": "x", "MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": "missing", "MonitoringType": "ModelQuality"}}))
    assert schedule.main([*options, "start", "--request", str(path)]) == 1
    assert f"{path}: MonitoringScheduleConfig.MonitoringJobDefinitionName: no job definition " \
           "named 'missing'" in capsys.readouterr().err
    assert not (tmp_path / "local" / "schedules").exists()
    assert schedulerequests.expression(5400) is None


def test_the_lambda_that_schedules_the_monitors_sends_its_requests_through_make(
        tmp_path, options, monkeypatch):
    from pipeline.workflow import handlers

    data = cases.filed_baseline(tmp_path / "local")
    files = data.folder / "processing" / "output"
    called = []

    def make(*arguments):  # make monitor-schedule|update-schedule REQUEST="..." as it runs them
        called.append(arguments)
        requests = arguments[1].removeprefix("REQUEST=").split()
        step = {"monitor-schedule": "start", "update-schedule": "update"}[arguments[0]]
        assert schedule.main([*options, step, "--capture", str(tmp_path / "capture"),
                              *[word for path in requests for word in ("--request", path)]]) == 0

    monkeypatch.setattr(handlers, "make", make)
    monkeypatch.setenv("LOCAL_DIR", str(tmp_path / "local"))
    event = {"endpoint_name": "penguins-endpoint",
             "data_quality_statistics": f"file://{files}/statistics.json",
             "data_quality_constraints": f"file://{files}/constraints.json",
             "schedule_expression": "cron(0 0/6 ? * * *)"}
    answer = handlers.schedule_monitors(event, None)
    try:
        assert answer["schedules"] == "penguins-endpoint-data-quality-schedule"
        assert called[0][0] == "monitor-schedule"
        own = tmp_path / "local" / "schedules" / "penguins" / answer["schedules"]
        body = json.loads((own / "request.json").read_text())
        assert body["MonitoringScheduleConfig"]["ScheduleConfig"] == {
            "ScheduleExpression": "cron(0 0/6 ? * * *)"}
        definition = json.loads((own / "job-definition.json").read_text())
        assert definition["DataQualityAppSpecification"]["ImageUri"] == handlers.ANALYZER
        plan = json.loads((own / "schedule.json").read_text())
        assert plan["schedules"]["DATA_QUALITY"]["image"] == "penguins-training:test"
        assert plan["schedules"]["DATA_QUALITY"]["hours"] == [0, 6, 12, 18]
        created = json.loads((own / "describe.json").read_text())["CreationTime"]
        # The pipeline run again: its schedule updated, not refused as in use.
        handlers.schedule_monitors({**event, "schedule_expression": "cron(0 * ? * * *)"}, None)
        assert called[-1][0] == "update-schedule"
        body = json.loads((own / "request.json").read_text())
        assert body["MonitoringScheduleConfig"]["ScheduleConfig"] == {
            "ScheduleExpression": "cron(0 * ? * * *)"}
        described = json.loads((own / "describe.json").read_text())
        assert (described["CreationTime"], described["MonitoringScheduleStatus"]) == (
            created, "Scheduled")
    finally:
        stop(options)
    monkeypatch.setattr(handlers, "make", lambda *arguments: called.append(arguments))
    handlers.schedule_monitors({"endpoint_name": "penguins-endpoint"}, None)
    assert called[-1] == ("monitor-schedule",)  # no baselines named: make's own requests


def test_model_qualitys_endpoint_offsets_set_the_window_when_the_schedule_has_none(tmp_path):
    constraints = tmp_path / "constraints.json"
    constraints.write_text("{}")
    bodies = schedulerequests.monitors(
        "p", "penguins-endpoint", {"ImageUri": "penguins-training:test"},
        {"MODEL_QUALITY": {"constraints": f"file://{constraints}"}}, f"file://{tmp_path}",
        f"file://{tmp_path}/out", {"ScheduleExpression": "cron(0 * ? * * *)"}, 60)
    bodies[0]["ModelQualityJobInput"]["EndpointInput"].update(StartTimeOffset="-P8D",
                                                              EndTimeOffset="-P1D")
    [(found, job)] = schedulerequests.parsed(bodies)
    args = type("Args", (), {"image": "penguins-training:test", "workload": "penguins"})
    entry = schedulerequests.entry(args, tmp_path / "own", found, job)
    assert (entry["start_offset"], entry["end_offset"]) == (-8 * 86400, -86400)
    assert entry["environment"] == {"publish_cloudwatch_metrics": "Disabled",
                                    "inference_attribute": "prediction",
                                    "probability_attribute": "confidence",
                                    "problem_type": "MulticlassClassification"}
    assert (tmp_path / "own" / "baseline" / "constraints.json").is_file()
    assert json.loads((tmp_path / "own" / "describe.json").read_text())[
        "MonitoringScheduleStatus"] == "Pending"  # until its process runs


@pytest.mark.parametrize(("plan", "entry", "runs_at", "window"), [
    ({}, {"hours": [0, 6, 12, 18], "start_offset": None, "end_offset": None}, "00:00",
     ("18:00", "00:00")),
    ({}, {"hours": list(range(24)), "start_offset": -7200, "end_offset": -3600}, "22:00",
     ("20:00", "21:00")),
    ({"interval": 60, "window": 600}, {"hours": list(range(24)), "start_offset": None,
                                       "end_offset": None}, "21:18", ("21:08", "21:18")),
    ({"interval": 60}, {"hours": None, "start_offset": -3600, "end_offset": 0}, "21:17",
     ("20:17", "21:17")),  # NOW: at once, whatever the interval here
    ({"interval": 3600, "window": 3600}, {}, "22:00", ("21:00", "22:00")),  # before requests
])
def test_the_clock_takes_the_requests_times_unless_this_machine_overrides_them(plan, entry,
                                                                               runs_at, window):
    from pipeline.monitoring.clock import Clock

    if entry:
        entry.update(MonitoringScheduleName="s", expression="cron(0 * ? * * *)")
    clock = Clock(plan, entry)
    at = clock.next_time(datetime(2026, 11, 23, 21, 17, tzinfo=UTC))
    start, end = clock.window(at)
    assert at.strftime("%H:%M") == runs_at
    assert (start.strftime("%H:%M"), end.strftime("%H:%M")) == window


def test_a_lambda_events_problem_type_is_the_model_quality_job_definitions(tmp_path):
    from pipeline.workflow import handlers

    bodies = handlers.monitor_requests({
        "endpoint_name": "penguins-endpoint", "problem_type": "Regression",
        "model_quality_constraints": f"file://{tmp_path}/constraints.json"})
    [(_, job)] = schedulerequests.parsed(bodies)
    assert job.problem_type == "Regression"
    assert bodies[0]["ModelQualityAppSpecification"]["ProblemType"] == "Regression"


HOURLY = {"ScheduleExpression": "cron(0 * ? * * *)"}


def requested(tmp_path: Path, *names: str, baseline: str | None = None) -> list[str]:
    """--request options of hourly data-quality schedules, one file each."""
    options = []
    for name in names:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(cases.inline_request(
            name, baseline or f"file://{filed(tmp_path)}", f"file://{tmp_path}/reports",
            HOURLY)))
        options += ["--request", str(path)]
    return options


def test_schedules_of_one_type_run_side_by_side_and_a_name_in_use_is_refused(tmp_path, options,
                                                                             capsys):
    folder = start(tmp_path, options, *requested(tmp_path, "first", "second"))
    try:
        start(tmp_path, options, *requested(tmp_path, "third"))
        for name in ("first", "second", "third"):  # each its own process, none replaced
            assert schedule.processes.running(folder / name / schedulerecords.PID), name
        kept = (folder / "first" / "describe.json").read_text()
        assert schedule.main([*options, "start", *requested(tmp_path, "fourth", "first")]) == 1
        assert "MonitoringScheduleName first: ResourceInUse" in capsys.readouterr().err
        assert (folder / "first" / "describe.json").read_text() == kept
        assert not (folder / "fourth").exists()  # nothing of a refused start
        assert sorted(path.name for path in folder.iterdir()) == ["first", "second", "third"]
    finally:
        stop(options)


def test_makes_own_schedules_are_replaced_by_a_new_start_and_the_users_kept(tmp_path, options):
    local = tmp_path / "local"
    cases.filed_baseline(local)
    folder = start(tmp_path, options, *requested(tmp_path, "mine"))
    try:
        start(tmp_path, options)
        own = folder / "penguins-data-quality-schedule"
        first = (own / "schedule.pid").read_text()
        newer = cases.filed_baseline(local)  # a newer baseline: make's own take it
        start(tmp_path, options)
        assert (own / "schedule.pid").read_text() != first  # another process
        assert json.loads((own / "baseline" / "constraints.json").read_text()) == {
            "of": newer.name}
        assert schedule.processes.running(folder / "mine" / schedulerecords.PID)
    finally:
        stop(options)


def test_a_start_whose_second_baseline_is_missing_leaves_nothing_behind(tmp_path, options,
                                                                        capsys):
    good = requested(tmp_path, "good")
    bad = requested(tmp_path, "bad", baseline=f"file://{tmp_path}/nowhere")
    assert schedule.main([*options, "start", *good, *bad]) == 1
    assert "bad: baseline statistics" in capsys.readouterr().err
    folder = tmp_path / "local" / "schedules" / "penguins"
    assert list(folder.iterdir()) == []  # no schedule, no hidden half-made one


def test_a_baseline_at_s3_uris_is_fetched_from_the_local_s3(tmp_path, options, monkeypatch,
                                                           capsys):
    import socket

    import boto3

    from pipeline.s3 import service

    with socket.socket() as probe:  # a free port of this machine's
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path / "s3"
    service.start(root, port)
    try:
        for key, value in service.client_env(port).items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models")
        for key, body in (("statistics.json", b'{"of": "s3"}'),
                          ("constraints.json", b'{"version": 0.0}'),
                          ("constraints.json.old", b"an older one, not taken")):
            s3.put_object(Bucket="models", Key=f"baselines/penguins/{key}", Body=body)
        good = requested(tmp_path, "from-s3", baseline="s3://models/baselines/penguins")
        folder = start(tmp_path, options, *good)
        stop(options)
        baseline = folder / "from-s3" / "baseline"
        assert (baseline / "statistics.json").read_bytes() == b'{"of": "s3"}'
        assert (baseline / "constraints.json").read_bytes() == b'{"version": 0.0}'
        missing = requested(tmp_path, "gone", baseline="s3://models/baselines/digits")
        assert schedule.main([*options, "start", *missing]) == 1
        assert "gone: baseline statistics: No S3 objects found under S3 URL " \
               "s3://models/baselines/digits/statistics.json" in capsys.readouterr().err
        assert not (folder / "gone").exists()
    finally:
        service.stop(root)


@pytest.mark.parametrize(("change", "message"), [
    (lambda body: body, "MonitoringScheduleName nobody: ResourceNotFound"),
    (lambda body: {**body, "Tags": []}, "Tags: unknown field"),  # UpdateMonitoringSchedule's
    (lambda body: {**body, "MonitoringScheduleConfig": {}},
     "MonitoringScheduleConfig: give MonitoringJobDefinition or MonitoringJobDefinitionName"),
])
def test_an_update_of_no_schedule_or_a_wrong_one_is_refused_and_changes_nothing(
        tmp_path, options, capsys, change, message):
    folder = start(tmp_path, options, *requested(tmp_path, "kept"))
    stop(options)
    before = sorted((path.name, path.read_bytes()) for path in (folder / "kept").iterdir()
                    if path.is_file() and path.suffix == ".json")
    body = json.loads((tmp_path / "kept.json").read_text())
    body["MonitoringScheduleName"] = "nobody" if "nobody" in message else "kept"
    (tmp_path / "update.json").write_text(json.dumps(change(body)))
    assert schedule.main([*options, "update", "--request", str(tmp_path / "update.json")]) == 1
    assert message in capsys.readouterr().err
    assert sorted((path.name, path.read_bytes()) for path in (folder / "kept").iterdir()
                  if path.is_file() and path.suffix == ".json") == before
    assert sorted(path.name for path in folder.iterdir()) == ["kept"]
