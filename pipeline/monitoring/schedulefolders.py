"""A monitoring schedule made in a hidden folder of its workload's, then renamed into place:
CreateMonitoringSchedule's (pipeline/monitoring/schedule.py) and UpdateMonitoringSchedule's
(`make update-schedule`). Its baseline is fetched, its request, Pending record and schedule.json
written in .<name>.partial/, every schedule of a request before any is renamed, so a refused
request or an unreachable baseline leaves nothing half-made and nothing stored is lost. An
update keeps the schedule's creation time, last execution and log, and starts it again if it
was Scheduled. Standard library only.
"""

import json
import shutil
from pathlib import Path

from pipeline.monitoring import dataquality as monitoring
from pipeline.monitoring import lifecycle, schedulerequests
from pipeline.monitoring import schedulerecords as records
from pipeline.runs import jobrun
from pipeline.runs.records import RunError


def prepare(args, own: Path, pair: tuple, chosen: dict, overrides: dict,
            before: dict | None = None) -> None:
    """A schedule made in `own`, its hidden folder: baseline (make's own also each variant's
    version's, in baseline/<variant>/), request, Pending record and schedule.json."""
    schedule, job = pair
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True)
    entry = schedulerequests.entry(args, own, schedule, job, before)
    analysis = job.analysis
    what = chosen[analysis][0] if analysis in chosen else f"the baseline of schedule " \
        f"{schedule.name}"
    by_variant = {}
    # Each variant of the endpoint compared with its own version's, where it has one (make's
    # own schedules: a request names its one baseline).
    for variant in monitoring.live_variants(args) if analysis in chosen else []:
        served = monitoring.served_baseline(args, analysis, variant)
        if served:
            (own / records.BASELINE / variant).mkdir()
            for key, path in served[1].items():
                shutil.copyfile(path, own / records.BASELINE / variant / f"{key}.json")
            by_variant[variant] = {"from": served[0]}
    (own / records.PLAN).write_text(json.dumps({
        "name": f"{args.workload}-monitoring-schedule", "workload": args.workload,
        "interval": overrides.get("interval"), "window": overrides.get("window"),
        "image": args.image, "max_runtime": None, "capture": str(args.capture),
        "ground_truth": str(args.ground_truth), "baselines": {analysis: {"from": what}},
        "variant_baselines": {analysis: by_variant} if by_variant else {},
        "schedules": {analysis: entry}}, indent=2) + "\n")


def made(args, folder: Path, pairs: list, chosen: dict, overrides: dict,
         before: dict | None = None) -> list[Path]:
    """Each schedule prepared in its hidden folder, all or none."""
    hidden = [folder / f".{schedule.name}.partial" for schedule, _ in pairs]
    try:
        for own, pair in zip(hidden, pairs, strict=True):
            prepare(args, own, pair, chosen, overrides, (before or {}).get(pair[0].name))
    except BaseException:
        for own in hidden:
            shutil.rmtree(own, ignore_errors=True)
        raise
    return hidden


def update(args) -> int:
    """UpdateMonitoringSchedule: each named schedule's request replaced."""
    args.baseline_job = None
    folder = args.local / records.ROOT / args.workload
    pairs = schedulerequests.load(args.request, update=True)
    if not pairs:
        raise RunError(f"REQUEST={' '.join(map(str, args.request))}: no "
                       "UpdateMonitoringSchedule request among them")
    before = {}
    for schedule, _ in pairs:
        taken = lifecycle.found(args.local, schedule.name)
        if taken.parent != folder:
            raise RunError(f"MonitoringScheduleName {schedule.name}: a schedule of "
                           f"WORKLOAD={taken.parent.name}: update it with that WORKLOAD")
        before[schedule.name] = records.read(taken)
    overrides = {key: value for key, value in (("interval", args.interval),
                                               ("window", args.window)) if value}
    hidden = made(args, folder, pairs, {}, overrides, before)
    for own, (schedule, _) in zip(hidden, pairs, strict=True):
        old = folder / schedule.name
        lifecycle.halt(old)
        log = old / records.LOG
        if log.is_file():
            shutil.copyfile(log, own / records.LOG)
        shutil.rmtree(old.with_name(f".{schedule.name}.old"), ignore_errors=True)
        old.rename(old.with_name(f".{schedule.name}.old"))
        own.rename(old)
        shutil.rmtree(old.with_name(f".{schedule.name}.old"))
        if before[schedule.name]["MonitoringScheduleStatus"] in ("Scheduled", "Pending"):
            pid = lifecycle.launch(args, old)
            jobrun.say(f"updated schedule {schedule.name}: Scheduled (process {pid})")
        else:
            records.set_status(old, before[schedule.name]["MonitoringScheduleStatus"])
            jobrun.say(f"updated schedule {schedule.name}: still "
                       f"{before[schedule.name]['MonitoringScheduleStatus']} (make "
                       f"start-schedule NAME={schedule.name} starts it)")
    return 0
