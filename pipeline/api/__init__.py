"""Any job from SageMaker's own request: CreateProcessingJob and CreateTrainingJob bodies, for any
image, run here and kept as runs with a Describe*Job record.

Owns requests.py (a request read and checked, every mistake named by its JSON path), storage.py
(where channels come from and outputs go: file:// here, s3:// through a local S3 when one is
configured), runner.py (the hosts' containers, the stopping condition, the uploads: what the
make targets and a pipeline executor call), describe.py (the Describe*Job answer kept in
run.json) and cli.py (`make job`, `make describe`). It stands on pipeline.runs only, so every
package above can start its jobs through it. Standard library only.
"""
