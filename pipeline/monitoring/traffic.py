"""`make traffic`: real requests from a processing run's test split to the running endpoint.

Each request carries X-Amzn-SageMaker-Inference-Id, so the endpoint's Data Capture keeps it
and ground truth can be joined later (make ground-truth). A run of kind "traffic"
(LOCAL_DIR/traffic/<run>/) records what it sent in `sent.jsonl`, one line a request:
{"inferenceId": ..., "label": <the record's true label>, "time": <ISO UTC>}.
The records are built for any workload from the run's own files: the raw test rows with their
header (processing/baseline/test-baseline.csv) keyed by column, else the headerless test split
(label first) poured into the shape of pipeline/sample.json's one field (Digits' "pixels").
SHIFT="feature=+amount,feature=*factor" moves numbers to make drift; a nested list (an image)
is shifted value by value. Standard library only: make runs it with the host's python3.
"""

import argparse
import csv
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from pipeline.runs import records as runs
from pipeline.runs.records import RunError

INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
SENT = "sent.jsonl"
TIMEOUT_SECONDS = 70  # the endpoint's own limit is 60 s


def say(message: str) -> None:
    print(message, flush=True)


def shifts(text: str | None) -> dict:
    """SHIFT as {feature: (operator, number)}, or RunError naming the entry."""
    found = {}
    for entry in (part.strip() for part in (text or "").split(",") if part.strip()):
        name, _, change = entry.partition("=")
        operator, number = change[:1], change[1:]
        try:
            value = float(number)
        except ValueError:
            value = None
        if not name.strip() or operator not in "+-*" or not operator or value is None:
            raise RunError(f"SHIFT entry {entry!r}: write feature=+amount, feature=-amount or "
                           "feature=*factor, e.g. SHIFT=\"bill_length_mm=+10,body_mass_g=*1.2\"")
        found[name.strip()] = (operator, value)
    return found


def shifted(value, operator: str, number: float, label: str):
    if isinstance(value, list):
        return [shifted(item, operator, number, label) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RunError(f"SHIFT {label}: the feature holds {value!r}, not a number")
    return value * number if operator == "*" else value + (number if operator == "+" else -number)


def typed(text: str, like):
    """A CSV cell as the sample record has that field: text stays text, else a number."""
    if text == "":
        return None
    if isinstance(like, str):
        return text
    number = float(text)
    return int(number) if number.is_integer() and isinstance(like, int) else number


def poured(values: list, like):
    """Flat values in the nested shape of `like` (a list of lists of ... numbers)."""
    if not isinstance(like, list):
        return values.pop(0)
    return [poured(values, item) for item in like]


def size(like) -> int:
    return sum(size(item) for item in like) if isinstance(like, list) else 1


def test_records(source: runs.Run) -> list[tuple[str, dict]]:
    """(label, request record) of every test row of a processing run."""
    folder = source.folder / "processing"
    sample_path = folder / "pipeline" / "sample.json"
    try:
        sample = json.loads(sample_path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{sample_path}: cannot read the request sample ({error}); run make "
                       "process again") from None
    baseline = folder / "baseline" / "test-baseline.csv"
    if baseline.is_file():  # raw fields, a header, the label first
        with baseline.open(newline="") as file:
            header, *rows = list(csv.reader(file))
        if set(sample) <= set(header[1:]):
            return [(row[0], {name: typed(cell, sample.get(name)) for name, cell in
                              zip(header[1:], row[1:], strict=True)}) for row in rows if row]
    name, like = next(iter(sample.items())) if len(sample) == 1 else (None, None)
    if not isinstance(like, list):
        raise RunError(f"{folder}: no baseline/test-baseline.csv, and {sample_path} is not one "
                       "field holding a list; cannot build requests from this test split")
    found = []
    for path in sorted((folder / "test").glob("*.csv")):
        with path.open(newline="") as file:
            for number, row in enumerate(csv.reader(file), start=1):
                if len(row) != size(like) + 1:
                    raise RunError(f"{path} line {number}: {len(row)} values; expected the "
                                   f"label and {size(like)} for {name}")
                found.append((row[0], {name: poured([float(v) for v in row[1:]], like)}))
    return found


def apply(record: dict, changes: dict) -> dict:
    for name, (operator, number) in changes.items():
        if name not in record:
            raise RunError(f"SHIFT {name}: no such feature; the requests have "
                           f"{', '.join(record)}")
        if record[name] is not None:
            record[name] = shifted(record[name], operator, number, name)
    return record


def call(url: str, body: bytes | None, headers: dict) -> None:
    """One request; RunError in words when nothing listens or the endpoint refuses it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    method = "GET" if body is None else "POST"
    try:
        with opener.open(urllib.request.Request(url, data=body, method=method, headers=headers),
                         timeout=TIMEOUT_SECONDS) as reply:
            reply.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace").strip()
        what = headers.get(INFERENCE_ID, url)
        raise RunError(f"{method} {what} was answered {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RunError(f"no endpoint answers on {url} ({reason}); start one with make "
                       "serve") from None


def zulu(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def traffic(args) -> int:
    changes = shifts(args.shift)
    if args.count < 1:
        raise RunError(f"N={args.count}: send at least one request")
    source = runs.take(args.local, "processing", args.processing_job, args.workload)
    records = test_records(source)
    if not records:
        raise RunError(f"processing run {source.name} has no test records")
    url = f"http://localhost:{args.port}/invocations"
    chosen = [records[number % len(records)] for number in range(args.count)]
    requests = [(label, json.dumps(apply(dict(record), changes)).encode())
                for label, record in chosen]
    call(f"http://localhost:{args.port}/ping", None, {})  # before a run is recorded
    run = runs.create(args.local, "traffic", args.workload,
                      inputs={"test": {"run": source.name}}, requests=args.count,
                      shift=args.shift or None, port=args.port)
    log = run.folder / runs.LOGS
    say(f"traffic run {run.name}: {args.count} test records of {source.name} to {url}"
        + (f", shifted {args.shift}" if args.shift else ""))
    started = time.monotonic()
    try:
        with (run.folder / SENT).open("w") as sent:
            for number, (label, body) in enumerate(requests):
                inference_id = f"{run.name}-{number}"
                moment = datetime.now(UTC)
                call(url, body, {"Content-Type": "application/json",
                                 "Accept": "application/json", INFERENCE_ID: inference_id})
                sent.write(json.dumps({"inferenceId": inference_id, "label": label,
                                       "time": zulu(moment)}) + "\n")
    except RunError as error:
        (run.folder / "output").mkdir(exist_ok=True)
        (run.folder / "output" / "message").write_text(f"{error}\n")
        log.write_text(f"{error}\n")
        runs.finish(run, 1)
        raise
    seconds = time.monotonic() - started
    log.write_text(f"sent {args.count} requests to {url} in {seconds:.1f}s\n")
    runs.finish(run, 0)
    runs.prune(args.local, "traffic", args.keep, args.workload)
    say(f"sent {args.count} requests in {seconds:.1f}s; the inference ids and true labels are "
        f"in {run.folder / SENT}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.monitoring.traffic",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--port", type=int, required=True, help="ENDPOINT_PORT")
    top.add_argument("--count", type=int, default=100, help="N: how many requests")
    top.add_argument("--shift", help="SHIFT: feature=+amount,feature=*factor")
    top.add_argument("--processing-job", help="PROCESSING_JOB (default: the newest Completed)")
    top.add_argument("--keep", type=int, default=20, help="KEEP_RUNS")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return traffic(args)
    except RunError as error:
        print(f"traffic: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
