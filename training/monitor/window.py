"""The captured traffic one monitoring execution reads: its time window and its capture files.

Both analyses (data quality in analyzer.py, model quality in modelquality.py) take the window
from start_time/end_time as SageMaker's analyzer does, and the complete capture files of the
hour folders that overlap it.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from training.contract.jobio import JobError

SOURCE_ENV, START_ENV, END_ENV = "dataset_source", "start_time", "end_time"
DEFAULT_SOURCE = "/opt/ml/processing/input/endpoint"
DEFAULT_OUTPUT = "/opt/ml/processing/resultdata"


def moment(variable: str) -> datetime | None:
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise JobError(f"{variable}={text!r} is not an ISO 8601 time, e.g. "
                       "2026-11-23T21:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hour_of(path: Path) -> datetime | None:
    """The hour of a capture file's yyyy/mm/dd/hh folder (UTC), None when it has none."""
    try:
        year, month, day, hour = (int(part) for part in path.parent.parts[-4:])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def time_window() -> tuple[datetime | None, datetime | None, str]:
    """start_time and end_time of the environment (checked), and their words for messages."""
    start, end = moment(START_ENV), moment(END_ENV)
    if start and end and start >= end:
        raise JobError(f"{START_ENV} {start:%Y-%m-%dT%H:%M:%SZ} is not before {END_ENV} "
                       f"{end:%Y-%m-%dT%H:%M:%SZ}")
    words = (f" between {start:%Y-%m-%dT%H:%M:%SZ} and {end:%Y-%m-%dT%H:%M:%SZ}"
             if start and end else "")
    return start, end, words


def capture_files(source: Path, start: datetime | None, end: datetime | None,
                  window: str = "") -> list[Path]:
    """Every complete capture file (*.jsonl) whose hour folder overlaps [start, end), or
    JobError if there is none (window: the time window in words)."""
    if not source.is_dir():
        raise JobError(f"{SOURCE_ENV} {source}: no such folder (mount the capture destination)")
    chosen = []
    for path in sorted(source.rglob("*.jsonl")):
        if path.name.startswith("."):
            continue  # a writer's file not yet renamed into place
        hour = hour_of(path)
        if hour is not None and ((start and hour + timedelta(hours=1) <= start)
                                 or (end and hour >= end)):
            continue
        chosen.append(path)
    if not chosen:
        raise JobError(f"no capture file (*.jsonl) in {source}{window}: send traffic "
                       "(make traffic) or widen START/END")
    return chosen
