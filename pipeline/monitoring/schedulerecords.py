"""A monitoring schedule's DescribeMonitoringSchedule record, describe.json in its folder
(<LOCAL_DIR>/schedules/<workload>/<MonitoringScheduleName>/): written Scheduled when
make monitor-schedule starts it, its LastMonitoringExecutionSummary by the host process after
each execution, Stopped when it ends. Standard library only.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline.api import schedules
from pipeline.api.monitoringjobs import MonitoringJob
from pipeline.runs import records as runs

DESCRIBE = "describe.json"
# A run's status -> MonitoringExecutionStatus
EXECUTION = {runs.COMPLETED: "Completed", runs.FAILED: "Failed", runs.STOPPED: "Stopped"}


def write(path: Path, record: dict) -> None:
    """A record whole or not at all: the host process updates it while others read it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def describe(folder: Path, schedule: schedules.Schedule, job: MonitoringJob,
             status: str) -> None:
    path = folder / schedule.name / DESCRIBE
    before = json.loads(path.read_text()) if path.is_file() else None
    write(path, schedules.described(schedule, job, status, now(), before))


def set_status(folder: Path, status: str) -> None:
    """Every schedule's record in the folder to `status` (make monitor-schedule-stop's
    Stopped)."""
    for path in folder.glob(f"*/{DESCRIBE}"):
        record = json.loads(path.read_text())
        record.update(MonitoringScheduleStatus=status, LastModifiedTime=now())
        write(path, record)


def executed(folder: Path, name: str, run: runs.Run | None, scheduled: datetime,
             violations: int | None) -> None:
    """An execution as the schedule's LastMonitoringExecutionSummary."""
    path = folder / name / DESCRIBE
    if run is None or not path.is_file():
        return
    record = json.loads(path.read_text())
    status = EXECUTION.get(run.status, "InProgress")
    if status == "Completed" and violations:
        status = "CompletedWithViolations"
    summary = {"MonitoringScheduleName": name,
               "ScheduledTime": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "CreationTime": run.record.get("CreationTime", now()), "LastModifiedTime": now(),
               "MonitoringExecutionStatus": status, "MonitoringType": record["MonitoringType"],
               "ProcessingJobArn": run.record.get("ProcessingJobArn", ""),
               "EndpointName": record.get("EndpointName", "")}
    if run.record.get("FailureReason"):
        summary["FailureReason"] = run.record["FailureReason"]
    record.update(LastMonitoringExecutionSummary=summary, LastModifiedTime=now())
    write(path, record)
