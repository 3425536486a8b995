"""A pipeline's QualityCheck step: the baseline job its request describes, run by our analyzer
(the training image's `baseline` entrypoint reads the same dataset_format, dataset_source,
output_path and analysis_type environment as SageMaker's model-monitor analyzer), then the
baselines chosen as SageMaker chooses them.

register_new_baseline=True: the calculated statistics and constraints become the baseline for
drift checks (BaselineUsedForDriftCheck*); False: the supplied baseline is, else the newest
Approved version's DriftCheckBaselines in ModelPackageGroupName. skip_check=True: no drift
check. A drift check against that baseline (skip_check=False) does not run here yet: the step
says so rather than pass unchecked.
"""

import os
from dataclasses import replace
from pathlib import Path

from pipeline.registry import models as registry
from pipeline.workflow.executor import StepFailed, StepResult

AWS_ANALYZER = "sagemaker-model-monitor-analyzer"
ENTRYPOINT = ["/usr/bin/tini", "--", "baseline"]
KINDS = {"DATA_QUALITY": "ModelDataQuality", "MODEL_QUALITY": "ModelQuality"}


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
            return {key: found[key]["S3Uri"] for key in ("Statistics", "Constraints")
                    if key in found}
    return {}


def quality_check(local: Path, processing):
    """The QualityCheck runner over `processing`, the Processing step's runner."""

    def run(request) -> StepResult:
        step, job = request.step, dict(request.arguments)
        check = step.get("CheckType")
        if check not in KINDS:
            raise StepFailed(f"QualityCheck {request.name}: CheckType {check!r} is not one of "
                             f"{', '.join(KINDS)}")
        app = dict(job.get("AppSpecification", {}))
        if AWS_ANALYZER in app.get("ImageUri", ""):
            app.update(ImageUri=analyzer(), ContainerEntrypoint=ENTRYPOINT)
        job["AppSpecification"] = app
        described = processing(replace(request, arguments=job))
        outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
        if not outputs:
            raise StepFailed(f"QualityCheck {request.name}: the job has no output")
        out = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
        calculated = {"Statistics": f"{out}/statistics.json",
                      "Constraints": f"{out}/constraints.json"}
        if step.get("RegisterNewBaseline"):
            used = calculated
        else:
            supplied = {"Statistics": step.get("SuppliedBaselineStatistics"),
                        "Constraints": step.get("SuppliedBaselineConstraints")}
            used = {k: v for k, v in supplied.items() if v} or approved_baselines(
                local, step.get("ModelPackageGroupName"), check)
        if not step.get("SkipCheck"):
            raise StepFailed(f"QualityCheck {request.name}: drift checks against a baseline do "
                             "not run here yet; set skip_check=True (the baselines are "
                             f"calculated at {out})")
        properties = {"CalculatedBaselineStatistics": calculated["Statistics"],
                      "CalculatedBaselineConstraints": calculated["Constraints"],
                      "BaselineUsedForDriftCheckStatistics": used.get("Statistics"),
                      "BaselineUsedForDriftCheckConstraints": used.get("Constraints")}
        metadata = {"QualityCheck": {
            "CheckType": check, "ModelPackageGroupName": step.get("ModelPackageGroupName"),
            "SkipCheck": bool(step.get("SkipCheck")),
            "RegisterNewBaseline": bool(step.get("RegisterNewBaseline")),
            "CheckJobArn": described["ProcessingJobArn"],
            **{key: value for key, value in properties.items() if value}}}
        return StepResult({**properties, **{k: v for k, v in described.items()
                                            if k.startswith("Processing")}}, metadata)

    return run
