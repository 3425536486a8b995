"""The local model registry, as SageMaker's keeps a model package group, on a folder.

Owns models.py: numbered versions with metrics, lineage, baselines and approval status, written
whole (pipeline.runs.files) so a crash never leaves half a version; and packages.py:
SageMaker's CreateModelPackage, UpdateModelPackage and DescribeModelPackage on it (`make job`,
`make describe`, a pipeline's RegisterModel step). It may import pipeline.runs and pipeline.api
(a request's checks, the objects it names); jobs, endpoints and transforms read and write
versions through it.
"""
