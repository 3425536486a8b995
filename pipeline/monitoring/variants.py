"""The production variants a capture folder holds, so that each monitor analyses each variant
apart: Data Capture writes <CAPTURE_DIR>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl, as
SageMaker writes <s3 prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/. Standard library only.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.runs.records import RunError


@dataclass(frozen=True)
class Captured:
    """One variant's capture: what a monitoring run of it mounts and records."""
    endpoint: str | None
    variant: str | None
    folder: Path


def hour_of(path: Path) -> datetime | None:
    """The hour of a capture file's yyyy/mm/dd/hh folder (UTC), None when it has none."""
    try:
        year, month, day, hour = (int(part) for part in path.parent.parts[-4:])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def within(folder: Path, start: datetime, end: datetime) -> bool:
    """Whether the folder has a capture file of an hour that overlaps [start, end)."""
    for path in folder.glob("[0-9]*/[0-9]*/[0-9]*/[0-9]*/*.jsonl"):
        hour = hour_of(path)
        if not path.name.startswith(".") and hour is not None \
                and hour + timedelta(hours=1) > start and hour < end:
            return True
    return False


def captured(capture: Path, start: datetime, end: datetime,
             chosen: str | None = None) -> list[Captured]:
    """Each <endpoint>/<variant> folder with capture in the window, one run's input each; the
    whole folder as one input when it is not laid out by variant (or no variant has any in the
    window, so the run says that). `chosen` (VARIANT=) keeps the variants of that name, or
    RunError naming the ones there are."""
    found = [Captured(folder.parent.name, folder.name, folder)
             for folder in sorted(capture.glob("*/*")) if folder.is_dir()
             and any(folder.glob("[0-9][0-9][0-9][0-9]")) and within(folder, start, end)]
    if chosen:
        mine = [item for item in found if item.variant == chosen]
        if not mine:
            there = ", ".join(sorted({item.variant for item in found})) or "none"
            raise RunError(f"VARIANT={chosen}: {capture} has no capture of a variant of that "
                           f"name in the window (variants with capture there: {there})")
        return mine
    return found or [Captured(None, None, capture)]


def words(item: Captured) -> str:
    return f" (endpoint {item.endpoint}, variant {item.variant})" if item.variant else ""
