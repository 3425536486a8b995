"""Each step type's runner: the resolved request handed to the host package that owns the
work, and its Describe*-shaped answer returned as the step's properties.

RegisterModel is CreateModelPackage on the local registry (pipeline/registry), Model is
CreateModel kept as a record; Processing and Training hand their request to the job runner
(jobs.py over pipeline/api), Tuning draws its trials with the tuning engine and runs each as
Training (tuning.py), QualityCheck runs the baseline job with our analyzer (checks.py),
Transform runs the batch transform engine on a CreateModel step's model (transform.py). A
runner raises StepFailed with the reason a user can act on.
"""

import tempfile
from pathlib import Path

from pipeline.registry import models as registry
from pipeline.runs import files
from pipeline.transform.request import MODELS
from pipeline.workflow import records, storage
from pipeline.workflow.executor import StepFailed


def _get(data: dict, *path, what: str):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            raise StepFailed(f"{what}: the request has no {'.'.join(path)}")
        data = data[key]
    return data


def register_model(local: Path):
    """CreateModelPackage: the model archive and its ModelQuality statistics into the group's
    next version, with the request's ModelApprovalStatus (PendingManualApproval when absent,
    as SageMaker's default)."""

    def run(request) -> dict:
        package = request.arguments
        what = f"RegisterModel {request.name}"
        group = _get(package, "ModelPackageGroupName", what=what)
        containers = _get(package, "InferenceSpecification", "Containers", what=what)
        if not containers or "ModelDataUrl" not in containers[0]:
            raise StepFailed(f"{what}: the first container has no ModelDataUrl")
        statistics = (package.get("ModelMetrics", {}).get("ModelQuality", {})
                      .get("Statistics", {}).get("S3Uri"))
        if not statistics:
            raise StepFailed(f"{what}: the local registry keeps each version's accuracy; give "
                             "ModelMetrics(model_statistics=MetricsSource(s3_uri=<the "
                             "evaluation.json>))")
        status = package.get("ModelApprovalStatus", registry.PENDING)
        with tempfile.TemporaryDirectory() as temporary:
            try:
                archive = storage.download(containers[0]["ModelDataUrl"],
                                           Path(temporary) / "model.tar.gz")
                evaluation = storage.download(statistics, Path(temporary) / "evaluation.json")
            except OSError as error:
                raise StepFailed(f"{what}: {error}") from None
            kept = {key: package[key] for key in (
                "ModelMetrics", "DriftCheckBaselines", "CustomerMetadataProperties",
                "InferenceSpecification", "ModelPackageDescription") if key in package}
            try:
                meta = registry.register(
                    Path(local) / "registry" / group, archive, evaluation, {}, 0.0, 0.0,
                    lineage={"pipeline_execution": request.execution["PipelineExecutionArn"]},
                    status=status, extra={"model_package": kept})
            except registry.RegistryError as error:
                raise StepFailed(f"{what}: {error}") from None
        version = meta["version"]
        return {"ModelPackageArn": records.arn("model-package", f"{group}/{version}"),
                "ModelPackageGroupName": group, "ModelPackageVersion": version,
                "ModelApprovalStatus": status, "ModelPackageStatus": "Completed"}

    return run


def create_model(local: Path):
    """CreateModel: the model's request kept under LOCAL_DIR/models/<name>.json, which a
    transform step or a deploy reads."""

    def run(request) -> dict:
        name = request.job_name
        model = {"ModelName": name, "ModelArn": records.arn("model", name),
                 **request.arguments}
        folder = Path(local) / MODELS
        folder.mkdir(parents=True, exist_ok=True)
        files.write_json(folder / f"{name}.json", model)
        return model

    return run


def runners(args) -> dict:
    from pipeline.workflow import checks, jobs, transform, tuning

    local = Path(args.local)
    engine = jobs.engine(args)
    started = jobs.runners(engine)
    return {"RegisterModel": register_model(local), "Model": create_model(local), **started,
            "Tuning": tuning.tuning(started["Training"]),
            "QualityCheck": checks.quality_check(local, started["Processing"]),
            "Transform": transform.transform(engine)}
