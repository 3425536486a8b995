"""`make sdk-pipeline` on a pipeline built with SDK 2.x over a tiny image that is not ours
(tests/contract/pipelines/): every step type the executor runs, real containers, the local S3
over HTTP, the local registry, a Lambda handler; then a cache hit, a parameter override that
takes the else branch, and a failing step. Then a QualityCheck step's drift check
(skip_check=False) against a supplied baseline, broken and kept, run by this checkout's training
image (TRAINING_IMAGE) as the analyzer."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline.s3 import service

from harness import free_port

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "tests" / "contract" / "pipelines"
TINY_IMAGE = f"sdk-pipeline-tiny:{os.environ.get('IMAGE_TAG', 'latest')}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    subprocess.run(["docker", "build", "-q", "-t", TINY_IMAGE, "-f",
                    str(PIPELINES / "Dockerfile.tiny"), str(PIPELINES)], check=True,
                   capture_output=True)
    local = tmp_path_factory.mktemp("sdk-pipeline")
    (local / "data").mkdir()
    (local / "data" / "rows.csv").write_text("a,1\nb,2\nc,3\n")
    (local / "lambdas.json").write_text(json.dumps(
        {"notify": f"{PIPELINES / 'handlers.py'}:notify"}))
    port = free_port()
    yield local, port
    service.stop(local / "s3")


def make(workspace, parameters="", source: Path = PIPELINES / "tiny_pipeline.py"
         ) -> tuple[subprocess.CompletedProcess, Path, dict]:
    """One `make sdk-pipeline` run: (its process, the new execution's folder, its steps)."""
    local, port = workspace
    before = set((local / "executions").glob("tiny-*"))
    done = subprocess.run(
        ["make", "--no-print-directory", "sdk-pipeline",
         f"PIPELINE={source}", f"LOCAL_DIR={local}", f"S3_PORT={port}",
         f"LAMBDAS={local / 'lambdas.json'}", f"PIPELINE_DATA={local / 'data'}=s3://tiny/data",
         f"PARAMETERS={parameters}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TINY_IMAGE": TINY_IMAGE})
    (folder,) = set((local / "executions").glob("tiny-*")) - before
    listed = json.loads((folder / "steps.json").read_text())["PipelineExecutionSteps"]
    return done, folder, {step["StepName"]: step for step in listed}


@pytest.fixture(scope="module")
def first(workspace):
    return make(workspace)


@pytest.fixture(scope="module")
def request_file(first, workspace) -> Path:
    """The first run's definition as CreatePipeline's request: the runs after it take that
    (building the definition with the SDK costs more than running the tiny steps)."""
    local, _ = workspace
    path = local / "tiny-request.json"
    path.write_text(json.dumps({"PipelineName": "tiny", "PipelineDefinition": json.loads(
        (first[1] / "definition.json").read_text())}))
    return path


def properties(folder: Path, step: str) -> dict:
    return json.loads((folder / "properties" / f"{step}.json").read_text())["Properties"]


def test_every_step_type_runs_and_is_recorded_as_sagemaker_lists_it(first, workspace):
    done, folder, steps = first
    assert done.returncode == 0, done.stdout + done.stderr
    assert {name: step["StepStatus"] for name, step in steps.items()} == {
        name: "Succeeded" for name in ("prepare", "train", "tune", "evaluate", "check",
                                       "register-RegisterModel", "create-CreateModel",
                                       "notify")}
    metadata = {name: step["Metadata"] for name, step in steps.items()}
    assert metadata["prepare"]["ProcessingJob"]["Arn"].startswith(
        "arn:aws:sagemaker:us-east-1:000000000000:processing-job/pipelines-")
    assert "TrainingJob" in metadata["train"] and "TuningJob" in metadata["tune"]
    assert metadata["check"] == {"Condition": {"Outcome": "True"}}
    assert metadata["register-RegisterModel"]["RegisterModel"]["Arn"].endswith(
        ":model-package/tiny/1")
    assert metadata["notify"]["Lambda"]["OutputParameters"] == [
        {"Name": "package", "Value": metadata["register-RegisterModel"]["RegisterModel"]["Arn"]}]
    execution = json.loads((folder / "execution.json").read_text())
    assert execution["PipelineExecutionStatus"] == "Succeeded"


def test_jobs_read_and_write_the_local_s3_where_sagemaker_puts_their_data(first, workspace):
    local, _ = workspace
    _, folder, _ = first
    trained = properties(folder, "train")
    model = trained["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == f"s3://tiny/models/{trained['TrainingJobName']}/output/model.tar.gz"
    assert (local / "s3" / model.removeprefix("s3://")).is_file()
    prepared = properties(folder, "prepare")["ProcessingOutputConfig"]["Outputs"][0]
    split = local / "s3" / prepared["S3Output"]["S3Uri"].removeprefix("s3://") / "train.csv"
    assert split.read_text().splitlines() == ["a,1", "b,2", "c,3"]
    assert trained["FinalMetricDataList"][0]["MetricName"] == "accuracy"
    # The step's job is a job run as `make job` runs one: make describe gives its answer.
    described = subprocess.run(["make", "--no-print-directory", "describe", f"LOCAL_DIR={local}",
                                f"JOB={trained['TrainingJobName']}"], cwd=REPO,
                               capture_output=True, text=True, check=True)
    assert json.loads(described.stdout) == trained


def test_tuning_lists_trials_best_first_and_the_top_model_is_the_one_evaluated(first):
    _, folder, _ = first
    tuned = properties(folder, "tune")
    values = [summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for summary in tuned["TrainingJobSummaries"]]
    assert len(values) == 2 and values == sorted(values, reverse=True)
    evaluated = properties(folder, "evaluate")["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    best = tuned["TrainingJobSummaries"][0]["TrainingJobName"]
    assert evaluated == f"s3://tiny/models/{best}/output/model.tar.gz"


def test_the_registered_version_keeps_the_requests_status_and_metrics(first, workspace):
    local, _ = workspace
    meta = json.loads((local / "registry" / "tiny" / "1" / "metadata.json").read_text())
    assert meta["approval_status"] == "Approved"
    assert meta["accuracy"] >= 0.8
    assert meta["model_package"]["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] \
        .endswith("/evaluation.json")


def test_a_second_run_takes_the_cached_processing_step(first, workspace, request_file):
    local, _ = workspace
    done, folder, steps = make(workspace, source=request_file)
    assert done.returncode == 0, done.stdout + done.stderr
    first_arn = json.loads((first[1] / "execution.json").read_text())["PipelineExecutionArn"]
    assert steps["prepare"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first_arn}
    execution_id = folder.name.rsplit("-", 1)[-1]
    assert not any((local / "processing").glob(f"pipelines-{execution_id}-prepare-*"))
    assert any((local / "processing").glob(f"pipelines-{execution_id}-evaluate-*"))
    assert "CacheHitResult" not in steps["train"]


def test_a_parameter_override_takes_the_else_branch_to_the_fail_step(first, workspace,
                                                                     request_file):
    done, folder, steps = make(workspace, "Threshold=0.99", request_file)
    assert done.returncode != 0  # the command exits 1 and make says so
    assert steps["check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert steps["fail"]["StepStatus"] == "Failed"
    assert steps["fail"]["FailureReason"] == "accuracy below 0.99"
    assert not {"register-RegisterModel", "create-CreateModel", "notify"} & set(steps)
    execution = json.loads((folder / "execution.json").read_text())
    assert execution["PipelineExecutionStatus"] == "Failed"
    assert {"Name": "Threshold", "Value": "0.99"} in execution["PipelineParameters"]


def test_a_failing_step_records_its_reason_and_nothing_after_it_runs(first, workspace,
                                                                      request_file):
    done, folder, steps = make(workspace, "PrepareArgument=--fail", request_file)
    assert done.returncode != 0  # the command exits 1 and make says so
    assert set(steps) == {"prepare"}
    assert steps["prepare"]["StepStatus"] == "Failed"
    assert "prepare was told to fail" in steps["prepare"]["FailureReason"]
    assert "Step prepare failed" in json.loads(
        (folder / "execution.json").read_text())["FailureReason"]


def test_make_executions_lists_every_run_newest_first(first, workspace):
    local, port = workspace
    done = subprocess.run(["make", "--no-print-directory", "executions", f"LOCAL_DIR={local}"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(first[1].name) and "Succeeded" in lines[-1]


def sdk3_run(workspace, source: Path, parameters: str = "") -> Path:
    """One `make sdk-pipeline SDK=3` run: the new execution's folder."""
    local, port = workspace
    done = subprocess.run(
        ["make", "--no-print-directory", "sdk-pipeline", "SDK=3", f"PIPELINE={source}",
         f"LOCAL_DIR={local}", f"S3_PORT={port}", f"PARAMETERS={parameters}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    (folder,) = sorted((local / "executions").glob("sdk3-branches-*"),
                       key=lambda path: path.stat().st_mtime)[-1:]
    assert (folder / "execution.json").is_file(), done.stdout + done.stderr
    return folder


@pytest.fixture(scope="module")
def sdk3_first(workspace) -> tuple[Path, Path]:
    """The definition SDK 3.x builds, run with its defaults; and it as CreatePipeline's request
    for the runs with other parameters."""
    folder = sdk3_run(workspace, PIPELINES / "sdk3_branches.py")
    request = workspace[0] / "sdk3-request.json"
    request.write_text(json.dumps({"PipelineName": "sdk3-branches", "PipelineDefinition":
                                   json.loads((folder / "definition.json").read_text())}))
    return folder, request


@pytest.mark.parametrize("parameters,status,reason", [
    ("", "Succeeded", None), ("Threshold=0.9 Label=built", "Failed", "built score below 0.9")])
def test_a_definition_sdk3_writes_runs_the_same_way(workspace, sdk3_first, parameters, status,
                                                    reason):
    folder, request = sdk3_first
    if parameters:
        folder = sdk3_run(workspace, request, parameters)
    execution = json.loads((folder / "execution.json").read_text())
    assert execution["PipelineExecutionStatus"] == status, execution
    steps = json.loads((folder / "steps.json").read_text())["PipelineExecutionSteps"]
    failed = [step for step in steps if step["StepStatus"] == "Failed"]
    assert [step.get("FailureReason") for step in failed] == ([reason] if reason else [])


# The supplied baseline of the QualityCheck runs: _c0 whole numbers, all present; _c1 one of a, b.
QUALITY_CONSTRAINTS = {"version": 0.0, "features": [
    {"name": "_c0", "inferred_type": "Integral", "completeness": 1.0},
    {"name": "_c1", "inferred_type": "String", "completeness": 1.0,
     "string_constraints": {"domains": ["a", "b"]}}]}
QUALITY_STATISTICS = {"version": 0.0, "dataset": {"item_count": 3}, "features": []}


def quality_check(workspace, bucket: str, rows: str):
    """tests/contract/pipelines/quality_check.py over `rows` in s3://<bucket>/data with the
    baseline above in s3://<bucket>/baseline/: (make's process, the step's record)."""
    local, port = workspace
    folder = local / f"{bucket}-input"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "rows.csv").write_text(rows)
    (folder / "baseline").mkdir()
    (folder / "baseline" / "constraints.json").write_text(json.dumps(QUALITY_CONSTRAINTS))
    (folder / "baseline" / "statistics.json").write_text(json.dumps(QUALITY_STATISTICS))
    before = set((local / "executions").glob("quality-check-*"))
    done = subprocess.run(
        ["make", "--no-print-directory", "sdk-pipeline",
         f"PIPELINE={PIPELINES / 'quality_check.py'}", f"LOCAL_DIR={local}", f"S3_PORT={port}",
         f"PIPELINE_DATA={folder}=s3://{bucket}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PIPELINE_BUCKET": bucket})
    found = set((local / "executions").glob("quality-check-*")) - before
    assert len(found) == 1, done.stdout + done.stderr
    (step,) = json.loads((found.pop() / "steps.json").read_text())["PipelineExecutionSteps"]
    return done, step


def test_a_quality_check_against_a_baseline_the_data_breaks_fails_with_its_report(workspace):
    local, _ = workspace
    done, step = quality_check(workspace, "quality", "1,a\nx,c\n,b\n")
    assert done.returncode != 0, done.stdout + done.stderr  # the step fails, so make does
    report = "s3://quality/checked/constraint_violations.json"
    assert step["StepStatus"] == "Failed", done.stdout + done.stderr
    assert step["FailureReason"].endswith(f"; violation report: {report}")
    assert "of the baseline s3://quality/baseline/constraints.json" in step["FailureReason"]
    metadata = step["Metadata"]["QualityCheck"]
    assert metadata["ViolationReport"] == report
    assert metadata["BaselineUsedForDriftCheckConstraints"] == \
        "s3://quality/baseline/constraints.json"
    assert metadata["CheckJobArn"].startswith("arn:aws:sagemaker:")
    written = json.loads((local / "s3" / report.removeprefix("s3://")).read_text())
    assert {(v["feature_name"], v["constraint_check_type"]) for v in written["violations"]} == {
        ("_c0", "data_type_check"), ("_c0", "completeness_check"),
        ("_c1", "categorical_values_check")}
    assert (local / "s3" / "quality" / "checked" / "statistics.json").is_file()


def test_a_quality_check_of_data_within_its_baseline_passes(workspace):
    local, _ = workspace
    done, step = quality_check(workspace, "quality-ok", "1,a\n2,b\n3,a\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert step["StepStatus"] == "Succeeded"
    metadata = step["Metadata"]["QualityCheck"]
    assert "ViolationReport" not in metadata
    assert (metadata["SkipCheck"], metadata["RegisterNewBaseline"]) == (False, False)
    assert metadata["BaselineUsedForDriftCheckStatistics"] == \
        "s3://quality-ok/baseline/statistics.json"
    assert metadata["CalculatedBaselineConstraints"] == "s3://quality-ok/checked/constraints.json"
    written = local / "s3" / "quality-ok" / "checked" / "constraint_violations.json"
    assert json.loads(written.read_text()) == {"violations": []}
