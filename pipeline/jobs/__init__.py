"""The pipeline's steps as named job runs: processing, training on one host or several,
evaluation, the condition and registration.

Owns steps.py (`python -m pipeline.jobs.steps STEP`, what `make process|train|evaluate|register`
run) and training.py (the training step's hosts). It may import pipeline.runs,
pipeline.registry and pipeline.monitoring (the baselines a registered version records); only
the tuning package builds on it.
"""
