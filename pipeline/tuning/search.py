"""SageMaker's tuning strategies and early stopping as Optuna samplers and pruners.

| SageMaker                         | Optuna                                                   |
| Bayesian                          | TPESampler (constant liar for parallel trials)            |
| Random                            | RandomSampler                                            |
| Grid (categorical ranges only)    | GridSampler: every combination once                      |
| Hyperband                         | RandomSampler + HyperbandPruner over the epoch lines     |
| TrainingJobEarlyStoppingType Auto | RunningAverageMedianPruner (SageMaker's rule, below)     |
| ScalingType Logarithmic           | a log-uniform distribution                               |
| ScalingType ReverseLogarithmic    | 1 - x, x log-uniform over [1 - MaxValue, 1 - MinValue]   |
| ScalingType Auto                  | Linear (SageMaker picks one; here always Linear)         |

Each objective value a trial prints is one step (an epoch). SageMaker's early stopping: at
epoch t, a job is stopped when its objective is worse than the median, over the earlier jobs
that reached epoch t, of each one's running average of its objective over epochs 1..t.
"""

import statistics

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from pipeline.tuning.config import TuningConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid, asked trial by trial: the tuner counts the combinations itself, so the
    grid need not stop the study (which Optuna allows only inside study.optimize)."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


class RunningAverageMedianPruner(optuna.pruners.BasePruner):
    """SageMaker's TrainingJobEarlyStoppingType=Auto as an Optuna pruner.

    Earlier jobs are the trials started before this one (lower numbers), whatever their
    state, that reported a value at this step; with none, the job goes on.
    """

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        averages = []
        for earlier in study.get_trials(deepcopy=False):
            reported = earlier.intermediate_values
            if earlier.number >= trial.number or step not in reported:
                continue
            averages.append(statistics.fmean(v for s, v in reported.items() if s <= step))
        if not averages:
            return False
        median = statistics.median(averages)
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            return value < median
        return value > median


def distributions(config: TuningConfig) -> dict:
    """One Optuna distribution per tuned hyperparameter, in the file's order."""
    found = {}
    for each in config.ranges:
        log = each.scaling == "Logarithmic"
        if each.kind == "Categorical":
            found[each.name] = CategoricalDistribution(list(each.values))
        elif each.kind == "Integer":
            found[each.name] = IntDistribution(int(each.low), int(each.high), log=log)
        elif each.scaling == "ReverseLogarithmic":
            # Dense near MaxValue: sampled as the log-uniform distance from 1.
            found[each.name] = FloatDistribution(1 - each.high, 1 - each.low, log=True)
        else:
            found[each.name] = FloatDistribution(each.low, each.high, log=log)
    return found


def hyperparameter_values(config: TuningConfig, params: dict) -> dict:
    """The sampled values as SageMaker writes them into hyperparameters.json: strings."""
    values = {}
    for each in config.ranges:
        value = params[each.name]
        if each.kind == "Integer":
            values[each.name] = str(int(value))
        elif each.kind == "Continuous":
            values[each.name] = str(1 - value if each.scaling == "ReverseLogarithmic"
                                    else float(value))
        else:
            values[each.name] = str(value)
    return values


def sampler(config: TuningConfig, already: int = 0) -> optuna.samplers.BaseSampler:
    """The strategy's sampler; a resumed job shifts the seed so it draws no value again."""
    seed = None if config.seed is None else config.seed + already
    if config.strategy == "Bayesian":
        # SageMaker's Bayesian search also starts with a few random points.
        startup = max(1, min(10, config.max_jobs // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                          constant_liar=True)
    if config.strategy == "Grid":
        grid = {each.name: list(each.values) for each in config.ranges}
        return GridSampler(grid, seed=config.seed)
    return optuna.samplers.RandomSampler(seed=seed)


def pruner(config: TuningConfig) -> optuna.pruners.BasePruner:
    if config.strategy == "Hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=config.hyperband["MinResource"],
            max_resource=config.hyperband["MaxResource"], reduction_factor=3)
    if config.early_stopping:
        return RunningAverageMedianPruner()
    return optuna.pruners.NopPruner()


def study(config: TuningConfig, name: str, journal) -> optuna.Study:
    """The study, kept in a journal file in the tuning job's folder: a rerun continues it."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    made = optuna.create_study(
        study_name=name, storage=storage, load_if_exists=True,
        direction="maximize" if config.maximize else "minimize", pruner=pruner(config))
    made.sampler = sampler(config, len(made.trials))
    return made
