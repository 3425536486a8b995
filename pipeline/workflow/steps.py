"""Each step type's runner: the resolved request handed to the host package that owns the
work, and its Describe*-shaped answer returned as the step's properties.

RegisterModel is CreateModelPackage on the local registry (pipeline/registry), Model is
CreateModel kept as a record; Processing and Training hand their request to the job runner
(jobs.py over pipeline/api), Tuning draws its trials with the tuning engine and runs each as
Training (tuning.py), QualityCheck runs the baseline job with our analyzer (checks.py),
Transform runs the batch transform engine on a CreateModel step's model (transform.py). A
runner raises StepFailed with the reason a user can act on.
"""

from pathlib import Path

from pipeline.api import models
from pipeline.api.requests import RequestError
from pipeline.registry import models as registry
from pipeline.registry import packages
from pipeline.workflow.executor import StepFailed


def register_model(local: Path):
    """CreateModelPackage: the group's next version through the registry's one path for the
    request (pipeline/registry/packages.py, which `make job` takes too), with the execution as
    its lineage."""

    def run(request) -> dict:
        try:
            return packages.create(local, packages.package(request.arguments),
                                   {"pipeline_execution":
                                    request.execution["PipelineExecutionArn"]})
        except (RequestError, registry.RegistryError) as error:
            raise StepFailed(f"RegisterModel {request.name}: {error}") from None

    return run


def create_model(local: Path):
    """CreateModel: the model's request kept under LOCAL_DIR/models/<name>.json (the same
    record `make job` keeps for one), which a transform step or a deploy reads."""

    def run(request) -> dict:
        return models.keep(local, request.job_name, request.arguments)

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
