"""Any job from SageMaker's own request: CreateProcessingJob and CreateTrainingJob bodies, for any
image, run here and kept as runs with a Describe*Job record; the one path every job request
takes (`make job`, the pipeline executor's Processing, Training and Tuning trial steps).

Owns requests.py (a request read and checked, every mistake named by its JSON path),
transforms.py (a CreateTransformJob body read and checked; the batch transform engine, above
this package, runs it), models.py (a CreateModel body checked and kept as
LOCAL_DIR/models/<name>.json, the DescribeModel answer), objects.py (one object read whole by
its URI: s3://, file:// or a path), storage.py (where channels come from and outputs go: file://
here, s3:// through a local S3 when one is configured: pipeline/s3's, through boto3), runner.py
(a job run, its uploads), hosts.py (each host's /opt/ml and container, the stopping condition),
sourcedir.py (script mode's code fetched by the host), describe.py (the Describe*Job answer kept
in run.json), and schedules.py with monitoringjobs.py (a CreateMonitoringSchedule body and the
job definitions it names, read and checked; pipeline.monitoring runs the schedule). `make job`'s
command is pipeline/jobs/requests.py, above both this package and the transform engine. It
stands on pipeline.runs and pipeline.s3 only, so every package above can start its jobs through
it. Standard library only, but for s3:// (boto3, imported then).
"""
