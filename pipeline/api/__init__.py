"""Any job from SageMaker's own request: CreateProcessingJob and CreateTrainingJob bodies, for any
image, run here and kept as runs with a Describe*Job record.

Owns requests.py (a request read and checked, every mistake named by its JSON path), storage.py
(where channels come from and outputs go: file:// here, s3:// through a local S3 when one is
configured: pipeline/s3's, through boto3), runner.py (a job run, its uploads: what the make
targets and a pipeline executor call), hosts.py (each host's /opt/ml and container, the
stopping condition), describe.py (the Describe*Job answer kept in run.json) and cli.py (`make
job`, `make describe`). It stands on pipeline.runs and pipeline.s3 only, so every package above
can start its jobs through it. Standard library only, but for s3:// (boto3, imported then).
"""
