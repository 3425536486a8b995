"""Monitoring schedules' records: each schedule a folder of its own,
<LOCAL_DIR>/schedules/<workload>/<MonitoringScheduleName>/, holding its request.json (and
job-definition.json), its DescribeMonitoringSchedule record describe.json, the plan its host
process runs (schedule.json), that process's pid and log, and the baseline it was created with
(baseline/). describe.json is written Pending while the schedule is being created, Scheduled once
its process runs, Stopped when it ends (Failed when it could not start); its
LastMonitoringExecutionSummary after each execution. An execution is a monitoring run whose
run.json names its MonitoringScheduleName, ScheduledTime, EndpointName and MonitoringType: its
MonitoringExecutionSummary is read from there. Names are unique in LOCAL_DIR, whatever the
workload, as SageMaker's are in an account and region. Standard library only.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline.api import schedules
from pipeline.api.monitoringjobs import MonitoringJob
from pipeline.monitoring import alarms
from pipeline.runs import records as runs

ROOT = "schedules"
DESCRIBE, PLAN, PID, LOG = "describe.json", "schedule.json", "schedule.pid", "schedule.log"
BASELINE = "baseline"
# A run's status -> MonitoringExecutionStatus
EXECUTION = {runs.COMPLETED: "Completed", runs.FAILED: "Failed", runs.STOPPED: "Stopped",
             runs.IN_PROGRESS: "InProgress"}
KINDS = {"DATA_QUALITY": "DataQuality", "MODEL_QUALITY": "ModelQuality"}


def write(path: Path, record: dict) -> None:
    """A record whole or not at all: the host process updates it while others read it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def folders(local: Path) -> list[Path]:
    """Every schedule's folder, of every workload (a folder being created or deleted has no
    describe.json under this name: see pipeline/monitoring/schedule.py)."""
    return sorted(path.parent for path in (local / ROOT).glob(f"*/*/{DESCRIBE}"))


def find(local: Path, name: str) -> Path | None:
    found = [path for path in (local / ROOT).glob(f"*/{name}") if (path / DESCRIBE).is_file()]
    return found[0] if found else None


def read(folder: Path) -> dict:
    return json.loads((folder / DESCRIBE).read_text())


def describe(folder: Path, schedule: schedules.Schedule, job: MonitoringJob, status: str,
             before: dict | None = None) -> None:
    """The schedule's record; `before` an earlier one (UpdateMonitoringSchedule's), whose
    creation time and last execution it keeps."""
    write(folder / DESCRIBE, schedules.described(schedule, job, status, now(), before))


def set_status(folder: Path, status: str, reason: str | None = None) -> None:
    """The schedule's MonitoringScheduleStatus (and FailureReason when it Failed)."""
    record = read(folder)
    record.update(MonitoringScheduleStatus=status, LastModifiedTime=now())
    record.pop("FailureReason", None)
    if reason:
        record["FailureReason"] = reason[:1024]
    write(folder / DESCRIBE, record)


def summary(run: runs.Run) -> dict:
    """A scheduled execution's MonitoringExecutionSummary, from its run record (one of before
    these fields: its window's end is its time)."""
    record = run.record
    status = EXECUTION.get(run.status, "InProgress")
    if status == "Completed" and alarms.violations(run):
        status = "CompletedWithViolations"
    scheduled = record.get("ScheduledTime") or record.get("window", {}).get("end", "")
    found = {"MonitoringScheduleName": record["MonitoringScheduleName"],
             "ScheduledTime": scheduled,
             "CreationTime": record.get("CreationTime", record.get("start", "")),
             "LastModifiedTime": record.get("LastModifiedTime", record.get("end") or ""),
             "MonitoringExecutionStatus": status,
             "ProcessingJobArn": record.get("ProcessingJobArn", ""),
             "EndpointName": record.get("EndpointName", record.get("endpoint", "")),
             "MonitoringType": KINDS.get(record.get("analysis_type"), "")}
    if record.get("MonitoringJobDefinitionName"):
        found["MonitoringJobDefinitionName"] = record["MonitoringJobDefinitionName"]
    if record.get("FailureReason") or (status in ("Failed", "Stopped")
                                       and record.get("failure_reason")):
        found["FailureReason"] = record.get("FailureReason") or record["failure_reason"]
    return found


def executions(local: Path) -> list[dict]:
    """Every scheduled execution's summary, of every schedule (deleted ones' too: deleting a
    schedule keeps its executions, as on SageMaker)."""
    return [summary(run) for run in runs.runs(local, "monitoring")
            if run.record.get("MonitoringScheduleName")]


def executed(folder: Path, run: runs.Run | None) -> None:
    """An execution as the schedule's LastMonitoringExecutionSummary."""
    path = folder / DESCRIBE
    if run is None or not path.is_file():
        return
    record = read(folder)
    record.update(LastMonitoringExecutionSummary=summary(run), LastModifiedTime=now())
    write(path, record)
