"""A monitoring schedule's life after CreateMonitoringSchedule: ListMonitoringSchedules and
ListMonitoringExecutions with SageMaker's filters, order and pages over fixed records
(pipeline/api/schedulequeries.py), each mistake named by its field; then, in-process with the
docker stand-in (monitor_cases.FAKE_DOCKER), Describe/Stop/Start/Delete and the executions'
list on schedules make monitor-schedule started (pipeline/monitoring/lifecycle.py)."""

import json
import time
from datetime import UTC, datetime

import monitor_cases as cases
import pytest

from pipeline.api import schedulequeries as queries
from pipeline.api.requests import RequestError
from pipeline.monitoring import lifecycle, processes, schedule

pytestmark = pytest.mark.pipeline


def described(name, status, kind, endpoint, day, definition=None) -> dict:
    config = {"MonitoringType": kind, "ScheduleConfig": {"ScheduleExpression": "NOW"}}
    if definition:
        config["MonitoringJobDefinitionName"] = definition
    return {"MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:0:monitoring-schedule/{name}",
            "MonitoringScheduleName": name, "MonitoringScheduleStatus": status,
            "MonitoringType": kind, "EndpointName": endpoint,
            "CreationTime": f"2026-12-0{day}T10:00:00.000Z",
            "LastModifiedTime": f"2026-12-0{day}T11:00:00.000Z",
            "MonitoringScheduleConfig": config}


RECORDS = [described("penguins-dq", "Scheduled", "DataQuality", "penguins-endpoint", 1, "dq"),
           described("penguins-mq", "Stopped", "ModelQuality", "penguins-endpoint", 2),
           described("digits-dq", "Scheduled", "DataQuality", "digits-endpoint", 3)]


@pytest.mark.parametrize(("body", "names"), [
    ({}, ["digits-dq", "penguins-mq", "penguins-dq"]),  # newest first, SageMaker's default
    ({"NameContains": "penguins"}, ["penguins-mq", "penguins-dq"]),
    ({"StatusEquals": "Stopped"}, ["penguins-mq"]),
    ({"EndpointName": "digits-endpoint"}, ["digits-dq"]),
    ({"MonitoringTypeEquals": "ModelQuality"}, ["penguins-mq"]),
    ({"MonitoringJobDefinitionName": "dq"}, ["penguins-dq"]),
    ({"SortBy": "Name", "SortOrder": "Ascending"}, ["digits-dq", "penguins-dq", "penguins-mq"]),
    ({"SortBy": "Status"}, ["penguins-mq", "penguins-dq", "digits-dq"]),
    ({"CreationTimeAfter": datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()},  # boto3's
     ["digits-dq", "penguins-mq"]),
    ({"CreationTimeBefore": "2026-12-02T12:00:00Z", "SortOrder": "Ascending"},
     ["penguins-dq", "penguins-mq"]),
    ({"LastModifiedTimeAfter": "2026-12-03T10:30:00Z"}, ["digits-dq"]),
])
def test_list_monitoring_schedules_filters_and_orders_as_sagemaker_does(body, names):
    answer = queries.list_schedules(body, RECORDS)
    assert [s["MonitoringScheduleName"] for s in answer["MonitoringScheduleSummaries"]] == names
    first = answer["MonitoringScheduleSummaries"][0]
    assert set(first) <= {"MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime",
                          "LastModifiedTime", "MonitoringScheduleStatus", "EndpointName",
                          "MonitoringJobDefinitionName", "MonitoringType"}


def test_a_long_list_comes_in_pages_each_naming_the_next():
    first = queries.list_schedules({"MaxResults": 2}, RECORDS)
    assert len(first["MonitoringScheduleSummaries"]) == 2
    rest = queries.list_schedules({"MaxResults": 2, "NextToken": first["NextToken"]}, RECORDS)
    assert [s["MonitoringScheduleName"] for s in rest["MonitoringScheduleSummaries"]] == [
        "penguins-dq"]
    assert "NextToken" not in rest


EXECUTIONS = [
    {"MonitoringScheduleName": "a", "ScheduledTime": "2026-12-04T10:00:00Z",
     "CreationTime": "2026-12-04T10:00:01.000Z", "MonitoringExecutionStatus": "Completed",
     "MonitoringType": "DataQuality", "EndpointName": "penguins-endpoint"},
    {"MonitoringScheduleName": "a", "ScheduledTime": "2026-12-04T11:00:00Z",
     "CreationTime": "2026-12-04T11:00:01.000Z",
     "MonitoringExecutionStatus": "CompletedWithViolations", "MonitoringType": "DataQuality",
     "EndpointName": "penguins-endpoint"},
    {"MonitoringScheduleName": "b", "ScheduledTime": "2026-12-04T12:00:00Z",
     "CreationTime": "2026-12-04T12:00:01.000Z", "MonitoringExecutionStatus": "Failed",
     "MonitoringType": "ModelQuality", "EndpointName": "digits-endpoint"}]


@pytest.mark.parametrize(("body", "times"), [
    ({}, ["12", "11", "10"]),
    ({"MonitoringScheduleName": "a", "SortBy": "ScheduledTime", "SortOrder": "Ascending"},
     ["10", "11"]),
    ({"StatusEquals": "CompletedWithViolations"}, ["11"]),
    ({"ScheduledTimeAfter": "2026-12-04T10:30:00Z", "ScheduledTimeBefore": "2026-12-04T11:30Z"},
     ["11"]),
    ({"CreationTimeBefore": "2026-12-04T11:00:00Z"}, ["10"]),
    ({"EndpointName": "digits-endpoint", "MonitoringTypeEquals": "ModelQuality"}, ["12"]),
])
def test_list_monitoring_executions_filters_by_schedule_status_and_time(body, times):
    answer = queries.list_executions(body, EXECUTIONS)
    assert [s["ScheduledTime"][11:13] for s in answer["MonitoringExecutionSummaries"]] == times


@pytest.mark.parametrize(("verb", "body", "message"), [
    (queries.list_schedules, {"StatusEquals": "Running"},
     'StatusEquals: "Running" is not one of Pending, Failed, Scheduled, Stopped'),
    (queries.list_schedules, {"SortBy": "ScheduledTime"}, 'SortBy: "ScheduledTime" is not one'),
    (queries.list_schedules, {"SortOrder": "Up"}, 'SortOrder: "Up" is not one'),
    (queries.list_schedules, {"MaxResults": 0}, "MaxResults: 0 is outside 1..100"),
    (queries.list_schedules, {"MaxResults": "5"}, 'MaxResults: "5" is not a whole number'),
    (queries.list_schedules, {"NextToken": "x"}, 'NextToken: "x" is not a token'),
    (queries.list_schedules, {"NameContain": "x"}, "NameContain: unknown field"),
    (queries.list_schedules, {"ScheduledTimeAfter": 0}, "ScheduledTimeAfter: unknown field"),
    (queries.list_schedules, {"CreationTimeAfter": "yesterday"},
     'CreationTimeAfter: "yesterday" is not a time'),
    (queries.list_executions, {"StatusEquals": "Scheduled"}, 'StatusEquals: "Scheduled"'),
    (queries.list_executions, {"ScheduledTimeBefore": [1]}, "ScheduledTimeBefore: [1] is not"),
    (queries.list_executions, {"MonitoringScheduleName": 7}, "MonitoringScheduleName: 7 is not"),
    (lambda body, _: queries.name_of(body), {}, "MonitoringScheduleName: missing"),
    (lambda body, _: queries.name_of(body), {"MonitoringScheduleName": "a_b"},
     'MonitoringScheduleName: "a_b" is not a name'),
    (lambda body, _: queries.name_of(body), {"MonitoringScheduleName": "a", "Force": True},
     "Force: unknown field"),
])
def test_each_mistake_in_a_request_names_its_field(verb, body, message):
    with pytest.raises(RequestError, match="^" + message.replace("[", r"\[").replace(".", r"\.")):
        verb(body, RECORDS)


@pytest.fixture
def options(tmp_path, monkeypatch) -> list[str]:
    fake = cases.fake_analyzer(tmp_path, monkeypatch)
    return ["--local", str(tmp_path / "local"), "--compose", fake["compose"],
            "--docker", fake["docker"], "--image", "penguins-training:test"]


def verb(options: list, capsys, *words: str) -> tuple[int, dict | str]:
    """lifecycle's exit code and answer (JSON decoded; a sentence, or the error, as it is)."""
    code = lifecycle.main([*options, *words])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out)
    except ValueError:
        return code, (out + err).strip()


def names(answer: dict) -> list[str]:
    return sorted(s["MonitoringScheduleName"] for s in answer["MonitoringScheduleSummaries"])


def test_describe_stop_start_delete_and_the_executions_list_act_on_one_schedule(
        tmp_path, options, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_VIOLATIONS", "1")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    cases.write(tmp_path / "capture", cases.json_lines([{"island": "Biscoe"}], when=hour),
                hour=hour)
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    for name in ("statistics.json", "constraints.json"):
        (baseline / name).write_text("{}")
    requests = []
    for name in ("alpha", "beta", "gamma"):  # gamma runs NOW, once; the others hourly
        config = None if name == "gamma" else {"ScheduleExpression": "cron(0 * ? * * *)"}
        (tmp_path / f"{name}.json").write_text(json.dumps(cases.inline_request(
            name, f"file://{baseline}", f"file://{tmp_path}/reports", config)))
        requests += ["--request", str(tmp_path / f"{name}.json")]
    assert schedule.main([*options, "start", "--capture", str(tmp_path / "capture"),
                          *requests]) == 0
    capsys.readouterr()  # what the start said
    folder = tmp_path / "local" / "schedules" / "penguins"
    try:
        deadline = time.monotonic() + 60
        while verb(options, capsys, "describe", "--field", "MonitoringScheduleName=gamma")[1][
                "MonitoringScheduleStatus"] != "Stopped":
            assert time.monotonic() < deadline, (folder / "gamma" / "schedule.log").read_text()
            time.sleep(0.1)
        assert names(verb(options, capsys, "list")[1]) == ["alpha", "beta", "gamma"]
        assert names(verb(options, capsys, "list", "--body", '{"StatusEquals": "Stopped"}')[1]) \
            == ["gamma"]
        assert verb(options, capsys, "stop", "--field", "MonitoringScheduleName=alpha")[0] == 0
        assert not processes.running(folder / "alpha" / "schedule.pid")
        assert names(verb(options, capsys, "list", "--field", "StatusEquals=Scheduled")[1]) == [
            "beta"]
        code, said = verb(options, capsys, "start", "--field", "MonitoringScheduleName=alpha")
        assert code == 0 and said.startswith("alpha: Scheduled")
        assert processes.running(folder / "alpha" / "schedule.pid")
        assert verb(options, capsys, "delete", "--field", "MonitoringScheduleName=beta")[0] == 0
        assert not (folder / "beta").exists()
        code, said = verb(options, capsys, "describe", "--field", "MonitoringScheduleName=beta")
        assert code == 1 and "MonitoringScheduleName beta: ResourceNotFound" in said
        code, answer = verb(options, capsys, "executions", "--field",
                            "MonitoringScheduleName=gamma")
        [summary] = answer["MonitoringExecutionSummaries"]
        assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations"
        assert (summary["EndpointName"], summary["MonitoringType"]) == ("penguins-endpoint",
                                                                        "DataQuality")
        last = json.loads((folder / "gamma" / "describe.json").read_text())[
            "LastMonitoringExecutionSummary"]
        assert summary == last  # one summary, wherever it is read
        assert verb(options, capsys, "executions", "--field", "StatusEquals=Completed")[1] == {
            "MonitoringExecutionSummaries": []}
    finally:
        assert schedule.main([*options, "stop"]) == 0
    assert not processes.running(folder / "alpha" / "schedule.pid")
