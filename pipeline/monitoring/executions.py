"""`python -m pipeline.monitoring.executions --schedule NAME`: one monitoring schedule's
executions, a host process that `make monitor-schedule` (and `make start-schedule`) starts and
`make stop-schedule`, `make delete-schedule` and `make monitor-schedule-stop` end
(pipeline/monitoring/schedule.py, pipeline/monitoring/lifecycle.py).

As SageMaker runs a monitoring schedule, at each time in the schedule's schedule.json (its
request's ScheduleExpression, or every MONITOR_INTERVAL seconds when this machine overrides it;
NOW once, then the process ends: pipeline/monitoring/clock.py) it runs an execution of the
schedule's monitor over its window, against the baseline the schedule was created with
(LOCAL_DIR/schedules/<workload>/<name>/baseline/ and baseline/<variant>/): one per production
variant of the request's endpoint with capture in the window (pipeline/monitoring/variants.py),
against the variant's own baseline when the schedule has one, else the monitor's. Each
execution is a monitoring run as make monitor-data's and make monitor-model's are, a
CreateProcessingJob request handed to the job runner (pipeline/monitoring/requests.py) with the
request's image, environment and MaxRuntimeInSeconds, its MonitoringScheduleName,
ScheduledTime, EndpointName and MonitoringType in its record (ListMonitoringExecutions reads
them there); one running longer is stopped by the runner and recorded Stopped. After it, the
schedule's describe.json gets its LastMonitoringExecutionSummary
(pipeline/monitoring/schedulerecords.py) and its results are copied to the request's output
S3Uri. A time missed while an execution ran is skipped, as SageMaker skips it; a failed
execution is recorded and the schedule goes on. SIGTERM stops a running execution (recorded
Stopped, as StopProcessingJob leaves it) and the schedule. Alarms are the alarm watcher's
(pipeline/monitoring/alarms.py). Standard library only.
"""

import argparse
import copy
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.api import runner, storage, submit
from pipeline.monitoring import dataquality, modelquality, schedulerecords, variants
from pipeline.monitoring.clock import Clock
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

# analysis -> the run of one variant's execution
MONITORS = {"DATA_QUALITY": dataquality.monitor_one,
            "MODEL_QUALITY": modelquality.monitor_one}


class Executions:
    """A schedule's loop; `stop` is SIGTERM's."""

    def __init__(self, args, schedule: dict, folder: Path):
        self.args, self.schedule, self.folder = args, schedule, folder
        self.stopping = threading.Event()
        self.running: str | None = None  # the job name of the execution under way

    def stop(self) -> None:
        """No more executions; the running one stopped as StopProcessingJob stops one (in a
        thread of its own: SIGTERM's handler must not wait for docker)."""
        self.stopping.set()
        if self.running:
            threading.Thread(target=self.stop_running, args=(self.running,), daemon=True).start()

    def stop_running(self, name: str) -> None:
        """Stop the execution's container, once it has one: the job may be between its request
        and its container when SIGTERM comes."""
        engine = submit.engine(self.args)
        while self.running == name and not runner.stop(engine, name):
            time.sleep(0.2)

    def baseline(self, analysis: str, item: variants.Captured) -> tuple[str, dict]:
        """(what it is, its files in the schedule's folder) of the execution's baseline: a
        model-quality request names constraints only."""
        place = self.folder / schedulerecords.BASELINE
        chosen = self.schedule["baselines"][analysis]
        if item.variant and (place / item.variant).is_dir():
            place = place / item.variant
            chosen = self.schedule.get("variant_baselines", {}).get(analysis, {}).get(
                item.variant, chosen)
        return chosen["from"], {key: str(place / f"{key}.json")
                                for key in ("statistics", "constraints")
                                if (place / f"{key}.json").is_file() or key == "constraints"}

    def entry(self, analysis: str) -> dict:
        """The analysis' schedule from its request (pipeline/monitoring/schedulerequests.py);
        empty in a schedule.json of before requests."""
        return self.schedule.get("schedules", {}).get(analysis, {})

    def runner_args(self, analysis: str):
        """The job runner's settings for the analysis' executions: its request's image,
        entrypoint, environment, ground truth and record preprocessor."""
        entry = self.entry(analysis)
        if not entry:
            return self.args
        args = copy.copy(self.args)
        args.image, args.environment = entry["image"], entry["environment"]
        args.entrypoint, args.arguments = entry["entrypoint"], entry["arguments"]
        for key in ("ground_truth", "preprocessor"):
            if entry.get(key):
                setattr(args, key, storage.file_path(entry[key]) or entry[key])
        return args

    def execute(self, analysis: str, start: datetime, end: datetime,
                item: variants.Captured, at: datetime | None = None) -> int:
        """One execution as a monitoring run; its exit code (a refused request: said, 1)."""
        entry = self.entry(analysis)
        named = {}
        if entry:  # the fields of its MonitoringExecutionSummary
            named = {"MonitoringScheduleName": entry["MonitoringScheduleName"],
                     "ScheduledTime": (at or end).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "EndpointName": entry["endpoint"],
                     "MonitoringType": schedulerecords.KINDS[analysis]}
            if entry.get("definition"):
                named["MonitoringJobDefinitionName"] = entry["definition"]
        for _ in range(3):
            name = runs.job_name(self.args.local, "monitoring", self.args.workload)
            self.running = name
            try:
                code = MONITORS[analysis](
                    self.runner_args(analysis), item, self.baseline(analysis, item), start, end,
                    name=name, max_runtime=int(entry.get("max_runtime") or
                                               self.schedule.get("max_runtime") or
                                               self.schedule["interval"]),
                    schedule=self.schedule["name"], **named)
                break
            except RunError as error:
                # Schedules of one workload tick at the same hour in processes of their own:
                # another's execution may take the same millisecond's name first.
                if f"named {name} exists already" in str(error):
                    continue
                jobrun.say(f"{analysis} execution {name} not started: {error}")
                return 1
            finally:
                self.running = None
        else:
            jobrun.say(f"{analysis} execution not started: no free job name")
            return 1
        if entry:
            self.recorded(entry, runs.load(self.args.local / "monitoring" / name), at or end)
        return code

    def recorded(self, entry: dict, run: runs.Run | None, at: datetime) -> None:
        """The execution in the schedule's Describe record, its results copied where the
        request's output S3Uri says, laid out as SageMaker lays them out."""
        schedulerecords.executed(self.folder, run)
        results = run.folder / dataquality.RESULTS if run else None
        if not entry.get("output") or not results or not results.is_dir():
            return
        target = storage.join(entry["output"], entry["endpoint"], entry["MonitoringScheduleName"],
                              *at.strftime("%Y/%m/%d/%H").split("/"))
        try:
            storage.from_environment().store(results, target)
        except storage.StorageError as error:
            jobrun.say(f"{run.name}: results not copied to {target}: {error}")

    def analyses(self) -> list[str]:
        return [name for name in MONITORS if name in self.schedule.get("baselines", {})]

    def captured(self, analysis: str, start: datetime, end: datetime) -> list:
        """The variants' capture of the window, of the request's endpoint when the capture
        folder is laid out by endpoint."""
        found = variants.captured(self.args.capture, start, end)
        endpoint = self.entry(analysis).get("endpoint")
        if endpoint and any(item.endpoint for item in found):
            found = [item for item in found if item.endpoint == endpoint] or [
                variants.Captured(endpoint, None, self.args.capture / endpoint)]
        return found

    def tick(self, start: datetime, end: datetime, analyses: list | None = None,
             at: datetime | None = None) -> None:
        """A boundary's executions: each monitor's, one per variant with capture in the window
        (the whole capture, one execution, when none has: it fails saying so)."""
        for analysis in analyses or self.analyses():
            for item in self.captured(analysis, start, end):
                if not self.stopping.is_set():
                    self.execute(analysis, start, end, item, at)

    def clock(self, analysis: str) -> Clock:
        return Clock(self.schedule, self.entry(analysis))

    def run(self) -> None:
        analyses, interval = self.analyses(), self.schedule.get("interval")
        here = f"every {interval:g} s here" if interval else "at its times"
        jobrun.say(f"schedule {self.schedule['name']}: " + ", ".join(
            f"{analysis} ({self.entry(analysis).get('expression', '')} {here})"
            for analysis in analyses))
        clocks = {analysis: self.clock(analysis) for analysis in analyses}
        now = datetime.now(UTC)
        due = {analysis: clock.next_time(now) for analysis, clock in clocks.items()}
        while due and not self.stopping.is_set():
            at = min(due.values())
            if self.stopping.wait(max((at - datetime.now(UTC)).total_seconds(), 0)):
                break
            ready = [analysis for analysis in analyses if due.get(analysis) == at]
            for analysis in ready:
                self.tick(*clocks[analysis].window(at), [analysis], at)
            for analysis in ready:  # a time missed while an execution ran is skipped
                if clocks[analysis].once:
                    del due[analysis]
                else:
                    due[analysis] = clocks[analysis].next_time(datetime.now(UTC))
        jobrun.say(f"schedule {self.schedule['name']} "
                   f"{'stopped' if self.stopping.is_set() else 'done: its NOW executions ran'}")


def main(argv: list[str] | None = None) -> int:
    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.executions",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("--schedule", required=True, help="its MonitoringScheduleName")
    args = top.parse_args(argv)
    folder = args.local / schedulerecords.ROOT / args.workload / args.schedule
    try:
        schedule = json.loads((folder / schedulerecords.PLAN).read_text())
    except (OSError, ValueError) as error:
        print(f"{folder / schedulerecords.PLAN}: {error} (make monitor-schedule writes it)",
              file=sys.stderr)
        return 1
    args.capture, args.ground_truth = Path(schedule["capture"]), Path(schedule["ground_truth"])
    # The schedule's alarms are the watcher's, which make monitor-schedule starts with a hook.
    args.on_violation = args.retrain_command = None
    executions = Executions(args, schedule, folder)
    signal.signal(signal.SIGTERM, lambda *_: executions.stop())
    signal.signal(signal.SIGINT, lambda *_: executions.stop())
    executions.run()
    if not executions.stopping.is_set():  # a NOW schedule, run once
        schedulerecords.set_status(folder, "Stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
