"""Batch transform jobs, as SageMaker runs them against a serving container.

Owns job.py (`python -m pipeline.transform.job`, `make transform`: the run, the model, the
container), batch.py (the engine: execution parameters, mini-batches, concurrency, .out files)
and dataprocessing.py (SplitType, BatchStrategy, InputFilter/JoinSource/OutputFilter). It may
import pipeline.endpoints, pipeline.runs, pipeline.registry and the model archive module.
"""
