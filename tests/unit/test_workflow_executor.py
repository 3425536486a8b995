"""Executions of a definition with fake step runners, in-process: order, parallelism, branches,
failures, parameters, cache, retries and the records SageMaker's ListPipelineExecutionSteps
gives."""

import json
import threading
import time

import pytest

from pipeline.workflow import definition, records
from pipeline.workflow.executor import Executor, StepFailed, StepResult

pytestmark = pytest.mark.pipeline


def step(name, kind="Processing", **fields):
    return {"Name": name, "Type": kind, "Arguments": fields.pop("Arguments", {}), **fields}


def output(step_name, name="out"):
    return {"Get": f"Steps.{step_name}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


class Fake:
    """Processing and Training runners that record their calls and write nothing."""

    def __init__(self, fail=(), hold=0.0, flaky=None):
        self.calls, self.fail, self.hold, self.flaky = [], set(fail), hold, dict(flaky or {})
        self.lock, self.running, self.most = threading.Lock(), 0, 0

    def __call__(self, request):
        with self.lock:
            self.calls.append((request.name, request.arguments))
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.hold)
            if request.name in self.fail:
                raise StepFailed(f"{request.name} exploded")
            if self.flaky.get(request.name, 0) > 0:
                self.flaky[request.name] -= 1
                raise StepFailed("capacity", "SageMaker.CAPACITY_ERROR")
            uri = f"s3://bkt/{request.name}/{request.job_name}"
            return {"ProcessingJobName": request.job_name,
                    "ProcessingJobArn": records.arn("processing-job", request.job_name),
                    "ProcessingOutputConfig": {"Outputs": [
                        {"OutputName": "out", "S3Output": {"S3Uri": uri}}]}}
        finally:
            with self.lock:
                self.running -= 1

    def names(self):
        return [name for name, _ in self.calls]


def run(tmp_path, steps, fake=None, parameters=(), overrides=None, read=None, **options):
    fake = fake or Fake()
    parsed = definition.parse({"Version": "2020-12-01", "Parameters": list(parameters),
                               "Steps": steps})
    executor = Executor(parsed, {"Processing": fake, "Training": fake}, tmp_path, "demo",
                        overrides or {}, read=read, **options)
    execution = executor.run()
    listed = json.loads((execution.folder / records.STEPS).read_text())["PipelineExecutionSteps"]
    return execution, {item["StepName"]: item for item in listed}, fake


def test_steps_run_after_what_they_read_and_get_its_values(tmp_path):
    execution, listed, fake = run(tmp_path, [
        step("b", Arguments={"In": output("a")}), step("a")])
    assert fake.names() == ["a", "b"]
    assert fake.calls[1][1]["In"].startswith("s3://bkt/a/pipelines-")
    assert execution.record["PipelineExecutionStatus"] == "Succeeded"
    assert {name: item["StepStatus"] for name, item in listed.items()} == {
        "a": "Succeeded", "b": "Succeeded"}
    assert listed["a"]["Metadata"]["ProcessingJob"]["Arn"].startswith(
        "arn:aws:sagemaker:")
    assert listed["a"]["AttemptCount"] == 1
    assert listed["a"]["EndTime"] <= listed["b"]["StartTime"]


def test_independent_steps_run_side_by_side_within_the_bound(tmp_path):
    fake = Fake(hold=0.2)
    run(tmp_path, [step(name) for name in "abcd"], fake, parallel=2)
    assert fake.most == 2


def test_a_failing_step_fails_the_execution_with_its_reason_and_later_steps_do_not_run(tmp_path):
    execution, listed, fake = run(tmp_path, [
        step("a"), step("b", DependsOn=["a"]), step("c", DependsOn=["b"])], Fake(fail={"a"}))
    assert fake.names() == ["a"]
    assert listed["a"]["StepStatus"] == "Failed"
    assert listed["a"]["FailureReason"] == "a exploded"
    assert set(listed) == {"a"}
    assert execution.record["PipelineExecutionStatus"] == "Failed"
    assert "a exploded" in execution.record["FailureReason"]


def test_a_failed_step_keeps_the_metadata_its_runner_gives(tmp_path):
    def check(request):
        raise StepFailed("violations", metadata={"QualityCheck": {"ViolationReport": "s3://r"}})

    parsed = definition.parse({"Version": "2020-12-01", "Steps": [step("q", "QualityCheck")]})
    execution = Executor(parsed, {"QualityCheck": check}, tmp_path, "demo", {}).run()
    (listed,) = json.loads((execution.folder / records.STEPS).read_text())[
        "PipelineExecutionSteps"]
    assert (listed["StepStatus"], listed["FailureReason"]) == ("Failed", "violations")
    assert listed["Metadata"] == {"QualityCheck": {"ViolationReport": "s3://r"}}


def test_after_a_failure_no_new_step_starts_but_running_ones_finish(tmp_path):
    fake = Fake(fail={"a"}, hold=0.1)
    _, listed, _ = run(tmp_path, [step("a"), step("slow"), step("later")], fake, parallel=2)
    assert set(fake.names()) == {"a", "slow"}
    assert listed["slow"]["StepStatus"] == "Succeeded"


def branching(threshold_default=0.5):
    parameters = [{"Name": "Threshold", "Type": "Float", "DefaultValue": threshold_default}]
    steps = [step("evaluate"), step("check", "Condition", Arguments={
        "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": 0.8,
                        "RightValue": {"Get": "Parameters.Threshold"}}],
        "IfSteps": [step("register")],
        "ElseSteps": [step("fail", "Fail", Arguments={"ErrorMessage": {"Std:Join": {
            "On": " ", "Values": ["accuracy below", {"Get": "Parameters.Threshold"}]}}})]},
        DependsOn=["evaluate"]), step("after", DependsOn=["register"])]
    return parameters, steps


def test_a_condition_that_holds_runs_its_if_steps_only(tmp_path):
    parameters, steps = branching()
    execution, listed, fake = run(tmp_path, steps, parameters=parameters)
    assert fake.names() == ["evaluate", "register", "after"]
    assert listed["check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert "fail" not in listed
    assert execution.record["PipelineExecutionStatus"] == "Succeeded"


def test_a_parameter_override_takes_the_else_branch_to_its_fail_step(tmp_path):
    parameters, steps = branching()
    execution, listed, fake = run(tmp_path, steps, parameters=parameters,
                                  overrides={"Threshold": "0.9"})
    assert fake.names() == ["evaluate"]
    assert listed["check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert listed["fail"]["StepStatus"] == "Failed"
    assert listed["fail"]["FailureReason"] == "accuracy below 0.9"
    assert listed["fail"]["Metadata"] == {"Fail": {"ErrorMessage": "accuracy below 0.9"}}
    assert "register" not in listed and "after" not in listed
    assert execution.record["PipelineExecutionStatus"] == "Failed"
    assert execution.record["PipelineParameters"] == [{"Name": "Threshold", "Value": "0.9"}]


PARAMETER_ERRORS = [
    ({"Nope": "1"}, "parameter 'Nope' is not in the definition"),
    ({"Threshold": "high"}, "parameter Threshold: 'high' is not a Float"),
]


@pytest.mark.parametrize("overrides,message", PARAMETER_ERRORS)
def test_a_bad_override_is_refused_before_anything_runs(tmp_path, overrides, message):
    parameters, steps = branching()
    with pytest.raises(ValueError, match=message):
        run(tmp_path, steps, parameters=parameters, overrides=overrides)
    assert not (tmp_path / records.EXECUTIONS).exists()


def test_a_parameter_without_default_must_be_given(tmp_path):
    with pytest.raises(ValueError, match="parameter Data has no default"):
        run(tmp_path, [step("a")], parameters=[{"Name": "Data", "Type": "String"}])


CASTS = [("Integer", "7", 7), ("Float", "0.25", 0.25), ("Boolean", "True", True),
         ("Boolean", "false", False), ("String", "s3://b/k", "s3://b/k")]


@pytest.mark.parametrize("kind,given,value", CASTS)
def test_an_override_takes_its_parameter_type(tmp_path, kind, given, value):
    fake = Fake()
    run(tmp_path, [step("a", Arguments={"P": {"Get": "Parameters.P"}})], fake,
        parameters=[{"Name": "P", "Type": kind}], overrides={"P": given})
    assert fake.calls[0][1]["P"] == value


def test_execution_variables_reach_the_arguments(tmp_path):
    fake = Fake()
    execution, _, _ = run(tmp_path, [step("a", Arguments={
        "Id": {"Get": "Execution.PipelineExecutionId"},
        "Job": {"Get": "Execution.ProcessingJobName"},
        "Arn": {"Get": "Execution.PipelineExecutionArn"}})], fake)
    arguments = fake.calls[0][1]
    assert arguments["Id"] == execution.id
    assert arguments["Job"].startswith(f"pipelines-{execution.id}-a-")
    assert arguments["Arn"] == execution.arn


CACHED = {"CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"}}


def inputs(uri="s3://bkt/data", out="s3://bkt/out"):
    return {"ProcessingInputs": [{"S3Input": {"S3Uri": uri}}], "Environment": {"A": "1"},
            "ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": out}}]}}


def test_a_cached_step_with_the_same_key_attributes_reuses_the_earlier_run(tmp_path):
    first, _, fake = run(tmp_path, [step("a", Arguments=inputs(), **CACHED),
                                    step("b", Arguments={"In": output("a")})])
    # Outputs are not among a processing step's key attributes, as on SageMaker.
    second, listed, _ = run(tmp_path, [step("a", Arguments=inputs(out="s3://bkt/other"),
                                            **CACHED),
                                       step("b", Arguments={"In": output("a")})], fake)
    assert fake.names() == ["a", "b", "b"]
    assert listed["a"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
    assert fake.calls[1][1] == fake.calls[2][1]  # b read the cached step's properties
    assert "CacheHitResult" not in listed["b"]


CACHE_MISSES = [
    ("other inputs", inputs(uri="s3://bkt/other"), CACHED),
    ("caching off", inputs(), {}),
    ("the earlier run expired", inputs(), {"CacheConfig": {"Enabled": True,
                                                            "ExpireAfter": "PT0S"}}),
]


@pytest.mark.parametrize("arguments,config", [case[1:] for case in CACHE_MISSES],
                         ids=[case[0] for case in CACHE_MISSES])
def test_a_cached_step_runs_again_when_its_work_is_not_the_same(tmp_path, arguments, config):
    _, _, fake = run(tmp_path, [step("a", Arguments=inputs(), **CACHED)])
    time.sleep(0.01)  # an expiry of PT0S is behind the first run's end
    run(tmp_path, [step("a", Arguments=arguments, **config)], fake)
    assert fake.names() == ["a", "a"]


def test_a_failed_step_is_never_a_cache_hit(tmp_path):
    _, _, fake = run(tmp_path, [step("a", **CACHED)], Fake(fail={"a"}))
    fake.fail.clear()
    _, listed, _ = run(tmp_path, [step("a", **CACHED)], fake)
    assert fake.names() == ["a", "a"] and "CacheHitResult" not in listed["a"]


RETRY = {"RetryPolicies": [{"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 1,
                            "BackoffRate": 2.0, "MaxAttempts": 2}]}


def test_a_retry_policy_tries_its_exception_type_again_with_backoff(tmp_path):
    waits = []
    _, listed, fake = run(tmp_path, [step("a", **RETRY)], Fake(flaky={"a": 2}),
                          sleep=waits.append)
    assert listed["a"]["StepStatus"] == "Succeeded" and listed["a"]["AttemptCount"] == 3
    assert waits == [1.0, 2.0]


def test_a_retry_policy_gives_up_after_its_attempts(tmp_path):
    _, listed, _ = run(tmp_path, [step("a", **RETRY)], Fake(flaky={"a": 5}), sleep=lambda s: 0)
    assert listed["a"]["StepStatus"] == "Failed" and listed["a"]["AttemptCount"] == 3


def test_a_failure_of_the_work_itself_is_not_retried(tmp_path):
    _, listed, _ = run(tmp_path, [step("a", **RETRY)], Fake(fail={"a"}), sleep=lambda s: 0)
    assert listed["a"]["AttemptCount"] == 1


def test_a_runner_that_raises_fails_its_step_with_the_error_as_reason(tmp_path):
    def broken(request):
        raise RuntimeError("docker is not running")

    parsed = definition.parse({"Steps": [step("a", "Training")]})
    execution = Executor(parsed, {"Training": broken}, tmp_path, "demo").run()
    listed = json.loads((execution.folder / records.STEPS).read_text())["PipelineExecutionSteps"]
    assert listed[0]["FailureReason"] == "RuntimeError: docker is not running"


def test_a_step_type_without_a_runner_fails_naming_what_runs(tmp_path):
    _, listed, _ = run(tmp_path, [step("e", "EMR")])
    assert listed["e"]["FailureReason"].startswith("step type EMR does not run here (runs: ")


def test_a_property_file_is_read_from_its_processing_output(tmp_path):
    files = {}

    def read(uri):
        files[uri] = True
        return json.dumps({"metrics": {"accuracy": {"value": 0.75}}}).encode()

    report = [{"PropertyFileName": "Report", "OutputName": "out", "FilePath": "evaluation.json"}]
    _, listed, _ = run(tmp_path, [step("evaluate", PropertyFiles=report), step(
        "check", "Condition", Arguments={"Conditions": [{
            "Type": "LessThan", "RightValue": 0.7, "LeftValue": {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.Report"},
                "Path": "metrics.accuracy.value"}}}], "IfSteps": [], "ElseSteps": []})],
        read=read)
    assert listed["check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    (uri,) = files
    assert uri.startswith("s3://bkt/evaluate/") and uri.endswith("/evaluation.json")


def test_a_runner_can_give_its_own_metadata(tmp_path):
    def lambda_runner(request):
        return StepResult({"OutputParameters": {"x": "1"}},
                          {"Lambda": {"Arn": "arn:fn", "OutputParameters": [
                              {"Name": "x", "Value": "1"}]}})

    parsed = definition.parse({"Steps": [step("l", "Lambda")]})
    execution = Executor(parsed, {"Lambda": lambda_runner}, tmp_path, "demo").run()
    listed = json.loads((execution.folder / records.STEPS).read_text())["PipelineExecutionSteps"]
    assert listed[0]["Metadata"]["Lambda"]["OutputParameters"] == [{"Name": "x", "Value": "1"}]


def test_executions_are_listed_newest_first_with_their_steps(tmp_path):
    first, _, fake = run(tmp_path, [step("a")])
    second, _, _ = run(tmp_path, [step("a")], Fake(fail={"a"}))
    listed = records.executions(tmp_path)
    assert [item["PipelineExecutionArn"] for item in listed] == [second.arn, first.arn]
    assert [item["PipelineExecutionStatus"] for item in listed] == ["Failed", "Succeeded"]
    assert listed[0]["Steps"][0]["StepName"] == "a"


def test_a_step_whose_records_cannot_be_written_fails_and_the_execution_ends(tmp_path,
                                                                            monkeypatch):
    def unwritable(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(records.Execution, "keep_properties", unwritable)
    execution, listed, _ = run(tmp_path, [step("a"), step("b", DependsOn=["a"])])
    assert listed["a"]["FailureReason"] == "OSError: disk full"
    assert set(listed) == {"a"}
    assert execution.record["PipelineExecutionStatus"] == "Failed"
