"""Batch transform jobs, as SageMaker runs them against a serving container.

Owns job.py (`python -m pipeline.transform.job`, `make transform`: the run, the model, the
container), request.py (a CreateTransformJob request's run: `make job`, a pipeline's Transform
step), batch.py (the engine: execution parameters, mini-batches, concurrency, .out files)
and dataprocessing.py (SplitType, BatchStrategy, InputFilter/JoinSource/OutputFilter). It may
import pipeline.api (the request and the runner's Engine), pipeline.endpoints, pipeline.runs,
pipeline.registry and the model archive module.
"""
