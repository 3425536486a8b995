"""Lambda steps, run here: a function ARN maps to a local Python handler.

The mapping is a JSON object (pipeline/workflow/lambdas.json, or the file LAMBDAS= names) whose
keys are a whole function ARN or just the function's name, and whose values are
`package.module:function` or `path/to/file.py:function`. The handler is called as Lambda calls
it, `handler(event, context)`, with the step's resolved Arguments as the event; the step's
OutputParameters are read from the dict it returns, each cast to its OutputType.
"""

import importlib
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

from pipeline.workflow.executor import StepFailed, StepResult

MAPPING = Path(__file__).with_name("lambdas.json")
CASTS = {"String": str, "Integer": int, "Float": float,
         "Boolean": lambda value: value if isinstance(value, bool) else
         str(value).lower() == "true"}


def function_name(arn: str) -> str:
    """arn:aws:lambda:region:account:function:name[:alias] -> name (a bare name stays)."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn


def load_mapping(path: Path) -> dict:
    try:
        mapping = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Lambda mapping {path}: {error}") from None
    if isinstance(mapping, dict):  # keys starting with _ are comments
        mapping = {key: value for key, value in mapping.items() if not key.startswith("_")}
    if not isinstance(mapping, dict) or not all(
            isinstance(value, str) and ":" in value for value in mapping.values()):
        raise ValueError(f"Lambda mapping {path}: expected an object of "
                         '"function ARN or name": "module:function" entries')
    return mapping


def handler_of(target: str):
    where, _, attribute = target.rpartition(":")
    if where.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(where).stem, where)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    return getattr(module, attribute)


def runner(mapping_path: Path = MAPPING):
    mapping = load_mapping(mapping_path)

    def run(request) -> StepResult:
        arn = request.step.get("FunctionArn", "")
        target = mapping.get(arn) or mapping.get(function_name(arn))
        if target is None:
            raise StepFailed(f"Lambda {arn}: no local handler in {mapping_path} (it maps: "
                             f"{', '.join(sorted(mapping)) or 'nothing'})")
        context = SimpleNamespace(function_name=function_name(arn), invoked_function_arn=arn,
                                  aws_request_id=request.job_name)
        try:
            answer = handler_of(target)(request.arguments, context)
        except Exception as error:  # noqa: BLE001 - the handler's error is the step's reason
            raise StepFailed(f"Lambda {function_name(arn)} ({target}) failed: "
                             f"{type(error).__name__}: {error}") from error
        outputs = {}
        for spec in request.step.get("OutputParameters", []):
            name, kind = spec["OutputName"], spec.get("OutputType", "String")
            if not isinstance(answer, dict) or name not in answer:
                raise StepFailed(f"Lambda {function_name(arn)}: its answer has no output "
                                 f"{name!r} (it returned {json.dumps(answer, default=str)[:200]})")
            outputs[name] = CASTS[kind](answer[name])
        return StepResult({"OutputParameters": outputs}, {"Lambda": {
            "Arn": arn, "OutputParameters": [{"Name": name, "Value": str(value)}
                                             for name, value in outputs.items()]}})

    return run
