"""make baseline, make model-baseline, make monitor-data and make monitor-model through the job
runner, in-process: each builds SageMaker's CreateProcessingJob request (Model Monitor's shape:
the dataset, capture, ground truth and baseline as ProcessingInputs under /opt/ml/processing, the
analyzer's environment) and its run keeps request.json and a DescribeProcessingJob run.json. A
docker stand-in plays the analyzer: it reads the container's volumes and environment from its
`docker run` and writes what the image writes."""

import json
from pathlib import Path

import monitor_cases as cases
import pytest

from pipeline.api import runner
from pipeline.monitoring import baseline, dataquality, modelquality
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline

@pytest.fixture
def options(tmp_path, monkeypatch) -> list[str]:
    fake = cases.fake_analyzer(tmp_path, monkeypatch)
    return ["--local", str(tmp_path / "local"), "--compose", fake["compose"],
            "--docker", fake["docker"], "--image", "penguins-training:test", "--keep", "5"]


def request_of(run: runs.Run) -> dict:
    return json.loads((run.folder / "request.json").read_text())


def inputs_of(body: dict) -> dict:
    return {item["InputName"]: (item["S3Input"]["S3Uri"], item["S3Input"]["LocalPath"])
            for item in body["ProcessingInputs"]}


def outputs_of(body: dict) -> dict:
    return {item["OutputName"]: (item["S3Output"]["S3Uri"], item["S3Output"]["LocalPath"])
            for item in body["ProcessingOutputConfig"]["Outputs"]}


def described(run: runs.Run) -> dict:
    return runner.describe_job(run.folder.parents[1], run.name)


def processing_run(local: Path) -> runs.Run:
    run = runs.create(local, "processing", "penguins")
    data = run.folder / "processing" / "baseline" / "train-baseline.csv"
    data.parent.mkdir(parents=True)
    data.write_text("island,bill_length_mm\nBiscoe,40.1\n")
    runs.finish(run, 0)
    return run


def test_make_baseline_is_a_create_processing_job_request_and_a_described_run(tmp_path,
                                                                             options):
    local = tmp_path / "local"
    processed = processing_run(local)
    assert baseline.main(options) == 0
    [run] = runs.runs(local, "baseline")
    body = request_of(run)
    assert body["ProcessingJobName"] == run.name
    assert body["AppSpecification"] == {"ImageUri": "penguins-training:test",
                                        "ContainerEntrypoint": ["baseline"],
                                        "ContainerArguments": ["--workload", "penguins"]}
    dataset = processed.folder / "processing" / "baseline" / "train-baseline.csv"
    assert inputs_of(body) == {"baseline_dataset_input": (
        f"file://{dataset}", "/opt/ml/processing/input/baseline_dataset_input")}
    assert outputs_of(body) == {"monitoring_output": (
        f"file://{run.folder / 'processing' / 'output'}", "/opt/ml/processing/output")}
    assert {key: body["Environment"][key] for key in ("dataset_format", "dataset_source",
                                                      "output_path")} == {
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output"}
    # The run is a job's run: Describe's answer, the fields make's lineage reads, the dataset
    # the job was given kept in it.
    answer = described(run)
    assert answer["ProcessingJobStatus"] == "Completed" and answer["ProcessingJobName"] == run.name
    assert answer["ProcessingJobArn"].endswith(f":processing-job/{run.name}")
    assert run.record["analysis_type"] == "DATA_QUALITY"
    assert (run.folder / "processing" / "input" / "baseline_dataset_input" /
            "train-baseline.csv").read_text() == dataset.read_text()
    assert baseline.lineage(local, processed.name, "penguins") == (run.name, {
        "statistics": str(run.folder / "processing" / "output" / "statistics.json"),
        "constraints": str(run.folder / "processing" / "output" / "constraints.json")})


def test_make_model_baseline_asks_the_analyzer_for_model_quality(tmp_path, options):
    local = tmp_path / "local"
    transformed = runs.create(local, "transform", "penguins", parameters={
        "DataProcessing": {"JoinSource": "Input"}, "TransformInput": {"ContentType": "text/csv"}})
    (transformed.folder / "output").mkdir()
    (transformed.folder / "output" / "test.csv.out").write_text("Adelie,Adelie\n")
    runs.finish(transformed, 0)
    assert baseline.main([*options, "--model-quality"]) == 0
    [run] = runs.runs(local, "baseline")
    environment = request_of(run)["Environment"]
    assert {key: environment[key] for key in ("analysis_type", "problem_type",
                                              "ground_truth_attribute", "inference_attribute",
                                              "dataset_format")} == {
        "analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
        "ground_truth_attribute": "_c0", "inference_attribute": "_c1",
        "dataset_format": '{"csv": {"header": false}}'}
    assert inputs_of(request_of(run))["baseline_dataset_input"][0] == \
        f"file://{transformed.folder / 'output'}"
    assert described(run)["ProcessingJobStatus"] == "Completed"
    assert run.record["analysis_type"] == "MODEL_QUALITY"


def test_make_model_baseline_passes_problem_type_and_probability_attributes_on(tmp_path,
                                                                               options):
    local = tmp_path / "local"
    transformed = runs.create(local, "transform", "penguins", parameters={
        "DataProcessing": {"JoinSource": "Input"}, "TransformInput": {"ContentType": "text/csv"}})
    (transformed.folder / "output").mkdir()
    (transformed.folder / "output" / "test.csv.out").write_text("1,1,0.9\n")
    runs.finish(transformed, 0)
    assert baseline.main([*options, "--model-quality", "--problem-type", "BinaryClassification",
                          "--probability-attribute", "_c2",
                          "--probability-threshold-attribute", "0.7"]) == 0
    [run] = runs.runs(local, "baseline")
    environment = request_of(run)["Environment"]
    assert {key: environment.get(key) for key in (
        "problem_type", "inference_attribute", "probability_attribute",
        "probability_threshold_attribute")} == {
        "problem_type": "BinaryClassification", "inference_attribute": "_c1",
        "probability_attribute": "_c2", "probability_threshold_attribute": "0.7"}


def window() -> list[str]:
    return ["--start", f"{cases.HOUR:%Y-%m-%dT%H:%M:%SZ}", "--end", "2026-11-23T22:00:00Z"]


def test_make_monitor_data_is_a_monitoring_execution_request_with_the_baseline_as_inputs(
        tmp_path, options, monkeypatch):
    local = tmp_path / "local"
    used = cases.filed_baseline(local, "DATA_QUALITY")
    capture = tmp_path / "capture"
    cases.write(capture, cases.json_lines([{"island": "Biscoe"}]))
    monkeypatch.setenv("FAKE_VIOLATIONS", "2")
    assert dataquality.main(["run", *options, "--capture", str(capture), *window()]) == 0
    [run] = runs.runs(local, "monitoring")
    body = request_of(run)
    variant = capture / "penguins-endpoint" / "AllTraffic"
    files = used.folder / "processing" / "output"
    assert body["AppSpecification"]["ContainerEntrypoint"] == ["monitor"]
    assert inputs_of(body) == {
        "endpoint": (f"file://{variant}", "/opt/ml/processing/input/endpoint"),
        "baseline_statistics": (f"file://{files / 'statistics.json'}",
                                "/opt/ml/processing/baseline"),
        "baseline_constraints": (f"file://{files / 'constraints.json'}",
                                 "/opt/ml/processing/baseline")}
    assert outputs_of(body) == {"result": (f"file://{run.folder / 'processing' / 'resultdata'}",
                                           "/opt/ml/processing/resultdata")}
    environment = body["Environment"]
    assert {key: environment[key] for key in (
        "analysis_type", "dataset_source", "output_path", "baseline_statistics",
        "baseline_constraints", "start_time", "end_time")} == {
        "analysis_type": "DATA_QUALITY", "dataset_source": "/opt/ml/processing/input/endpoint",
        "output_path": "/opt/ml/processing/resultdata",
        "baseline_statistics": "/opt/ml/processing/baseline/statistics.json",
        "baseline_constraints": "/opt/ml/processing/baseline/constraints.json",
        "start_time": window()[1], "end_time": "2026-11-23T22:00:00Z"}
    assert json.loads(environment["dataset_format"]) == {"sagemakerCaptureJson": {
        "captureIndexNames": ["endpointInput", "endpointOutput"]}}
    # The capture is read where it is, read-only; the baseline is copied into the run.
    compose = json.loads((run.folder / "compose.json").read_text())
    assert f"{variant}:/opt/ml/processing/input/endpoint:ro" in \
        compose["services"]["algo-1"]["volumes"]
    assert json.loads((run.folder / "processing" / "baseline" / "constraints.json")
                      .read_text()) == {"of": used.name}
    assert described(run)["ProcessingJobStatus"] == "Completed"
    assert run.record["metric"] == {"name": "violations", "value": 2.0}
    assert (run.record["variant"], run.record["inputs"]["baseline"]["from"]) == (
        "AllTraffic", f"baseline run {used.name}")


def test_a_record_preprocessor_is_the_code_input_the_analyzer_is_told_of(tmp_path, options):
    cases.filed_baseline(tmp_path / "local", "DATA_QUALITY")
    capture = tmp_path / "capture"
    cases.write(capture, cases.json_lines([{"island": "Biscoe"}]))
    script = tmp_path / "prep.py"
    script.write_text("def preprocess_handler(record):\n    return {}\n")
    assert dataquality.main(["run", *options, "--capture", str(capture), *window(),
                             "--preprocessor", str(script)]) == 0
    [run] = runs.runs(tmp_path / "local", "monitoring")
    body = request_of(run)
    assert inputs_of(body)["code"] == (f"file://{script}", "/opt/ml/processing/code")
    assert body["Environment"]["record_preprocessor_script"] == "/opt/ml/processing/code/prep.py"
    assert (run.folder / "processing" / "code" / "prep.py").read_text() == script.read_text()


def test_make_monitor_model_gives_the_ground_truth_as_an_input(tmp_path, options):
    local = tmp_path / "local"
    cases.filed_baseline(local, "MODEL_QUALITY")
    capture, truth = tmp_path / "capture", tmp_path / "truth"
    cases.write(capture, cases.json_lines([{"island": "Biscoe"}]))
    truth.mkdir()
    assert modelquality.main([*options, "--capture", str(capture), "--ground-truth", str(truth),
                              *window()]) == 0
    [run] = runs.runs(local, "monitoring")
    body = request_of(run)
    assert inputs_of(body)["groundtruth"] == (f"file://{truth}", "/opt/ml/processing/groundtruth")
    assert {key: body["Environment"][key] for key in ("analysis_type", "problem_type",
                                                      "ground_truth_source",
                                                      "inference_attribute")} == {
        "analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
        "ground_truth_source": "/opt/ml/processing/groundtruth",
        "inference_attribute": "prediction"}
    assert described(run)["ProcessingJobStatus"] == "Completed"
    assert run.record["metric"] == {"name": "violations", "value": 0.0}


@pytest.mark.parametrize(("constraints", "problem"), [
    ({"regression_constraints": {}}, "Regression"),
    ({"binary_classification_constraints": {}}, "BinaryClassification"),
    ({"of": "a file of no problem type"}, "MulticlassClassification")])
def test_make_monitor_model_asks_for_the_problem_type_of_its_baselines_constraints(
        tmp_path, options, constraints, problem):
    local = tmp_path / "local"
    filed = cases.filed_baseline(local, "MODEL_QUALITY")
    (filed.folder / "processing" / "output" / "constraints.json").write_text(
        json.dumps(constraints))
    capture, truth = tmp_path / "capture", tmp_path / "truth"
    cases.write(capture, cases.json_lines([{"island": "Biscoe"}]))
    truth.mkdir()
    assert modelquality.main([*options, "--capture", str(capture), "--ground-truth", str(truth),
                              *window()]) == 0
    [run] = runs.runs(local, "monitoring")
    assert request_of(run)["Environment"]["problem_type"] == problem


def test_a_schedules_model_quality_execution_gets_its_job_definitions_attributes_alone():
    """SageMaker's analyzer sees what the job definition names: no built-in prediction field
    that would stop a binary monitor from thresholding its probability."""
    from datetime import timedelta

    found = modelquality.environment(cases.HOUR, cases.HOUR + timedelta(hours=1))
    assert set(found) == {"analysis_type", "ground_truth_source", "start_time", "end_time"}


def test_a_failed_analyzer_is_a_failed_job_with_its_message_as_the_reason(tmp_path, options,
                                                                          monkeypatch, capsys):
    local = tmp_path / "local"
    processing_run(local)
    monkeypatch.setenv("FAKE_ANALYZER_FAILS", "1")
    assert baseline.main(options) == 1
    [run] = runs.runs(local, "baseline")
    answer = described(run)
    assert answer["ProcessingJobStatus"] == "Failed"
    assert answer["FailureReason"] == "AlgorithmError: dataset_format is not JSON"
    assert run.record["failure_reason"] == "dataset_format is not JSON"
    assert "outputs" not in run.record
    assert f"baseline run {run.name} Failed: dataset_format is not JSON" in capsys.readouterr().err
