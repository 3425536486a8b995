"""The monitoring loop on the host: baselines, traffic, ground truth, monitoring runs, schedules.

Owns baseline.py (the data- and model-quality baseline jobs as named runs), traffic.py (`make
traffic`), groundtruth.py (`make ground-truth`), dataquality.py (`make monitor-data`, the list
of monitoring runs), modelquality.py (`make monitor-model`), schedule.py (`make
monitor-schedule`: CreateMonitoringSchedule requests, make's own built by schedulerequests.py,
each schedule made in a hidden folder by schedulefolders.py, its folder and records
schedulerecords.py), lifecycle.py (Describe/List/Stop/Start/DeleteMonitoringSchedule and
ListMonitoringExecutions) and executions.py (each schedule's host process, started by
processes.py, its times clock.py). Each runs the training
image's analyzer as a processing job: Model Monitor's CreateProcessingJob request (requests.py)
handed to pipeline.api's job runner. It may import pipeline.api, pipeline.transform,
pipeline.endpoints (which model is live), pipeline.registry and pipeline.runs; pipeline.jobs'
register step reads its baselines.
"""
