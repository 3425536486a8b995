"""A pipeline of every step type the executor runs, over a tiny image that is not ours, built
with SDK 2.x: prepare (Processing, cached) -> train (Training) and tune (Tuning, 2 trials) ->
evaluate the best trial (property file) -> check (Condition) -> register (ModelStep register),
create (ModelStep create), notify (Lambda) | else fail (Fail)."""

import os
from pathlib import Path

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.lambda_helper import Lambda
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TuningStep

HERE = Path(__file__).resolve().parent
IMAGE = os.environ["TINY_IMAGE"]
BUCKET = os.environ.get("PIPELINE_BUCKET", "tiny")
ROLE = "arn:aws:iam::000000000000:role/tiny"
TYPE = "ml.m5.large"

threshold = ParameterFloat(name="Threshold", default_value=0.5)
data = ParameterString(name="Data", default_value=f"s3://{BUCKET}/data")
prepare_arguments = ParameterString(name="PrepareArgument", default_value="--ok")


def get_pipeline() -> Pipeline:
    session = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"),
                              default_bucket=BUCKET)
    processor = ScriptProcessor(image_uri=IMAGE, command=["python3"], role=ROLE,
                                instance_count=1, instance_type=TYPE, sagemaker_session=session)
    prepare = ProcessingStep(name="prepare", step_args=processor.run(
        code=str(HERE / "prepare.py"), arguments=[prepare_arguments],
        inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")]),
        cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"))
    channel = {"train": TrainingInput(
        prepare.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)}
    metric = [{"Name": "accuracy", "Regex": "accuracy=([0-9\\.]+)"}]
    estimator = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type=TYPE,
                          output_path=f"s3://{BUCKET}/models", metric_definitions=metric,
                          hyperparameters={"accuracy": "0.8"}, sagemaker_session=session)
    train = TrainingStep(name="train", step_args=estimator.fit(channel))
    tuner = HyperparameterTuner(estimator, objective_metric_name="accuracy",
                                metric_definitions=metric,
                                hyperparameter_ranges={"bonus": ContinuousParameter(0, 0.1)},
                                max_jobs=2, max_parallel_jobs=2)
    tune = TuningStep(name="tune", step_args=tuner.fit(channel))
    best = tune.get_top_model_s3_uri(top_k=0, s3_bucket=BUCKET, prefix="models")
    report = PropertyFile(name="report", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="evaluate", step_args=processor.run(
        code=str(HERE / "evaluate.py"),
        inputs=[ProcessingInput(source=best, destination="/opt/ml/processing/model")],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")]),
        property_files=[report])
    evaluation = Join(on="/", values=[
        evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
        "evaluation.json"])
    model = Model(image_uri=IMAGE, model_data=best, role=ROLE, sagemaker_session=session)
    register = ModelStep(name="register", step_args=model.register(
        content_types=["application/json"], response_types=["application/json"],
        inference_instances=[TYPE], transform_instances=[TYPE], model_package_group_name="tiny",
        approval_status="Approved", model_metrics=ModelMetrics(model_statistics=MetricsSource(
            s3_uri=evaluation, content_type="application/json"))))
    create = ModelStep(name="create", step_args=model.create(instance_type=TYPE))
    notify = LambdaStep(
        name="notify", lambda_func=Lambda(
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:notify",
            session=session),
        inputs={"model_package_arn": register.properties.ModelPackageArn},
        outputs=[LambdaOutput(output_name="package", output_type=LambdaOutputTypeEnum.String)])
    fail = FailStep(name="fail", error_message=Join(on=" ", values=[
        "accuracy below", threshold]))
    check = ConditionStep(name="check", conditions=[ConditionGreaterThanOrEqualTo(
        left=JsonGet(step_name=evaluate.name, property_file=report,
                     json_path="multiclass_classification_metrics.accuracy.value"),
        right=threshold)], if_steps=[register, create, notify], else_steps=[fail])
    return Pipeline(name="tiny", parameters=[threshold, data, prepare_arguments],
                    steps=[prepare, train, tune, evaluate, check], sagemaker_session=session)
