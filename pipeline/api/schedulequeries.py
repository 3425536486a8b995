"""The requests that read and act on monitoring schedules by name, and their answers: a
Describe/Stop/Start/DeleteMonitoringSchedule body ({"MonitoringScheduleName": ...}),
ListMonitoringSchedules and ListMonitoringExecutions with the filters, order and pages
SageMaker's API takes, each answered from the records given (DescribeMonitoringSchedule records,
MonitoringExecutionSummaries). Mistakes are named by their JSON path, unknown fields refused, as
pipeline/api/requests.py does for jobs. Times are taken as boto3 sends them (seconds since the
epoch) or as ISO 8601 text. Standard library only.
"""

import json
from datetime import UTC, datetime

from pipeline.api.requests import RequestError, check_known, checked_name, get_field

SCHEDULE_STATUSES = ("Pending", "Failed", "Scheduled", "Stopped")
EXECUTION_STATUSES = ("Pending", "Completed", "CompletedWithViolations", "InProgress", "Failed",
                      "Stopping", "Stopped")
MONITORING_TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")
ORDERS = ("Ascending", "Descending")
TIMES = ("CreationTimeBefore", "CreationTimeAfter", "LastModifiedTimeBefore",
         "LastModifiedTimeAfter")
PAGING = {"SortBy", "SortOrder", "MaxResults", "NextToken"}
# Each list's own filters: request field -> (the summary's field, the values it may take)
SCHEDULE_FILTERS = {"NameContains": ("MonitoringScheduleName", None),
                    "StatusEquals": ("MonitoringScheduleStatus", SCHEDULE_STATUSES),
                    "EndpointName": ("EndpointName", None),
                    "MonitoringJobDefinitionName": ("MonitoringJobDefinitionName", None),
                    "MonitoringTypeEquals": ("MonitoringType", MONITORING_TYPES)}
EXECUTION_FILTERS = {"MonitoringScheduleName": ("MonitoringScheduleName", None),
                     "StatusEquals": ("MonitoringExecutionStatus", EXECUTION_STATUSES),
                     "EndpointName": ("EndpointName", None),
                     "MonitoringJobDefinitionName": ("MonitoringJobDefinitionName", None),
                     "MonitoringTypeEquals": ("MonitoringType", MONITORING_TYPES)}
SCHEDULE_SORTS = {"Name": "MonitoringScheduleName", "CreationTime": "CreationTime",
                  "Status": "MonitoringScheduleStatus"}
EXECUTION_SORTS = {"CreationTime": "CreationTime", "ScheduledTime": "ScheduledTime",
                   "Status": "MonitoringExecutionStatus"}
DEFAULT_RESULTS, MAX_RESULTS = 10, 100  # SageMaker's MaxResults default and ceiling


def name_of(body) -> str:
    """The MonitoringScheduleName of a Describe/Stop/Start/DeleteMonitoringSchedule body."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, {"MonitoringScheduleName"}, "")
    return checked_name(body, "MonitoringScheduleName", "name")


def moment(value, path: str) -> datetime:
    """A request's timestamp: epoch seconds (boto3's) or ISO 8601 text (UTC unless it says)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            found = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return found if found.tzinfo else found.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise RequestError(f"{path}: {json.dumps(value)} is not a time (seconds since the epoch, "
                       "or ISO 8601 such as 2026-12-04T14:00:00Z)")


def _time(summary: dict, key: str) -> datetime | None:
    try:
        return moment(summary.get(key), key)
    except RequestError:
        return None  # a record without it matches no time filter


def _order(item: dict, field: str):
    """A summary's sort key: times as times (their text's precision varies), else the text."""
    if field.endswith("Time"):
        return _time(item, field) or datetime.min.replace(tzinfo=UTC)
    return item.get(field, "")


def _select(body, filters: dict, times: tuple, sorts: dict, items: list) -> tuple[list, str]:
    """(the page of `items` the request asks for, the NextToken of the rest or "")."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, set(filters) | set(times) | PAGING, "")
    for key, (field, values) in filters.items():
        wanted = get_field(body, key, "", str, required=False)
        if wanted is None:
            continue
        if values and wanted not in values:
            raise RequestError(f"{key}: {json.dumps(wanted)} is not one of {', '.join(values)}")
        contains = key == "NameContains"
        items = [item for item in items if (wanted in item.get(field, "") if contains
                                            else item.get(field) == wanted)]
    for key in times:
        if key in body:
            limit, before = moment(body[key], key), key.endswith("Before")
            field = key.removesuffix("Before").removesuffix("After")  # CreationTime...
            items = [item for item in items if (when := _time(item, field)) is not None
                     and (when < limit if before else when > limit)]
    sort = get_field(body, "SortBy", "", str, required=False) or "CreationTime"
    if sort not in sorts:
        raise RequestError(f"SortBy: {json.dumps(sort)} is not one of {', '.join(sorts)}")
    order = get_field(body, "SortOrder", "", str, required=False) or "Descending"
    if order not in ORDERS:
        raise RequestError(f"SortOrder: {json.dumps(order)} is not one of {', '.join(ORDERS)}")
    items = sorted(items, key=lambda item: _order(item, sorts[sort]),
                   reverse=order == "Descending")
    size = get_field(body, "MaxResults", "", int, required=False)
    size = DEFAULT_RESULTS if size is None else size
    if not 1 <= size <= MAX_RESULTS:
        raise RequestError(f"MaxResults: {size} is outside 1..{MAX_RESULTS}")
    # NextToken: where the page starts, as the answer before it gave it.
    token = get_field(body, "NextToken", "", str, required=False)
    first = int(token) if token and token.isdigit() else 0
    if token is not None and (not token.isdigit() or first > len(items)):
        raise RequestError(f"NextToken: {json.dumps(token)} is not a token an earlier answer "
                           "of this list gave")
    rest = first + size < len(items)
    return items[first:first + size], str(first + size) if rest else ""


def list_schedules(body, records: list) -> dict:
    """The ListMonitoringSchedules answer over DescribeMonitoringSchedule records."""
    summaries = []
    for record in records:
        config = record.get("MonitoringScheduleConfig", {})
        summary = {key: record[key] for key in (
            "MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime",
            "LastModifiedTime", "MonitoringScheduleStatus", "EndpointName", "MonitoringType")
            if key in record}
        if config.get("MonitoringJobDefinitionName"):
            summary["MonitoringJobDefinitionName"] = config["MonitoringJobDefinitionName"]
        summaries.append(summary)
    page, token = _select(body, SCHEDULE_FILTERS, TIMES, SCHEDULE_SORTS, summaries)
    return {"MonitoringScheduleSummaries": page, **({"NextToken": token} if token else {})}


def list_executions(body, summaries: list) -> dict:
    """The ListMonitoringExecutions answer over MonitoringExecutionSummaries."""
    times = ("ScheduledTimeBefore", "ScheduledTimeAfter", *TIMES)
    page, token = _select(body, EXECUTION_FILTERS, times, EXECUTION_SORTS, summaries)
    return {"MonitoringExecutionSummaries": page, **({"NextToken": token} if token else {})}
