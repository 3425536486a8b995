"""Hyperparameter tuning jobs, locally, from a CreateHyperParameterTuningJob file, with Optuna.

Owns job.py (`python -m pipeline.tuning.job`, `make tune`), config.py (the file checked as
SageMaker checks it), search.py (strategies and early stopping as Optuna samplers and pruners),
trials.py (each trial a named training run), results.py (SageMaker's result shapes), best.py
(`make pipeline TUNE=1`: the best trials evaluated) and bench.py (`make bench-tune`). The shipped
tuning files are data, in configs/. It may import pipeline.jobs, pipeline.runs and
pipeline.registry; nothing else imports it.
"""
