"""examples/penguins_pipeline.py built with SDK 3.x is the definition SDK 2.x builds, but for the
differences the two SDKs make themselves, each named below: what `make sdk-pipeline SDK=3` hands
the executor is the pipeline the SDK 2.x build runs.

Both are built as make builds them (`pipeline.workflow.command definition`): SDK 3.x with this
venv's python, SDK 2.x with the dev venv's (VENV, default .venv), each against a local S3 of the
test's own (PipelineSession uploads the scripts and the source dir while it builds).
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.s3 import service

from harness import REPO, free_port

EXAMPLE = "examples/penguins_pipeline.py"


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    """{2: the SDK 2.x definition, 3: the SDK 3.x one} of the example."""
    folder = tmp_path_factory.mktemp("definitions")
    sdk2 = REPO / os.environ.get("VENV", ".venv") / "bin" / "python"
    assert sdk2.is_file(), f"{sdk2}: the dev venv (SDK 2.x) is needed: run make setup"
    state = service.start(folder / "s3", free_port())
    environment = {**os.environ, **service.client_env(state["port"]),
                   "PYTHONPATH": str(REPO), "PIPELINE_NAME": "penguins-pipeline"}
    built = {}
    try:
        for major, python in ((2, sdk2), (3, Path(sys.executable))):
            out = folder / f"sdk{major}.json"
            done = subprocess.run(
                [str(python), "-m", "pipeline.workflow.command", "--local", str(folder),
                 "definition", EXAMPLE, "--out", str(out)],
                cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"SDK {major}.x: {done.stderr[-3000:]}"
            built[major] = json.loads(out.read_text())
    finally:
        service.stop(folder / "s3")
    return built


def steps(definition: dict) -> dict:
    """Every step by name, a condition's branches included."""
    found = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            for inner in step.get("Arguments", {}).get(branch, []):
                found[inner["Name"]] = inner
    return found


# The SDK 2.x ModelStep names its RegisterModel step <name>-RegisterModel; 3.x keeps the name.
REGISTER_STEP = {2: "register-model-RegisterModel", 3: "register-model"}
# Script mode's code, which each SDK uploads under its own names and passes its own way.
CODE_HYPERPARAMETERS = ("sagemaker_program", "sagemaker_submit_directory",
                        "sagemaker_container_log_level", "sagemaker_job_name", "sagemaker_region")


def differences(expected, got, path: str = "") -> list[str]:
    """Each JSON path where the two differ, with both values."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return [found for key in sorted(set(expected) | set(got), key=str)
                for found in differences(expected.get(key, "<none>"), got.get(key, "<none>"),
                                         f"{path}.{key}")]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [found for index, (one, other) in enumerate(zip(expected, got, strict=True))
                for found in differences(one, other, f"{path}[{index}]")]
    return [] if expected == got else [f"{path}: SDK 2.x {expected!r}, SDK 3.x {got!r}"]


def without_sdk_differences(definition: dict, major: int) -> dict:
    """The definition with what only one SDK writes taken out, each difference named."""
    definition = copy.deepcopy(definition)
    text = json.dumps(definition).replace(REGISTER_STEP[major], "register-model")
    definition = json.loads(text)
    # 3.x writes the pipeline's MlflowConfig even when there is none.
    if definition.get("MlflowConfig", "") is None:
        definition.pop("MlflowConfig")
    for step in steps(definition).values():
        arguments = step.get("Arguments", {})
        # 2.x writes AppManaged: false on every processing input and output (3.x: its default).
        for item in (*arguments.get("ProcessingInputs", []),
                     *arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])):
            item.pop("AppManaged", None)
        if step["Type"] == "QualityCheck":
            # 2.x spells out the input's defaults; 3.x gives the check job a stopping condition.
            for item in arguments["ProcessingInputs"]:
                item["S3Input"].pop("S3CompressionType", None)
                item["S3Input"].pop("S3DataDistributionType", None)
            arguments.pop("StoppingCondition", None)
        if step["Type"] == "RegisterModel":
            # 3.x's ModelBuilder gives the container its script-mode variables (empty here).
            for container in arguments["InferenceSpecification"]["Containers"]:
                for name in ("SAGEMAKER_CONTAINER_LOG_LEVEL", "SAGEMAKER_PROGRAM",
                             "SAGEMAKER_REGION", "SAGEMAKER_SUBMIT_DIRECTORY"):
                    container.get("Environment", {}).pop(name, None)
                if container.get("Environment") == {}:
                    container.pop("Environment")
        if step["Type"] == "Tuning":
            # 2.x writes the kinds of parameter range the tuner has none of, empty.
            ranges = arguments["HyperParameterTuningJobConfig"]["ParameterRanges"]
            for kind in [kind for kind, found in ranges.items() if found == []]:
                ranges.pop(kind)
            job = arguments["TrainingJobDefinition"]
            # 2.x: HyperParameterTuningResourceConfig, 3.x: ResourceConfig (the same hosts).
            job["Resources"] = job.pop("HyperParameterTuningResourceConfig", None) \
                or job.pop("ResourceConfig")
            # The code: 2.x's Estimator sends sourcedir.tar.gz by JSON-encoded hyperparameters
            # of its own; 3.x's ModelTrainer sends plain ones and its drivers as a channel.
            for name in CODE_HYPERPARAMETERS:
                job["StaticHyperParameters"].pop(name, None)
            job["InputDataConfig"] = [channel for channel in job["InputDataConfig"]
                                      if channel["ChannelName"] != "sm_drivers"]
            # The trials' MaxRuntimeInSeconds: Estimator's default is a day, ModelTrainer's an
            # hour.
            job.pop("StoppingCondition")
    return definition


def test_the_example_built_with_sdk3_is_the_sdk2_definition_but_for_named_differences(
        definitions):
    sdk2, sdk3 = definitions[2], definitions[3]
    assert [step["Name"] for step in sdk3["Steps"]] == [step["Name"] for step in sdk2["Steps"]]
    assert sdk3["Parameters"] == sdk2["Parameters"]
    expected, got = without_sdk_differences(sdk2, 2), without_sdk_differences(sdk3, 3)
    found = differences(expected, got)
    assert not found, "\n".join(found)


def test_both_sdks_send_the_script_mode_code_the_trials_run(definitions):
    """What the differences above leave out still names the same program, each SDK its way."""
    for major, definition in definitions.items():
        tuning = steps(definition)["tune-model"]["Arguments"]["TrainingJobDefinition"]
        program = tuning["StaticHyperParameters"]["sagemaker_program"]
        assert program.strip('"') == "train.py", major
        assert tuning["StaticHyperParameters"]["sagemaker_submit_directory"].strip('"') \
            .startswith("s3://penguins/"), major
