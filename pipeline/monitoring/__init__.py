"""The monitoring loop on the host: baselines, traffic, ground truth, monitoring runs, schedules.

Owns baseline.py (the data- and model-quality baseline jobs as named runs), traffic.py (`make
traffic`), groundtruth.py (`make ground-truth`), dataquality.py (`make monitor-data`, the list
of monitoring runs), modelquality.py (`make monitor-model`) and schedule.py (`make
monitor-schedule`). Each runs the training image's analyzer as a processing job. It may import
pipeline.transform, pipeline.endpoints (which model is live), pipeline.registry and
pipeline.runs; pipeline.jobs' register step reads its baselines.
"""
