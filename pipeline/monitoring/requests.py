"""Model Monitor's processing jobs as SageMaker's CreateProcessingJob requests, for the job runner.

What SageMaker's analyzer is given, with file:// URIs: a baselining job (the SDK's
suggest_baseline) reads its dataset at /opt/ml/processing/input/baseline_dataset_input and writes
statistics.json and constraints.json to /opt/ml/processing/output; a monitoring execution reads
the capture at /opt/ml/processing/input/endpoint (model quality: the ground truth at
/opt/ml/processing/groundtruth), the baseline's files at /opt/ml/processing/baseline, and writes
to /opt/ml/processing/resultdata. The environment names them as the analyzer takes them
(dataset_format, dataset_source, output_path, baseline_statistics, baseline_constraints, …).
The image is the training image, whose `baseline` and `monitor` entrypoints are the analyzer
(training/monitor/). Outputs are uploaded into the run's own folder, where the job wrote them.
Standard library only.
"""

import json
from pathlib import Path

from pipeline.api import submit

DATASET = "/opt/ml/processing/input/baseline_dataset_input"
BASELINE_OUTPUT = "/opt/ml/processing/output"
ENDPOINT = "/opt/ml/processing/input/endpoint"
GROUND_TRUTH = "/opt/ml/processing/groundtruth"
BASELINE = "/opt/ml/processing/baseline"
RESULTS = "/opt/ml/processing/resultdata"
CODE = "/opt/ml/processing/code"
# Each ProblemType's object in a model-quality constraints.json, as SageMaker's analyzer names it.
CONSTRAINTS_KEYS = {"BinaryClassification": "binary_classification_constraints",
                    "MulticlassClassification": "multiclass_classification_constraints",
                    "Regression": "regression_constraints"}
CAPTURE_FORMAT = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
                                                                 "endpointOutput"]}}


def problem_type(constraints) -> str:
    """The ProblemType of a model-quality baseline, read from its constraints.json (a local
    path); MulticlassClassification when the file says none, for the analyzer to refuse it
    with the reason."""
    try:
        found = json.loads(Path(constraints).read_text())
    except (OSError, ValueError):
        found = None
    return next((name for name, key in CONSTRAINTS_KEYS.items()
                 if isinstance(found, dict) and key in found), "MulticlassClassification")


def baselining_job(name: str, image: str, folder: Path, dataset: Path, dataset_format: dict,
                   arguments: list, environment: dict | None = None) -> dict:
    """A baseline job's request: the `baseline` entrypoint over `dataset` (a file or a folder),
    its two files the `monitoring_output`, in the run `folder`."""
    return submit.processing(
        name, image, [submit.processing_input("baseline_dataset_input", dataset, DATASET)],
        {"monitoring_output": BASELINE_OUTPUT}, folder, ["baseline"], arguments,
        {"dataset_format": json.dumps(dataset_format), "dataset_source": DATASET,
         "output_path": BASELINE_OUTPUT, "publish_cloudwatch_metrics": "Disabled",
         **(environment or {})})


def monitoring_job(name: str, image: str, folder: Path, inputs: dict, baseline: dict,
                   environment: dict, arguments: list, code: Path | None = None) -> dict:
    """A monitoring execution's request: the `monitor` entrypoint over `inputs` (InputName ->
    (folder, LocalPath)), the baseline's files ({"statistics": path, "constraints": path})
    beside each other in /opt/ml/processing/baseline, a record preprocessor script (`code`) in
    /opt/ml/processing/code; the results the `result` output, in the run `folder`."""
    items = [submit.processing_input(input_name, path, local)
             for input_name, (path, local) in inputs.items()]
    located = {}
    for key in ("statistics", "constraints"):
        if key not in baseline:
            continue  # a model-quality baseline may be its constraints alone, as SageMaker's
        path = Path(baseline[key])
        items.append(submit.processing_input(f"baseline_{key}", path, BASELINE))
        located[f"baseline_{key}"] = f"{BASELINE}/{path.name}"
    if code is not None:
        items.append(submit.processing_input("code", code, CODE))
        located["record_preprocessor_script"] = f"{CODE}/{Path(code).name}"
    return submit.processing(
        name, image, items, {"result": RESULTS}, folder, ["monitor"], arguments,
        {"dataset_format": json.dumps(CAPTURE_FORMAT), "dataset_source": ENDPOINT,
         "output_path": RESULTS, "publish_cloudwatch_metrics": "Disabled", **located,
         **environment})
