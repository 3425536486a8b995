"""A condition step's conditions, evaluated as SageMaker evaluates them: the list is an AND;
Equals, GreaterThan(OrEqualTo), LessThan(OrEqualTo) compare two values, In looks a value up in
a list, Not negates one condition and Or takes any of several.

Numbers compare as numbers whichever way they were written (a JsonGet gives 0.91, a Float
parameter 0.9, an Integer 1); two strings compare as strings; a number against a string that is
not a number is an error naming the condition, never a silent False.
"""

import json

from pipeline.workflow.expressions import ExpressionError

COMPARISONS = {
    "Equals": lambda left, right: left == right,
    "GreaterThan": lambda left, right: left > right,
    "GreaterThanOrEqualTo": lambda left, right: left >= right,
    "LessThan": lambda left, right: left < right,
    "LessThanOrEqualTo": lambda left, right: left <= right,
}
TYPES = (*COMPARISONS, "In", "Not", "Or")


class ConditionError(ValueError):
    """A condition that cannot be evaluated."""


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def comparable(left, right, where: str):
    """The pair as both numbers or both as written; booleans only against booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        if type(left) is type(right):
            return left, right
        raise ConditionError(f"{where}: cannot compare {left!r} with {right!r}")
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    numbers = _number(left), _number(right)
    if None in numbers:
        raise ConditionError(f"{where}: cannot compare {left!r} with {right!r}")
    return numbers


def evaluate(condition: dict, resolve) -> bool:
    """One condition; `resolve` turns an expression into its value."""
    if not isinstance(condition, dict) or condition.get("Type") not in TYPES:
        kind = condition.get("Type") if isinstance(condition, dict) else condition
        raise ConditionError(f"condition type {kind!r} is not one of {', '.join(TYPES)}")
    kind = condition["Type"]
    where = f"{kind} condition {json.dumps(condition)}"
    try:
        if kind in COMPARISONS:
            if "LeftValue" not in condition or "RightValue" not in condition:
                raise ConditionError(f"{where}: needs LeftValue and RightValue")
            left, right = comparable(resolve(condition["LeftValue"]),
                                     resolve(condition["RightValue"]), where)
            return COMPARISONS[kind](left, right)
        if kind == "In":
            query, values = resolve(condition.get("QueryValue")), condition.get("Values")
            if not isinstance(values, list):
                raise ConditionError(f"{where}: Values must be a list")
            for value in values:
                try:
                    left, right = comparable(query, resolve(value), where)
                except ConditionError:
                    continue  # a value of another type is simply not a match
                if left == right:
                    return True
            return False
        if kind == "Not":
            if "Condition" not in condition:
                raise ConditionError(f"{where}: needs a Condition")
            return not evaluate(condition["Condition"], resolve)
        inner = condition.get("Conditions")
        if not isinstance(inner, list) or not inner:
            raise ConditionError(f"{where}: needs a non-empty Conditions list")
        return any(evaluate(item, resolve) for item in inner)
    except ExpressionError as error:
        raise ConditionError(f"{where}: {error}") from None


def all_hold(conditions: list, resolve) -> bool:
    """A condition step's outcome: every condition in its list holds."""
    return all(evaluate(condition, resolve) for condition in conditions)
