"""`python -m pipeline.monitoring.schedule start|update|stop`: monitoring schedules, created.

`start` (`make monitor-schedule`) is CreateMonitoringSchedule: with REQUEST, the user's own
requests (a CreateMonitoringSchedule body per file, and the Create*JobDefinition bodies they
name); without, make's own, built by pipeline/monitoring/schedulerequests.py for each monitor
that has a baseline now (as make monitor-data and make monitor-model pick it, BASELINE_JOB
unused; a monitor without one is left out and said so, with neither nothing starts). Both go
through the same parser (pipeline/api/schedules.py). A schedule is its MonitoringScheduleName:
any number run side by side, each in its own folder, LOCAL_DIR/schedules/<workload>/<name>/
(pipeline/monitoring/schedulerecords.py), with its own host process
(pipeline/monitoring/executions.py). A name already taken is refused, ResourceInUse, as
SageMaker refuses it, except make's own two (<workload>-data-quality-schedule,
<workload>-model-quality-schedule), which a new `make monitor-schedule` without REQUEST replaces:
it is how make takes newer baselines. Every schedule of a start is made in a hidden folder
first (its baseline fetched, its request and records written) and only then renamed into place
and started, so a refused request or an unreachable baseline leaves nothing behind
(pipeline/monitoring/schedulefolders.py). `update` (`make update-schedule`) is
UpdateMonitoringSchedule: the schedule's request, job and baseline replaced the same way, its
creation time and last execution kept, started again if it was Scheduled. `stop` (`make
monitor-schedule-stop`) stops every schedule of the workload (StopMonitoringSchedule of each:
pipeline/monitoring/lifecycle.py stops one) and the alarm watcher; executions already recorded
stay. The endpoint's `make stop` leaves the schedules alone, as deleting an endpoint is
separate from its schedules on SageMaker. Standard library only.
"""

import argparse
import sys
from pathlib import Path

from pipeline.api.monitoringjobs import MAX_RUNTIME
from pipeline.monitoring import (
    alarms,
    lifecycle,
    processes,
    schedulefolders,
    schedulerequests,
)
from pipeline.monitoring import dataquality as monitoring
from pipeline.monitoring import modelquality as modelmonitor
from pipeline.monitoring import schedulerecords as records
from pipeline.runs import hooks, jobrun
from pipeline.runs.records import RunError


def requested(args) -> tuple[list, dict, list, dict]:
    """(the (schedule, job) pairs to create, make's chosen baselines, the monitors left out,
    this machine's overrides)."""
    chosen, skipped, overrides = {}, [], {}
    if args.request:
        pairs = schedulerequests.load(args.request)
        if not pairs:
            raise RunError(f"REQUEST={' '.join(map(str, args.request))}: no "
                           "CreateMonitoringSchedule request among them")
        if args.interval:
            overrides["interval"] = args.interval  # the clock of a user's request, sped up
        if args.window:
            overrides["window"] = args.window
        return pairs, chosen, skipped, overrides
    for analysis, choose in (("DATA_QUALITY", monitoring.choose_baseline),
                             ("MODEL_QUALITY", modelmonitor.choose_baseline)):
        try:
            chosen[analysis] = choose(args)
        except RunError as error:
            skipped.append(f"{analysis}: {error}")
    if not chosen:
        raise RunError("no baseline for either monitor: " + "; ".join(skipped))
    bodies, overrides = schedulerequests.builtin(args, chosen)
    return schedulerequests.parsed(bodies), chosen, skipped, overrides  # the user's path


def in_use(args, folder: Path, pairs: list) -> list[Path]:
    """The folders of make's own schedules a start replaces; ResourceInUse for any other name
    already taken (or given twice)."""
    names, replaced = [schedule.name for schedule, _ in pairs], []
    for name in names:
        if names.count(name) > 1:
            raise RunError(f"MonitoringScheduleName {name}: given twice")
        taken = records.find(args.local, name)
        if taken is None:
            continue
        if args.request or taken.parent != folder:
            raise RunError(f"MonitoringScheduleName {name}: ResourceInUse: a monitoring "
                           f"schedule of that name exists ({taken}); make delete-schedule "
                           f"NAME={name} first, or change it with make update-schedule")
        replaced.append(taken)
    return replaced


def start(args) -> int:
    args.baseline_job = None
    folder = args.local / records.ROOT / args.workload
    pairs, chosen, skipped, overrides = requested(args)
    replaced = in_use(args, folder, pairs)
    hidden = schedulefolders.made(args, folder, pairs, chosen, overrides)
    # The single process of before schedules had folders of their own: it reads no new ones.
    processes.stop_process(folder / records.PID, "schedule", lifecycle.STOP_WAIT)
    for old in replaced:
        lifecycle.remove(old)
    (args.local / "monitoring").mkdir(parents=True, exist_ok=True)
    args.ground_truth.mkdir(parents=True, exist_ok=True)
    for line in skipped:
        jobrun.say(f"left out {line}")
    for key, value in overrides.items():
        jobrun.say(f"MONITOR_{key.upper()}={value} s: this machine's setting, in "
                   "schedule.json only, not in request.json (a CreateMonitoringSchedule runs "
                   "every 1-24 whole hours, over at most 24 hours)")
    here = f", every {overrides['interval']} s here" if "interval" in overrides else ""
    for own, (schedule, job) in zip(hidden, pairs, strict=True):
        own.rename(folder / schedule.name)
        pid = lifecycle.launch(args, folder / schedule.name)
        jobrun.say(f"{'replaced' if folder / schedule.name in replaced else 'created'} "
                   f"schedule {schedule.name} ({job.analysis}, {schedule.expression}{here}; "
                   f"{f'process {pid}' if pid else 'Failed: its process did not start'})")
    stop_watcher(folder)
    if args.on_violation or args.retrain_command:
        start_watcher(args, folder)
    jobrun.say(f"requests and DescribeMonitoringSchedule records in {folder}/<schedule>/, "
               f"executions in {args.local / 'monitoring'} (make schedule-executions, make "
               "monitoring), each schedule's log in its schedule.log; make schedules lists "
               "them, make stop-schedule NAME=... stops one, make monitor-schedule-stop all")
    return 0


def start_watcher(args, folder: Path) -> None:
    """The host-side alarm watcher (pipeline/monitoring/alarms.py), a process of its own so a
    hook or a retrain never holds up the schedule: it acts on executions with violations."""
    options = ["watch", "--every", str(args.watch_every)]
    if args.on_violation:
        options += ["--on-violation", args.on_violation]
    if args.retrain_command:
        options += ["--retrain-command", args.retrain_command]
    folder.mkdir(parents=True, exist_ok=True)
    pid = processes.background(args, "pipeline.monitoring.alarms", options,
                               folder / alarms.WATCHER_PID, folder / "alarm-watcher.log")
    jobrun.say(f"alarm watcher {pid}: executions with violations fire "
               f"{'ON_VIOLATION' if args.on_violation else ''}"
               f"{' and ' if args.on_violation and args.retrain_command else ''}"
               f"{'RETRAIN_ON_VIOLATION' if args.retrain_command else ''} on this host "
               f"(log: {folder / 'alarm-watcher.log'})")


def stop_watcher(folder: Path) -> None:
    """End the watcher this schedule started, if it still runs."""
    processes.stop_process(folder / alarms.WATCHER_PID, "alarm watcher")


def stop(args) -> int:
    """Every schedule of the workload stopped (and the single process of before schedules had
    folders of their own), and the alarm watcher."""
    folder = args.local / records.ROOT / args.workload
    stop_watcher(folder)
    processes.stop_process(folder / records.PID, "schedule", lifecycle.STOP_WAIT)
    stopped = []
    for own in records.folders(args.local):
        if own.parent == folder:
            lifecycle.halt(own)
            records.set_status(own, "Stopped")
            stopped.append(own.name)
    jobrun.say(f"stopped the monitoring schedules of {args.workload} "
               f"({', '.join(stopped) or 'none'}); their executions stay in "
               f"{args.local / 'monitoring'} (make schedule-executions, make monitoring)")
    return 0


def main(argv: list[str] | None = None) -> int:
    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.schedule",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("step", choices=("start", "update", "stop"))
    top.add_argument("--capture", type=Path, help="CAPTURE_DIR")
    top.add_argument("--ground-truth", type=Path, help="GROUND_TRUTH_DIR")
    top.add_argument("--request", type=Path, action="append",
                     help="REQUEST: a CreateMonitoringSchedule (update: "
                          "UpdateMonitoringSchedule) JSON file, and the job definitions it "
                          "names; without, make's own")
    top.add_argument("--interval", type=int,
                     help="MONITOR_INTERVAL (seconds; default the request's, hourly)")
    top.add_argument("--window", type=int, help="MONITOR_WINDOW (seconds; default the interval)")
    top.add_argument("--max-runtime", type=int,
                     help="MONITOR_MAX_RUNTIME: an execution's MaxRuntimeInSeconds (default "
                          f"the interval, at most {MAX_RUNTIME})")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--endpoint-dir", type=Path, help="ENDPOINT_DIR")
    alarms.add_arguments(top)
    top.add_argument("--watch-every", type=float, default=10.0,
                     help="seconds between the alarm watcher's looks")
    args = top.parse_args(argv)
    try:
        if args.step == "stop":
            return stop(args)
        if any(value is not None and value < 1
               for value in (args.interval, args.window, args.max_runtime)) or \
                (args.max_runtime or 0) > MAX_RUNTIME:
            raise RunError(f"MONITOR_INTERVAL={args.interval} / MONITOR_WINDOW={args.window} / "
                           f"MONITOR_MAX_RUNTIME={args.max_runtime}: whole seconds, at least 1 "
                           f"(MONITOR_MAX_RUNTIME at most {MAX_RUNTIME}, SageMaker's limit)")
        if args.request and args.max_runtime:
            raise RunError("MONITOR_MAX_RUNTIME with REQUEST: the request's "
                           "StoppingCondition.MaxRuntimeInSeconds says it")
        if args.on_violation:
            hooks.check("ON_VIOLATION", args.on_violation)
        args.capture = args.capture or args.local / "capture" / args.workload
        args.ground_truth = args.ground_truth or args.local / "ground-truth" / args.workload
        if args.step == "update":
            if not args.request:
                raise RunError("REQUEST: the UpdateMonitoringSchedule request (and the job "
                               "definition it names)")
            return schedulefolders.update(args)
        return start(args)
    except (RunError, OSError, hooks.HookError) as error:
        print(f"{'monitor-schedule' if args.step == 'start' else args.step + '-schedule'}: "
              f"{error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
