"""SageMaker Model Monitor's analyzer, as the training image runs it (entrypoints baseline,
monitor, monitor-model, monitor-schedule).

Owns the baselines (statistics.json, constraints.json, model-quality metrics), the captured
records read with DuckDB, the six data-quality checks, the ground-truth merge, the model-quality
analysis, the reports and the schedule loop. It may import training.workloads (a workload's
record preprocessor), training.model and training.contract; never training.jobs.
"""
