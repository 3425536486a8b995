"""`python -m pipeline.monitoring.executions`: the monitoring schedule's executions, a host process
that `make monitor-schedule` starts and `make monitor-schedule-stop` ends
(pipeline/monitoring/schedule.py).

As a SageMaker monitoring schedule, every `interval` seconds of the schedule (MONITOR_INTERVAL,
3600: at the top of each hour, as cron(0 * ? * * *)) it runs an execution of each monitor whose
baseline the schedule was created with (LOCAL_DIR/schedules/<workload>/: schedule.json,
<monitor>/ and <monitor>/<variant>/) over the window that just ended,
[boundary - window, boundary): one per production variant with capture in it
(pipeline/monitoring/variants.py), against the variant's own baseline when the schedule has one,
else the monitor's. Each execution is a monitoring run as make monitor-data's and make
monitor-model's are, a CreateProcessingJob request handed to the job runner
(pipeline/monitoring/requests.py), with the schedule's name in its record and
MaxRuntimeInSeconds the schedule's `max_runtime` (MONITOR_MAX_RUNTIME, default the interval): one
running longer is stopped by the runner and recorded Stopped. A boundary missed while an
execution ran is skipped, as SageMaker skips it; a failed execution is recorded and the schedule
goes on. SIGTERM stops a running execution (recorded Stopped, as StopProcessingJob leaves it) and
the schedule. Alarms are the alarm watcher's (pipeline/monitoring/alarms.py). Standard library
only.
"""

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.api import runner, submit
from pipeline.monitoring import dataquality, modelquality, variants
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

SCHEDULE = "schedule.json"
# analysis -> (its folder in the schedule's, the run of one variant's execution)
MONITORS = {"DATA_QUALITY": ("data-quality", dataquality.monitor_one),
            "MODEL_QUALITY": ("model-quality", modelquality.monitor_one)}


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
        """(what it is, its files in the schedule's folder) of the execution's baseline."""
        place = self.folder / MONITORS[analysis][0]
        chosen = self.schedule["baselines"][analysis]
        if item.variant and (place / item.variant).is_dir():
            place = place / item.variant
            chosen = self.schedule.get("variant_baselines", {}).get(analysis, {}).get(
                item.variant, chosen)
        return chosen["from"], {key: str(place / f"{key}.json")
                                for key in ("statistics", "constraints")}

    def execute(self, analysis: str, start: datetime, end: datetime,
                item: variants.Captured) -> int:
        """One execution as a monitoring run; its exit code (a refused request: said, 1)."""
        name = runs.job_name(self.args.local, "monitoring", self.args.workload)
        self.running = name
        try:
            return MONITORS[analysis][1](
                self.args, item, self.baseline(analysis, item), start, end, name=name,
                max_runtime=int(self.schedule.get("max_runtime") or self.schedule["interval"]),
                schedule=self.schedule["name"])
        except RunError as error:
            jobrun.say(f"{analysis} execution {name} not started: {error}")
            return 1
        finally:
            self.running = None

    def analyses(self) -> list[str]:
        return [name for name in MONITORS if name in self.schedule.get("baselines", {})]

    def tick(self, start: datetime, end: datetime) -> None:
        """A boundary's executions: each monitor's, one per variant with capture in the window
        (the whole capture, one execution, when none has: it fails saying so)."""
        for analysis in self.analyses():
            for item in variants.captured(self.args.capture, start, end):
                if not self.stopping.is_set():
                    self.execute(analysis, start, end, item)

    def run(self) -> None:
        interval, window = self.schedule["interval"], self.schedule["window"]
        jobrun.say(f"schedule {self.schedule['name']}: {', '.join(self.analyses())} every "
                   f"{interval:g} s over the last {window:g} s")
        while not self.stopping.is_set():
            boundary = (time.time() // interval + 1) * interval
            if self.stopping.wait(max(boundary - time.time(), 0)):
                break
            end = datetime.fromtimestamp(boundary, UTC)
            self.tick(end - timedelta(seconds=window), end)
        jobrun.say(f"schedule {self.schedule['name']} stopped")


def main(argv: list[str] | None = None) -> int:
    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.executions",
                                                          description=__doc__.splitlines()[0]))
    args = top.parse_args(argv)
    folder = args.local / "schedules" / args.workload
    try:
        schedule = json.loads((folder / SCHEDULE).read_text())
    except (OSError, ValueError) as error:
        print(f"{folder / SCHEDULE}: {error} (make monitor-schedule writes it)", file=sys.stderr)
        return 1
    args.capture, args.ground_truth = Path(schedule["capture"]), Path(schedule["ground_truth"])
    # The schedule's alarms are the watcher's, which make monitor-schedule starts with a hook.
    args.on_violation = args.retrain_command = None
    executions = Executions(args, schedule, folder)
    signal.signal(signal.SIGTERM, lambda *_: executions.stop())
    signal.signal(signal.SIGINT, lambda *_: executions.stop())
    executions.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
