"""When a schedule's executions run and which data each analyses, from schedule.json: the
request's ScheduleExpression and DataAnalysis offsets (pipeline/api/schedules.py), unless this
machine's MONITOR_INTERVAL / MONITOR_WINDOW override them (pipeline/monitoring/schedulerequests.py
says when), and a schedule.json of before requests, which has only those. Standard library only.
"""

from datetime import UTC, datetime, timedelta

from pipeline.api import schedules


class Clock:
    """One analysis' times: `plan` is schedule.json, `entry` its schedule's part (or {})."""

    def __init__(self, plan: dict, entry: dict):
        self.interval, self.length = plan.get("interval"), plan.get("window")
        self.entry = entry
        self.request = None
        if entry and not self.interval:  # the request's own hours
            hours = entry["hours"]
            self.request = schedules.Schedule(
                entry["MonitoringScheduleName"], "", entry["expression"],
                None if hours is None else tuple(hours), entry["start_offset"],
                entry["end_offset"], None, None, {})

    @property
    def once(self) -> bool:
        """NOW: one execution, at once, whatever the interval here."""
        return bool(self.entry) and self.entry["hours"] is None

    def next_time(self, after: datetime) -> datetime:
        if self.once:
            return after
        if self.request is not None:
            return self.request.next_run(after)
        return datetime.fromtimestamp((after.timestamp() // self.interval + 1) * self.interval,
                                      UTC)

    def window(self, at: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the execution at `at`: MONITOR_WINDOW's length when set here, else
        the request's offsets, else the time since the time before (the interval here)."""
        end = at + timedelta(seconds=self.entry.get("end_offset") or 0)
        if self.length:
            return end - timedelta(seconds=self.length), end
        if self.entry.get("start_offset") is not None:
            return at + timedelta(seconds=self.entry["start_offset"]), end
        if self.request is None:
            return end - timedelta(seconds=self.interval), end
        return self.request.window(at)
