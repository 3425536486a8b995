"""`make autoscale SCALING_POLICY=file.json`: Application Auto Scaling's target tracking on
SageMakerVariantInvocationsPerInstance, for one variant of the running endpoint.

{"ScalableTarget": {"ResourceId": "endpoint/penguins-endpoint/variant/v1",
   "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
   "MinCapacity": 1, "MaxCapacity": 3},
 "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 600,
   "PredefinedMetricSpecification": {"PredefinedMetricType":
     "SageMakerVariantInvocationsPerInstance"},
   "ScaleOutCooldown": 60, "ScaleInCooldown": 300},
 "PeriodSeconds": 60}

RegisterScalableTarget's and PutScalingPolicy's fields in one file; PeriodSeconds (CloudWatch's
one-minute period by default) is this loop's own. Every period it reads the router's
Invocations for the variant, makes them invocations per instance per minute, and sets the
instance count to ceil(instances x value / TargetValue) within Min and MaxCapacity, no sooner
than a cooldown after the last change; the change is `make weights`' (commands.reshape), so no
request is lost. It runs until stopped (Ctrl-C), or for --seconds.
"""

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path

from pipeline.endpoints import deployments, guardrails, variants
from pipeline.endpoints.bluegreen import Endpoint, EndpointError, endpoint_options, say
from pipeline.endpoints.fleet import reshape
from pipeline.endpoints.served import live_or_fail
from pipeline.endpoints.shifting import Watch

METRIC = "SageMakerVariantInvocationsPerInstance"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def _number(value, where: str, least: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < least:
        raise EndpointError(f"SCALING_POLICY: {where}: {value!r} is not a number of at least "
                            f"{least:g}")
    return float(value)


def policy(config, endpoint_name: str) -> dict:
    """The policy's variant, bounds, target and cooldowns; EndpointError names the field."""
    if not isinstance(config, dict):
        raise EndpointError("SCALING_POLICY: not a JSON object")
    target = config.get("ScalableTarget")
    tracking = config.get("TargetTrackingScalingPolicyConfiguration")
    if not isinstance(target, dict) or not isinstance(tracking, dict):
        raise EndpointError("SCALING_POLICY: give ScalableTarget and "
                            "TargetTrackingScalingPolicyConfiguration objects")
    resource = str(target.get("ResourceId", ""))
    prefix = f"endpoint/{endpoint_name}/variant/"
    if not resource.startswith(prefix) or not resource[len(prefix):]:
        raise EndpointError(f"SCALING_POLICY: ScalableTarget.ResourceId: {resource!r} is not "
                            f"{prefix}<variant>")
    if target.get("ScalableDimension", DIMENSION) != DIMENSION:
        raise EndpointError(f"SCALING_POLICY: ScalableTarget.ScalableDimension: only {DIMENSION}")
    low = _number(target.get("MinCapacity"), "ScalableTarget.MinCapacity", 1)
    high = _number(target.get("MaxCapacity"), "ScalableTarget.MaxCapacity", low)
    if high > variants.MAX_INSTANCES or not (low.is_integer() and high.is_integer()):
        raise EndpointError("SCALING_POLICY: ScalableTarget: Min- and MaxCapacity are whole "
                            f"numbers, at most {variants.MAX_INSTANCES} on this machine")
    kind = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    if kind != METRIC:
        raise EndpointError("SCALING_POLICY: TargetTrackingScalingPolicyConfiguration."
                            f"PredefinedMetricSpecification.PredefinedMetricType: only {METRIC}")
    return {"VariantName": resource[len(prefix):], "MinCapacity": int(low),
            "MaxCapacity": int(high),
            "TargetValue": _number(tracking.get("TargetValue"), "TargetValue", 1e-9),
            "ScaleOutCooldown": _number(tracking.get("ScaleOutCooldown", 300), "ScaleOutCooldown"),
            "ScaleInCooldown": _number(tracking.get("ScaleInCooldown", 300), "ScaleInCooldown"),
            "PeriodSeconds": _number(config.get("PeriodSeconds", 60), "PeriodSeconds", 1)}


def desired(rule: dict, instances: int, per_instance_per_minute: float) -> int:
    """Target tracking: the count that brings the metric to TargetValue, within the bounds."""
    wanted = math.ceil(instances * per_instance_per_minute / rule["TargetValue"] - 1e-9)
    return max(rule["MinCapacity"], min(rule["MaxCapacity"], wanted))


def cooled(rule: dict, wanted: int, instances: int, since_change: float) -> bool:
    if wanted > instances:
        return since_change >= rule["ScaleOutCooldown"]
    return wanted < instances and since_change >= rule["ScaleInCooldown"]


def step(endpoint: Endpoint, rule: dict, wanted: int) -> None:
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        changed = [dict(item, Instances=wanted) if item["VariantName"] == rule["VariantName"]
                   else dict(item) for item in current["variants"]]
        reshape(endpoint, history, current, changed, "autoscale")


def run(endpoint: Endpoint, rule: dict, seconds: float | None) -> None:
    watch = Watch(endpoint)
    name = rule["VariantName"]
    metric = guardrails.METRICS["Invocations"]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    ends = None if seconds is None else time.monotonic() + seconds
    last_change = -math.inf
    before, then = guardrails.sample(watch.scrape(), metric, name), time.monotonic()
    say(f"autoscaling {name} on {METRIC}, target {rule['TargetValue']:g} a minute, "
        f"{rule['MinCapacity']} to {rule['MaxCapacity']} instances")
    while not stopping and (ends is None or time.monotonic() < ends):
        time.sleep(rule["PeriodSeconds"])
        now, at = guardrails.sample(watch.scrape(), metric, name), time.monotonic()
        with deployments.locked(endpoint.folder):
            current = deployments.live(deployments.load(endpoint.folder)) or {}
        counts = {item["VariantName"]: item["Instances"] for item in current.get("variants", [])}
        if name not in counts:
            raise EndpointError(f"the endpoint has no variant {name} any more; stopped")
        rate = (now - before) / counts[name] * 60 / max(at - then, 1e-3)
        before, then = now, at
        wanted = desired(rule, counts[name], rate)
        if cooled(rule, wanted, counts[name], time.monotonic() - last_change):
            way = "out" if wanted > counts[name] else "in"
            say(f"{METRIC} {rate:.0f} a minute against {rule['TargetValue']:g}: scaling {name} "
                f"{way} from {counts[name]} to {wanted}")
            step(endpoint, rule, wanted)
            last_change = time.monotonic()


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="autoscale", description=__doc__.splitlines()[0])
    endpoint_options(cli)
    cli.add_argument("--registry", type=Path, help="unused; make passes it to every command")
    cli.add_argument("--policy", type=Path, required=True, help="SCALING_POLICY")
    cli.add_argument("--seconds", type=float, help="stop after this long")
    args = cli.parse_args(argv)
    endpoint = Endpoint(args)
    try:
        try:
            config = json.loads(args.policy.read_text())
        except (OSError, ValueError) as error:
            raise EndpointError(f"SCALING_POLICY={args.policy}: {error}") from None
        rule = policy(config, endpoint.name)
        with deployments.locked(endpoint.folder):
            current = live_or_fail(endpoint, deployments.load(endpoint.folder))
        if rule["VariantName"] not in {item["VariantName"]
                                       for item in current.get("variants", [])}:
            raise EndpointError(f"SCALING_POLICY: the endpoint has no variant "
                                f"{rule['VariantName']}; serve it with make serve VARIANTS=…")
        run(endpoint, rule, args.seconds)
    except (EndpointError, deployments.HistoryError) as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        say("autoscaling stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
