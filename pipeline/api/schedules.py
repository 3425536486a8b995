"""A CreateMonitoringSchedule request, read and checked, and its DescribeMonitoringSchedule answer.

The body is the one SageMaker's API takes (boto3's create_monitoring_schedule, what the SDK's
monitors send): MonitoringScheduleName and a MonitoringScheduleConfig holding the
ScheduleConfig and either an inline MonitoringJobDefinition (a data-quality job) or the
MonitoringJobDefinitionName of a CreateDataQualityJobDefinition /
CreateModelQualityJobDefinition request given before it (pipeline/api/monitoringjobs.py reads
both). Mistakes are named by their JSON path; unknown fields are refused. SageMaker's rules on
the schedule are kept: Model Monitor's cron forms only (hourly, daily at an hour, every N hours
from an hour, NOW), the analysis window's offsets at most 24 hours apart, NOW with both.
Standard library only.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.api import describe
from pipeline.api.monitoringjobs import CLARIFY, TYPES, MonitoringJob, definition, duration, inline
from pipeline.api.requests import RequestError, check_known, checked_name, get_field

NOW, HOURLY = "NOW", "cron(0 * ? * * *)"
CRON = re.compile(r"cron\(0 (\*|\d{1,2})(?:/(\d{1,2}))? \? \* \* \*\)")
FORMS = ("cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at H UTC), cron(0 H/N ? * * *) "
         "(every N hours from H) or NOW (once, now)")
WINDOW_LIMIT = 86400  # DataAnalysisStartTime..DataAnalysisEndTime, at most (SageMaker's rule)
CONFIG = {"ScheduleConfig", "MonitoringJobDefinition", "MonitoringJobDefinitionName",
          "MonitoringType"}


@dataclass(frozen=True)
class Schedule:
    name: str
    monitoring_type: str  # DataQuality | ModelQuality
    expression: str
    hours: tuple | None  # the hours of the day (UTC) it runs at; None: NOW, once
    start_offset: int | None  # seconds from each execution's time (DataAnalysisStartTime)
    end_offset: int | None
    job: MonitoringJob | None  # the inline definition; None when it names one
    definition_name: str | None
    body: dict

    def next_run(self, after: datetime) -> datetime:
        """The first scheduled time after `after` (a NOW schedule's is `after` itself)."""
        if self.hours is None:
            return after
        moment = after.replace(minute=0, second=0, microsecond=0)
        while True:
            moment += timedelta(hours=1)
            if moment.hour in self.hours:
                return moment

    def window(self, at: datetime) -> tuple[datetime, datetime]:
        """The data an execution at `at` analyses: the offsets' window, else the time since
        the scheduled time before it."""
        end = at + timedelta(seconds=self.end_offset or 0)
        if self.start_offset is not None:
            return at + timedelta(seconds=self.start_offset), end
        earlier = at - timedelta(hours=1)
        while earlier.hour not in (self.hours or range(24)):
            earlier -= timedelta(hours=1)
        return end - (at - earlier), end


def hours_of(text, path: str) -> tuple | None:
    if text == NOW:
        return None
    match = CRON.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise RequestError(f"{path}: {json.dumps(text)} is not one of Model Monitor's "
                           f"expressions: {FORMS}")
    hour, step = match.groups()
    if hour == "*":
        if step:
            raise RequestError(f"{path}: every N hours is written from an hour, "
                               f"cron(0 0/{step} ? * * *)")
        return tuple(range(24))
    if int(hour) > 23 or (step and not 1 <= int(step) <= 24):
        raise RequestError(f"{path}: {text} names hour {hour}"
                           f"{f' every {step}' if step else ''}: hours are 0-23, steps 1-24")
    return tuple(range(int(hour), 24, int(step or 24)))


def _schedule_config(node: dict | None, path: str) -> tuple:
    """(expression, hours, start offset, end offset); no ScheduleConfig is daily, at an hour
    SageMaker picks: midnight UTC here."""
    if node is None:
        return "cron(0 0 ? * * *)", (0,), None, None
    check_known(node, {"ScheduleExpression", "DataAnalysisStartTime", "DataAnalysisEndTime"}, path)
    expression = get_field(node, "ScheduleExpression", path, str)
    hours = hours_of(expression, f"{path}.ScheduleExpression")
    start, end = (duration(node[key], f"{path}.{key}") if key in node else None
                  for key in ("DataAnalysisStartTime", "DataAnalysisEndTime"))
    if hours is None and (start is None or end is None):
        missing = "DataAnalysisStartTime" if start is None else "DataAnalysisEndTime"
        raise RequestError(f"{path}.{missing}: missing (required with ScheduleExpression NOW)")
    if start is not None and start >= (end or 0):
        raise RequestError(f"{path}.DataAnalysisStartTime: {node['DataAnalysisStartTime']} is "
                           "not before the window's end (DataAnalysisEndTime, else PT0H)")
    if start is not None and (end or 0) - start > WINDOW_LIMIT:
        raise RequestError(f"{path}.DataAnalysisStartTime: {node['DataAnalysisStartTime']} is "
                           "more than 24 hours before the window's end (SageMaker's limit)")
    return expression, hours, start, end


def parse(body, update: bool = False) -> Schedule:
    """A CreateMonitoringSchedule body, or (`update`) an UpdateMonitoringSchedule one: the same
    without Tags."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, {"MonitoringScheduleName", "MonitoringScheduleConfig"} |
                (set() if update else {"Tags"}), "")
    name = checked_name(body, "MonitoringScheduleName", "name")
    path = "MonitoringScheduleConfig"
    config = get_field(body, path, "", dict)
    check_known(config, CONFIG, path)
    kind = get_field(config, "MonitoringType", path, str, required=False)
    if kind in CLARIFY:
        raise RequestError(f"{path}.MonitoringType: {kind}: Clarify's monitors do not run here")
    if kind is not None and kind not in TYPES:
        raise RequestError(f"{path}.MonitoringType: {json.dumps(kind)} is not one of "
                           f"{', '.join(TYPES)}")
    given = [key for key in ("MonitoringJobDefinition", "MonitoringJobDefinitionName")
             if key in config]
    if len(given) != 1:
        raise RequestError(f"{path}: give MonitoringJobDefinition or "
                           f"MonitoringJobDefinitionName{', not both' if given else ''}")
    job, named = None, None
    if given[0] == "MonitoringJobDefinition":
        if kind not in (None, "DataQuality"):
            raise RequestError(f"{path}.MonitoringType: a {kind} schedule names its job "
                               "definition (MonitoringJobDefinitionName); an inline "
                               "MonitoringJobDefinition is a data-quality job")
        job = inline(get_field(config, given[0], path, dict), f"{path}.{given[0]}")
    else:
        named = get_field(config, given[0], path, str)
    expression, hours, start, end = _schedule_config(
        get_field(config, "ScheduleConfig", path, dict, required=False), f"{path}.ScheduleConfig")
    return Schedule(name, kind or "DataQuality", expression, hours, start, end, job, named,
                    body)


def resolve(schedule: Schedule, definitions: dict) -> MonitoringJob:
    """The job the schedule runs: its own, or the definition it names (of its type)."""
    if schedule.job is not None:
        return schedule.job
    where = "MonitoringScheduleConfig.MonitoringJobDefinitionName"
    job = definitions.get(schedule.definition_name)
    if job is None:
        raise RequestError(f"{where}: no job definition named {schedule.definition_name!r} "
                           "(give its CreateDataQualityJobDefinition or "
                           "CreateModelQualityJobDefinition request with the schedule's)")
    if TYPES[schedule.monitoring_type] != job.analysis:
        raise RequestError(f"MonitoringScheduleConfig.MonitoringType: {schedule.monitoring_type}"
                           f", but job definition {job.name} is not a {schedule.monitoring_type}"
                           " one")
    return job


def load(paths: list, update: bool = False) -> tuple[dict, list]:
    """({JobDefinitionName: job}, [schedule]) of request files, each a CreateMonitoringSchedule
    (`update`: UpdateMonitoringSchedule) or a job definition's body, told apart by its name
    field; a mistake names the file."""
    definitions, schedules, where = {}, [], {}
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise RequestError(f"{path}: cannot read the request ({error.strerror})") from None
        try:
            body = json.loads(text)
            if isinstance(body, dict) and "JobDefinitionName" in body:
                job = definition(body)
                definitions[job.name] = job
            else:
                schedules.append(parse(body, update))
                where[schedules[-1].name] = path
        except RequestError as error:
            raise RequestError(f"{path}: {error}") from None
        except ValueError as error:
            raise RequestError(f"{path}: not JSON ({error})") from None
    for schedule in schedules:
        try:
            resolve(schedule, definitions)
        except RequestError as error:
            raise RequestError(f"{where[schedule.name]}: {error}") from None
    return definitions, schedules


def arn(name: str) -> str:
    return describe.resource_arn("monitoring-schedule", name)


def described(schedule: Schedule, job: MonitoringJob, status: str, at: str,
              before: dict | None = None) -> dict:
    """The DescribeMonitoringSchedule answer; `before` an earlier one, whose creation time
    and last execution it keeps."""
    answer = {"MonitoringScheduleArn": arn(schedule.name),
              "MonitoringScheduleName": schedule.name, "MonitoringScheduleStatus": status,
              "MonitoringType": schedule.monitoring_type,
              "CreationTime": (before or {}).get("CreationTime", at), "LastModifiedTime": at,
              "MonitoringScheduleConfig": schedule.body["MonitoringScheduleConfig"],
              "EndpointName": job.endpoint}
    if before and "LastMonitoringExecutionSummary" in before:
        answer["LastMonitoringExecutionSummary"] = before["LastMonitoringExecutionSummary"]
    return answer
