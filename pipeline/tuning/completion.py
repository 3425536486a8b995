"""When a tuning job stops before MaxNumberOfTrainingJobs: TuningJobCompletionCriteria and
ResourceLimits.MaxRuntimeInSeconds, each with the reason it gives (in run.json and
completion.json).

The objectives are those of trials that ended with one (Completed), in the order they ended.
- TargetObjectiveMetricValue: a trial reached it (>= when maximizing, <= when minimizing).
- BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving = N: the last N such trials
  each failed to improve the best before it by 1 % or more (SageMaker's threshold).
- ConvergenceDetected.CompleteOnConvergence = Enabled: SageMaker's test is not published; here
  the last max(5, MaxNumberOfTrainingJobs / 4) trials each improved the best by less than
  0.1 %.
- MaxRuntimeInSeconds: counted from the tuning job's start (run.json); running trials are
  stopped (SIGTERM) when it passes.
Standard library only.
"""

import math
from dataclasses import dataclass

from pipeline.tuning.config import TuningConfig

IMPROVEMENT = 0.01
CONVERGED = 0.001
CONVERGENCE_WINDOW = 5
FILE = "completion.json"


@dataclass
class Completion:
    criterion: str  # the SageMaker field that ended the job
    reason: str

    def record(self, not_improving: int) -> dict:
        return {"Criterion": self.criterion, "Reason": self.reason,
                "TuningJobCompletionDetails": {
                    "NumberOfTrainingJobsObjectiveNotImproving": not_improving}}


def better(config: TuningConfig, value: float, than: float, by: float) -> bool:
    """value improves on `than` by at least the fraction `by` (of |than|; absolute at 0)."""
    margin = by * abs(than) if than else by
    return value >= than + margin if config.maximize else value <= than - margin


def not_improving(config: TuningConfig, objectives: list[float], by: float) -> int:
    """How many of the last objectives in a row failed to improve the best before them."""
    count, best = 0, None
    for value in objectives:
        if best is None or better(config, value, best, by):
            count = 0
        else:
            count += 1
        if best is None or (value > best if config.maximize else value < best):
            best = value
    return count


def check(config: TuningConfig, objectives: list[float], names: list[str]) -> Completion | None:
    """The criterion the finished trials meet, if any (objectives and names in end order)."""
    if not objectives:
        return None
    if config.target is not None:
        for value, name in zip(objectives, names, strict=True):
            if value >= config.target if config.maximize else value <= config.target:
                word = ">=" if config.maximize else "<="
                return Completion("TargetObjectiveMetricValue",
                                  f"{name} reached {config.objective}={value:g} {word} "
                                  f"TargetObjectiveMetricValue {config.target:g}")
    if config.not_improving is not None:
        count = not_improving(config, objectives, IMPROVEMENT)
        if count >= config.not_improving:
            return Completion("BestObjectiveNotImproving",
                              f"the last {count} trials did not improve the best "
                              f"{config.objective} by 1 % or more "
                              f"(MaxNumberOfTrainingJobsNotImproving {config.not_improving})")
    if config.convergence:
        window = max(CONVERGENCE_WINDOW, math.ceil(config.max_jobs / 4))
        if not_improving(config, objectives, CONVERGED) >= window:
            return Completion("ConvergenceDetected",
                              f"converged: the last {window} trials each improved the best "
                              f"{config.objective} by less than 0.1 %")
    return None


def runtime_exceeded(config: TuningConfig) -> Completion:
    return Completion("MaxRuntimeInSeconds",
                      f"the tuning job ran for its MaxRuntimeInSeconds {config.max_runtime}; "
                      "running trials were stopped")
