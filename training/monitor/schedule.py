"""Monitoring schedule: the compose `monitor` service (entrypoint `monitor-schedule`).

As a SageMaker monitoring schedule, every MONITOR_INTERVAL seconds (3600 by default: at the top
of each hour, as cron(0 * ? * * *)) it runs an execution of each monitor whose baseline the
schedule was created with (make monitor-schedule, pipeline/monitoring/schedule.py) over the window
that just ended: [boundary - MONITOR_WINDOW, boundary) (MONITOR_WINDOW defaults to the interval). A
boundary missed because an execution ran long is skipped, as SageMaker skips it.

An endpoint of production variants captures each into <endpoint>/<variant>/: each monitor then
runs one execution per variant with capture in the window, over that folder alone, against the
variant's own baseline when the schedule was created with one (<monitor>/<variant>/ in the
schedule's folder), else the monitor's.

Each execution is a monitoring run of its own, `<workload>-monitor-<stamp>` under
/opt/ml/monitoring (LOCAL_DIR/monitoring on the host), with run.json in pipeline/runs/records.py's
schema (this image has no pipeline/; the fields are written here), logs.txt, the baseline it
compared against (processing/baseline/) and its results (processing/resultdata/): `make
monitoring` and `make jobs` list them. The job itself is the data-quality
(training/monitor/analyzer.py) or model-quality (training/monitor/modelquality.py) job, run as a
child process with the analyzer's environment, so one failing execution never stops the schedule;
one running longer than MONITOR_MAX_RUNTIME seconds (default the interval) is ended and recorded
Failed. SIGTERM (make monitor-schedule-stop) stops a running execution (recorded Stopped) and the
schedule.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from training.monitor.window import hour_of

SCHEDULE = Path("/opt/ml/schedule")  # schedule.json and the baselines, written by the host
MONITORING = Path("/opt/ml/monitoring")  # the host's LOCAL_DIR/monitoring
CAPTURE, TRUTH = "/opt/ml/processing/input/endpoint", "/opt/ml/processing/groundtruth"
RESULTS, VIOLATIONS = "processing/resultdata", "constraint_violations.json"
# analysis -> (module of its job, its folder in the schedule, its baseline files)
JOBS = {"DATA_QUALITY": ("training.monitor.analyzer", "data-quality",
                         ("statistics.json", "constraints.json")),
        "MODEL_QUALITY": ("training.monitor.modelquality", "model-quality",
                          ("statistics.json", "constraints.json"))}
STOPPED_CODES = (137, 143)
stopping = threading.Event()


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def write_record(folder: Path, record: dict) -> None:
    temp = folder / ".run.json.tmp"
    temp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temp, folder / "run.json")


def new_run(workload: str) -> tuple[str, Path, datetime]:
    """A run folder with pipeline/runs/records.py's name:
    <workload>-monitor-yyyy-mm-dd-HH-MM-SS-mmm."""
    MONITORING.mkdir(parents=True, exist_ok=True)
    while True:
        started = datetime.now(UTC)
        name = (f"{workload}-monitor-{started:%Y-%m-%d-%H-%M-%S-}"
                f"{started.microsecond // 1000:03d}")
        try:
            (MONITORING / name).mkdir()
            return name, MONITORING / name, started
        except FileExistsError:
            time.sleep(0.001)


def captured(root: Path, start: datetime, end: datetime) -> list[tuple[str, str] | None]:
    """Each (endpoint, variant) folder of the capture with a file of an hour that overlaps
    [start, end), one execution each (as pipeline/monitoring/variants.py picks them for make
    monitor-data); [None] (the whole capture, one execution) when there is none."""
    found = []
    for folder in sorted(root.glob("*/*")):
        if not folder.is_dir() or not any(folder.glob("[0-9][0-9][0-9][0-9]")):
            continue
        hours = {hour_of(path) for path in folder.glob("*/*/*/*/*.jsonl")
                 if not path.name.startswith(".")}
        if any(hour is not None and hour + timedelta(hours=1) > start and hour < end
               for hour in hours):
            found.append((folder.parent.name, folder.name))
    return found or [None]


def environment(analysis: str, folder: Path, workload: str, start: datetime,
                end: datetime, source: str = "") -> dict:
    baseline = folder / "processing" / "baseline"
    env = {"SAGEMAKER_BASE_DIR": str(folder), "dataset_source": source or CAPTURE,
           "output_path": str(folder / RESULTS), "start_time": zulu(start),
           "end_time": zulu(end), "baseline_constraints": str(baseline / "constraints.json"),
           "baseline_statistics": str(baseline / "statistics.json"),
           "dataset_format": json.dumps({"sagemakerCaptureJson": {
               "captureIndexNames": ["endpointInput", "endpointOutput"]}}),
           "publish_cloudwatch_metrics": "Disabled", "analysis_type": analysis}
    if analysis == "MODEL_QUALITY":
        env.update(problem_type="MulticlassClassification", ground_truth_source=TRUTH,
                   inference_attribute="prediction", probability_attribute="confidence")
    return env


def execute(schedule: dict, analysis: str, start: datetime, end: datetime,
            variant: tuple[str, str] | None = None) -> dict:
    """One execution as a monitoring run (of one (endpoint, variant)'s capture); its finished
    record."""
    workload = schedule["workload"]
    module, part, files = JOBS[analysis]
    name, folder, started = new_run(workload)
    host = os.environ.get("MONITORING_HOST_DIR", str(MONITORING))
    below = "/".join(variant) if variant else ""
    baselines = SCHEDULE / part
    baseline = schedule["baselines"][analysis]
    if variant and (baselines / variant[1]).is_dir():
        baselines = baselines / variant[1]
        baseline = schedule.get("variant_baselines", {}).get(analysis, {}).get(variant[1],
                                                                              baseline)
    record = {"name": name, "kind": "monitoring", "workload": workload,
              "status": "InProgress", "start": iso(started), "end": None,
              "image": schedule.get("image"), "analysis_type": analysis,
              "schedule": schedule["name"],
              "inputs": {"endpoint": {"path": "/".join(filter(None, (
                  schedule.get("capture", CAPTURE), below)))}, "baseline": baseline},
              "window": {"start": zulu(start), "end": zulu(end)}}
    if variant:
        record.update(endpoint=variant[0], variant=variant[1])
    if analysis == "MODEL_QUALITY":
        record["inputs"]["groundtruth"] = {"path": schedule.get("ground_truth", TRUTH)}
    for sub in ("processing/baseline", RESULTS, "output"):
        (folder / sub).mkdir(parents=True)
    write_record(folder, record)
    code = 1
    try:
        for file in files:
            shutil.copyfile(baselines / file, folder / "processing" / "baseline" / file)
        source = f"{CAPTURE}/{below}" if below else CAPTURE
        env = {**os.environ, **environment(analysis, folder, workload, start, end, source)}
        with (folder / "logs.txt").open("w") as log:
            child = subprocess.Popen([sys.executable, "-m", module, "--workload", workload],
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
            deadline, late = time.monotonic() + schedule.get("max_runtime", 3600), False
            while (code := poll(child)) is None:
                late = time.monotonic() > deadline
                if stopping.is_set() or late:
                    child.terminate()
                    child.wait()
        if late:
            code = 1
            (folder / "output" / "message").write_text(
                f"the execution ran longer than MONITOR_MAX_RUNTIME="
                f"{schedule.get('max_runtime', 3600):g} s (MaxRuntimeInSeconds)\n")
        if code < 0:
            code = 128 - code  # killed by a signal: as a shell reports it (SIGTERM: 143)
        if code and stopping.is_set():
            code = 143  # the schedule was stopped under it, whatever signal reached it first
    except OSError as error:
        (folder / "output" / "message").write_text(f"cannot run the execution: {error}\n")
    ended = datetime.now(UTC)
    status = "Completed" if code == 0 else "Stopped" if code in STOPPED_CODES else "Failed"
    record.update(status=status, end=iso(ended), exit_code=code,
                  seconds=round((ended - started).total_seconds(), 1))
    if status == "Completed":
        found = json.loads((folder / RESULTS / VIOLATIONS).read_text()).get("violations", [])
        record["metric"] = {"name": "violations", "value": float(len(found))}
        record["outputs"] = {file: f"{host}/{name}/{RESULTS}/{file}" for file in
                             ("statistics.json", VIOLATIONS, "report.html")}
    else:
        message = folder / "output" / "message"
        reason = message.read_text().strip() if message.is_file() else ""
        record["failure_reason"] = reason or f"the job exited with code {code}"
    write_record(folder, record)
    print(f"{analysis} execution {name}{f' of {below}' if below else ''} {status}"
          + (f": {int(record['metric']['value'])} violation(s)" if "metric" in record
             else f": {record['failure_reason']}"), flush=True)
    return record


def poll(child: subprocess.Popen) -> int | None:
    try:
        return child.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        return None


def prune(workload: str, keep: int) -> None:
    """The oldest finished runs of the workload beyond `keep`, as pipeline/runs/records.py
    prunes."""
    finished = []
    for folder in MONITORING.iterdir():
        try:
            record = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            continue
        if record.get("workload") == workload and record.get("status") != "InProgress":
            finished.append((record["start"], folder))
    for _, folder in sorted(finished, reverse=True)[keep:]:
        shutil.rmtree(folder, ignore_errors=True)


def seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1
    if value <= 0:
        raise SystemExit(f"error: {variable}={text!r}: a number of seconds above 0 is expected")
    return value


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    interval = seconds("MONITOR_INTERVAL", 3600)
    window = seconds("MONITOR_WINDOW", interval)
    keep = int(seconds("KEEP_RUNS", 20))
    try:
        schedule = json.loads((SCHEDULE / "schedule.json").read_text())
    except (OSError, ValueError) as error:
        print(f"error: {SCHEDULE / 'schedule.json'}: {error} (make monitor-schedule writes it)",
              file=sys.stderr, flush=True)
        return 1
    # MaxRuntimeInSeconds: an execution never runs into the next one (SageMaker's rule too).
    schedule["max_runtime"] = seconds("MONITOR_MAX_RUNTIME", interval)
    analyses = [a for a in JOBS if a in schedule.get("baselines", {})]
    print(f"schedule {schedule['name']}: {', '.join(analyses)} every {interval:g} s over the "
          f"last {window:g} s", flush=True)
    while not stopping.is_set():
        boundary = (time.time() // interval + 1) * interval
        if stopping.wait(max(boundary - time.time(), 0)):
            break
        end = datetime.fromtimestamp(boundary, UTC)
        start = end - timedelta(seconds=window)
        for analysis in analyses:
            for variant in captured(Path(CAPTURE), start, end):
                if not stopping.is_set():
                    execute(schedule, analysis, start, end, variant)
        prune(schedule["workload"], keep)
    print(f"schedule {schedule['name']} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
