"""`python -m pipeline.monitoring.dataquality`: a data-quality monitoring job as a named run, and
the list of monitoring runs.

`run` (`make monitor-data`): the training image's `monitor` entrypoint
(training/monitor/analyzer.py) as a processing job, a monitoring execution's CreateProcessingJob
request (pipeline/monitoring/requests.py) handed to the job runner, over the capture folder
(CAPTURE_DIR, the input at /opt/ml/processing/input/endpoint) for a window (START/END, default
the last hour), against a data-quality baseline: BASELINE_JOB's, else the one the registry
recorded for the version the endpoint serves, else the newest Completed data-quality baseline
run of the workload. One run per production variant with capture in the window
(<endpoint>/<variant>/, only VARIANT's when set; pipeline/monitoring/variants.py), each against
its variant's version's baseline. The baseline's two files are processing inputs, copied into
the run (processing/baseline/), so a run keeps what it compared against; results land in
<local>/monitoring/<run>/processing/resultdata/, with request.json and a DescribeProcessingJob
run.json beside them.

`list` (`make monitoring`): every monitoring run with its violation count, read from whatever
constraint_violations.json the run wrote (data or model quality). Standard library only.
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.api.submit import submit
from pipeline.endpoints import deployments
from pipeline.monitoring import alarms, requests, variants
from pipeline.monitoring import baseline as baselines
from pipeline.monitoring.alarms import VIOLATIONS, violations
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

RESULTS = "processing/resultdata"
BASELINE_FILES = ("statistics.json", "constraints.json")


def when(text: str | None, default: datetime, variable: str) -> datetime:
    if not text:
        return default
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RunError(f"{variable}={text!r} is not an ISO 8601 time, e.g. "
                       "2026-11-23T21:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# analysis_type -> (the registry's name of its baseline (jobs.baselines_of), its words, the
# make target that makes one).
ANALYSES = {"DATA_QUALITY": ("data_quality", "data-quality", "make baseline"),
            "MODEL_QUALITY": ("model_quality", "model-quality", "make model-baseline")}


def served_version(live: dict, variant: str | None):
    """The registered version the live deployment serves (on `variant`, of a config of them)."""
    if "variants" in live:
        return next(item["version"] for item in live["variants"]
                    if item["VariantName"] == variant)
    return live["version"]


def live_variants(args) -> list[str]:
    """The production variants the endpoint serves now; none for one model or none running."""
    try:
        live = deployments.live(deployments.load(args.endpoint_dir)) if args.endpoint_dir \
            else None
    except deployments.HistoryError:
        return []
    return [variant["VariantName"] for variant in (live or {}).get("variants", [])]


def served_baseline(args, analysis: str = "DATA_QUALITY",
                    variant: str | None = None) -> tuple[str, dict] | None:
    """The baseline of `analysis` the registry recorded for the version being served (on
    `variant`, when the endpoint serves several)."""
    if not args.endpoint_dir or not args.registry:
        return None
    try:
        version = served_version(deployments.live(deployments.load(args.endpoint_dir)), variant)
        meta = json.loads((args.registry / str(version) / "metadata.json").read_text())
        files = meta["baselines"][ANALYSES[analysis][0]]
    except (OSError, ValueError, KeyError, TypeError, StopIteration, deployments.HistoryError):
        return None  # nothing served from the registry, or no such baseline recorded for it
    if all(Path(files.get(name.split(".")[0], "")).is_file() for name in BASELINE_FILES):
        return f"registry version {version}", files
    return None


def choose_baseline(args, analysis: str = "DATA_QUALITY",
                    variant: str | None = None) -> tuple[str, dict]:
    """(what it is, {"statistics": path, "constraints": path}) of a baseline of `analysis`:
    BASELINE_JOB's, else the served version's (the variant's), else the newest Completed one
    of the workload."""
    if not args.baseline_job:
        served = served_baseline(args, analysis, variant)
        if served:
            return served
    _, words, target = ANALYSES[analysis]
    candidates = ([runs.take(args.local, "baseline", args.baseline_job, args.workload)]
                  if args.baseline_job else
                  [run for run in runs.runs(args.local, "baseline")
                   if run.status == runs.COMPLETED and run.record.get("workload") == args.workload
                   and run.record.get("analysis_type", "DATA_QUALITY") == analysis])
    if not candidates:
        raise RunError(f"no Completed {words} baseline run of {args.workload} in "
                       f"{args.local / 'baseline'}: run {target} first")
    chosen = candidates[0]
    if chosen.record.get("analysis_type", "DATA_QUALITY") != analysis:
        other = next(w for a, (_, w, _) in ANALYSES.items() if a != analysis)
        raise RunError(f"BASELINE_JOB={chosen.name} is a {other} baseline; name a "
                       f"{words} one ({target})")
    return f"baseline run {chosen.name}", {
        name.split(".")[0]: str(chosen.folder / baselines.OUTPUT / name) for name in BASELINE_FILES}


def window(args) -> tuple[datetime, datetime]:
    """START..END of a monitoring run (default the last hour), or RunError naming them."""
    end = when(args.end, datetime.now(UTC), "END")
    start = when(args.start, end - timedelta(hours=1), "START")
    if start >= end:
        raise RunError(f"START={zulu(start)} is not before END={zulu(end)}")
    return start, end


def check_capture(capture: Path) -> None:
    if not capture.is_dir():
        raise RunError(f"CAPTURE_DIR={capture}: no capture folder yet; serve with capture on "
                       "(make serve) and send traffic (make traffic)")


def analyse(args, analysis: str, start: datetime, end: datetime, baseline: tuple[str, dict], *,
            environment: dict, inputs: dict, outputs: tuple, code: Path | None = None,
            captured: variants.Captured | None = None, name: str | None = None,
            max_runtime: int | None = None, **record) -> int:
    """A monitoring run of `analysis` through the image's one `monitor` entrypoint
    (analysis_type picks the analysis): a CreateProcessingJob request
    (pipeline/monitoring/requests.py) handed to the job runner, with `inputs` (InputName ->
    (folder, LocalPath)), the baseline's files and a record preprocessor script (`code`) as
    processing inputs, so the run keeps copies of both. The run records its `outputs`, the
    violation count, the endpoint and variant it analysed and `record`'s fields. A schedule's
    execution names its job (`name`) and bounds it (`max_runtime`: MaxRuntimeInSeconds)."""
    what, files = baseline
    named = {"endpoint": captured.endpoint, "variant": captured.variant} \
        if captured and captured.variant else {}
    name = name or runs.job_name(args.local, "monitoring", args.workload)
    # A schedule's request may name its own image, entrypoint and environment (executions.py).
    body = requests.monitoring_job(
        name, args.image, args.local / "monitoring" / name, inputs, files,
        {"analysis_type": analysis, **environment, **(getattr(args, "environment", None) or {})},
        getattr(args, "arguments", None) or ["--workload", args.workload], code)
    if getattr(args, "entrypoint", None):
        body["AppSpecification"]["ContainerEntrypoint"] = list(args.entrypoint)
    if max_runtime:
        body["StoppingCondition"]["MaxRuntimeInSeconds"] = max_runtime
    run = submit(args, body, "monitoring", analysis_type=analysis,
                 inputs={**{key: {"path": str(path)} for key, (path, _) in inputs.items()},
                         "baseline": {"from": what, **files}},
                 window={"start": zulu(start), "end": zulu(end)}, **named, **record)
    found = None
    if run.status == runs.COMPLETED:
        found = violations(run)
        run.record["metric"] = {"name": "violations", "value": float(len(found or []))}
        run.record["outputs"] = {name: str(run.folder / RESULTS / name) for name in outputs}
        runs.write_record(run.folder, run.record)
    code = jobrun.report(args, run)
    if code == 0 and found:
        acted = alarms.act(run, found, getattr(args, "on_violation", None),
                           getattr(args, "retrain_command", None))
        args.retrain_command = None  # one retrain, however many variants' runs find violations
        return acted
    return code


def monitor(args) -> int:
    start, end = window(args)
    check_capture(args.capture)
    if args.preprocessor and not args.preprocessor.is_file():
        raise RunError(f"PREPROCESSOR={args.preprocessor}: no such file (a Python file with "
                       "preprocess_handler(inference_record))")
    found = variants.captured(args.capture, start, end, getattr(args, "variant", None))
    # Every baseline first: a variant without one stops the command before any run starts.
    chosen = [(item, choose_baseline(args, variant=item.variant)) for item in found]
    return max(monitor_one(args, item, baseline, start, end) for item, baseline in chosen)


def monitor_one(args, item: variants.Captured, baseline: tuple[str, dict], start: datetime,
                end: datetime, **execution) -> int:
    """One variant's data-quality run (`execution`: a schedule's, analyse)."""
    jobrun.say(f"monitoring {item.folder}{variants.words(item)} from {zulu(start)} to "
               f"{zulu(end)} against {baseline[0]}")
    environment = {"start_time": zulu(start), "end_time": zulu(end)}
    return analyse(args, "DATA_QUALITY", start, end, baseline, environment=environment,
                   inputs={"endpoint": (item.folder, requests.ENDPOINT)},
                   code=getattr(args, "preprocessor", None), captured=item,
                   outputs=("statistics.json", VIOLATIONS, "report.html", "report.png"),
                   **execution)


def table(found: list[runs.Run]) -> str:
    rows = [("NAME", "ANALYSIS", "VARIANT", "STATUS", "WINDOW", "VIOLATIONS", "CHECKS")]
    for run in found:
        listed = violations(run)
        window = run.record.get("window", {})
        checks = sorted({v.get("constraint_check_type", "?") for v in listed or []})
        rows.append((run.name, run.record.get("analysis_type", "-"),
                     run.record.get("variant") or "-", run.status,
                     f"{window.get('start', '-')}..{window.get('end', '-')}" if window else "-",
                     "-" if listed is None else str(len(listed)), ",".join(checks) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def listing(args) -> int:
    found = [run for run in runs.runs(args.local, "monitoring")
             if run.record.get("workload") == args.workload]
    jobrun.say(table(found) if found else f"no monitoring runs of {args.workload} yet in "
               f"{args.local / 'monitoring'} (make monitor-data)")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    top = jobrun.common_arguments(argparse.ArgumentParser(prog="pipeline.monitoring.dataquality",
                                                          description=__doc__.splitlines()[0]))
    top.add_argument("step", choices=("run", "list"))
    top.add_argument("--capture", type=Path, help="CAPTURE_DIR")
    top.add_argument("--start", help="START (ISO 8601; default END - 1 hour)")
    top.add_argument("--end", help="END (ISO 8601; default now)")
    top.add_argument("--baseline-job", help="BASELINE_JOB")
    top.add_argument("--preprocessor", type=Path, help="PREPROCESSOR: a record preprocessor")
    top.add_argument("--variant", help="VARIANT: only this production variant's capture")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--endpoint-dir", type=Path, help="ENDPOINT_DIR")
    alarms.add_arguments(top)
    args = top.parse_args(argv)
    try:
        if args.step == "list":
            return listing(args)
        if args.capture is None:
            raise RunError("--capture (CAPTURE_DIR) is required")
        return monitor(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
