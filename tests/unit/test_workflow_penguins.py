"""The Penguins example's definition, as SDK 2.x writes it, run with fake step runners
in-process: its DAG, property paths, property file, condition and Lambda mapping."""

import json
from pathlib import Path

import pytest
from sdk_definitions import build

from pipeline.workflow import definition, lambdas, records
from pipeline.workflow.executor import Executor

pytestmark = pytest.mark.pipeline
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def penguins():
    return build(REPO / "examples" / "penguins_pipeline.py")


def describe(request, **fields):
    return {**request.arguments, **fields}


def fake_runners(calls):
    def processing(request):
        calls.append(request)
        return describe(request, ProcessingJobName=request.job_name, ProcessingJobStatus=
                        "Completed", ProcessingJobArn=records.arn("processing-job",
                                                                   request.job_name))

    def tuning(request):
        calls.append(request)
        trials = [f"{request.job_name[:20]}-{n:03d}" for n in (2, 1, 3)]
        return describe(request, HyperParameterTuningJobName=request.job_name,
                        HyperParameterTuningJobArn=records.arn("hyper-parameter-tuning-job",
                                                               request.job_name),
                        TrainingJobSummaries=[{"TrainingJobName": name} for name in trials],
                        BestTrainingJob={"TrainingJobName": trials[0]})

    def quality(request):
        calls.append(request)
        out = request.arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        return {"CalculatedBaselineStatistics": f"{out}/statistics.json",
                "CalculatedBaselineConstraints": f"{out}/constraints.json",
                "BaselineUsedForDriftCheckStatistics": f"{out}/statistics.json",
                "BaselineUsedForDriftCheckConstraints": f"{out}/constraints.json"}

    def register(request):
        calls.append(request)
        return {"ModelPackageArn": records.arn("model-package", "penguins/1")}

    return {"Processing": processing, "Tuning": tuning, "QualityCheck": quality,
            "RegisterModel": register}


HANDLER = '''
def deploy(event, context):
    return {"endpoint_name": event["endpoint_name"], "seen": event["model_package_arn"]}


def schedule(event, context):
    return {"schedules": ",".join(f"{key}={event[key]}" for key in sorted(event))}
'''


def run(tmp_path, raw, overrides=None, accuracy=0.93):
    calls = []
    handler = tmp_path / "handler.py"
    handler.write_text(HANDLER)
    mapping = tmp_path / "lambdas.json"
    mapping.write_text(json.dumps({"deploy-penguins": f"{handler}:deploy",
                                   "schedule-penguins-monitors": f"{handler}:schedule"}))
    runners = {**fake_runners(calls), "Lambda": lambdas.runner(mapping)}
    read = lambda uri: json.dumps(  # noqa: E731
        {"multiclass_classification_metrics": {"accuracy": {"value": accuracy}}}).encode()
    execution = Executor(definition.parse(raw), runners, tmp_path, "penguins-pipeline",
                         overrides or {}, read=read).run()
    listed = json.loads((execution.folder / records.STEPS).read_text())["PipelineExecutionSteps"]
    return execution, {item["StepName"]: item for item in listed}, {c.name: c for c in calls}


def test_the_penguins_definition_has_the_programs_steps_and_order(penguins):
    name, raw = penguins
    parsed = definition.parse(raw)
    assert name == "penguins-pipeline"
    assert {step: sorted(s.depends_on) for step, s in parsed.steps.items()} == {
        "preprocess-data": [],
        "data-quality-baseline": ["preprocess-data"],
        "tune-model": ["preprocess-data"],
        "evaluate-model-1": ["preprocess-data", "tune-model"],
        "evaluate-model-2": ["preprocess-data", "tune-model"],
        "check-accuracy": ["evaluate-model-1"],
        "register-model-RegisterModel": ["check-accuracy", "data-quality-baseline",
                                         "evaluate-model-1", "tune-model"],
        "deploy-model": ["check-accuracy", "register-model-RegisterModel"],
        "schedule-monitors": ["check-accuracy", "data-quality-baseline", "deploy-model"],
        "fail-accuracy": ["check-accuracy"],
    }


def test_a_good_model_is_registered_and_deployed_with_the_values_of_earlier_steps(
        tmp_path, penguins):
    execution, listed, calls = run(tmp_path, penguins[1])
    assert execution.record["PipelineExecutionStatus"] == "Succeeded"
    assert "fail-accuracy" not in listed
    tuning = listed["tune-model"]["Metadata"]["TuningJob"]["Arn"]
    assert tuning.startswith("arn:aws:sagemaker:")
    best = calls["evaluate-model-1"].arguments["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    second = calls["evaluate-model-2"].arguments["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert best.startswith("s3://penguins/models/") and best.endswith("-002/output/model.tar.gz")
    assert second.endswith("-001/output/model.tar.gz")
    package = calls["register-model-RegisterModel"].arguments
    assert package["ModelPackageGroupName"] == "penguins"
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == best
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert statistics.endswith("/evaluation.json") and statistics.startswith("s3://penguins/")
    assert package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"] == \
        "s3://penguins/monitoring/data-quality/statistics.json"
    assert listed["deploy-model"]["Metadata"]["Lambda"]["OutputParameters"] == [
        {"Name": "endpoint_name", "Value": "penguins-endpoint"}]
    # The monitors are scheduled on the endpoint the deploy step answered, against the
    # baseline the quality check used.
    baseline = "s3://penguins/monitoring/data-quality"
    assert listed["schedule-monitors"]["Metadata"]["Lambda"]["OutputParameters"] == [
        {"Name": "schedules", "Value": f"data_quality_constraints={baseline}/constraints.json,"
                                       f"data_quality_statistics={baseline}/statistics.json,"
                                       "endpoint_name=penguins-endpoint"}]
    assert listed["check-accuracy"]["Metadata"] == {"Condition": {"Outcome": "True"}}


def test_a_threshold_above_the_models_accuracy_ends_at_the_fail_step(tmp_path, penguins):
    execution, listed, calls = run(tmp_path, penguins[1], {"AccuracyThreshold": "0.95"})
    assert listed["fail-accuracy"]["FailureReason"] == \
        "the best model's accuracy is below 0.95"
    assert not {"register-model-RegisterModel", "deploy-model", "schedule-monitors"} & set(listed)
    assert execution.record["PipelineExecutionStatus"] == "Failed"


def test_a_second_execution_reuses_the_cached_steps(tmp_path, penguins):
    first, _, _ = run(tmp_path, penguins[1])
    _, listed, calls = run(tmp_path, penguins[1])
    cached = {name for name, item in listed.items() if "CacheHitResult" in item}
    assert cached == {"preprocess-data", "data-quality-baseline", "tune-model"}
    assert set(calls) == {"evaluate-model-1", "evaluate-model-2",
                          "register-model-RegisterModel"}
