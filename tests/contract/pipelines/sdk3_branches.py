"""A pipeline written with SDK 3.x (sagemaker.mlops / sagemaker.core): parameters, a condition
on both branches, a Lambda step and a Fail step, so `make sdk-pipeline SDK=3` has a definition
SDK 3.x wrote."""

from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline

score = ParameterFloat(name="Score", default_value=0.8)
threshold = ParameterFloat(name="Threshold", default_value=0.5)
label = ParameterString(name="Label", default_value="sdk3")


def get_pipeline() -> Pipeline:
    fail = FailStep(name="too-low", error_message=Join(on=" ", values=[
        label, "score below", threshold]))
    check = ConditionStep(name="check", conditions=[
        ConditionGreaterThanOrEqualTo(left=score, right=threshold)],
        if_steps=[], else_steps=[fail])
    return Pipeline(name="sdk3-branches", parameters=[score, threshold, label], steps=[check])
