"""SageMaker Model Monitor's analyzer, as the training image runs it (entrypoints baseline,
monitor, monitor-model).

Owns the baselines (statistics.json, constraints.json, model-quality metrics), the captured
records read with DuckDB, the six data-quality checks, the ground-truth merge, the model-quality
analysis and the reports (the schedule is the host's: pipeline/monitoring/executions.py). It may
import training.workloads (a workload's record preprocessor), training.model and
training.contract; never training.jobs.
"""
