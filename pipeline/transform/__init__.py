"""Batch transform jobs, as SageMaker runs them against a serving container.

Owns job.py (`python -m pipeline.transform.job`, `make transform`: the built-in workload's
CreateModel and CreateTransformJob requests), request.py (a CreateTransformJob request's run and
its container: `make job`, `make transform`, a pipeline's Transform step), batch.py (the engine:
execution parameters, mini-batches, concurrency, .out files) and dataprocessing.py (SplitType,
BatchStrategy, InputFilter/JoinSource/OutputFilter). It may
import pipeline.api (the request and the runner's Engine), pipeline.endpoints, pipeline.runs,
pipeline.registry and the model archive module.
"""
