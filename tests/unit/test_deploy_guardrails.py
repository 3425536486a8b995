"""Deployment guardrails and autoscaling in-process: DeploymentConfig as UpdateEndpoint takes
it, the steps of a canary and a linear shift, alarms on the router's metrics, and target
tracking's count and cooldowns."""

import pytest

from pipeline.endpoints import autoscaling, guardrails
from pipeline.endpoints.bluegreen import EndpointError
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


def test_a_sample_sums_its_label_sets_or_takes_one_variant():
    text = ('sagemaker_invocations_total{endpoint="e",variant="v1"} 3\n'
            'sagemaker_invocations_total{endpoint="e",variant="v10"} 4\n'
            'sagemaker_invocations_total_other{endpoint="e",variant="v1"} 9\n')
    assert guardrails.sample(text, "sagemaker_invocations_total") == 7
    assert guardrails.sample(text, "sagemaker_invocations_total", "v1") == 3
    assert guardrails.sample(text, "sagemaker_invocations_total", "v2") == 0


def test_alarms_compare_the_window_sum_or_average_with_their_threshold():
    assert guardrails.statistic("Invocation5XXErrors", BEFORE, AFTER) == 1
    assert guardrails.statistic("ModelLatency", BEFORE, AFTER) == 6000
    assert guardrails.statistic("ModelLatency", AFTER, AFTER) is None
    assert guardrails.fired([alarm("Invocation5XXErrors", 1)], BEFORE, AFTER) is None
    errors = alarm("Invocation5XXErrors", 1, "GreaterThanOrEqualToThreshold")
    assert guardrails.fired([errors], BEFORE, AFTER) == (errors, 1)
    slow = alarm("ModelLatency", 5000)
    assert guardrails.fired([alarm("Invocation4XXErrors", 0), slow], BEFORE, AFTER) == (slow, 6000)


RULE = {"ScalableTarget": {"ResourceId": "endpoint/ep/variant/v1", "MinCapacity": 1,
                           "MaxCapacity": 4},
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 100, "ScaleOutCooldown": 10, "ScaleInCooldown": 60,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}}


@pytest.mark.parametrize("instances, rate, expected", [
    (1, 0, 1), (1, 100, 1), (1, 101, 2), (2, 150, 3), (1, 1000, 4), (4, 10, 1), (3, 50, 2)])
def test_target_tracking_asks_for_the_count_that_meets_the_target(instances, rate, expected):
    rule = autoscaling.policy(RULE, "ep")
    assert autoscaling.desired(rule, instances, rate) == expected


def test_cooldowns_hold_a_change_back():
    rule = autoscaling.policy(RULE, "ep")
    assert autoscaling.cooled(rule, 2, 1, since_change=10)
    assert not autoscaling.cooled(rule, 2, 1, since_change=9)
    assert not autoscaling.cooled(rule, 1, 2, since_change=59)
    assert autoscaling.cooled(rule, 1, 2, since_change=60)
    assert not autoscaling.cooled(rule, 2, 2, since_change=1000)


@pytest.mark.parametrize("change, said", [
    ({"ScalableTarget": {"ResourceId": "endpoint/other/variant/v1", "MinCapacity": 1,
                         "MaxCapacity": 2}},
     "ScalableTarget.ResourceId: 'endpoint/other/variant/v1' is not endpoint/ep/variant/"),
    ({"ScalableTarget": {"ResourceId": "endpoint/ep/variant/v1", "MinCapacity": 3,
                         "MaxCapacity": 2}}, "ScalableTarget.MaxCapacity: 2 is not"),
    ({"ScalableTarget": {"ResourceId": "endpoint/ep/variant/v1", "MinCapacity": 1,
                         "MaxCapacity": 9}}, "at most 8 on this machine"),
    ({"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 5}},
     "PredefinedMetricType: only SageMakerVariantInvocationsPerInstance"),
])
def test_a_scaling_policy_that_cannot_be_used_names_its_field(change, said):
    with pytest.raises(EndpointError) as raised:
        autoscaling.policy({**RULE, **change}, "ep")
    assert said in str(raised.value)
