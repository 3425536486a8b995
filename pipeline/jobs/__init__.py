"""The pipeline's steps as named job runs: processing, training on one host or several,
evaluation, the condition and registration; and `make job`, any SageMaker request.

Owns steps.py (`python -m pipeline.jobs.steps STEP`, what `make process|train|evaluate|register`
run), builtin.py (the built-in workloads' jobs as SageMaker requests, which steps.py hands to
pipeline.api's runner, as the tuning package hands its trials), requests.py (`make
job|describe`: any job request handed to the engine of its kind, pipeline.api's runner or
pipeline.transform's) and resources.py (the registry's and the endpoint's requests, handed to
pipeline.registry, pipeline.api's models.py and pipeline.endpoints). It may import
pipeline.runs, pipeline.api, pipeline.registry, pipeline.endpoints, pipeline.transform and
pipeline.monitoring (the baselines a registered version records); only the tuning package
builds on it.
"""
