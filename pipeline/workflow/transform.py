"""A pipeline's Transform step: its Arguments are the CreateTransformJob request, so the step
names its job and hands the request to the batch transform engine's request runner
(pipeline/transform/request.py), the one `make job` hands a CreateTransformJob to. The model is
the one a CreateModel step kept; the job is kept as any transform run, LOCAL_DIR/transform/<job
name>/; the step's properties are its DescribeTransformJob answer.
"""

from pipeline.api.requests import RequestError
from pipeline.api.runner import Engine
from pipeline.api.transforms import transform as parse
from pipeline.transform import request as transforms
from pipeline.workflow.executor import StepFailed


def transform(engine: Engine):
    def run(request) -> dict:
        body = {**request.arguments, "TransformJobName": request.job_name}
        try:
            answer = transforms.run(parse(body), engine)
        except RequestError as error:
            raise StepFailed(f"Transform {request.name}: {error}") from None
        if answer[transforms.STATUS] != "Completed":
            raise StepFailed(answer.get("FailureReason") or
                             f"the transform job ended {answer[transforms.STATUS]}")
        return answer

    return run
