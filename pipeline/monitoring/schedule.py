"""`python -m pipeline.monitoring.schedule start|stop`: the monitoring schedule (compose service
`monitor`).

`start` (`make monitor-schedule`), as CreateMonitoringSchedule: picks the baselines now (each as
make monitor-data and make monitor-model would: BASELINE_JOB is not used; the served version's,
else the newest Completed run; and for an endpoint of variants each variant's version's, in
<monitor>/<variant>/), copies them into LOCAL_DIR/schedules/<workload>/ with schedule.json,
and (re)starts the `monitor` service, which runs an execution of each monitor that has a
baseline (one per variant with capture) every MONITOR_INTERVAL seconds
(training/monitor/schedule.py). A monitor without
a baseline is left out and said so; with neither, nothing starts. `stop` (`make
monitor-schedule-stop`) stops it; executions already recorded stay. The endpoint's `make stop`
leaves the schedule alone, as deleting an endpoint is separate from its schedules on SageMaker.
Standard library only.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from pipeline.monitoring import alarms
from pipeline.monitoring import dataquality as monitoring
from pipeline.monitoring import modelquality as modelmonitor
from pipeline.runs import hooks, jobrun
from pipeline.runs.records import RunError

SERVICE = "monitor"
FOLDERS = {"DATA_QUALITY": "data-quality", "MODEL_QUALITY": "model-quality"}


def compose(args, *command: str, env: dict | None = None) -> int:
    return subprocess.run([*shlex.split(args.compose), *command],
                          env={**os.environ, **(env or {})}).returncode


def start(args) -> int:
    args.baseline_job = None
    chosen, skipped = {}, []
    for analysis, choose in (("DATA_QUALITY", monitoring.choose_baseline),
                             ("MODEL_QUALITY", modelmonitor.choose_baseline)):
        try:
            chosen[analysis] = choose(args)
        except RunError as error:
            skipped.append(f"{analysis}: {error}")
    if not chosen:
        raise RunError("no baseline for either monitor: " + "; ".join(skipped))
    folder = args.local / "schedules" / args.workload
    name = f"{args.workload}-monitoring-schedule"
    baselines, by_variant = {}, {}
    for analysis, (what, files) in chosen.items():
        target = folder / FOLDERS[analysis]
        shutil.rmtree(target, ignore_errors=True)  # no variant's baseline of an earlier config
        target.mkdir(parents=True)
        for key, path in files.items():
            shutil.copyfile(path, target / f"{key}.json")
        baselines[analysis] = {"from": what, **files}
        # Each variant of the endpoint compared with its own version's, where it has one.
        for variant in monitoring.live_variants(args):
            served = monitoring.served_baseline(args, analysis, variant)
            if served:
                (target / variant).mkdir()
                for key, path in served[1].items():
                    shutil.copyfile(path, target / variant / f"{key}.json")
                by_variant.setdefault(analysis, {})[variant] = {"from": served[0], **served[1]}
    monitoring_dir = args.local / "monitoring"
    monitoring_dir.mkdir(parents=True, exist_ok=True)
    args.ground_truth.mkdir(parents=True, exist_ok=True)
    (folder / "schedule.json").write_text(json.dumps({
        "name": name, "workload": args.workload, "interval": args.interval,
        "window": args.window or args.interval, "image": args.image,
        "capture": str(args.capture), "ground_truth": str(args.ground_truth),
        "baselines": baselines, "variant_baselines": by_variant}, indent=2) + "\n")
    for line in skipped:
        jobrun.say(f"left out {line}")
    env = {"SCHEDULE_DIR": str(folder), "MONITORING_DIR": str(monitoring_dir),
           "CAPTURE_DIR": str(args.capture), "GROUND_TRUTH_DIR": str(args.ground_truth),
           "MONITOR_INTERVAL": str(args.interval), "MONITOR_WINDOW": str(args.window or ""),
           "KEEP_RUNS": str(args.keep), "MONITOR_WORKLOAD": args.workload}
    if compose(args, "up", "--detach", "--no-deps", "--force-recreate", SERVICE, env=env):
        raise RunError(f"could not start the {SERVICE} service (see above)")
    stop_watcher(folder)
    if args.on_violation or args.retrain_command:
        start_watcher(args, folder)
    jobrun.say(f"schedule {name}: {', '.join(chosen)} every {args.interval} s "
               f"({', '.join(what for what, _ in chosen.values())}); executions appear in "
               f"{monitoring_dir} (make monitoring); stop it with make monitor-schedule-stop")
    return 0


def start_watcher(args, folder: Path) -> None:
    """The host-side alarm watcher (pipeline/monitoring/alarms.py): the container's executions
    cannot run a command on the host, so this process acts on those with violations."""
    command = [sys.executable, "-m", "pipeline.monitoring.alarms", "watch",
               "--local", str(args.local), "--workload", args.workload, "--compose", args.compose,
               "--docker", args.docker, "--image", args.image, "--keep", str(args.keep),
               "--every", str(args.watch_every)]
    if args.on_violation:
        command += ["--on-violation", args.on_violation]
    if args.retrain_command:
        command += ["--retrain-command", args.retrain_command]
    with (folder / "alarm-watcher.log").open("a") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 cwd=Path(__file__).resolve().parents[2])
    (folder / alarms.WATCHER_PID).write_text(f"{child.pid} {started(child.pid)}\n")
    jobrun.say(f"alarm watcher {child.pid}: executions with violations fire "
               f"{'ON_VIOLATION' if args.on_violation else ''}"
               f"{' and ' if args.on_violation and args.retrain_command else ''}"
               f"{'RETRAIN_ON_VIOLATION' if args.retrain_command else ''} on this host "
               f"(log: {folder / 'alarm-watcher.log'})")


def started(pid: int) -> str | None:
    """A process's start time (clock ticks after boot, /proc/<pid>/stat field 22): with the pid
    it names one process, so a pid the system has since given to another is never signalled."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def stop_watcher(folder: Path) -> None:
    """End the watcher this schedule started, if it still runs."""
    pid_file = folder / alarms.WATCHER_PID
    try:
        pid, when = pid_file.read_text().split()
        if started(int(pid)) == when:
            os.kill(int(pid), signal.SIGTERM)
            jobrun.say(f"stopped alarm watcher {pid}")
    except (OSError, ValueError):
        pass  # no pid file, a damaged one, or the process is gone
    pid_file.unlink(missing_ok=True)


def stop(args) -> int:
    stop_watcher(args.local / "schedules" / args.workload)
    if compose(args, "rm", "--stop", "--force", SERVICE):
        raise RunError(f"could not stop the {SERVICE} service (see above)")
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
    top.add_argument("--interval", type=int, default=3600, help="MONITOR_INTERVAL (seconds)")
    top.add_argument("--window", type=int, help="MONITOR_WINDOW (seconds; default the interval)")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--endpoint-dir", type=Path, help="ENDPOINT_DIR")
    alarms.add_arguments(top)
    top.add_argument("--watch-every", type=float, default=10.0,
                     help="seconds between the alarm watcher's looks")
    args = top.parse_args(argv)
    try:
        if args.step == "stop":
            return stop(args)
        if args.interval < 1 or (args.window is not None and args.window < 1):
            raise RunError(f"MONITOR_INTERVAL={args.interval} / MONITOR_WINDOW={args.window}: "
                           "whole seconds, at least 1")
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
