"""The values of a definition's expressions: `Get` of parameters, execution variables and step
properties (in SageMaker's property paths), `Std:Join` and `Std:JsonGet`.

A step's Arguments are resolved whole before it runs: every expression in them replaced by its
value, the rest kept as written. A path that names nothing says which part is missing and what
is there instead.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# One part of a property path after the step name: .Name, [0] or ['name'] / ["name"].
PART = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(['"])(.*?)\3\]""")
FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")


class ExpressionError(ValueError):
    """An expression that cannot be evaluated, naming the expression."""


@dataclass
class Scope:
    """What expressions can read. `properties(step)` is a finished step's properties;
    `property_file(step, name)` its property file's parsed JSON; `read(uri)` a file's bytes."""
    parameters: dict
    execution: dict
    properties: Callable[[str], dict]
    property_file: Callable[[str, str], object]
    read: Callable[[str], bytes]
    experiment: dict = field(default_factory=dict)


def parts(path: str) -> list:
    """`.A.B['x'][0]` -> ["A", "B", "x", 0]; anything else in the path is an error."""
    found, position = [], 0
    while position < len(path):
        match = PART.match(path, position)
        if not match:
            raise ExpressionError(f"cannot read the property path at {path[position:]!r}")
        name, index, _, key = match.groups()
        found.append(name if name is not None else int(index) if index is not None else key)
        position = match.end()
    return found


def _named(items: list, key: str):
    """SageMaker's `Outputs['train']` on a list: the item whose *Name field is `key`
    (OutputName, ChannelName, MetricName...)."""
    for item in items:
        if isinstance(item, dict) and any(field.endswith("Name") and value == key
                                          for field, value in item.items()):
            return item
    raise KeyError(key)


def walk(value, path: list, where: str):
    for part in path:
        try:
            if isinstance(part, int):
                value = value[part]
            elif isinstance(value, list):
                value = _named(value, part)
            else:
                value = value[part]
        except (KeyError, IndexError, TypeError):
            there = sorted(value) if isinstance(value, dict) else (
                f"{len(value)} items" if isinstance(value, list) else repr(value))
            raise ExpressionError(f"{where}: no {part!r} there (found: {there})") from None
    return value


def text(value) -> str:
    """A value as Std:Join writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def json_get(document, path: str, where: str):
    # Imported here: `definition` runs under the SDK 3 venv, which has no jsonpath-ng.
    from jsonpath_ng.ext import parse as jsonpath

    try:
        matches = jsonpath(path).find(document)
    except Exception as error:  # noqa: BLE001 - the parser raises several types for one mistake
        raise ExpressionError(f"{where}: {path!r} is not a JSON path ({error})") from None
    if not matches:
        raise ExpressionError(f"{where}: nothing at {path!r} in the property file")
    return matches[0].value


class Resolver:
    def __init__(self, scope: Scope, extra_execution: dict | None = None):
        self.scope = scope
        self.execution = {**scope.execution, **(extra_execution or {})}

    def get(self, path: str):
        head, _, rest = path.partition(".")
        if head == "Parameters":
            if rest not in self.scope.parameters:
                raise ExpressionError(f"Get {path}: no such parameter")
            return self.scope.parameters[rest]
        if head == "Execution":
            if rest not in self.execution:
                raise ExpressionError(f"Get {path}: not an execution variable here (known: "
                                      f"{', '.join(sorted(self.execution))})")
            return self.execution[rest]
        if head == "PipelineExperimentConfig":
            if rest not in self.scope.experiment:
                raise ExpressionError(f"Get {path}: no such experiment setting")
            return self.scope.experiment[rest]
        if head == "Steps":
            step, tail = re.match(r"^([A-Za-z0-9\-_]*)(.*)$", rest).groups()
            if not tail:
                raise ExpressionError(f"Get {path}: names a step, not one of its properties")
            return walk(self.scope.properties(step), parts(tail), f"Get {path}")
        raise ExpressionError(f"Get {path}: unknown root {head!r} (Parameters, Execution, "
                              "Steps or PipelineExperimentConfig)")

    def json_get(self, spec: dict):
        where = f"Std:JsonGet {json.dumps(spec)}"
        path = spec.get("Path")
        if not isinstance(path, str):
            raise ExpressionError(f"{where}: Path is missing")
        if "PropertyFile" in spec:
            reference = spec["PropertyFile"]
            got = reference.get("Get", "") if isinstance(reference, dict) else ""
            match = re.match(r"^Steps\.([A-Za-z0-9\-_]+)\.PropertyFiles\.(.+)$", got)
            if not match:
                raise ExpressionError(f"{where}: PropertyFile must be a Get of "
                                      "Steps.<step>.PropertyFiles.<name>")
            document = self.scope.property_file(match.group(1), match.group(2))
        elif "S3Uri" in spec:
            uri = self.resolve(spec["S3Uri"])
            try:
                document = json.loads(self.scope.read(uri))
            except json.JSONDecodeError as error:
                raise ExpressionError(f"{where}: {uri} is not JSON ({error})") from None
        else:
            raise ExpressionError(f"{where}: needs a PropertyFile or an S3Uri")
        return json_get(document, path, where)

    def resolve(self, value):
        """`value` with every expression in it replaced by its value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, body), = value.items()
            if key == "Get":
                return self.get(body)
            if key == "Std:Join":
                values = self.resolve(body.get("Values", []))
                return text(self.resolve(body.get("On", ""))).join(text(v) for v in values)
            if key == "Std:JsonGet":
                return self.json_get(body)
        return {key: self.resolve(item) for key, item in value.items()}
