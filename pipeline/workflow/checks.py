"""A pipeline's QualityCheck step: the baseline job its request describes, run by our analyzer
(the training image's `baseline` entrypoint reads the same dataset_format, dataset_source,
output_path and analysis_type environment as SageMaker's model-monitor analyzer), the drift
check against the previous baseline, and the baselines reported as SageMaker reports them.

The previous baseline is the supplied one (supplied_baseline_statistics/constraints), else the
newest Approved version's DriftCheckBaselines of the check type in ModelPackageGroupName.
skip_check=False: the job also gets the previous baseline's two files (ProcessingInputs under
/opt/ml/processing/baseline, `baseline_statistics`/`baseline_constraints` naming them, as the
monitoring jobs do) and writes constraint_violations.json beside its statistics.json and
constraints.json; the step fails when it lists a violation, with the report's URI in its
failure reason and in its metadata's QualityCheck.ViolationReport, and fails before the job
when there is no previous baseline (SageMaker requires one then). The check runs against the
previous baseline whatever register_new_baseline says; register_new_baseline only chooses what
BaselineUsedForDriftCheck* report: True the calculated baseline, False the previous one, which
must then exist (skip_check=True too: the step fails before its job, naming what is missing).
skip_check=True: no check.
"""

import json
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from pipeline.api import objects as storage
from pipeline.registry import models as registry
from pipeline.workflow.executor import StepFailed, StepResult

AWS_ANALYZER = "sagemaker-model-monitor-analyzer"
ENTRYPOINT = ["/usr/bin/tini", "--", "baseline"]
KINDS = {"DATA_QUALITY": "ModelDataQuality", "MODEL_QUALITY": "ModelQuality"}
FILES = ("Statistics", "Constraints")
# Where the check job finds the previous baseline: the analyzer's variables, one folder each.
BASELINE_PATH = "/opt/ml/processing/baseline"
VIOLATIONS = "constraint_violations.json"
SHOWN = 5  # violations named in a failure reason; the report has them all


def analyzer() -> str:
    """The image that stands in for SageMaker's analyzer: ANALYZER_IMAGE, else TRAINING_IMAGE."""
    return os.environ.get("ANALYZER_IMAGE") or os.environ.get("TRAINING_IMAGE") \
        or "penguins-training:latest"


def approved_baselines(local: Path, group: str | None, check: str) -> dict:
    """The newest Approved version's DriftCheckBaselines of this check type, as S3 URIs."""
    if not group:
        return {}
    try:
        versions = registry.versions(Path(local) / "registry" / group)
    except registry.RegistryError:
        return {}
    for meta in reversed(versions):
        if meta["approval_status"] == registry.APPROVED:
            kept = meta.get("model_package", {}).get("DriftCheckBaselines", {})
            found = kept.get(KINDS[check], {})
            return {key: found[key]["S3Uri"] for key in FILES if key in found}
    return {}


def previous_baseline(local: Path, step: dict, check: str) -> dict:
    """{"Statistics": uri, "Constraints": uri} (either may be absent): supplied, else approved."""
    supplied = {key: step.get(f"SuppliedBaseline{key}") for key in FILES}
    return {key: value for key, value in supplied.items() if value} or approved_baselines(
        local, step.get("ModelPackageGroupName"), check)


def require(name: str, check: str, group: str | None, previous: dict, skip: bool) -> None:
    """StepFailed naming what is missing when the step needs the previous baseline and there is
    none: to check against (skip_check=False), or to report (register_new_baseline=False: "the
    previous baseline of the configured check type must also be available", as
    QualityCheckStepMetadata.RegisterNewBaseline says)."""
    missing = [f"baseline {key.lower()}" for key in FILES if key not in previous]
    if not missing:
        return
    registered = (f"the newest Approved version's DriftCheckBaselines.{KINDS[check]} in model "
                  f"package group {group!r}" if group else "no model_package_group_name")
    if skip:
        need = ("register_new_baseline=False reports the previous baseline as "
                "BaselineUsedForDriftCheck*, and there is no " + " or ".join(missing))
        other = "or set register_new_baseline=True"
    else:
        need = ("skip_check=False checks against the previous baseline, and there is no "
                + " or ".join(missing) + " to check against")
        other = "or set skip_check=True"
    raise StepFailed(f"QualityCheck {name}: {need} (looked for: the supplied baseline, else "
                     f"{registered}): give supplied_baseline_statistics and "
                     "supplied_baseline_constraints, register and approve a version with drift "
                     f"check baselines, {other}")


def with_baseline(job: dict, previous: dict) -> dict:
    """The check job: the baseline job with the previous baseline's files as inputs, fetched as
    the processing runner fetches any input, and the analyzer's variables naming them."""
    inputs, environment = list(job.get("ProcessingInputs", [])), dict(job.get("Environment", {}))
    for key in FILES:
        variable, folder = f"baseline_{key.lower()}", f"{BASELINE_PATH}/{key.lower()}"
        uri = previous[key]
        inputs.append({"InputName": variable, "AppManaged": False, "S3Input": {
            "S3Uri": uri, "LocalPath": folder, "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}})
        environment[variable] = f"{folder}/{PurePosixPath(unquote(urlparse(uri).path)).name}"
    return {**job, "ProcessingInputs": inputs, "Environment": environment}


def violations(name: str, report: str) -> list:
    try:
        document = json.loads(storage.read(report))
    except (OSError, ValueError) as error:
        raise StepFailed(f"QualityCheck {name}: the check job left no readable {VIOLATIONS} "
                         f"({error}); its image must write it when baseline_constraints is "
                         "set") from None
    listed = document.get("violations") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise StepFailed(f"QualityCheck {name}: {report} has no \"violations\" list")
    return listed


def summary(found: list) -> str:
    named = [f"{item.get('feature_name') or item.get('metric_name')}: "
             f"{item.get('constraint_check_type')}" for item in found if isinstance(item, dict)]
    more = f" and {len(named) - SHOWN} more" if len(named) > SHOWN else ""
    return ", ".join(named[:SHOWN]) + more


def quality_check(local: Path, processing):
    """The QualityCheck runner over `processing`, the Processing step's runner."""

    def run(request) -> StepResult:
        step, job = request.step, dict(request.arguments)
        check = step.get("CheckType")
        if check not in KINDS:
            raise StepFailed(f"QualityCheck {request.name}: CheckType {check!r} is not one of "
                             f"{', '.join(KINDS)}")
        outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
        if not outputs:
            raise StepFailed(f"QualityCheck {request.name}: the job has no output")
        out = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
        skip = bool(step.get("SkipCheck"))
        previous = previous_baseline(local, step, check)
        if not skip or not step.get("RegisterNewBaseline"):
            require(request.name, check, step.get("ModelPackageGroupName"), previous, skip)
        if not skip:
            job = with_baseline(job, previous)
        app = dict(job.get("AppSpecification", {}))
        if AWS_ANALYZER in app.get("ImageUri", ""):
            app.update(ImageUri=analyzer(), ContainerEntrypoint=ENTRYPOINT)
        job["AppSpecification"] = app
        described = processing(replace(request, arguments=job))
        calculated = {key: f"{out}/{key.lower()}.json" for key in FILES}
        used = calculated if step.get("RegisterNewBaseline") else previous
        properties = {"CalculatedBaselineStatistics": calculated["Statistics"],
                      "CalculatedBaselineConstraints": calculated["Constraints"],
                      "BaselineUsedForDriftCheckStatistics": used.get("Statistics"),
                      "BaselineUsedForDriftCheckConstraints": used.get("Constraints")}
        metadata = {"QualityCheck": {
            "CheckType": check, "ModelPackageGroupName": step.get("ModelPackageGroupName"),
            "SkipCheck": skip, "RegisterNewBaseline": bool(step.get("RegisterNewBaseline")),
            "CheckJobArn": described["ProcessingJobArn"],
            **{key: value for key, value in properties.items() if value}}}
        if not skip:
            report = f"{out}/{VIOLATIONS}"
            found = violations(request.name, report)
            if found:
                metadata["QualityCheck"]["ViolationReport"] = report
                kind = check.lower().replace("_", "-")
                raise StepFailed(
                    f"QualityCheck {request.name}: the {kind} check found {len(found)} "
                    f"violation(s) of the baseline {previous['Constraints']} ({summary(found)})"
                    f"; violation report: {report}", metadata=metadata)
        return StepResult({**properties, **{k: v for k, v in described.items()
                                            if k.startswith("Processing")}}, metadata)

    return run
