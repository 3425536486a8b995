"""The Penguins pipeline, written with the SageMaker Python SDK as a student of the program
writes it, and run here by `make sdk-pipeline` (docs/pipelines.md). It builds with SDK 2.x and
with SDK 3.x (`make sdk-pipeline SDK=3`), whose classes moved to sagemaker.core, sagemaker.mlops,
sagemaker.train and sagemaker.serve; where 3.x changed a class, not only its module (the
processing inputs and outputs are API shapes, an Estimator is a ModelTrainer, a Model's
register() is a ModelBuilder's), the small functions below build either.

preprocess-data (a processing script) -> data-quality-baseline (QualityCheckStep)
                                      -> tune-model (HyperparameterTuner, script mode)
                                      -> evaluate-model-1, evaluate-model-2 (the top-2 models,
                                         each with an evaluation property file)
-> check-accuracy (ConditionStep on the best model's accuracy)
   -> register-model (ModelStep: model package group, approval status, ModelMetrics,
      DriftCheckBaselines) -> deploy-model (LambdaStep)
      -> schedule-monitors (LambdaStep: hourly data-quality monitoring of the endpoint
         against the data-quality baseline)
   -> else: fail-accuracy (FailStep)

The same file runs on AWS: set PIPELINE_BUCKET, SAGEMAKER_ROLE, the image URIs,
DEPLOY_LAMBDA_ARN and MONITOR_LAMBDA_ARN to your account's, drop AWS_ENDPOINT_URL_S3, and call
get_pipeline().upsert(role_arn=...) then .start().
"""

import os
from pathlib import Path

import boto3

try:  # SageMaker Python SDK 3.x
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.core.parameter import ContinuousParameter
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        OutputDataConfig,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.training.configs import Compute, InputData, SourceCode
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import (
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.lambda_step import (
        LambdaOutput,
        LambdaOutputTypeEnum,
        LambdaStep,
    )
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.quality_check_step import (
        DataQualityCheckConfig,
        QualityCheckStep,
    )
    from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TuningStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.model_trainer import ModelTrainer
    from sagemaker.train.tuner import HyperparameterTuner

    SDK3 = True
except ModuleNotFoundError:  # SDK 2.x
    from sagemaker.drift_check_baselines import DriftCheckBaselines
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.lambda_helper import Lambda
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TuningStep

    SDK3 = False

CODE = Path(__file__).resolve().parent / "script-mode"
# Script mode's training, plus a model.onnx export so the registered model can be served here.
TRAINING_CODE = Path(__file__).resolve().parent / "penguins-pipeline"
PIPELINE_NAME = os.environ.get("PIPELINE_NAME", "penguins-pipeline")
BUCKET = os.environ.get("PIPELINE_BUCKET", "penguins")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ROLE = os.environ.get("SAGEMAKER_ROLE", "arn:aws:iam::000000000000:role/penguins-pipeline")
TRAINING_IMAGE = os.environ.get("TRAINING_IMAGE", "penguins-training:latest")
SERVING_IMAGE = os.environ.get("SERVING_IMAGE", "penguins-serving:latest")
DEPLOY_LAMBDA_ARN = os.environ.get(
    "DEPLOY_LAMBDA_ARN", f"arn:aws:lambda:{REGION}:000000000000:function:deploy-penguins")
MONITOR_LAMBDA_ARN = os.environ.get(
    "MONITOR_LAMBDA_ARN",
    f"arn:aws:lambda:{REGION}:000000000000:function:schedule-penguins-monitors")
MODEL_PACKAGE_GROUP = os.environ.get("MODEL_PACKAGE_GROUP", "penguins")
INSTANCE_TYPE = "ml.m5.xlarge"

cache_config = CacheConfig(enable_caching=True, expire_after="P15D")

dataset_location = ParameterString(name="DatasetLocation", default_value=f"s3://{BUCKET}/data")
accuracy_threshold = ParameterFloat(name="AccuracyThreshold", default_value=0.70)
training_epochs = ParameterInteger(name="TrainingEpochs", default_value=50)
approval_status = ParameterString(name="ModelApprovalStatus", default_value="Approved")
endpoint_name = ParameterString(name="EndpointName", default_value="penguins-endpoint")


def session() -> PipelineSession:
    return PipelineSession(boto_session=boto3.Session(region_name=REGION), default_bucket=BUCKET)


def processing_input(name, source, destination):
    if SDK3:  # the API's own shapes
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=source, local_path=destination, s3_data_type="S3Prefix",
            s3_input_mode="File"))
    return ProcessingInput(input_name=name, source=source, destination=destination)


def processing_output(step_name, name):
    """/opt/ml/processing/<name>, uploaded where SDK 2.x puts an output given no destination
    (SDK 3.x requires one): under the pipeline's execution."""
    destination = Join(on="/", values=["s3:/", BUCKET, PIPELINE_NAME,
                                       ExecutionVariables.PIPELINE_EXECUTION_ID, step_name,
                                       "output", name])
    source = f"/opt/ml/processing/{name}"
    if SDK3:
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=destination, local_path=source, s3_upload_mode="EndOfJob"))
    return ProcessingOutput(output_name=name, source=source, destination=destination)


def preprocessing_step(pipeline_session):
    processor = ScriptProcessor(image_uri=TRAINING_IMAGE, command=["python3"], role=ROLE,
                                instance_type=INSTANCE_TYPE, instance_count=1,
                                base_job_name="preprocess-data",
                                sagemaker_session=pipeline_session)
    outputs = [processing_output("preprocess-data", name)
               for name in ("train", "validation", "test", "pipeline")]
    return ProcessingStep(
        name="preprocess-data",
        step_args=processor.run(
            code=str(CODE / "processing" / "preprocess.py"),
            inputs=[processing_input("input", dataset_location, "/opt/ml/processing/input")],
            outputs=outputs),
        cache_config=cache_config)


def output_of(step, name):
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def data_quality_step(pipeline_session, preprocess):
    return QualityCheckStep(
        name="data-quality-baseline",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=output_of(preprocess, "train"),
            dataset_format=DatasetFormat.csv(header=False),
            output_s3_uri=f"s3://{BUCKET}/monitoring/data-quality"),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1,
                                        instance_type=INSTANCE_TYPE,
                                        sagemaker_session=pipeline_session),
        skip_check=True,
        register_new_baseline=True,
        model_package_group_name=MODEL_PACKAGE_GROUP,
        cache_config=cache_config)


def trainer(pipeline_session):
    """Script mode's train.py in the training image: an Estimator (SDK 2.x), a ModelTrainer
    (SDK 3.x)."""
    hyperparameters = {"epochs": training_epochs, "batch_size": 32}
    if SDK3:
        return ModelTrainer(
            training_image=TRAINING_IMAGE,
            source_code=SourceCode(source_dir=str(TRAINING_CODE), entry_script="train.py"),
            role=ROLE, compute=Compute(instance_type=INSTANCE_TYPE, instance_count=1),
            output_data_config=OutputDataConfig(s3_output_path=f"s3://{BUCKET}/models"),
            hyperparameters=hyperparameters, sagemaker_session=pipeline_session)
    return Estimator(
        image_uri=TRAINING_IMAGE, entry_point="train.py", source_dir=str(TRAINING_CODE),
        role=ROLE, instance_count=1, instance_type=INSTANCE_TYPE,
        output_path=f"s3://{BUCKET}/models", hyperparameters=hyperparameters,
        sagemaker_session=pipeline_session)


def tuning_step(pipeline_session, preprocess):
    tuner = HyperparameterTuner(
        trainer(pipeline_session),
        objective_metric_name="val_accuracy",
        objective_type="Maximize",
        metric_definitions=[{"Name": "val_accuracy", "Regex": "val_accuracy=([0-9\\.]+)"}],
        hyperparameter_ranges={"learning_rate": ContinuousParameter(0.005, 0.05)},
        max_jobs=int(os.environ.get("TUNING_MAX_JOBS", "3")),
        max_parallel_jobs=int(os.environ.get("TUNING_MAX_PARALLEL_JOBS", "1")))
    if SDK3:
        tuning = tuner.tune(inputs=[
            InputData(channel_name=name, data_source=output_of(preprocess, name),
                      content_type="text/csv") for name in ("train", "validation")])
    else:
        tuning = tuner.fit(inputs={
            name: TrainingInput(s3_data=output_of(preprocess, name), content_type="text/csv")
            for name in ("train", "validation")})
    return TuningStep(name="tune-model", step_args=tuning, cache_config=cache_config)


def evaluation_step(pipeline_session, preprocess, tune, rank):
    """Evaluation of the tuning job's model at `rank` (0 is the best)."""
    processor = ScriptProcessor(image_uri=TRAINING_IMAGE, command=["python3"], role=ROLE,
                                instance_type=INSTANCE_TYPE, instance_count=1,
                                base_job_name="evaluate-model",
                                sagemaker_session=pipeline_session)
    report = PropertyFile(name=f"evaluation-report-{rank + 1}", output_name="evaluation",
                          path="evaluation.json")
    name = f"evaluate-model-{rank + 1}"
    step = ProcessingStep(
        name=name,
        step_args=processor.run(
            code=str(CODE / "evaluation" / "evaluate.py"),
            inputs=[processing_input("model", tune.get_top_model_s3_uri(
                        top_k=rank, s3_bucket=BUCKET, prefix="models"),
                        "/opt/ml/processing/model"),
                    processing_input("test", output_of(preprocess, "test"),
                                     "/opt/ml/processing/test")],
            outputs=[processing_output(name, "evaluation")]),
        property_files=[report])
    return step, report


def registration_step(pipeline_session, tune, evaluation, quality):
    best_model = tune.get_top_model_s3_uri(top_k=0, s3_bucket=BUCKET, prefix="models")
    if SDK3:
        model = ModelBuilder(image_uri=SERVING_IMAGE, s3_model_data_url=best_model,
                             role_arn=ROLE, sagemaker_session=pipeline_session)
    else:
        model = Model(image_uri=SERVING_IMAGE, model_data=best_model, role=ROLE,
                      sagemaker_session=pipeline_session)
    metrics = ModelMetrics(model_statistics=MetricsSource(
        s3_uri=Join(on="/", values=[output_of(evaluation, "evaluation"), "evaluation.json"]),
        content_type="application/json"))
    baselines = DriftCheckBaselines(
        model_data_statistics=MetricsSource(
            s3_uri=quality.properties.BaselineUsedForDriftCheckStatistics,
            content_type="application/json"),
        model_data_constraints=MetricsSource(
            s3_uri=quality.properties.BaselineUsedForDriftCheckConstraints,
            content_type="application/json"))
    return ModelStep(name="register-model", step_args=model.register(
        content_types=["text/csv", "application/json"],
        response_types=["application/json"],
        inference_instances=[INSTANCE_TYPE], transform_instances=[INSTANCE_TYPE],
        model_package_group_name=MODEL_PACKAGE_GROUP,
        approval_status=approval_status,
        model_metrics=metrics,
        drift_check_baselines=baselines))


def deployment_step(pipeline_session, register):
    return LambdaStep(
        name="deploy-model",
        lambda_func=Lambda(function_arn=DEPLOY_LAMBDA_ARN, session=pipeline_session),
        inputs={"model_package_arn": register.properties.ModelPackageArn,
                "endpoint_name": endpoint_name, "role": ROLE},
        outputs=[LambdaOutput(output_name="endpoint_name",
                              output_type=LambdaOutputTypeEnum.String)])


def monitoring_step(pipeline_session, deploy, quality):
    """Schedule data-quality monitoring of the endpoint the deploy step names, against the
    baseline the quality check used."""
    return LambdaStep(
        name="schedule-monitors",
        lambda_func=Lambda(function_arn=MONITOR_LAMBDA_ARN, session=pipeline_session),
        inputs={"endpoint_name": deploy.properties.Outputs["endpoint_name"],
                "data_quality_statistics": quality.properties.BaselineUsedForDriftCheckStatistics,
                "data_quality_constraints":
                    quality.properties.BaselineUsedForDriftCheckConstraints},
        outputs=[LambdaOutput(output_name="schedules",
                              output_type=LambdaOutputTypeEnum.String)])


def get_pipeline() -> Pipeline:
    pipeline_session = session()
    preprocess = preprocessing_step(pipeline_session)
    quality = data_quality_step(pipeline_session, preprocess)
    tune = tuning_step(pipeline_session, preprocess)
    best, best_report = evaluation_step(pipeline_session, preprocess, tune, 0)
    second, _ = evaluation_step(pipeline_session, preprocess, tune, 1)
    register = registration_step(pipeline_session, tune, best, quality)
    deploy = deployment_step(pipeline_session, register)
    monitor = monitoring_step(pipeline_session, deploy, quality)
    fail = FailStep(name="fail-accuracy", error_message=Join(
        on=" ", values=["the best model's accuracy is below", accuracy_threshold]))
    condition = ConditionStep(
        name="check-accuracy",
        conditions=[ConditionGreaterThanOrEqualTo(
            left=JsonGet(step_name=best.name, property_file=best_report,
                         json_path="multiclass_classification_metrics.accuracy.value"),
            right=accuracy_threshold)],
        if_steps=[register, deploy, monitor], else_steps=[fail])
    return Pipeline(
        name=PIPELINE_NAME,
        parameters=[dataset_location, accuracy_threshold, training_epochs, approval_status,
                    endpoint_name],
        steps=[preprocess, quality, tune, best, second, condition],
        sagemaker_session=pipeline_session)
