"""CreateMonitoringSchedule requests (pipeline/api/schedules.py) and the job definitions they name
(pipeline/api/monitoringjobs.py) in-process: the shapes the SDK sends read as SageMaker reads
them, each mistake refused naming its JSON path, and a schedule's times and windows."""

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_job_request_checks import REMOVE, changed

from pipeline.api import schedules
from pipeline.api.requests import RequestError

pytestmark = pytest.mark.unit

# What sagemaker 2.257's DefaultModelMonitor.create_monitoring_schedule and
# ModelQualityMonitor.create_monitoring_schedule send (captured from a stand-in session).
ROLE = "arn:aws:iam::000000000000:role/x"
ENDPOINT = {"EndpointName": "penguins-endpoint", "LocalPath": "/opt/ml/processing/input/endpoint",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
OUTPUT = {"MonitoringOutputs": [{"S3Output": {
    "S3Uri": "s3://b/monitoring", "LocalPath": "/opt/ml/processing/output",
    "S3UploadMode": "Continuous"}}]}
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                             "VolumeSizeInGB": 30}}
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
DATA_DEFINITION = {
    "JobDefinitionName": "data-quality-job-definition-2026-12-04-14-21-00-860",
    "DataQualityAppSpecification": {"ImageUri": ANALYZER,
                                    "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
    "DataQualityJobInput": {"EndpointInput": ENDPOINT},
    "DataQualityJobOutputConfig": OUTPUT, "JobResources": CLUSTER, "RoleArn": ROLE,
    "DataQualityBaselineConfig": {
        "ConstraintsResource": {"S3Uri": "s3://b/baseline/constraints.json"},
        "StatisticsResource": {"S3Uri": "s3://b/baseline/statistics.json"}},
    "StoppingCondition": {"MaxRuntimeInSeconds": 1800}}
MODEL_DEFINITION = {
    "JobDefinitionName": "model-quality-job-definition-2026-12-04-14-21-00-986",
    "ModelQualityAppSpecification": {"ImageUri": ANALYZER,
                                     "ProblemType": "MulticlassClassification",
                                     "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
    "ModelQualityJobInput": {
        "EndpointInput": {**ENDPOINT, "InferenceAttribute": "prediction",
                          "ProbabilityAttribute": "confidence"},
        "GroundTruthS3Input": {"S3Uri": "s3://b/ground-truth"}},
    "ModelQualityJobOutputConfig": OUTPUT, "JobResources": CLUSTER, "RoleArn": ROLE,
    "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": "s3://b/mq/constraints.json"}}}
DATA_SCHEDULE = {
    "MonitoringScheduleName": "penguins-data-quality",
    "MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": DATA_DEFINITION["JobDefinitionName"],
        "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}},
    "Tags": []}
MODEL_SCHEDULE = {
    "MonitoringScheduleName": "penguins-model-quality",
    "MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": MODEL_DEFINITION["JobDefinitionName"],
        "MonitoringType": "ModelQuality",
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}},
    "Tags": []}
# The generic ModelMonitor's request: the job defined inline.
INLINE = {
    "MonitoringScheduleName": "penguins-inline",
    "MonitoringScheduleConfig": {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 0/6 ? * * *)"},
        "MonitoringJobDefinition": {
            "BaselineConfig": {"StatisticsResource": {"S3Uri": "file:///b/statistics.json"},
                               "ConstraintsResource": {"S3Uri": "file:///b/constraints.json"}},
            "MonitoringInputs": [{"EndpointInput": ENDPOINT}],
            "MonitoringOutputConfig": OUTPUT, "MonitoringResources": CLUSTER,
            "MonitoringAppSpecification": {"ImageUri": "penguins-training:latest",
                                           "ContainerEntrypoint": ["monitor"]},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "Environment": {"dataset_format": "{}"}, "RoleArn": ROLE}}}


def test_the_sdks_requests_read_as_sagemaker_reads_them():
    definitions = {job.name: job for job in map(schedules.definition,
                                                (DATA_DEFINITION, MODEL_DEFINITION))}
    data = schedules.parse(DATA_SCHEDULE)
    job = schedules.resolve(data, definitions)
    assert (data.monitoring_type, data.hours, job.analysis) == ("DataQuality", tuple(range(24)),
                                                                "DATA_QUALITY")
    assert (job.endpoint, job.statistics, job.max_runtime) == (
        "penguins-endpoint", "s3://b/baseline/statistics.json", 1800)
    model = schedules.parse(MODEL_SCHEDULE)
    job = schedules.resolve(model, definitions)
    assert (model.hours, model.start_offset, model.end_offset) == (None, -3600, 0)
    assert (job.analysis, job.problem_type, job.ground_truth, job.statistics) == (
        "MODEL_QUALITY", "MulticlassClassification", "s3://b/ground-truth", None)
    assert job.attributes == {"inference_attribute": "prediction",
                              "probability_attribute": "confidence"}
    assert job.max_runtime == 3600  # no StoppingCondition: the SDK's default hour
    inline = schedules.parse(INLINE)
    assert (inline.hours, inline.job.entrypoint, inline.job.environment) == (
        (0, 6, 12, 18), ("monitor",), {"dataset_format": "{}"})


AT = datetime(2026, 11, 23, 21, 17, tzinfo=UTC)


@pytest.mark.parametrize(("expression", "offsets", "runs_at", "window"), [
    ("cron(0 * ? * * *)", {}, "22:00", ("21:00", "22:00")),
    ("cron(0 12 ? * * *)", {}, "12:00", ("12:00", "12:00")),  # a day before: see below
    ("cron(0 17/12 ? * * *)", {}, "17:00", ("17:00", "17:00")),
    ("cron(0 0/5 ? * * *)", {"DataAnalysisStartTime": "-PT3H", "DataAnalysisEndTime": "-PT1H"},
     "00:00", ("21:00", "23:00")),
])
def test_each_expression_runs_at_its_hours_over_its_window(expression, offsets, runs_at, window):
    body = changed(DATA_SCHEDULE, "MonitoringScheduleConfig.ScheduleConfig",
                   {"ScheduleExpression": expression, **offsets})
    schedule = schedules.parse(body)
    when = schedule.next_run(AT)
    start, end = schedule.window(when)
    assert when.strftime("%H:%M") == runs_at and when > AT
    assert (start.strftime("%H:%M"), end.strftime("%H:%M")) == window
    if not offsets:  # the time since the scheduled time before
        assert end == when and (end - start).total_seconds() == 3600 * (
            1 if expression == HOURLY_EXPRESSION else 24)


HOURLY_EXPRESSION = "cron(0 * ? * * *)"
SCHEDULE = "MonitoringScheduleConfig.ScheduleConfig"
DEFINITION = "MonitoringScheduleConfig.MonitoringJobDefinition"
# (request, field path, new value, what the error names)
BAD = [
    (DATA_SCHEDULE, "MonitoringScheduleName", "bad_name", "MonitoringScheduleName: \"bad_name\""),
    (DATA_SCHEDULE, "MonitoringScheduleName", REMOVE, "MonitoringScheduleName: missing"),
    (DATA_SCHEDULE, "Schedule", {}, "Schedule: unknown field"),
    (DATA_SCHEDULE, "MonitoringScheduleConfig.Type", "x", "MonitoringScheduleConfig.Type: unknown"),
    (DATA_SCHEDULE, "MonitoringScheduleConfig.MonitoringType", "ModelBias",
     "MonitoringScheduleConfig.MonitoringType: ModelBias: Clarify"),
    (DATA_SCHEDULE, "MonitoringScheduleConfig.MonitoringType", "Data",
     "MonitoringScheduleConfig.MonitoringType: \"Data\" is not one of"),
    (DATA_SCHEDULE, "MonitoringScheduleConfig.MonitoringJobDefinitionName", REMOVE,
     "MonitoringScheduleConfig: give MonitoringJobDefinition or MonitoringJobDefinitionName"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", "rate(1 hour)",
     f"{SCHEDULE}.ScheduleExpression: \"rate(1 hour)\" is not one of Model Monitor's"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", "cron(0/5 * ? * * *)",
     f"{SCHEDULE}.ScheduleExpression"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", "cron(0 24 ? * * *)",
     f"{SCHEDULE}.ScheduleExpression: cron(0 24 ? * * *) names hour 24"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", "cron(0 0/25 ? * * *)",
     f"{SCHEDULE}.ScheduleExpression: cron(0 0/25 ? * * *) names hour 0 every 25"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", "cron(0 */2 ? * * *)",
     "every N hours is written from an hour"),
    (DATA_SCHEDULE, f"{SCHEDULE}.ScheduleExpression", REMOVE,
     f"{SCHEDULE}.ScheduleExpression: missing"),
    (DATA_SCHEDULE, f"{SCHEDULE}.DataAnalysisStartTime", "-1h",
     f"{SCHEDULE}.DataAnalysisStartTime: '-1h' is not an ISO 8601 duration"),
    (DATA_SCHEDULE, f"{SCHEDULE}.DataAnalysisStartTime", "-P2D",
     f"{SCHEDULE}.DataAnalysisStartTime: -P2D is more than 24 hours"),
    (DATA_SCHEDULE, f"{SCHEDULE}.DataAnalysisStartTime", "PT1H",
     f"{SCHEDULE}.DataAnalysisStartTime: PT1H is not before"),
    (MODEL_SCHEDULE, f"{SCHEDULE}.DataAnalysisEndTime", REMOVE,
     f"{SCHEDULE}.DataAnalysisEndTime: missing (required with ScheduleExpression NOW)"),
    (MODEL_SCHEDULE, f"{SCHEDULE}.DataAnalysisStartTime", REMOVE,
     f"{SCHEDULE}.DataAnalysisStartTime: missing"),
    (INLINE, "MonitoringScheduleConfig.MonitoringType", "ModelQuality",
     "MonitoringScheduleConfig.MonitoringType: a ModelQuality schedule names its job definition"),
    (INLINE, "MonitoringScheduleConfig.MonitoringJobDefinitionName", "x", ", not both"),
    (INLINE, f"{DEFINITION}.MonitoringInputs", [], f"{DEFINITION}.MonitoringInputs: exactly one"),
    (INLINE, f"{DEFINITION}.MonitoringInputs[0].BatchTransformInput", {},
     f"{DEFINITION}.MonitoringInputs[0].BatchTransformInput: monitoring a batch transform"),
    (INLINE, f"{DEFINITION}.MonitoringInputs[0].EndpointInput.EndpointName", REMOVE,
     f"{DEFINITION}.MonitoringInputs[0].EndpointInput.EndpointName: missing"),
    (INLINE, f"{DEFINITION}.MonitoringInputs[0].EndpointInput.LocalPath", "/data",
     f"{DEFINITION}.MonitoringInputs[0].EndpointInput.LocalPath: \"/data\" is not under"),
    (INLINE, f"{DEFINITION}.MonitoringInputs[0].EndpointInput.S3InputMode", "Pipe",
     f"{DEFINITION}.MonitoringInputs[0].EndpointInput.S3InputMode: only File"),
    (INLINE, f"{DEFINITION}.MonitoringInputs[0].EndpointInput.Endpoint", "x",
     f"{DEFINITION}.MonitoringInputs[0].EndpointInput.Endpoint: unknown field"),
    (INLINE, f"{DEFINITION}.BaselineConfig.StatisticsResource.S3Uri", "/b/statistics.json",
     f"{DEFINITION}.BaselineConfig.StatisticsResource.S3Uri: \"/b/statistics.json\" is not"),
    (INLINE, f"{DEFINITION}.MonitoringAppSpecification.ImageUri", REMOVE,
     f"{DEFINITION}.MonitoringAppSpecification.ImageUri: missing"),
    (INLINE, f"{DEFINITION}.MonitoringAppSpecification.PostAnalyticsProcessorSourceUri",
     "s3://b/p.py", f"{DEFINITION}.MonitoringAppSpecification.PostAnalyticsProcessorSourceUri"),
    (INLINE, f"{DEFINITION}.MonitoringOutputConfig.MonitoringOutputs", [],
     f"{DEFINITION}.MonitoringOutputConfig.MonitoringOutputs: exactly one"),
    (INLINE, f"{DEFINITION}.MonitoringOutputConfig.MonitoringOutputs[0].S3Output.S3UploadMode",
     "Later", f"{DEFINITION}.MonitoringOutputConfig.MonitoringOutputs[0].S3Output.S3UploadMode"),
    (INLINE, f"{DEFINITION}.MonitoringResources.ClusterConfig.InstanceCount", 0,
     f"{DEFINITION}.MonitoringResources.ClusterConfig.InstanceCount: 0 is outside 1..100"),
    (INLINE, f"{DEFINITION}.StoppingCondition.MaxRuntimeInSeconds", 86401,
     f"{DEFINITION}.StoppingCondition.MaxRuntimeInSeconds: 86401 is outside 1..86400"),
    (INLINE, f"{DEFINITION}.Environment.dataset_format", {},
     f"{DEFINITION}.Environment.dataset_format: {{}} is not a string"),
]


@pytest.mark.parametrize(("body", "path", "value", "named"), BAD,
                         ids=[f"{case[1]}={case[2]!r}"[-60:] for case in BAD])
def test_a_wrong_schedule_is_refused_naming_its_json_path(body, path, value, named):
    with pytest.raises(RequestError) as error:
        schedules.parse(changed(body, path, value))
    assert named in str(error.value)


MODEL_INPUT = "ModelQualityJobInput"
BAD_DEFINITIONS = [
    (MODEL_DEFINITION, "JobDefinitionName", "a b", "JobDefinitionName: 'a b' is not a name"),
    (MODEL_DEFINITION, MODEL_INPUT, REMOVE, "neither DataQualityJobInput"),
    (MODEL_DEFINITION, f"{MODEL_INPUT}.GroundTruthS3Input", REMOVE,
     f"{MODEL_INPUT}.GroundTruthS3Input: missing"),
    (MODEL_DEFINITION, f"{MODEL_INPUT}.GroundTruthS3Input.S3Uri", "truth",
     f"{MODEL_INPUT}.GroundTruthS3Input.S3Uri: \"truth\" is not"),
    (MODEL_DEFINITION, f"{MODEL_INPUT}.EndpointInput.StartTimeOffset", "yesterday",
     f"{MODEL_INPUT}.EndpointInput.StartTimeOffset: 'yesterday' is not an ISO 8601 duration"),
    (MODEL_DEFINITION, f"{MODEL_INPUT}.EndpointInput.ProbabilityThresholdAttribute", "0.5",
     f"{MODEL_INPUT}.EndpointInput.ProbabilityThresholdAttribute: '0.5' is not a number"),
    (MODEL_DEFINITION, "ModelQualityAppSpecification.ProblemType", "Ranking",
     "ModelQualityAppSpecification.ProblemType: 'Ranking' is not one of"),
    (MODEL_DEFINITION, "ModelQualityBaselineConfig.StatisticsResource", {"S3Uri": "s3://b/s"},
     "ModelQualityBaselineConfig.StatisticsResource: unknown field"),
    (MODEL_DEFINITION, "JobResources.ClusterConfig.InstanceType", REMOVE,
     "JobResources.ClusterConfig.InstanceType: missing"),
    (DATA_DEFINITION, "DataQualityAppSpecification.ProblemType", "Regression",
     "DataQualityAppSpecification.ProblemType: unknown field"),
    (DATA_DEFINITION, "ModelBiasJobInput", {}, "ModelBiasJobInput: Clarify's"),
    (DATA_DEFINITION, "DataQualityJobOutputConfig.KmsKey", "k",
     "DataQualityJobOutputConfig.KmsKey: unknown field"),
]


@pytest.mark.parametrize(("body", "path", "value", "named"), BAD_DEFINITIONS,
                         ids=[f"{case[1]}={case[2]!r}"[-60:] for case in BAD_DEFINITIONS])
def test_a_wrong_job_definition_is_refused_naming_its_json_path(body, path, value, named):
    with pytest.raises(RequestError) as error:
        schedules.definition(changed(body, path, value))
    assert named in str(error.value)


def test_a_schedule_names_a_definition_given_with_it_and_of_its_type(tmp_path):
    files = []
    for index, body in enumerate((DATA_DEFINITION, MODEL_DEFINITION, DATA_SCHEDULE,
                                  MODEL_SCHEDULE)):
        files.append(tmp_path / f"{index}.json")
        files[-1].write_text(json.dumps(body))
    definitions, found = schedules.load(files)
    assert [schedule.name for schedule in found] == ["penguins-data-quality",
                                                     "penguins-model-quality"]
    with pytest.raises(RequestError, match=r"2.json: MonitoringScheduleConfig.Monitoring"
                                           r"JobDefinitionName: no job definition named"):
        schedules.load(files[2:])
    crossed = copy.deepcopy(DATA_SCHEDULE)
    crossed["MonitoringScheduleConfig"]["MonitoringType"] = "ModelQuality"
    files[2].write_text(json.dumps(crossed))
    with pytest.raises(RequestError, match="MonitoringType: ModelQuality, but job definition "
                                           "data-quality-job-definition"):
        schedules.load(files)
    files[2].write_text("{")
    with pytest.raises(RequestError, match="2.json: not JSON"):
        schedules.load(files)


def test_the_docs_example_is_a_request_this_parser_takes(tmp_path):
    page = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    section = page[page.index("A one-off data-quality check"):]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)[:2]
    files = []
    for index, block in enumerate(blocks):
        files.append(tmp_path / f"{index}.json")
        files[-1].write_text(block)
    _, [schedule] = schedules.load(files)
    assert (schedule.hours, schedule.start_offset, schedule.end_offset) == (None, -3600, 0)
