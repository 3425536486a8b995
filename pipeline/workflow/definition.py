"""A pipeline definition read and checked: its parameters, its steps (those inside a condition's
branches too) and the order they may run in.

A step waits for every step it names in DependsOn and every step whose properties it reads
(a `Get` of `Steps.<name>....` anywhere in it), as SageMaker orders them; a step inside a
condition's branch waits for that condition as well. Everything wrong is reported by the step
and field it is in.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# SageMaker's step-name pattern; names carry no dots, so `Steps.<name>.` reads unambiguously.
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9\-_]+)(?:[.\[]|$)")
PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")


class DefinitionError(ValueError):
    """A definition that cannot run, naming the step and field at fault."""


@dataclass
class Step:
    name: str
    type: str
    raw: dict
    depends_on: set = field(default_factory=set)
    branch_of: tuple | None = None  # (condition step name, "IfSteps" | "ElseSteps")

    @property
    def arguments(self):
        return self.raw.get("Arguments", {})


@dataclass
class Definition:
    raw: dict
    parameters: dict  # name -> {"Name", "Type", "DefaultValue"?, "EnumValues"?}
    steps: dict  # name -> Step, in definition order (branch steps after their condition)

    def downstream(self, name: str) -> set:
        """Every step that waits, directly or not, for `name`."""
        found, frontier = set(), [name]
        while frontier:
            current = frontier.pop()
            for step in self.steps.values():
                if current in step.depends_on and step.name not in found:
                    found.add(step.name)
                    frontier.append(step.name)
        return found


def references(value, found: set | None = None) -> set:
    """The step names read by `Get` expressions anywhere in `value`."""
    found = set() if found is None else found
    if isinstance(value, dict):
        got = value.get("Get")
        if isinstance(got, str):
            match = STEP_REFERENCE.match(got)
            if match:
                found.add(match.group(1))
        for item in value.values():
            references(item, found)
    elif isinstance(value, list):
        for item in value:
            references(item, found)
    return found


def parameter_references(value, found: set | None = None) -> set:
    found = set() if found is None else found
    if isinstance(value, dict):
        got = value.get("Get")
        if isinstance(got, str) and got.startswith("Parameters."):
            found.add(got.split(".", 1)[1])
        for item in value.values():
            parameter_references(item, found)
    elif isinstance(value, list):
        for item in value:
            parameter_references(item, found)
    return found


def _flatten(raw_steps, where: str, steps: dict, branch_of=None) -> None:
    if not isinstance(raw_steps, list):
        raise DefinitionError(f"{where}: expected a list of steps, got {type(raw_steps).__name__}")
    for index, raw in enumerate(raw_steps):
        at = f"{where}[{index}]"
        if not isinstance(raw, dict):
            raise DefinitionError(f"{at}: a step must be an object")
        name, kind = raw.get("Name"), raw.get("Type")
        if not isinstance(name, str) or not STEP_NAME.match(name):
            raise DefinitionError(f"{at}.Name: {name!r} is not a step name "
                                  "(1-64 letters, digits, '-' or '_')")
        if not isinstance(kind, str):
            raise DefinitionError(f"step {name}: Type is missing")
        if name in steps:
            raise DefinitionError(f"step {name}: the name is used by two steps")
        depends = raw.get("DependsOn", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise DefinitionError(f"step {name}.DependsOn: expected a list of step names")
        arguments = raw.get("Arguments", {})
        reads = {key: value for key, value in raw.items() if key != "Arguments"}
        if kind == "Condition":
            reads["Conditions"] = arguments.get("Conditions")
        else:
            reads["Arguments"] = arguments
        step = Step(name, kind, raw, set(depends) | references(reads), branch_of)
        if branch_of:
            step.depends_on.add(branch_of[0])
        steps[name] = step
        if kind == "Condition":
            if not isinstance(arguments.get("Conditions"), list):
                raise DefinitionError(f"step {name}.Arguments.Conditions: expected a list")
            for side in ("IfSteps", "ElseSteps"):
                _flatten(arguments.get(side, []), f"step {name}.Arguments.{side}", steps,
                         (name, side))


def _check_order(steps: dict) -> None:
    """No step waits for itself, through any chain (Kahn's algorithm leaves a cycle behind)."""
    waiting = {name: set(step.depends_on) for name, step in steps.items()}
    while True:
        free = [name for name, deps in waiting.items() if not deps]
        if not free:
            break
        for name in free:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(free)
    if waiting:
        raise DefinitionError("steps wait for each other in a circle: "
                              + ", ".join(sorted(waiting)))


def parse(raw: dict) -> Definition:
    if not isinstance(raw, dict) or not isinstance(raw.get("Steps"), list):
        raise DefinitionError("a pipeline definition is an object with a Steps list")
    parameters = {}
    for index, parameter in enumerate(raw.get("Parameters", [])):
        name = parameter.get("Name") if isinstance(parameter, dict) else None
        if not isinstance(name, str):
            raise DefinitionError(f"Parameters[{index}].Name is missing")
        if parameter.get("Type") not in PARAMETER_TYPES:
            raise DefinitionError(f"parameter {name}: Type {parameter.get('Type')!r} is not one "
                                  f"of {', '.join(PARAMETER_TYPES)}")
        if name in parameters:
            raise DefinitionError(f"parameter {name}: declared twice")
        parameters[name] = parameter
    steps: dict = {}
    _flatten(raw["Steps"], "Steps", steps)
    for step in steps.values():
        for other in sorted(step.depends_on):
            if other not in steps:
                raise DefinitionError(f"step {step.name}: reads or depends on step {other!r}, "
                                      "which the definition does not have")
        for used in sorted(parameter_references(step.raw)):
            if used not in parameters:
                raise DefinitionError(f"step {step.name}: uses parameter {used!r}, "
                                      "which the definition does not declare")
    _check_order(steps)
    return Definition(raw, parameters, steps)


def load(path: Path) -> Definition:
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise DefinitionError(f"{path}: not JSON ({error})") from None
    return parse(raw)
