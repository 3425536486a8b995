"""The pipeline's steps as named job runs: processing, training on one host or several,
evaluation, the condition and registration.

Owns steps.py (`python -m pipeline.jobs.steps STEP`, what `make process|train|evaluate|register`
run) and training.py (the training step's hosts). It may import pipeline.runs and
pipeline.registry; the tuning, monitoring and transform packages build on it, never the reverse.
"""
