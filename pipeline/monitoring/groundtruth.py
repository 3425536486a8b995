"""`make ground-truth`: ground truth for captured requests, as SageMaker's merger reads it.

One line a request: {"groundTruthData": {"data": "<label>", "encoding": "CSV"}, "eventMetadata":
{"eventId": "<the captured inferenceId, else eventId>"}, "eventVersion": "0"}, in one file of
the hour it is written (labels arrive after the requests, as on S3):
`<out>/yyyy/mm/dd/hh/<mm-ss-mmm>-<source>.jsonl` (UTC), written whole under a hidden name and
renamed, so a monitor never reads half of it.

The labels, by inference id:
- default: the true labels `make traffic` recorded in its newest run's sent.jsonl (TRAFFIC_RUN
  names another);
- WRONG=1: the same requests, each labelled with another class than its true one (the next
  of the classes seen, in sorted order), to see the accuracy violation;
- RANDOM=1: every captured request in CAPTURE_DIR, a label drawn with the request's id as the
  seed (the same id always gets the same label), from the classes the endpoint's answers name
  (their "probabilities"), as the program's generator does.
Standard library only.
"""

import argparse
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from pipeline.runs import files
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

SENT = "sent.jsonl"  # pipeline/monitoring/traffic.py's record of what it sent


def line(event_id: str, labels: list[str]) -> str:
    return json.dumps({"groundTruthData": {"data": "\n".join(labels), "encoding": "CSV"},
                       "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})


def sent_labels(folder: Path) -> list[tuple[str, str]]:
    """(inferenceId, true label) of every request a traffic run sent."""
    path = folder / SENT
    found = []
    try:
        text = path.read_text()
    except OSError as error:
        raise RunError(f"{path}: cannot read it ({error}); run make traffic again") from None
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        try:
            record = json.loads(row)
            found.append((str(record["inferenceId"]), str(record["label"])))
        except (ValueError, KeyError, TypeError):
            raise RunError(f"{path} line {number}: not {{\"inferenceId\", \"label\", ...}}; "
                           "run make traffic again") from None
    if not found:
        raise RunError(f"{path}: no request was sent; run make traffic")
    return found


def wrong(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each request labelled with the class after its true one (sorted), never its own."""
    classes = sorted({label for _, label in pairs})
    if len(classes) < 2:
        raise RunError(f"WRONG=1 needs two classes among the labels sent; all are {classes}")
    return [(key, classes[(classes.index(label) + 1) % len(classes)]) for key, label in pairs]


def answers(output: dict) -> list:
    """The records of a captured JSON answer: an object, a list or {"predictions": [...]}."""
    try:
        body = json.loads(output.get("data", ""))
    except (TypeError, ValueError):
        return []
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        return body["predictions"]
    return body if isinstance(body, list) else [body]


def captured(capture: Path) -> tuple[list[tuple[str, int]], set]:
    """(key, records) of every captured request, and the classes its answers name."""
    if not capture.is_dir():
        raise RunError(f"CAPTURE_DIR={capture}: no capture folder; serve (make serve) and send "
                       "traffic (make traffic) first")
    found, classes = [], set()
    for path in sorted(capture.rglob("*.jsonl")):
        if path.name.startswith("."):
            continue  # a capture writer's file not yet complete
        for row in path.read_text().splitlines():
            try:
                record = json.loads(row)
                metadata = record["eventMetadata"]
                output = record["captureData"].get("endpointOutput", {})
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a capture record: the monitor skips it the same way
            results = answers(output) if output.get("encoding") == "JSON" else [None]
            for result in results:
                if isinstance(result, dict):
                    classes.update(result.get("probabilities") or {})
                    if "prediction" in result:
                        classes.add(str(result["prediction"]))
            found.append((str(metadata.get("inferenceId") or metadata["eventId"]),
                          max(len(results), 1)))
    if not found:
        raise RunError(f"CAPTURE_DIR={capture}: no captured request; send traffic (make traffic)")
    return found, classes


def write(out: Path, source: str, rows: list[str]) -> Path:
    now = datetime.now(UTC)
    folder = out / now.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{source}.jsonl"
    files.write_whole(folder / name, "\n".join(rows) + "\n")
    return folder / name


def ground_truth(args) -> int:
    if args.random and args.wrong:
        raise RunError("RANDOM=1 and WRONG=1 are two different sources; choose one")
    if args.random:
        requests, classes = captured(args.capture)
        if not classes:
            raise RunError(f"CAPTURE_DIR={args.capture}: no answer names its classes (JSON "
                           "answers with \"prediction\"/\"probabilities\"); RANDOM=1 needs them")
        ordered = sorted(classes)
        rows = [line(key, [random.Random(f"{key}/{n}").choice(ordered) for n in range(count)])
                for key, count in requests]
        source, what = "random", f"random labels from {', '.join(ordered)}"
    else:
        traffic = runs.take(args.local, "traffic", args.traffic_run, args.workload)
        pairs = sent_labels(traffic.folder)
        if args.wrong:
            pairs = wrong(pairs)
        rows = [line(key, [label]) for key, label in pairs]
        source = traffic.name + ("-wrong" if args.wrong else "")
        what = f"{'wrong' if args.wrong else 'true'} labels of traffic run {traffic.name}"
    path = write(args.out, source, rows)
    print(f"ground truth for {len(rows)} requests ({what}): {path}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="pipeline.monitoring.groundtruth",
                                  description=__doc__.splitlines()[0])
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--out", type=Path, help="GROUND_TRUTH_DIR (default "
                     "LOCAL_DIR/ground-truth/WORKLOAD)")
    top.add_argument("--capture", type=Path, help="CAPTURE_DIR, for --random")
    top.add_argument("--traffic-run", help="TRAFFIC_RUN (default: the newest Completed)")
    top.add_argument("--random", action="store_true", help="RANDOM=1")
    top.add_argument("--wrong", action="store_true", help="WRONG=1")
    args = top.parse_args(argv)
    args.out = args.out or args.local / "ground-truth" / args.workload
    args.capture = args.capture or args.local / "capture" / args.workload
    try:
        return ground_truth(args)
    except RunError as error:
        print(f"ground-truth: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
