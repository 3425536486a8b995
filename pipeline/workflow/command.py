"""`python -m pipeline.workflow.command run|definition|list|show`: a SageMaker Pipeline run here.

`run PIPELINE` takes a Python file whose module-level get_pipeline() returns an SDK Pipeline
(imported with the SDK of the python that runs this), a definition .json, or a CreatePipeline
request .json (PipelineName, PipelineDefinition), and runs it with
`--parameter Name=Value` overrides; `definition` prints the JSON SageMaker would receive;
`list` shows the executions (`make executions`); `show` one execution's steps.
"""

import argparse
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path

from pipeline.workflow import definition as definitions
from pipeline.workflow import records, sdk

LAMBDAS = Path(__file__).with_name("lambdas.json")


def load(path: Path, name: str | None = None) -> tuple[str, dict]:
    """(pipeline name, definition) of a get_pipeline() file or a definition.json."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"PIPELINE={path}: no such file (a .py with get_pipeline() or a "
                         "definition .json)")
    if path.suffix == ".json":
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        if isinstance(raw, dict) and "PipelineDefinition" in raw:  # CreatePipeline's request
            body = raw["PipelineDefinition"]
            return name or raw.get("PipelineName") or path.stem, \
                json.loads(body) if isinstance(body, str) else body
        return name or path.stem, raw
    sdk.prepare()
    spec = importlib.util.spec_from_file_location(f"_pipeline_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    # SDK 2.x warns of its own deprecation on every class it builds a step with.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent.resolve()))
        if not callable(getattr(module, "get_pipeline", None)):
            raise ValueError(f"{path}: has no module-level get_pipeline() returning a Pipeline")
        pipeline = module.get_pipeline()
        return name or pipeline.name, json.loads(pipeline.definition())


def overrides(pairs: list[str]) -> dict:
    found = {}
    for pair in pairs:
        for item in pair.split():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"parameter {item!r}: write Name=Value")
            found[key] = value
    return found


def upload(pair: str) -> None:
    """FOLDER=s3://bucket/prefix: the folder's files put under the prefix before the run (the
    pipeline's input data), unless the prefix already holds objects."""
    from pipeline.s3 import transfer

    folder, sep, uri = pair.partition("=")
    if not sep or not Path(folder).is_dir():
        raise ValueError(f"--upload {pair!r}: write FOLDER=s3://bucket/prefix with a folder "
                         "that exists")
    s3 = transfer.client()
    bucket, prefix = transfer.split(uri)
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - botocore's ClientError: the bucket is not there yet
        s3.create_bucket(Bucket=bucket)
    if s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
        return
    sent = transfer.upload_folder(s3, Path(folder), uri)
    print(f"uploaded {len(sent)} file(s) from {folder} to {uri}", flush=True)


def run(args) -> int:
    from pipeline.api import objects as storage
    from pipeline.workflow import lambdas, steps
    from pipeline.workflow.executor import Executor

    for pair in args.upload:
        upload(pair)
    name, raw = load(args.pipeline, args.name)
    # The SDK turns its loggers (and botocore's) to INFO; the run's own lines are what counts.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    parsed = definitions.parse(raw)
    runners = steps.runners(args)
    runners["Lambda"] = lambdas.runner(Path(args.lambdas))
    executor = Executor(parsed, runners, args.local, name, overrides(args.parameter),
                        parallel=args.parallel, read=storage.read,
                        report=lambda line: print(line, flush=True))
    execution = executor.run()
    return 0 if execution.record["PipelineExecutionStatus"] == "Succeeded" else 1


def show_definition(args) -> int:
    """The definition JSON, printed or written to --out; --request writes CreatePipeline's
    request (PipelineName and PipelineDefinition), how make hands an SDK 3.x definition to the
    executor."""
    name, raw = load(args.pipeline, args.name)
    definitions.parse(raw)
    text = json.dumps({"PipelineName": name, "PipelineDefinition": raw} if args.request
                      else raw, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0


def seconds(record: dict) -> str:
    start, end = record.get("StartTime") or record.get("CreationTime"), \
        record.get("EndTime") or record.get("LastModifiedTime")
    if not start or not end:
        return "-"
    return f"{(records.parse_time(end) - records.parse_time(start)).total_seconds():.1f}s"


def listing(args) -> int:
    found = records.executions(args.local)
    if not found:
        print(f"no pipeline executions in {Path(args.local) / records.EXECUTIONS}")
    for record in found:
        counts = {}
        for step in record["Steps"]:
            counts[step["StepStatus"]] = counts.get(step["StepStatus"], 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        print(f"{Path(record['Folder']).name:40} {record['PipelineExecutionStatus']:10} "
              f"{record['CreationTime']}  {seconds(record):>8}  {summary}"
              + (f"  ({record['FailureReason']})" if record.get("FailureReason") else ""))
    return 0


def show(args) -> int:
    folder = Path(args.local) / records.EXECUTIONS / args.execution
    matches = [folder] if folder.is_dir() else sorted(
        (Path(args.local) / records.EXECUTIONS).glob(f"*-{args.execution}"))
    if not matches:
        raise ValueError(f"EXECUTION={args.execution}: no such execution (make executions)")
    print((matches[0] / records.STEPS).read_text(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m pipeline.workflow.command")
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    commands = top.add_subparsers(dest="command", required=True)
    for command in ("run", "definition"):
        sub = commands.add_parser(command)
        sub.add_argument("pipeline", type=Path)
        sub.add_argument("--name", help="the pipeline's name (default: the Pipeline's own, or "
                                        "the definition file's stem)")
        if command == "definition":
            sub.add_argument("--out", type=Path)
            sub.add_argument("--request", action="store_true")
        if command == "run":
            sub.add_argument("--parameter", action="append", default=[],
                             help="Name=Value (several, space-separated, or repeated)")
            sub.add_argument("--parallel", type=int, default=2)
            sub.add_argument("--lambdas", default=str(LAMBDAS))
            sub.add_argument("--docker", default="docker")
            sub.add_argument("--project", default="penguins", help="COMPOSE_PROJECT")
            sub.add_argument("--upload", action="append", default=[],
                             help="FOLDER=s3://bucket/prefix, uploaded first when empty there")
    commands.add_parser("list")
    sub = commands.add_parser("show")
    sub.add_argument("execution", help="the folder name or the execution id")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    action = {"run": run, "definition": show_definition, "list": listing, "show": show}
    try:
        return action[args.command](args)
    except (ValueError, definitions.DefinitionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
