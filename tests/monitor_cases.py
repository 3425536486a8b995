"""Captured traffic for the data-quality monitor's tests and bench, in SageMaker's record format
and folder layout (CONTRACT.md "Data capture"): `<endpoint>/<variant>/yyyy/mm/dd/hh/
<mm-ss-mmm>-<uuid>.jsonl`, one JSON line a request.

Penguins-like records come from a seeded generator close to palmerpenguins' ranges, so a
baseline of one sample and traffic of another agree (no drift) and a shift is unmistakable.
"""

import csv
import io
import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.monitoring import baseline
from pipeline.runs import records as runs

FIELDS = ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
          "sex")
ISLANDS, SEXES = ("Biscoe", "Dream", "Torgersen"), ("MALE", "FEMALE")
HOUR = datetime(2026, 11, 23, 21, tzinfo=UTC)


def penguins(count: int, seed: int, shift: dict | None = None) -> list[dict]:
    """Records as a client sends them; shift: {field: factor} multiplies a numeric field."""
    rng, shift = random.Random(seed), shift or {}
    records = []
    for _ in range(count):
        record = {"island": rng.choice(ISLANDS),
                  "bill_length_mm": round(rng.gauss(44.0, 5.0), 1),
                  "bill_depth_mm": round(rng.gauss(17.0, 2.0), 1),
                  "flipper_length_mm": float(rng.randint(172, 231)),
                  "body_mass_g": float(rng.randrange(2700, 6300, 25)),
                  "sex": rng.choice(SEXES)}
        for name, factor in shift.items():
            record[name] = round(record[name] * factor, 1)
        records.append(record)
    return records


def baseline_csv(records: list[dict]) -> str:
    """train-baseline.csv as the processing job writes it: a header, the raw fields."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def line(body: str, content_type: str = "application/json", encoding: str = "JSON",
         when: datetime = HOUR, inference_id: str | None = None,
         output: str = '{"prediction": "Adelie", "confidence": 0.9}') -> str:
    metadata = {"eventId": str(uuid.uuid4())}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": body,
                          "encoding": encoding},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                           "data": output, "encoding": "JSON"}},
        "eventMetadata": metadata, "eventVersion": "0"}, separators=(",", ":"))


def json_lines(records: list, when: datetime = HOUR) -> list[str]:
    """One captured request per record, JSON bodies, ids "0", "1", ..."""
    return [line(json.dumps(record), when=when + timedelta(seconds=i % 3000),
                 inference_id=str(i)) for i, record in enumerate(records)]


def csv_lines(records: list[dict], when: datetime = HOUR) -> list[str]:
    return [line(",".join(str(record[f]) for f in FIELDS), "text/csv", "CSV",
                 when + timedelta(seconds=i % 3000)) for i, record in enumerate(records)]


def write(root: Path, lines: list[str], files: int = 3, hour: datetime = HOUR,
          endpoint: str = "penguins-endpoint", variant: str = "AllTraffic") -> list[Path]:
    """The lines spread over `files` capture files of one hour folder."""
    folder = root / endpoint / variant / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    written, size = [], -(-len(lines) // files)
    for number in range(files):
        part = lines[number * size:(number + 1) * size]
        if part:
            path = folder / f"{number:02d}-00-{number:03d}-{uuid.uuid4()}.jsonl"
            path.write_text("\n".join(part) + "\n")
            written.append(path)
    return written


def bulk(root: Path, count: int, files: int, seed: int = 7) -> None:
    """`count` captured JSON requests of penguins(...)'s distribution in `files` files of one
    hour, written from a template (the bench's million records in seconds, not minutes)."""
    rng = random.Random(seed)
    folder = root / "penguins-endpoint" / "AllTraffic" / HOUR.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    template = ('{{"captureData":{{"endpointInput":{{"observedContentType":"application/json",'
                '"mode":"INPUT","data":"{{\\"island\\": \\"{}\\", \\"bill_length_mm\\": {:.1f}, '
                '\\"bill_depth_mm\\": {:.1f}, \\"flipper_length_mm\\": {:.1f}, '
                '\\"body_mass_g\\": {:.1f}, \\"sex\\": \\"{}\\"}}","encoding":"JSON"}},'
                '"endpointOutput":{{"observedContentType":"application/json","mode":"OUTPUT",'
                '"data":"{{\\"prediction\\": \\"Adelie\\", \\"confidence\\": 0.9}}",'
                '"encoding":"JSON"}}}},"eventMetadata":{{"eventId":"{}","inferenceId":"{}",'
                '"inferenceTime":"{}"}},"eventVersion":"0"}}\n')
    per_file = -(-count // files)
    for number in range(files):
        size = min(per_file, count - number * per_file)
        when = (HOUR + timedelta(seconds=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [template.format(
            rng.choice(ISLANDS), rng.gauss(44.0, 5.0), rng.gauss(17.0, 2.0),
            float(rng.randint(172, 231)), float(rng.randrange(2700, 6300, 25)),
            rng.choice(SEXES), uuid.uuid4(), number * per_file + i, when)
            for i in range(size)]
        (folder / f"{number // 60:02d}-{number % 60:02d}-000-{uuid.uuid4()}.jsonl").write_text(
            "".join(lines))


# A docker stand-in that notes each call in CALLS_FILE, plays the analyzer of a baseline or
# monitoring job the job runner starts (`run`: it reads the volumes, environment and entrypoint
# as the container would see them, writes what the image writes, and ends as the environment
# says: FAKE_ANALYZER_FAILS, FAKE_VIOLATIONS, FAKE_ANALYZER_SECONDS, which it runs unless
# STOP_FILE appears, as SIGTERM would stop it), and whose `stop` leaves STOP_FILE once the
# analyzer runs and fails before, as `docker stop` of no container does. It leaves `running`
# beside STOP_FILE as it starts: a container to stop exists from then on.
FAKE_DOCKER = r"""
import json, os, sys, time
from pathlib import Path

words = sys.argv[1:]
stop, running = Path(os.environ["STOP_FILE"]), Path(os.environ["STOP_FILE"]).with_name("running")
with Path(os.environ["CALLS_FILE"]).open("a") as calls:
    calls.write(" ".join(words) + "\n")
if words[0] == "stop":
    if not running.exists():
        sys.exit(1)
    stop.touch()
if words[0] != "run":
    sys.exit(0)
options = {}
for option, value in zip(words, words[1:]):
    options.setdefault(option, []).append(value)
root = Path(next(v.split(":")[0] for v in options["--volume"] if v.endswith(":/opt/ml")))
env = dict(pair.split("=", 1) for pair in options.get("--env", []))
running.touch()
deadline = time.monotonic() + float(os.environ.get("FAKE_ANALYZER_SECONDS", "0"))
while time.monotonic() < deadline:
    if stop.exists():
        sys.exit(143)
    time.sleep(0.05)
if os.environ.get("FAKE_ANALYZER_FAILS"):
    (root / "output" / "message").write_text("dataset_format is not JSON\n")
    sys.exit(1)
out = root / env["output_path"].removeprefix("/opt/ml/")
if options.get("--entrypoint") == ["baseline"]:
    for name in ("statistics.json", "constraints.json"):
        (out / name).write_text(json.dumps({"version": 0.0, "job": name}))
else:
    found = [{"feature_name": "island", "constraint_check_type": "data_type_check",
              "description": "x"}] * int(os.environ.get("FAKE_VIOLATIONS", "0"))
    (out / "constraint_violations.json").write_text(json.dumps({"violations": found}))
    (out / "statistics.json").write_text("{}")
print("analysed", flush=True)
"""


def fake_analyzer(folder: Path, monkeypatch) -> dict:
    """make's options for jobs run by FAKE_DOCKER (its STOP_FILE and CALLS_FILE set in the
    environment); the compose command only names the project, the default one."""
    script = folder / "docker.py"
    script.write_text(FAKE_DOCKER)
    calls, stop = folder / "docker-calls.txt", folder / "stopped"
    monkeypatch.setenv("STOP_FILE", str(stop))
    monkeypatch.setenv("CALLS_FILE", str(calls))
    return {"compose": "docker-compose", "stop_file": stop, "calls": calls,
            "docker": f"{sys.executable} {script}"}


def filed_baseline(local: Path, analysis: str = "DATA_QUALITY") -> runs.Run:
    """A Completed baseline run of `analysis` whose files each hold {"of": <its run's name>}."""
    run = runs.create(local, "baseline", "penguins", analysis_type=analysis)
    (run.folder / "processing" / "output").mkdir(parents=True)
    for name in baseline.FILES:
        (run.folder / "processing" / "output" / name).write_text(json.dumps({"of": run.name}))
    runs.finish(run, 0)
    return run


ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def inline_request(name: str, baseline: str, reports: str,
                   config: dict | None = None) -> dict:
    """A CreateMonitoringSchedule body with its data-quality job inline, as the SDK's generic
    ModelMonitor sends it: the baseline's statistics.json and constraints.json under the
    `baseline` URI, results to `reports`; NOW over the hour around it unless `config` says."""
    return {
        "MonitoringScheduleName": name,
        "MonitoringScheduleConfig": {
            "ScheduleConfig": config or {"ScheduleExpression": "NOW",
                                         "DataAnalysisStartTime": "-PT1H",
                                         "DataAnalysisEndTime": "PT1H"},
            "MonitoringJobDefinition": {
                "BaselineConfig": {
                    "StatisticsResource": {"S3Uri": f"{baseline}/statistics.json"},
                    "ConstraintsResource": {"S3Uri": f"{baseline}/constraints.json"}},
                "MonitoringInputs": [{"EndpointInput": {
                    "EndpointName": "penguins-endpoint",
                    "LocalPath": "/opt/ml/processing/input/endpoint"}}],
                "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                    "S3Uri": reports, "LocalPath": "/opt/ml/processing/output"}}]},
                "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1,
                                                          "InstanceType": "ml.m5.large"}},
                "MonitoringAppSpecification": {"ImageUri": ANALYZER},
                "Environment": {"team": "ml"},
                "StoppingCondition": {"MaxRuntimeInSeconds": 120}}}}
