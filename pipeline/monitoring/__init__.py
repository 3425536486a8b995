"""The monitoring loop on the host: baselines, traffic, ground truth, monitoring runs, schedules.

Owns baseline.py (the data- and model-quality baseline jobs as named runs), traffic.py (`make
traffic`), groundtruth.py (`make ground-truth`), dataquality.py (`make monitor-data`, the list
of monitoring runs), modelquality.py (`make monitor-model`), schedule.py (`make
monitor-schedule`: CreateMonitoringSchedule requests, make's own built by schedulerequests.py,
their Describe records schedulerecords.py) and executions.py (the schedule's host process, its
times clock.py). Each runs the training
image's analyzer as a processing job: Model Monitor's CreateProcessingJob request (requests.py)
handed to pipeline.api's job runner. It may import pipeline.api, pipeline.transform,
pipeline.endpoints (which model is live), pipeline.registry and pipeline.runs; pipeline.jobs'
register step reads its baselines.
"""
