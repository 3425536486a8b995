"""Job runs as SageMaker keeps them: each run named, in its own folder, with a record.

`<local>/<kind>/<name>/` is that run's /opt/ml, plus `run.json` (name, kind, status, times,
hyperparameters, inputs, image digest, key metric) and `logs.txt`. A failed run keeps its
failure file and never has a model, and a later step takes the newest Completed run (or one
the user names), so a stale artifact can never stand in for a new one.
"""

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.runs import files

RECORD = "run.json"
LOGS = "logs.txt"
COMPLETED, FAILED, STOPPED, IN_PROGRESS = "Completed", "Failed", "Stopped", "InProgress"
# kind -> (the word in a run's name, the make variable that names a run of it).
KINDS = {
    "processing": ("process", "PROCESSING_JOB"),
    "training": ("train", "TRAINING_JOB"),
    "evaluation": ("evaluate", "EVALUATION_JOB"),
    "tuning": ("tune", "TUNING_JOB"),
    "transform": ("transform", "TRANSFORM_JOB"),
    "baseline": ("baseline", "BASELINE_JOB"),
    "monitoring": ("monitor", "MONITORING_JOB"),
    "traffic": ("traffic", "TRAFFIC_RUN"),
}
# Exit codes of a job the platform stopped: SIGTERM handled (143) or killed (137).
STOPPED_CODES = (137, 143)
# Where each kind of job writes its one-line reason when it fails.
FAILURE_FILES = {"processing": "output/message", "training": "output/failure",
                 "evaluation": "output/message", "tuning": "output/failure",
                 "transform": "output/failure", "baseline": "output/message",
                 "monitoring": "output/message", "traffic": "output/message"}


class RunError(Exception):
    """A step that cannot start, with what to do about it."""


@dataclass
class Run:
    folder: Path
    record: dict

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def status(self) -> str:
        return self.record["status"]


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """SageMaker's default job-name suffix: yyyy-mm-dd-HH-MM-SS-mmm."""
    return moment.strftime("%Y-%m-%d-%H-%M-%S-") + f"{moment.microsecond // 1000:03d}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def write_record(folder: Path, record: dict) -> None:
    """run.json, replaced whole so a reader never sees half of it."""
    files.write_json(folder / RECORD, record)


def job_name(local: Path, kind: str, workload: str) -> str:
    """A new run's name in SageMaker's style (<workload>-<word>-yyyy-mm-dd-HH-MM-SS-mmm), as a
    make step names the job it hands to the job runner."""
    while True:
        name = f"{workload}-{KINDS[kind][0]}-{stamp(now())}"
        if not (local / kind / name).exists():
            return name
        time.sleep(0.001)  # another run started in the same millisecond


def create(local: Path, kind: str, workload: str, name: str | None = None, **fields) -> Run:
    """A new run folder with a unique name (or the one given: a tuning job's or trial's) and an
    InProgress record."""
    word = KINDS[kind][0]
    (local / kind).mkdir(parents=True, exist_ok=True)
    started = now()
    if name is not None:
        (local / kind / name).mkdir()  # FileExistsError: the caller decides what a clash means
    while name is None:
        candidate = f"{workload}-{word}-{stamp(started)}"
        try:
            (local / kind / candidate).mkdir()
            name = candidate
        except FileExistsError:
            time.sleep(0.001)  # another run started in the same millisecond
            started = now()
    folder = local / kind / name
    record = {"name": name, "kind": kind, "workload": workload, "status": IN_PROGRESS,
              "start": iso(started), "end": None, **fields}
    write_record(folder, record)
    return Run(folder, record)


def finish(run: Run, exit_code: int, metric: dict | None = None) -> None:
    """Record how the run ended: Completed, Stopped or Failed with the job's own reason."""
    ended = now()
    if exit_code == 0:
        status = COMPLETED
    elif exit_code in STOPPED_CODES:
        status = STOPPED
    else:
        status = FAILED
    run.record.update(status=status, end=iso(ended), exit_code=exit_code,
                      seconds=round((ended - parse_time(run.record["start"])).total_seconds(), 1))
    if status != COMPLETED:
        failure = run.folder / FAILURE_FILES[run.record["kind"]]
        reason = failure.read_text().strip() if failure.is_file() else ""
        run.record["failure_reason"] = reason or f"the job exited with code {exit_code}"
    if metric:
        run.record["metric"] = metric
    write_record(run.folder, run.record)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load(folder: Path) -> Run | None:
    try:
        return Run(folder, json.loads((folder / RECORD).read_text()))
    except (OSError, ValueError):
        return None  # not a run folder, or one being created


def runs(local: Path, kind: str | None = None) -> list[Run]:
    """Every run (of one kind), newest first."""
    found = []
    for each in ([kind] if kind else list(KINDS)):
        folder = local / each
        if folder.is_dir():
            found += [run for path in folder.iterdir() if path.is_dir()
                      and (run := load(path)) is not None]
    return sorted(found, key=lambda run: run.record["start"], reverse=True)


def take(local: Path, kind: str, named: str | None, workload: str) -> Run:
    """The input run of a step: the one named, else the newest Completed, of this workload only;
    RunError if none."""
    word, variable = KINDS[kind]
    if named:
        run = load(local / kind / named)
        if run is None:
            known = ", ".join(r.name for r in runs(local, kind)[:5]) or "none"
            raise RunError(f"{variable}={named}: no such {kind} run in {local / kind} "
                           f"(newest: {known}; make jobs lists them)")
        if run.status != COMPLETED:
            raise RunError(f"{variable}={named} is {run.status}, not Completed: a "
                           f"{run.status.lower()} run is never an input "
                           f"({run.record.get('failure_reason', 'no reason recorded')})")
        if run.record.get("workload") != workload:
            raise RunError(f"{variable}={named} is a run of {run.record.get('workload')}, not "
                           f"{workload}: a step never takes another workload's run (name a "
                           f"{workload} run, or set WORKLOAD={run.record.get('workload')})")
        return run
    for run in runs(local, kind):
        if run.status == COMPLETED and run.record.get("workload") == workload:
            return run
    raise RunError(f"no Completed {kind} run of {workload} in {local / kind}: "
                   f"run make {word} first")


def prune(local: Path, kind: str, keep: int, workload: str | None = None) -> list[str]:
    """Remove the oldest finished runs of a kind (of one workload, if named) beyond `keep`;
    return their names."""
    finished = [run for run in runs(local, kind) if run.status != IN_PROGRESS
                and workload in (None, run.record.get("workload"))]
    removed = []
    for run in finished[keep:]:
        shutil.rmtree(run.folder, ignore_errors=True)
        removed.append(run.name)
    return removed


def duration(record: dict) -> str:
    seconds = record.get("seconds")
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def table(found: list[Run]) -> str:
    """`make jobs`: the console's job list, newest first."""
    rows = [("NAME", "KIND", "STATUS", "DURATION", "METRIC")]
    for run in found:
        metric = run.record.get("metric")
        shown = f"{metric['name']}={metric['value']:.4f}" if metric else "-"
        rows.append((run.name, run.record["kind"], run.status, duration(run.record), shown))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip()
                     for row in rows)
