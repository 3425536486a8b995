"""`python -m pipeline.monitoring.schedule start|stop`: the monitoring schedule.

`start` (`make monitor-schedule`) is CreateMonitoringSchedule: with REQUEST, the user's own
requests (a CreateMonitoringSchedule body per file, and the Create*JobDefinition bodies it
names); without, make's own, built by pipeline/monitoring/schedulerequests.py for each monitor
that has a baseline now (as make monitor-data and make monitor-model pick it, BASELINE_JOB
unused; a monitor without one is left out and said so, with neither nothing starts). Both go
through the same parser (pipeline/api/schedules.py). Each schedule's baseline is copied into
LOCAL_DIR/schedules/<workload>/<monitor>/ (make's own also each variant's version's, in
<monitor>/<variant>/), its request and DescribeMonitoringSchedule record into
<workload>/<MonitoringScheduleName>/, and schedule.json tells the schedule's host process
(pipeline/monitoring/executions.py, its pid in schedule.pid, its output in schedule.log) what to
run: one execution of each schedule at its times, a processing job through the job runner.
`stop` (`make monitor-schedule-stop`) ends it, and waits while it stops a running execution; the
records say Stopped, executions already recorded stay. The endpoint's `make stop` leaves the
schedule alone, as deleting an endpoint is separate from its schedules on SageMaker. Standard
library only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.api.monitoringjobs import MAX_RUNTIME
from pipeline.monitoring import alarms, schedulerecords, schedulerequests
from pipeline.monitoring import dataquality as monitoring
from pipeline.monitoring import modelquality as modelmonitor
from pipeline.runs import hooks, jobrun
from pipeline.runs.records import RunError

FOLDERS = {"DATA_QUALITY": "data-quality", "MODEL_QUALITY": "model-quality"}
SCHEDULER_PID, SCHEDULER_LOG = "schedule.pid", "schedule.log"
# How long make monitor-schedule-stop waits for the schedule to end: a running execution gets
# the job runner's grace (SIGTERM, SIGKILL 120 s later), and a little more.
STOP_WAIT = 150


def start(args) -> int:
    args.baseline_job = None
    folder = args.local / "schedules" / args.workload
    name = f"{args.workload}-monitoring-schedule"
    chosen, skipped, overrides = {}, [], {}
    if args.request:
        pairs = schedulerequests.load(args.request)
        if not pairs:
            raise RunError(f"REQUEST={' '.join(map(str, args.request))}: no "
                           "CreateMonitoringSchedule request among them")
    else:
        for analysis, choose in (("DATA_QUALITY", monitoring.choose_baseline),
                                 ("MODEL_QUALITY", modelmonitor.choose_baseline)):
            try:
                chosen[analysis] = choose(args)
            except RunError as error:
                skipped.append(f"{analysis}: {error}")
        if not chosen:
            raise RunError("no baseline for either monitor: " + "; ".join(skipped))
        bodies, overrides = schedulerequests.builtin(args, chosen)
        pairs = schedulerequests.parsed(bodies)  # make's requests take the user's path
    # The schedule started before ends first: its running execution reads the baselines.
    stop_process(folder / SCHEDULER_PID, "schedule", STOP_WAIT)
    for stale in folder.glob(f"*/{schedulerecords.DESCRIBE}"):
        shutil.rmtree(stale.parent)  # an earlier start's schedules are replaced, not kept
    entries = schedulerequests.plan(args, folder, pairs)
    baselines, by_variant = {}, {}
    for analysis, entry in entries.items():
        target = folder / FOLDERS[analysis]
        what = chosen[analysis][0] if analysis in chosen else \
            f"the baseline of schedule {entry['MonitoringScheduleName']}"
        baselines[analysis] = {"from": what, **{
            path.stem: str(path) for path in sorted(target.glob("*.json"))}}
        # Each variant of the endpoint compared with its own version's, where it has one
        # (make's own schedules: a request names its one baseline).
        for variant in monitoring.live_variants(args) if analysis in chosen else []:
            served = monitoring.served_baseline(args, analysis, variant)
            if served:
                (target / variant).mkdir()
                for key, path in served[1].items():
                    shutil.copyfile(path, target / variant / f"{key}.json")
                by_variant.setdefault(analysis, {})[variant] = {"from": served[0], **served[1]}
    monitoring_dir = args.local / "monitoring"
    monitoring_dir.mkdir(parents=True, exist_ok=True)
    args.ground_truth.mkdir(parents=True, exist_ok=True)
    if args.request and args.interval:
        overrides["interval"] = args.interval  # the clock of a user's request, sped up
    if args.request and args.window:
        overrides["window"] = args.window
    (folder / "schedule.json").write_text(json.dumps({
        "name": name, "workload": args.workload, "interval": overrides.get("interval"),
        "window": overrides.get("window"), "image": args.image, "max_runtime": None,
        "capture": str(args.capture), "ground_truth": str(args.ground_truth),
        "baselines": baselines, "variant_baselines": by_variant, "schedules": entries},
        indent=2) + "\n")
    for line in skipped:
        jobrun.say(f"left out {line}")
    for key, value in overrides.items():
        jobrun.say(f"MONITOR_{key.upper()}={value} s: this machine's setting, in "
                   "schedule.json only, not in request.json (a CreateMonitoringSchedule runs "
                   "every 1-24 whole hours, over at most 24 hours)")
    scheduler = background(args, "pipeline.monitoring.executions", [], folder / SCHEDULER_PID,
                           folder / SCHEDULER_LOG)
    stop_watcher(folder)
    if args.on_violation or args.retrain_command:
        start_watcher(args, folder)
    here = f", every {overrides['interval']} s here" if "interval" in overrides else ""
    jobrun.say(f"schedule {name} (process {scheduler}): " + "; ".join(
        f"{entry['MonitoringScheduleName']} ({analysis}, {entry['expression']}{here}, "
        f"against {baselines[analysis]['from']})" for analysis, entry in entries.items()) +
        f"; requests and DescribeMonitoringSchedule records in {folder}/<schedule>/, "
        f"executions appear in {monitoring_dir} (make monitoring), its log in "
        f"{folder / SCHEDULER_LOG}; stop it with make monitor-schedule-stop")
    return 0


def background(args, module: str, options: list, pid_file: Path, log_file: Path) -> int:
    """A host process of the schedule's, out of the terminal's session, its pid and start time
    in `pid_file` (see started) and its output appended to `log_file`; its pid."""
    command = [sys.executable, "-m", module, "--local", str(args.local),
               "--workload", args.workload, "--compose", args.compose, "--docker", args.docker,
               "--image", args.image, "--keep", str(args.keep), *options]
    with log_file.open("a") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 cwd=Path(__file__).resolve().parents[2])
    pid_file.write_text(f"{child.pid} {started(child.pid)}\n")
    return child.pid


def start_watcher(args, folder: Path) -> None:
    """The host-side alarm watcher (pipeline/monitoring/alarms.py), a process of its own so a
    hook or a retrain never holds up the schedule: it acts on executions with violations."""
    options = ["watch", "--every", str(args.watch_every)]
    if args.on_violation:
        options += ["--on-violation", args.on_violation]
    if args.retrain_command:
        options += ["--retrain-command", args.retrain_command]
    pid = background(args, "pipeline.monitoring.alarms", options, folder / alarms.WATCHER_PID,
                     folder / "alarm-watcher.log")
    jobrun.say(f"alarm watcher {pid}: executions with violations fire "
               f"{'ON_VIOLATION' if args.on_violation else ''}"
               f"{' and ' if args.on_violation and args.retrain_command else ''}"
               f"{'RETRAIN_ON_VIOLATION' if args.retrain_command else ''} on this host "
               f"(log: {folder / 'alarm-watcher.log'})")


def started(pid: int) -> str | None:
    """A process's start time (clock ticks after boot, /proc/<pid>/stat field 22), None once it
    has ended (a zombie too): with the pid it names one process, so a pid the system has since
    given to another is never signalled."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") or len(fields) < 20 else fields[19]


def stop_process(pid_file: Path, what: str, wait: float = 0) -> None:
    """End the process `pid_file` names, if it still runs (SIGTERM), waiting up to `wait`
    seconds for it to end."""
    try:
        pid, when = pid_file.read_text().split()
        if started(int(pid)) == when:
            os.kill(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + wait
            while started(int(pid)) == when and time.monotonic() < deadline:
                time.sleep(0.1)
            jobrun.say(f"stopped {what} {pid}")
    except (OSError, ValueError):
        pass  # no pid file, a damaged one, or the process is gone
    pid_file.unlink(missing_ok=True)


def stop_watcher(folder: Path) -> None:
    """End the watcher this schedule started, if it still runs."""
    stop_process(folder / alarms.WATCHER_PID, "alarm watcher")


def stop(args) -> int:
    folder = args.local / "schedules" / args.workload
    stop_watcher(folder)
    stop_process(folder / SCHEDULER_PID, "schedule", STOP_WAIT)
    schedulerecords.set_status(folder, "Stopped")
    jobrun.say(f"stopped the monitoring schedule of {args.workload}; its executions stay in "
               f"{args.local / 'monitoring'} (make monitoring)")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.schedule",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("step", choices=("start", "stop"))
    top.add_argument("--capture", type=Path, help="CAPTURE_DIR")
    top.add_argument("--ground-truth", type=Path, help="GROUND_TRUTH_DIR")
    top.add_argument("--request", type=Path, action="append",
                     help="REQUEST: a CreateMonitoringSchedule JSON file (and the job "
                          "definitions it names), instead of make's own")
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
        return start(args)
    except (RunError, OSError, hooks.HookError) as error:
        print(f"monitor-schedule: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
