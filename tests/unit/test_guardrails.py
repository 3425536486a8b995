"""Deployment guardrails in-process: DeploymentConfig as UpdateEndpoint takes it, the steps of
a canary and a linear shift, and alarms on the router's metrics."""

import pytest

from pipeline.endpoints import guardrails
from pipeline.endpoints.guardrails import GuardrailError

pytestmark = pytest.mark.pipeline
ROUTING = "BlueGreenUpdatePolicy.TrafficRoutingConfiguration"


def routing(**fields) -> dict:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": fields}}


def percent(value) -> dict:
    return {"Type": "CAPACITY_PERCENT", "Value": value}


@pytest.mark.parametrize("config, expected", [
    ({}, [100.0]),
    (routing(Type="ALL_AT_ONCE"), [100.0]),
    (routing(Type="CANARY", CanarySize=percent(10), WaitIntervalInSeconds=60), [10.0, 100.0]),
    (routing(Type="LINEAR", LinearStepSize=percent(30), WaitIntervalInSeconds=5),
     [30.0, 60.0, 90.0, 100.0]),
    (routing(Type="LINEAR", LinearStepSize=percent(50), WaitIntervalInSeconds=0), [50.0, 100.0]),
])
def test_each_traffic_routing_type_shifts_in_its_steps(config, expected):
    assert guardrails.steps(guardrails.deployment_config(config)) == expected


REFUSED = {
    "unknown-type": (routing(Type="HALF"), f"{ROUTING}.Type: 'HALF' is not one of"),
    "no-size": (routing(Type="CANARY", WaitIntervalInSeconds=1),
                f"{ROUTING}.CanarySize: not a JSON object"),
    "instance-count": (routing(Type="LINEAR", LinearStepSize={"Type": "INSTANCE_COUNT",
                                                              "Value": 1},
                               WaitIntervalInSeconds=1),
                       f"{ROUTING}.LinearStepSize.Type: 'INSTANCE_COUNT'; only CAPACITY_PERCENT"),
    "hundred-percent": (routing(Type="CANARY", CanarySize=percent(100), WaitIntervalInSeconds=1),
                        f"{ROUTING}.CanarySize.Value: 100 is not a percentage"),
    "no-wait": (routing(Type="CANARY", CanarySize=percent(5)),
                f"{ROUTING}.WaitIntervalInSeconds: None is not a whole number"),
    "alarm-metric": ({"AutoRollbackConfiguration": {"Alarms": [
        {"AlarmName": "a", "MetricName": "CPUUtilization", "Threshold": 1}]}},
        "AutoRollbackConfiguration.Alarms[0].MetricName: 'CPUUtilization' is not one of"),
    "alarm-threshold": ({"AutoRollbackConfiguration": {"Alarms": [
        {"AlarmName": "a", "MetricName": "ModelLatency", "Threshold": "high"}]}},
        "AutoRollbackConfiguration.Alarms[0].Threshold: 'high' is not a number"),
    "alarm-operator": ({"AutoRollbackConfiguration": {"Alarms": [
        {"AlarmName": "a", "MetricName": "ModelLatency", "Threshold": 1,
         "ComparisonOperator": ">"}]}},
        "AutoRollbackConfiguration.Alarms[0].ComparisonOperator: '>' is not one of"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_a_deployment_config_that_cannot_be_used_names_its_json_path(name):
    config, said = REFUSED[name]
    with pytest.raises(GuardrailError) as raised:
        guardrails.deployment_config(config)
    assert str(raised.value).startswith(said), str(raised.value)


BEFORE = """sagemaker_invocation_5xx_errors_total{endpoint="e",variant="AllTraffic"} 2
sagemaker_model_latency_microseconds_sum{endpoint="e",variant="AllTraffic"} 10000
sagemaker_model_latency_microseconds_count{endpoint="e",variant="AllTraffic"} 5
"""
AFTER = """sagemaker_invocation_5xx_errors_total{endpoint="e",variant="AllTraffic"} 3
sagemaker_model_latency_microseconds_sum{endpoint="e",variant="AllTraffic"} 40000
sagemaker_model_latency_microseconds_count{endpoint="e",variant="AllTraffic"} 10
"""


def alarm(metric: str, threshold: float, operator="GreaterThanThreshold") -> dict:
    return guardrails.alarm({"AlarmName": metric, "MetricName": metric, "Threshold": threshold,
                             "ComparisonOperator": operator}, "alarm")


def test_alarms_compare_the_window_sum_or_average_with_their_threshold():
    assert guardrails.statistic("Invocation5XXErrors", BEFORE, AFTER) == 1
    assert guardrails.statistic("ModelLatency", BEFORE, AFTER) == 6000
    assert guardrails.statistic("ModelLatency", AFTER, AFTER) is None
    assert guardrails.fired([alarm("Invocation5XXErrors", 1)], BEFORE, AFTER) is None
    errors = alarm("Invocation5XXErrors", 1, "GreaterThanOrEqualToThreshold")
    assert guardrails.fired([errors], BEFORE, AFTER) == (errors, 1)
    slow = alarm("ModelLatency", 5000)
    assert guardrails.fired([alarm("Invocation4XXErrors", 0), slow], BEFORE, AFTER) == (slow, 6000)
