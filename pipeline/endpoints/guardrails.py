"""Deployment guardrails: UpdateEndpoint's DeploymentConfig, as `make deploy
DEPLOYMENT_CONFIG=file.json` takes it, and the alarms that roll a deploy back.

{"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "CANARY",
   "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 60}},
 "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors",
   "MetricName": "Invocation5XXErrors", "ComparisonOperator": "GreaterThanThreshold",
   "Threshold": 0}]}}

Type ALL_AT_ONCE (the default), CANARY (CanarySize of the traffic for WaitIntervalInSeconds, then
the rest) or LINEAR (LinearStepSize more at each step, WaitIntervalInSeconds each). SageMaker's
alarms are CloudWatch alarms named in AutoRollbackConfiguration; here each is defined inline
with PutMetricAlarm's fields, on the endpoint's metrics (serving/metrics.py) over the step so
far: Sum for the counts, Average for the latencies (µs). Pure functions, standard library only.
"""

import math

TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
METRICS = {"Invocations": "sagemaker_invocations_total",
           "Invocation4XXErrors": "sagemaker_invocation_4xx_errors_total",
           "Invocation5XXErrors": "sagemaker_invocation_5xx_errors_total",
           "ModelLatency": "sagemaker_model_latency_microseconds",
           "OverheadLatency": "sagemaker_overhead_latency_microseconds"}
OPERATORS = {"GreaterThanThreshold": float.__gt__, "GreaterThanOrEqualToThreshold": float.__ge__,
             "LessThanThreshold": float.__lt__, "LessThanOrEqualToThreshold": float.__le__}
MAX_WAIT_SECONDS = 3600  # SageMaker's bound on WaitIntervalInSeconds


class GuardrailError(ValueError):
    """A deployment config that cannot be used, naming its JSON path."""


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise GuardrailError(f"{where}: not a JSON object")
    return value


def _percent(value, where: str) -> float:
    size = _object(value, where)
    if size.get("Type") != "CAPACITY_PERCENT":
        raise GuardrailError(f"{where}.Type: {size.get('Type')!r}; only CAPACITY_PERCENT here "
                             "(an instance count has one instance per colour to count)")
    number = size.get("Value")
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < 100:
        raise GuardrailError(f"{where}.Value: {number!r} is not a percentage above 0 and below "
                             "100")
    return float(number)


def deployment_config(config) -> dict:
    """{"type", "size" (percent), "wait" (seconds), "alarms": [...]} of a DeploymentConfig."""
    config = _object(config, "DeploymentConfig")
    policy = _object(config.get("BlueGreenUpdatePolicy", {}), "BlueGreenUpdatePolicy")
    routing = _object(policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE"}),
                      "BlueGreenUpdatePolicy.TrafficRoutingConfiguration")
    where = "BlueGreenUpdatePolicy.TrafficRoutingConfiguration"
    kind = routing.get("Type")
    if kind not in TYPES:
        raise GuardrailError(f"{where}.Type: {kind!r} is not one of {', '.join(TYPES)}")
    found = {"type": kind, "size": 100.0, "wait": 0.0, "alarms": []}
    if kind != "ALL_AT_ONCE":
        field = "CanarySize" if kind == "CANARY" else "LinearStepSize"
        found["size"] = _percent(routing.get(field), f"{where}.{field}")
        wait = routing.get("WaitIntervalInSeconds")
        if isinstance(wait, bool) or not isinstance(wait, int) or \
                not 0 <= wait <= MAX_WAIT_SECONDS:
            raise GuardrailError(f"{where}.WaitIntervalInSeconds: {wait!r} is not a whole "
                                 f"number of seconds from 0 to {MAX_WAIT_SECONDS}")
        found["wait"] = float(wait)
    rollback = _object(config.get("AutoRollbackConfiguration", {}), "AutoRollbackConfiguration")
    alarms = rollback.get("Alarms", [])
    if not isinstance(alarms, list):
        raise GuardrailError("AutoRollbackConfiguration.Alarms: not a list")
    found["alarms"] = [alarm(item, f"AutoRollbackConfiguration.Alarms[{index}]")
                       for index, item in enumerate(alarms)]
    return found


def alarm(item, where: str) -> dict:
    item = _object(item, where)
    name = item.get("AlarmName")
    if not isinstance(name, str) or not name:
        raise GuardrailError(f"{where}.AlarmName: give the alarm a name")
    metric = item.get("MetricName")
    if metric not in METRICS:
        raise GuardrailError(f"{where}.MetricName: {metric!r} is not one of "
                             f"{', '.join(METRICS)}")
    operator = item.get("ComparisonOperator", "GreaterThanThreshold")
    if operator not in OPERATORS:
        raise GuardrailError(f"{where}.ComparisonOperator: {operator!r} is not one of "
                             f"{', '.join(OPERATORS)}")
    threshold = item.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not math.isfinite(threshold):
        raise GuardrailError(f"{where}.Threshold: {threshold!r} is not a number")
    return {"AlarmName": name, "MetricName": metric, "ComparisonOperator": operator,
            "Threshold": float(threshold)}


def steps(config: dict) -> list[float]:
    """The new colour's share of the traffic at each step, in percent, ending at 100."""
    if config["type"] == "ALL_AT_ONCE":
        return [100.0]
    if config["type"] == "CANARY":
        return [config["size"], 100.0]
    count = math.ceil(100 / config["size"])
    return [min(100.0, config["size"] * step) for step in range(1, count + 1)]


def sample(text: str, name: str, variant: str | None = None) -> float:
    """The sum of one Prometheus sample name over its label sets (one variant's only, if
    given)."""
    total = 0.0
    label = f'variant="{variant}"'
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        metric, _, labels = head.partition("{")
        if metric == name and (variant is None or label in labels.rstrip("}").split(",")):
            total += float(value)
    return total


def statistic(metric: str, before: str, now: str, variant: str | None = None) -> float | None:
    """The alarm's statistic over the window between two scrapes (one variant's, if given):
    Sum for a count, Average for a latency (None with no request in the window)."""
    name = METRICS[metric]
    if metric.endswith("Latency"):
        count = sample(now, f"{name}_count", variant) - sample(before, f"{name}_count", variant)
        total = sample(now, f"{name}_sum", variant) - sample(before, f"{name}_sum", variant)
        return total / count if count else None
    return sample(now, name, variant) - sample(before, name, variant)


def fired(alarms: list[dict], before: str, now: str,
          variant: str | None = None) -> tuple[dict, float] | None:
    """The first alarm whose statistic (one variant's, if given) breaches its threshold, with
    the value."""
    for item in alarms:
        value = statistic(item["MetricName"], before, now, variant)
        if value is not None and OPERATORS[item["ComparisonOperator"]](value, item["Threshold"]):
            return item, value
    return None
