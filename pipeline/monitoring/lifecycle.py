"""`python -m pipeline.monitoring.lifecycle`: a monitoring schedule's life after
CreateMonitoringSchedule (pipeline/monitoring/schedule.py creates it), each verb SageMaker's:

- `describe NAME` (`make describe-schedule`): DescribeMonitoringSchedule, its describe.json;
- `list` (`make schedules`): ListMonitoringSchedules, with its filters, order and pages;
- `stop NAME` (`make stop-schedule`): StopMonitoringSchedule: its host process ends (a running
  execution is stopped, recorded Stopped) and the schedule says Stopped;
- `start NAME` (`make start-schedule`): StartMonitoringSchedule: a stopped schedule's process
  runs again (and one whose process is gone, after a restart of the machine);
- `delete NAME` (`make delete-schedule`): DeleteMonitoringSchedule: stopped, then its folder
  goes; its executions stay, as SageMaker keeps a deleted schedule's execution history;
- `executions` (`make schedule-executions`): ListMonitoringExecutions.

Each takes its request's JSON body (`--body`), or the make variables that build it, and prints
SageMaker's answer as JSON (Stop, Start and Delete answer nothing: a line says what was done). A
name no schedule has is ResourceNotFound. Schedules are found by
name in every workload's folder (names are unique in LOCAL_DIR). Standard library only.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from pipeline.api import schedulequeries
from pipeline.api.requests import RequestError
from pipeline.monitoring import processes, schedulerecords
from pipeline.runs import jobrun
from pipeline.runs.records import RunError

# How long stopping a schedule waits for its process to end: a running execution gets the job
# runner's grace (SIGTERM, SIGKILL 120 s later), and a little more.
STOP_WAIT = 150


def found(local: Path, name: str) -> Path:
    folder = schedulerecords.find(local, name)
    if folder is None:
        raise RunError(f"MonitoringScheduleName {name}: ResourceNotFound: no monitoring "
                       f"schedule of that name in {local / schedulerecords.ROOT} (make schedules "
                       "lists them)")
    return folder


def launch(args, folder: Path) -> int | None:
    """The schedule's host process started, the schedule Scheduled (Failed, saying why, when
    the process cannot start); its pid."""
    args = argparse.Namespace(**{**vars(args), "workload": folder.parent.name})
    try:
        pid = processes.background(args, "pipeline.monitoring.executions",
                                   ["--schedule", folder.name], folder / schedulerecords.PID,
                                   folder / schedulerecords.LOG)
    except OSError as error:
        schedulerecords.set_status(folder, "Failed", f"its process did not start: {error}")
        return None
    schedulerecords.set_status(folder, "Scheduled")
    return pid


def halt(folder: Path) -> None:
    """The schedule's process ended, waiting while it stops a running execution."""
    processes.stop_process(folder / schedulerecords.PID, f"schedule {folder.name}", STOP_WAIT)


def remove(folder: Path) -> None:
    """A schedule gone at once: stopped, then renamed out of the listing before its files go."""
    halt(folder)
    gone = folder.with_name(f".{folder.name}.deleted")
    shutil.rmtree(gone, ignore_errors=True)
    folder.rename(gone)
    shutil.rmtree(gone)


def stop(local: Path, name: str) -> str:
    folder = found(local, name)
    halt(folder)
    schedulerecords.set_status(folder, "Stopped")
    return f"{name}: Stopped (make start-schedule NAME={name} starts it again)"


def start(args, name: str) -> str:
    folder = found(args.local, name)
    if processes.running(folder / schedulerecords.PID):
        return f"{name}: already Scheduled, its process runs"
    pid = launch(args, folder)
    if pid is None:
        raise RunError(f"MonitoringScheduleName {name}: "
                       f"{schedulerecords.read(folder).get('FailureReason')}")
    return f"{name}: Scheduled (process {pid}, log {folder / schedulerecords.LOG})"


def delete(local: Path, name: str) -> str:
    remove(found(local, name))
    return f"{name}: deleted; its executions stay (make schedule-executions NAME={name})"


def body_of(args) -> dict:
    """The request: --body's JSON, else the fields make's variables name."""
    if args.body:
        try:
            body = json.loads(args.body)
        except ValueError as error:
            raise RequestError(f"the request is not JSON ({error})") from None
        return body
    return {key: value for key, value in args.fields or [] if value not in ("", None)}


def answer(args) -> dict | str:
    """SageMaker's answer (Stop, Start and Delete have none: what was done, said)."""
    body = body_of(args)
    if args.verb == "list":
        records = [schedulerecords.read(folder)
                   for folder in schedulerecords.folders(args.local)]
        return schedulequeries.list_schedules(body, records)
    if args.verb == "executions":
        return schedulequeries.list_executions(body, schedulerecords.executions(args.local))
    name = schedulequeries.name_of(body)
    if args.verb == "describe":
        return schedulerecords.read(found(args.local, name))
    if args.verb == "stop":
        return stop(args.local, name)
    if args.verb == "start":
        return start(args, name)
    return delete(args.local, name)


def field(text: str) -> tuple:
    """KEY=VALUE of a request field make's variables give; a whole number stays one."""
    key, _, value = text.partition("=")
    return key, int(value) if value.isdigit() and key == "MaxResults" else value


def main(argv: list[str] | None = None) -> int:
    top = jobrun.common_arguments(argparse.ArgumentParser(
        prog="pipeline.monitoring.lifecycle", description=__doc__.splitlines()[0]))
    top.add_argument("verb", choices=("describe", "list", "stop", "start", "delete",
                                      "executions"))
    top.add_argument("--body", help="the request's JSON body")
    top.add_argument("--field", dest="fields", type=field, action="append",
                     help="KEY=VALUE, a field of the request (an empty VALUE is left out)")
    args = top.parse_args(argv)
    try:
        found_answer = answer(args)
        jobrun.say(found_answer if isinstance(found_answer, str)
                   else json.dumps(found_answer, indent=2))
        return 0
    except (RequestError, RunError, OSError) as error:
        print(f"{args.verb}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
