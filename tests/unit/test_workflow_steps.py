"""The step runners that need no container (RegisterModel on the local registry, CreateModel,
Lambda handlers from the mapping file) and the command line, in-process."""

import io
import json
import tarfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from pipeline.registry import models as registry
from pipeline.workflow import command, lambdas, steps
from pipeline.workflow.executor import StepFailed, StepRequest

pytestmark = pytest.mark.pipeline


def request(tmp_path, arguments, kind="RegisterModel", **step):
    return StepRequest("s", kind, arguments, {"Arguments": arguments, **step}, "pipelines-x-s",
                       {"PipelineExecutionArn": "arn:exec"}, tmp_path, tmp_path)


def package(tmp_path, accuracy=0.9, **fields):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("001/saved_model.pb")
        tar.addfile(info, io.BytesIO(b""))
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"multiclass_classification_metrics": {
        "accuracy": {"value": accuracy}}}))
    return {"ModelPackageGroupName": "penguins",
            "InferenceSpecification": {"Containers": [{"Image": "serving",
                                                       "ModelDataUrl": f"file://{archive}"}]},
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": str(evaluation)}}},
            "DriftCheckBaselines": {"ModelDataQuality": {"Statistics": {"S3Uri": "s3://b/s"}}},
            **fields}


@pytest.mark.parametrize("given,status", [({"ModelApprovalStatus": "Approved"}, "Approved"),
                                          ({}, "PendingManualApproval")])
def test_register_model_adds_a_version_with_the_requests_approval_status(tmp_path, given,
                                                                         status):
    properties = steps.register_model(tmp_path)(request(tmp_path, package(tmp_path, **given)))
    assert properties["ModelPackageArn"].endswith(":model-package/penguins/1")
    assert properties["ModelApprovalStatus"] == status
    (meta,) = registry.versions(tmp_path / "registry" / "penguins")
    assert meta["approval_status"] == status and meta["accuracy"] == 0.9
    assert meta["model_package"]["DriftCheckBaselines"]["ModelDataQuality"]
    assert meta["lineage"] == {"pipeline_execution": "arn:exec"}


REGISTER_ERRORS = [
    ("no group", lambda p: p.pop("ModelPackageGroupName"),
     "RegisterModel s: ModelPackageGroupName: missing (required)"),
    ("no metrics", lambda p: p.pop("ModelMetrics"), "the SDK's ModelMetrics(model_statistics="),
    ("no archive", lambda p: p["InferenceSpecification"]["Containers"][0].update(
        ModelDataUrl="/nowhere/model.tar.gz"), "/nowhere/model.tar.gz"),
    ("a bad status", lambda p: p.update(ModelApprovalStatus="Maybe"),
     "ModelApprovalStatus: \"Maybe\" is not one of"),
]


@pytest.mark.parametrize("change,message", [case[1:] for case in REGISTER_ERRORS],
                         ids=[case[0] for case in REGISTER_ERRORS])
def test_register_model_refuses_a_request_it_cannot_keep(tmp_path, change, message):
    arguments = package(tmp_path)
    change(arguments)
    with pytest.raises(StepFailed, match=None) as raised:
        steps.register_model(tmp_path)(request(tmp_path, arguments))
    assert message in raised.value.reason
    assert not (tmp_path / "registry" / "penguins").exists() or not registry.versions(
        tmp_path / "registry" / "penguins")


def test_create_model_keeps_the_request_and_answers_with_its_name(tmp_path):
    properties = steps.create_model(tmp_path)(request(tmp_path, {
        "PrimaryContainer": {"Image": "serving", "ModelDataUrl": "s3://b/m.tar.gz"}}, "Model"))
    assert properties["ModelName"] == "pipelines-x-s"
    kept = json.loads((tmp_path / "models" / "pipelines-x-s.json").read_text())
    assert kept["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m.tar.gz"


HANDLERS = '''
def echo(event, context):
    return {"n": event["n"], "ok": "true", "name": context.function_name}

def broken(event, context):
    raise KeyError("endpoint")
'''


def lambda_request(tmp_path, arn, outputs):
    return request(tmp_path, {"n": "3"}, "Lambda", FunctionArn=arn, OutputParameters=[
        {"OutputName": name, "OutputType": kind} for name, kind in outputs])


def mapping(tmp_path):
    (tmp_path / "handlers.py").write_text(HANDLERS)
    path = tmp_path / "lambdas.json"
    path.write_text(json.dumps({"_comment": "test", "echo": f"{tmp_path}/handlers.py:echo",
                                "arn:aws:lambda:us-east-1:1:function:boom":
                                f"{tmp_path}/handlers.py:broken"}))
    return path


def test_a_lambda_arn_runs_its_mapped_handler_and_casts_its_outputs(tmp_path):
    result = lambdas.runner(mapping(tmp_path))(lambda_request(
        tmp_path, "arn:aws:lambda:us-east-1:1:function:echo",
        [("n", "Integer"), ("ok", "Boolean"), ("name", "String")]))
    assert result.properties == {"OutputParameters": {"n": 3, "ok": True, "name": "echo"}}
    assert result.metadata["Lambda"]["Arn"] == "arn:aws:lambda:us-east-1:1:function:echo"


LAMBDA_ERRORS = [
    ("an unmapped function", "arn:aws:lambda:us-east-1:1:function:nope", [],
     "no local handler in"),
    ("a handler that raises", "arn:aws:lambda:us-east-1:1:function:boom", [],
     "Lambda boom ("),
    ("a missing output", "echo", [("missing", "String")], "its answer has no output 'missing'"),
]


@pytest.mark.parametrize("arn,outputs,message", [case[1:] for case in LAMBDA_ERRORS],
                         ids=[case[0] for case in LAMBDA_ERRORS])
def test_a_lambda_step_that_cannot_run_says_why(tmp_path, arn, outputs, message):
    with pytest.raises(StepFailed) as raised:
        lambdas.runner(mapping(tmp_path))(lambda_request(tmp_path, arn, outputs))
    assert message in raised.value.reason


def test_the_shipped_lambda_mapping_names_handlers_that_exist():
    for target in lambdas.load_mapping(lambdas.MAPPING).values():
        assert callable(lambdas.handler_of(target))


DEFINITION = {"Version": "2020-12-01", "Parameters": [
    {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5}], "Steps": [
    {"Name": "check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThan", "LeftValue": 0.7,
                        "RightValue": {"Get": "Parameters.Threshold"}}],
        "IfSteps": [], "ElseSteps": [{"Name": "stop", "Type": "Fail", "Arguments": {
            "ErrorMessage": "too low"}}]}}]}


def cli(tmp_path, *argv):
    out = io.StringIO()
    with redirect_stdout(out):
        code = command.main(["--local", str(tmp_path), *argv])
    return code, out.getvalue()


def test_the_command_runs_a_definition_file_with_overrides_and_lists_it(tmp_path):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(DEFINITION))
    assert cli(tmp_path, "run", str(path))[0] == 0
    code, out = cli(tmp_path, "run", str(path), "--parameter", "Threshold=0.9")
    assert code == 1 and "step stop: Failed: too low" in out
    code, listed = cli(tmp_path, "list")
    lines = listed.splitlines()
    assert lines[0].startswith("demo-") and "Failed" in lines[0] and "too low" in lines[0]
    assert "Succeeded" in lines[1]
    execution_id = lines[0].split()[0].split("-")[-1]
    code, shown = cli(tmp_path, "show", execution_id)
    assert json.loads(shown)["PipelineExecutionSteps"][0]["StepName"] == "stop"


def test_the_command_takes_createpipelines_request_and_names_the_pipeline(tmp_path):
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"PipelineName": "named",
                                "PipelineDefinition": json.dumps(DEFINITION)}))
    assert cli(tmp_path, "run", str(path))[0] == 0
    assert [p.name.rsplit("-", 1)[0] for p in (tmp_path / "executions").iterdir()] == ["named"]


COMMAND_ERRORS = [
    (["run", "nowhere.py"], "no such file"),
    (["run", "{definition}", "--parameter", "Threshold"], "write Name=Value"),
    (["run", "{definition}", "--parameter", "Other=1"], "parameter 'Other' is not in"),
    (["show", "nope"], "no such execution"),
]


@pytest.mark.parametrize("argv,message", COMMAND_ERRORS)
def test_the_command_says_what_is_wrong(tmp_path, capsys, argv, message):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(DEFINITION))
    assert command.main(["--local", str(tmp_path),
                         *[a.replace("{definition}", str(path)) for a in argv]]) == 2
    assert message in capsys.readouterr().err


def test_a_python_file_without_get_pipeline_is_refused(tmp_path):
    path = tmp_path / "nothing.py"
    path.write_text("x = 1\n")
    with pytest.raises(ValueError, match="no module-level get_pipeline"):
        command.load(Path(path))


def quality_request(tmp_path, output="s3://b/q/", **step):
    arguments = {"AppSpecification": {"ImageUri": "1.dkr.ecr.us-east-1.amazonaws.com/"
                                      "sagemaker-model-monitor-analyzer"},
                 "Environment": {"dataset_format": '{"csv": {"header": false}}'},
                 "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output",
                                                         "S3Output": {"S3Uri": output}}]}}
    return request(tmp_path, arguments, "QualityCheck", CheckType="DATA_QUALITY",
                   ModelPackageGroupName="penguins", **step)


def fake_processing(seen):
    def run(request):
        seen.append(request.arguments["AppSpecification"])
        return {"ProcessingJobArn": "arn:job", "ProcessingJobName": request.job_name}
    return run


BASELINE_CHOICES = [
    ("a new baseline is the calculated one", {"RegisterNewBaseline": True},
     "s3://b/q/statistics.json"),
    ("else the supplied one", {"RegisterNewBaseline": False,
                               "SuppliedBaselineStatistics": "s3://b/given/statistics.json",
                               "SuppliedBaselineConstraints": "s3://b/given/constraints.json"},
     "s3://b/given/statistics.json"),
]


@pytest.mark.parametrize("step,used", [case[1:] for case in BASELINE_CHOICES],
                         ids=[case[0] for case in BASELINE_CHOICES])
def test_a_quality_check_runs_our_analyzer_and_chooses_its_baseline_as_sagemaker(
        tmp_path, monkeypatch, step, used):
    from pipeline.workflow import checks

    monkeypatch.setenv("ANALYZER_IMAGE", "analyzer:test")
    seen = []
    result = checks.quality_check(tmp_path, fake_processing(seen))(
        quality_request(tmp_path, SkipCheck=True, **step))
    assert seen == [{"ImageUri": "analyzer:test", "ContainerEntrypoint": checks.ENTRYPOINT}]
    assert result.properties["CalculatedBaselineConstraints"] == "s3://b/q/constraints.json"
    assert result.properties["BaselineUsedForDriftCheckStatistics"] == used
    assert result.metadata["QualityCheck"]["CheckJobArn"] == "arn:job"


def test_a_skipped_check_that_reports_the_previous_baseline_fails_when_there_is_none(
        tmp_path):
    """register_new_baseline=False: "the previous baseline of the configured check type must
    also be available" (QualityCheckStepMetadata.RegisterNewBaseline), skip_check or not."""
    from pipeline.workflow import checks

    seen = []
    with pytest.raises(StepFailed) as failed:
        checks.quality_check(tmp_path, fake_processing(seen))(
            quality_request(tmp_path, SkipCheck=True, RegisterNewBaseline=False))
    assert failed.value.reason == (
        "QualityCheck s: register_new_baseline=False reports the previous baseline as "
        "BaselineUsedForDriftCheck*, and there is no baseline statistics or baseline "
        "constraints (looked for: the supplied baseline, else the newest Approved version's "
        "DriftCheckBaselines.ModelDataQuality in model package group 'penguins'): give "
        "supplied_baseline_statistics and supplied_baseline_constraints, register and approve "
        "a version with drift check baselines, or set register_new_baseline=True")
    assert seen == []  # no job runs


def test_a_quality_check_takes_the_newest_approved_versions_drift_baselines(tmp_path):
    from pipeline.workflow import checks

    baselines = {"ModelDataQuality": {"Statistics": {"S3Uri": "s3://b/v1/statistics.json"},
                                      "Constraints": {"S3Uri": "s3://b/v1/constraints.json"}}}
    steps.register_model(tmp_path)(request(tmp_path, package(
        tmp_path, ModelApprovalStatus="Approved", DriftCheckBaselines=baselines)))
    result = checks.quality_check(tmp_path, fake_processing([]))(
        quality_request(tmp_path, SkipCheck=True, RegisterNewBaseline=False))
    assert result.properties["BaselineUsedForDriftCheckConstraints"] == \
        "s3://b/v1/constraints.json"


def checking_processing(seen, violations):
    """A processing runner that answers as the analyzer does when baseline_constraints is set:
    constraint_violations.json in the job's output."""
    def run(request):
        seen.append(request.arguments)
        output = request.arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        Path(output).mkdir(parents=True, exist_ok=True)
        (Path(output) / "constraint_violations.json").write_text(
            json.dumps({"violations": violations}))
        return {"ProcessingJobArn": "arn:job", "ProcessingJobName": request.job_name}
    return run


SUPPLIED = {"SuppliedBaselineStatistics": "s3://b/given/statistics.json",
            "SuppliedBaselineConstraints": "s3://b/given/constraints.json"}


def test_a_drift_check_passes_the_previous_baseline_into_the_job_and_passes(tmp_path):
    from pipeline.workflow import checks

    seen, output = [], str(tmp_path / "q")
    result = checks.quality_check(tmp_path, checking_processing(seen, []))(quality_request(
        tmp_path, output, SkipCheck=False, RegisterNewBaseline=True, **SUPPLIED))
    (job,) = seen
    assert [(item["InputName"], item["S3Input"]["S3Uri"], item["S3Input"]["LocalPath"])
            for item in job["ProcessingInputs"]] == [
        ("baseline_statistics", "s3://b/given/statistics.json",
         "/opt/ml/processing/baseline/statistics"),
        ("baseline_constraints", "s3://b/given/constraints.json",
         "/opt/ml/processing/baseline/constraints")]
    assert job["Environment"] == {
        "dataset_format": '{"csv": {"header": false}}',
        "baseline_statistics": "/opt/ml/processing/baseline/statistics/statistics.json",
        "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json"}
    # register_new_baseline=True reports the calculated baseline; the check used the supplied.
    assert result.properties["BaselineUsedForDriftCheckConstraints"] == \
        f"{output}/constraints.json"
    assert result.metadata["QualityCheck"]["SkipCheck"] is False
    assert "ViolationReport" not in result.metadata["QualityCheck"]


def test_a_drift_check_with_violations_fails_with_the_violation_report(tmp_path):
    from pipeline.workflow import checks

    found = [{"feature_name": "_c1", "constraint_check_type": "data_type_check",
              "description": "Data type match requirement is not met."},
             {"feature_name": "_c1", "constraint_check_type": "completeness_check",
              "description": "Data completeness requirement is not met."}]
    output = str(tmp_path / "q")
    with pytest.raises(StepFailed) as failed:
        checks.quality_check(tmp_path, checking_processing([], found))(quality_request(
            tmp_path, output, SkipCheck=False, RegisterNewBaseline=False, **SUPPLIED))
    report = f"{output}/constraint_violations.json"
    assert failed.value.reason == (
        "QualityCheck s: the data-quality check found 2 violation(s) of the baseline "
        "s3://b/given/constraints.json (_c1: data_type_check, _c1: completeness_check); "
        f"violation report: {report}")
    metadata = failed.value.metadata["QualityCheck"]
    assert metadata["ViolationReport"] == report
    assert metadata["BaselineUsedForDriftCheckConstraints"] == "s3://b/given/constraints.json"
    assert metadata["CheckJobArn"] == "arn:job"


def test_a_drift_check_takes_the_approved_versions_baseline_when_none_is_supplied(tmp_path):
    from pipeline.workflow import checks

    baselines = {"ModelDataQuality": {"Statistics": {"S3Uri": "s3://b/v1/statistics.json"},
                                      "Constraints": {"S3Uri": "s3://b/v1/constraints.json"}}}
    steps.register_model(tmp_path)(request(tmp_path, package(
        tmp_path, ModelApprovalStatus="Approved", DriftCheckBaselines=baselines)))
    seen = []
    checks.quality_check(tmp_path, checking_processing(seen, []))(quality_request(
        tmp_path, str(tmp_path / "q"), SkipCheck=False, RegisterNewBaseline=True))
    assert [item["S3Input"]["S3Uri"] for item in seen[0]["ProcessingInputs"]] == [
        "s3://b/v1/statistics.json", "s3://b/v1/constraints.json"]


@pytest.mark.parametrize("step,message", [
    ({}, "there is no baseline statistics or baseline constraints to check against (looked "
         "for: the supplied baseline, else the newest Approved version's "
         "DriftCheckBaselines.ModelDataQuality in model package group 'penguins')"),
    ({"SuppliedBaselineConstraints": "s3://b/given/constraints.json"},
     "there is no baseline statistics to check against")])
def test_a_drift_check_without_a_previous_baseline_fails_naming_what_is_missing(
        tmp_path, step, message):
    from pipeline.workflow import checks

    seen = []
    with pytest.raises(StepFailed, match="skip_check=False checks against the previous "
                                         "baseline") as failed:
        checks.quality_check(tmp_path, checking_processing(seen, []))(quality_request(
            tmp_path, str(tmp_path / "q"), SkipCheck=False, RegisterNewBaseline=True, **step))
    assert message in failed.value.reason
    assert seen == []  # no job runs without a baseline to check against


def test_a_check_job_that_writes_no_violations_file_fails_saying_so(tmp_path):
    from pipeline.workflow import checks

    with pytest.raises(StepFailed, match="the check job left no readable "
                                         "constraint_violations.json"):
        checks.quality_check(tmp_path, fake_processing([]))(quality_request(
            tmp_path, str(tmp_path / "q"), SkipCheck=False, **SUPPLIED))


TUNING = {"HyperParameterTuningJobConfig": {
    "Strategy": "Random", "RandomSeed": 1,
    "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "acc"},
    "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
    "ParameterRanges": {"ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.1", "MaxValue": "0.9", "ScalingType": "Linear"}]}},
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"epochs": "2"},
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "acc",
                                                          "Regex": "acc=([0-9.]+)"}]}}}


def test_tuning_runs_each_trial_as_a_training_job_and_lists_the_best_first(tmp_path):
    from pipeline.workflow import tuning

    trials = []

    def train(trial):
        trials.append(trial)
        hyperparameters = trial.arguments["HyperParameters"]
        if float(hyperparameters["lr"]) > 0.8:
            raise StepFailed("diverged")
        return {"FinalMetricDataList": [{"MetricName": "acc",
                                         "Value": float(hyperparameters["lr"])}]}

    properties = tuning.tuning(train)(request(tmp_path, TUNING, "Tuning"))
    assert len(trials) == 4 and all(t.arguments["HyperParameters"]["epochs"] == "2"
                                    for t in trials)
    assert "StaticHyperParameters" not in trials[0].arguments
    assert {t.job_name for t in trials} == {f"pipelines-x-s-{n:03d}" for n in range(1, 5)}
    done = [s for s in properties["TrainingJobSummaries"] if s["TrainingJobStatus"] ==
            "Completed"]
    values = [s[tuning.OBJECTIVE]["Value"] for s in done]
    assert values == sorted(values, reverse=True)
    assert properties["BestTrainingJob"] == done[0]
    assert properties["TrainingJobSummaries"][:len(done)] == done


def test_a_trial_is_a_createtrainingjob_request_the_job_runner_takes(tmp_path):
    """SDK 2.x writes HyperParameterTuningResourceConfig and tuning-only fields into the
    TrainingJobDefinition; the trial's request has CreateTrainingJob's fields only."""
    from pipeline.api import requests as api
    from pipeline.workflow import tuning

    definition = {**TUNING["TrainingJobDefinition"], "DefinitionName": "d",
                  "RoleArn": "arn:aws:iam::000000000000:role/r",
                  "OutputDataConfig": {"S3OutputPath": "s3://b/models"},
                  "HyperParameterTuningResourceConfig": {
                      "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30,
                      "AllocationStrategy": "Prioritized"},
                  "StoppingCondition": {"MaxRuntimeInSeconds": 600}}
    trial = tuning.trial_request(request(tmp_path, {}, "Tuning"), definition, {"lr": "0.5"}, 1)
    job = api.training({**trial.arguments, "TrainingJobName": trial.job_name})
    assert (job.name, job.hyperparameters, job.instance_count) == (
        "pipelines-x-s-001", {"lr": "0.5"}, 1)
    assert trial.arguments["ResourceConfig"] == {"InstanceCount": 1, "InstanceType":
                                                 "ml.m5.large", "VolumeSizeInGB": 30}


def test_tuning_fails_when_no_trial_completes(tmp_path):
    from pipeline.workflow import tuning

    def train(trial):
        raise StepFailed("no data")

    with pytest.raises(StepFailed, match="no trial completed \\(no data\\)"):
        tuning.tuning(train)(request(tmp_path, TUNING, "Tuning"))


def step_engine(tmp_path, docker="true"):
    """The job runner with a docker that starts nothing: `true` (the job completes), `false`
    (its container fails) or a shell's exit code."""
    from pipeline.api import runner
    from pipeline.api.storage import Storage

    return runner.Engine(tmp_path, docker=docker, storage=Storage(), echo=False)


TRAINING_STEP = {"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
                                            "MetricDefinitions": [{"Name": "acc",
                                                                   "Regex": "acc=([0-9.]+)"}]},
                 "RoleArn": "arn:aws:iam::000000000000:role/r",
                 "OutputDataConfig": {"S3OutputPath": "file://{out}"},
                 "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                    "VolumeSizeInGB": 30},
                 "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                 "HyperParameters": {"epochs": "2"}}


def training_step(tmp_path, **changes):
    arguments = json.loads(json.dumps(TRAINING_STEP).replace("{out}", str(tmp_path / "out")))
    arguments.update(changes)
    return request(tmp_path, arguments, "Training")


def test_a_training_step_is_a_job_of_the_job_runner_named_by_the_step(tmp_path):
    from pipeline.workflow import jobs

    answer = jobs.job_runner("training", step_engine(tmp_path))(training_step(tmp_path))
    assert answer["TrainingJobName"] == "pipelines-x-s"
    assert answer["TrainingJobStatus"] == "Completed"
    assert answer["ModelArtifacts"]["S3ModelArtifacts"] == \
        f"file://{tmp_path}/out/pipelines-x-s/output/model.tar.gz"
    assert (tmp_path / "out" / "pipelines-x-s" / "output" / "model.tar.gz").is_file()
    kept = json.loads((tmp_path / "training" / "pipelines-x-s" / "run.json").read_text())
    assert kept["TrainingJobArn"] == answer["TrainingJobArn"]  # make describe's answer too


def test_a_step_whose_job_fails_or_whose_request_is_wrong_says_why(tmp_path):
    from pipeline.workflow import jobs

    with pytest.raises(StepFailed, match="AlgorithmError: the container exited with code 1"):
        jobs.job_runner("training", step_engine(tmp_path, "false"))(training_step(tmp_path))
    with pytest.raises(StepFailed, match=r"Training s: AlgorithmSpecification.TrainingImage: "
                                         r"missing \(required\)"):
        jobs.job_runner("training", step_engine(tmp_path))(training_step(
            tmp_path, AlgorithmSpecification={}))


def test_a_step_whose_job_was_stopped_fails_saying_so(tmp_path):
    from pipeline.workflow import jobs

    with pytest.raises(StepFailed, match=r"^Stopped: the training job pipelines-x-s was "
                                         r"stopped \(MaxRuntimeInSeconds is 60 s\)"):
        jobs.job_runner("training", step_engine(tmp_path, "sh -c 'exit 143' --"))(
            training_step(tmp_path))


def test_a_script_modes_code_in_s3_is_named_by_its_path_in_the_container(tmp_path):
    from pipeline.workflow import jobs

    code = tmp_path / "sourcedir.tar.gz"
    code.write_bytes(b"x")
    hyperparameters = {"sagemaker_submit_directory": json.dumps(f"file://{code}"), "epochs": "2"}
    answer = jobs.job_runner("training", step_engine(tmp_path))(training_step(
        tmp_path, HyperParameters=hyperparameters))
    assert answer["HyperParameters"] == hyperparameters  # Describe shows the request's URI
    run = tmp_path / "training" / "pipelines-x-s"
    given = json.loads((run / "input" / "config" / "hyperparameters.json").read_text())
    assert json.loads(given["sagemaker_submit_directory"]) == \
        "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert (run / "input-code" / "sourcedir.tar.gz").read_bytes() == b"x"
    volumes = json.loads((run / "compose.json").read_text())["services"]["algo-1"]["volumes"]
    assert f"{run / 'input-code'}:/opt/ml/input/data/code:ro" in volumes


TRANSFORM_STEP = {
    "ModelName": "ghost", "TransformResources": {"InstanceCount": 1,
                                                 "InstanceType": "ml.m5.large"},
    "TransformInput": {"ContentType": "text/csv", "SplitType": "Line", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
    "TransformOutput": {"S3OutputPath": "s3://b/out", "Accept": "application/json"},
    "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 2, "MaxConcurrentTransforms": 3,
    "Environment": {"A": "1"},
    "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}}


def test_a_transform_request_becomes_the_engines_job_by_sagemakers_names(tmp_path):
    from pipeline.api.transforms import transform as parse
    from pipeline.transform.request import job_of

    job = job_of(parse({**TRANSFORM_STEP, "TransformJobName": "t"}), tmp_path / "in",
                 tmp_path / "out", {"B": "2"})
    assert (job.content_type, job.accept, job.batch_strategy, job.max_payload_mb,
            job.max_concurrent) == ("text/csv", "application/json", "MultiRecord", 2, 3)
    assert (job.input_filter, job.join_source, job.output_filter) == ("$[1:]", "Input", "$[0,-1]")
    assert job.environment == {"B": "2", "A": "1"}


def test_a_transform_of_a_model_no_step_created_says_where_models_are_kept(tmp_path):
    from pipeline.workflow import transform

    with pytest.raises(StepFailed, match="Transform s: ModelName: no model 'ghost'"):
        transform.transform(step_engine(tmp_path))(request(tmp_path, TRANSFORM_STEP,
                                                           "Transform"))
    assert not (tmp_path / "transform").exists()  # refused before any run
