"""Monitor alarms that act: a monitoring run with violations raises an alarm (ON_VIOLATION) and
can retrain (RETRAIN_ON_VIOLATION=1).

On SageMaker a monitoring execution with violations ends CompletedWithViolations, Model Monitor
publishes its metrics to CloudWatch, an alarm on them goes to ALARM, and EventBridge delivers a
"CloudWatch Alarm State Change" event to whatever the user's rule targets (a Lambda that starts
the pipeline, an SNS topic). Here the event is that one, field for field, with the execution's
facts under detail.monitoringExecution; it is written to the run's alarm.json and handed to the
hook (pipeline/runs/hooks.py). The retrain is the user's `make pipeline`, told which run raised
the alarm (RETRAIN_TRIGGER), so the version it registers is PendingManualApproval and names the
run in its lineage (pipeline/jobs/steps.py).

`make monitor-data` and `make monitor-model` act as their run ends. The schedule's process
(pipeline/monitoring/executions.py) only runs executions, so a hook or a retrain never delays the
next: `python -m pipeline.monitoring.alarms watch` (started by `make monitor-schedule` when a
hook is set) is a host process of its own that looks for executions that ended with violations
and acts on each once. Standard library only.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pipeline.runs import files, hooks, jobrun
from pipeline.runs import records as runs

ALARM = "alarm.json"
VIOLATIONS = "constraint_violations.json"
ACCOUNT, REGION = "000000000000", "local"
# Model Monitor's CloudWatch namespaces, by analysis.
NAMESPACES = {"DATA_QUALITY": "aws/sagemaker/Endpoints/data-metrics",
              "MODEL_QUALITY": "aws/sagemaker/Endpoints/model-metrics"}
TRIGGER_ENV = "RETRAIN_TRIGGER"
WATCHER_PID = "alarm-watcher.pid"


def endpoint_of(capture: str | None, workload: str) -> tuple[str, str]:
    """(endpoint, variant) whose capture the run read: the folders under CAPTURE_DIR
    (<endpoint>/<variant>/…), else what make serve names them."""
    found = ([(endpoint.name, variant.name) for endpoint in sorted(Path(capture).iterdir())
              if endpoint.is_dir() for variant in sorted(endpoint.iterdir()) if variant.is_dir()]
             if capture and Path(capture).is_dir() else [])
    if not found:
        return f"{workload}-endpoint", "AllTraffic"
    return (",".join(sorted({e for e, _ in found})), ",".join(sorted({v for _, v in found})))


def facts(run: runs.Run, found: list) -> dict:
    """The execution's facts, as the hook's environment variables."""
    record = run.record
    analysis = record.get("analysis_type", "DATA_QUALITY")
    capture = record.get("inputs", {}).get("endpoint", {}).get("path")
    endpoint, variant = (record["endpoint"], record["variant"]) if record.get("variant") \
        else endpoint_of(capture, record.get("workload", ""))  # a run of one variant knows it
    path = next(iter(sorted(run.folder.rglob(VIOLATIONS))), None)
    return {"MONITORING_RUN": run.name, "ANALYSIS_TYPE": analysis,
            "VIOLATION_COUNT": str(len(found)), "CONSTRAINT_VIOLATIONS": str(path or ""),
            "ENDPOINT_NAME": endpoint, "VARIANT_NAME": variant,
            # The CreateMonitoringSchedule request's name; a run of before requests, the
            # workload's schedule
            "MONITORING_SCHEDULE": record.get("MonitoringScheduleName")
            or record.get("schedule", ""),
            "ALARM_NAME": f"{endpoint}-{analysis.lower().replace('_', '-')}-violations"}


def event(run: runs.Run, found: list, fact: dict) -> dict:
    """A CloudWatch Alarm State Change event as EventBridge delivers it, for this execution."""
    now = runs.iso(runs.now())
    checks = sorted({str(v.get("constraint_check_type", "?")) for v in found})
    features = sorted({str(v.get("feature_name") or v.get("metric_name") or "?") for v in found})
    reason = (f"Threshold Crossed: monitoring execution {run.name} completed with "
              f"{len(found)} violation(s) ({', '.join(checks)}) on {', '.join(features)}")
    dimensions = {"Endpoint": fact["ENDPOINT_NAME"], "VariantName": fact["VARIANT_NAME"]}
    if fact["MONITORING_SCHEDULE"]:
        dimensions["MonitoringSchedule"] = fact["MONITORING_SCHEDULE"]
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": ACCOUNT, "time": now[:19] + "Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{fact['ALARM_NAME']}"],
        "detail": {
            "alarmName": fact["ALARM_NAME"],
            "state": {"value": "ALARM", "reason": reason, "timestamp": now,
                      "reasonData": json.dumps({"violationCount": len(found)})},
            "previousState": {"value": "OK", "reason": "no violations before this execution"},
            "configuration": {
                "description": f"{fact['ANALYSIS_TYPE']} monitoring of {fact['ENDPOINT_NAME']} "
                               "found violations of the baseline's constraints",
                "metrics": [{"id": "violations", "returnData": True, "metricStat": {
                    "metric": {"namespace": NAMESPACES.get(fact["ANALYSIS_TYPE"], ""),
                               "name": "violations", "dimensions": dimensions},
                    "period": 3600, "stat": "Maximum"}}]},
            "monitoringExecution": {
                "runName": run.name, "analysisType": fact["ANALYSIS_TYPE"],
                "monitoringExecutionStatus": "CompletedWithViolations",
                "violationCount": len(found),
                "constraintViolations": fact["CONSTRAINT_VIOLATIONS"],
                "endpointName": fact["ENDPOINT_NAME"], "variantName": fact["VARIANT_NAME"],
                "monitoringScheduleName": fact["MONITORING_SCHEDULE"] or None,
                "window": run.record.get("window"),
                "violations": found}}}


def act(run: runs.Run, found: list, on_violation: str | None, retrain: str | None) -> int:
    """Raise the alarm of a run with violations: alarm.json, the hook, the retrain. 0 when
    everything asked for worked; what failed is said, the run's record is left as it is."""
    if not found or not (on_violation or retrain):
        return 0
    fact = facts(run, found)
    alarm = event(run, found, fact)
    kept: dict = {"event": alarm}
    jobrun.say(f"ALARM {fact['ALARM_NAME']}: {alarm['detail']['state']['reason']}")
    failed = False
    if on_violation:
        try:
            outcome = hooks.fire("ON_VIOLATION", on_violation, alarm, fact,
                                 run.folder / "alarm-event.json")
        except hooks.HookError as error:
            outcome = hooks.Outcome(False, str(error), 0)
        kept["on_violation"] = outcome.as_record()
        failed = not outcome.ok
        print(outcome.text, file=sys.stderr if failed else sys.stdout, flush=True)
    if retrain:
        kept["retrain"] = rerun(retrain, run.name)
        failed = failed or kept["retrain"]["exit_code"] != 0
    files.write_json(run.folder / ALARM, kept)
    return 1 if failed else 0


def rerun(command: str, trigger: str) -> dict:
    """The retrain: `command` (make pipeline) with RETRAIN_TRIGGER naming the alarm's run."""
    jobrun.say(f"RETRAIN_ON_VIOLATION=1: retraining on the newest data ({command}), "
               f"triggered by {trigger}")
    code = subprocess.run(command, shell=True, env={**os.environ, TRIGGER_ENV: trigger}).returncode
    if code:
        print(f"retrain triggered by {trigger} failed: {command!r} exited with code {code}",
              file=sys.stderr, flush=True)
    return {"command": command, "trigger": trigger, "exit_code": code}


def violations(run: runs.Run) -> list | None:
    """The run's violations, from the constraint_violations.json it wrote wherever it wrote it;
    None when it wrote none."""
    for path in sorted(run.folder.rglob(VIOLATIONS)):
        try:
            return json.loads(path.read_text()).get("violations", [])
        except (OSError, ValueError, AttributeError):
            return None
    return None


def pending(local: Path, workload: str, since: float) -> list[tuple[runs.Run, list]]:
    """Scheduled executions of the workload that ended with violations after `since` (epoch
    seconds) and have not raised their alarm yet, oldest first."""
    found = []
    for run in reversed(runs.runs(local, "monitoring")):
        record = run.record
        if (record.get("workload") != workload or not record.get("schedule")
                or run.status != runs.COMPLETED or (run.folder / ALARM).exists()):
            continue
        try:
            started = runs.parse_time(record["start"]).timestamp()
        except (KeyError, ValueError, TypeError):
            continue
        listed = violations(run)
        if started >= since and listed:
            found.append((run, listed))
    return found


def watch(args) -> int:
    """Act on each scheduled execution with violations, every `args.every` seconds, until
    SIGTERM (make monitor-schedule-stop); --once: one look."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    since = time.time() if args.since is None else args.since
    jobrun.say(f"watching {args.local / 'monitoring'} for {args.workload} executions with "
               f"violations every {args.every:g} s")
    while True:
        for run, found in pending(args.local, args.workload, since):
            act(run, found, args.on_violation, args.retrain_command)
        if args.once or stop:
            return 0
        deadline = time.monotonic() + args.every
        while time.monotonic() < deadline and not stop:
            time.sleep(0.2)


def add_arguments(top) -> None:
    top.add_argument("--on-violation", help="ON_VIOLATION: a shell command or a local URL")
    top.add_argument("--retrain-command",
                     help="RETRAIN_ON_VIOLATION=1: the command that retrains (make pipeline)")


def main(argv: list[str] | None = None) -> int:
    import argparse

    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.alarms",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("step", choices=("watch",))
    add_arguments(top)
    top.add_argument("--every", type=float, default=10.0, help="seconds between looks")
    top.add_argument("--since", type=float, help="epoch seconds: older executions are left")
    top.add_argument("--once", action="store_true", help="look once and end")
    args = top.parse_args(argv)
    try:
        if args.on_violation:
            hooks.check("ON_VIOLATION", args.on_violation)
    except hooks.HookError as error:
        print(str(error), file=sys.stderr)
        return 1
    return watch(args)


if __name__ == "__main__":
    sys.exit(main())
