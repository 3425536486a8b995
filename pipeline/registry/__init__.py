"""The local model registry, as SageMaker's keeps a model package group, on a folder.

Owns models.py: numbered versions with metrics, lineage, baselines and approval status, written
whole (pipeline.runs.files) so a crash never leaves half a version. It may import pipeline.runs
only; jobs, endpoints and transforms read and write versions through it.
"""
