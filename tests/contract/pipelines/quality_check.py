"""A pipeline of one QualityCheckStep with its drift check on (skip_check=False), built with
SDK 2.x: the data at s3://<bucket>/data is profiled by the training image's analyzer and checked
against the supplied baseline at s3://<bucket>/baseline/, which the contract test writes so
that the data breaks it."""

import os

import boto3
from sagemaker.model_monitor.dataset_format import DatasetFormat
from sagemaker.workflow.check_job_config import CheckJobConfig
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

BUCKET = os.environ.get("PIPELINE_BUCKET", "quality")
ROLE = "arn:aws:iam::000000000000:role/quality"


def get_pipeline() -> Pipeline:
    session = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"),
                              default_bucket=BUCKET)
    check = QualityCheckStep(
        name="data-quality-check",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=f"s3://{BUCKET}/data",
            dataset_format=DatasetFormat.csv(header=False),
            output_s3_uri=f"s3://{BUCKET}/checked"),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1,
                                        instance_type="ml.m5.large", sagemaker_session=session),
        skip_check=False,
        register_new_baseline=False,
        supplied_baseline_statistics=f"s3://{BUCKET}/baseline/statistics.json",
        supplied_baseline_constraints=f"s3://{BUCKET}/baseline/constraints.json")
    return Pipeline(name="quality-check", steps=[check], sagemaker_session=session)
