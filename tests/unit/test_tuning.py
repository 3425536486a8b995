"""Tuning job files, strategy mapping, objective parsing and the results table, in-process."""

import copy
import csv
import json
import math
from pathlib import Path

import pytest

from pipeline.runs import records as runs
from pipeline.tuning import results as tuningresults
from pipeline.tuning import search as tuningsearch
from pipeline.tuning.config import ConfigError, load, parse

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
CONFIG = "HyperParameterTuningJobConfig"
RANGES = f"{CONFIG}.ParameterRanges"
VALID = {
    CONFIG: {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Maximize",
                                             "MetricName": "validation:accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {
            "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "10", "MaxValue": "50"}],
            "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.01",
                                           "MaxValue": "0.03", "ScalingType": "Linear"}],
        },
    },
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"batch_size": "32"},
        "AlgorithmSpecification": {"MetricDefinitions": [
            {"Name": "validation:accuracy", "Regex": "val_accuracy=([0-9\\.]+)"}]},
    },
}


def changed(path: str, value) -> dict:
    """VALID with the value at a dotted path (list indexes as [n]) replaced, or removed."""
    document = copy.deepcopy(VALID)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node = document
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is REMOVE:
        del node[last]
    else:
        node[last] = value
    return document


class Remove:
    """The value of a case that removes the key; its name is its repr (test ids are the same in
    every process, as pytest-xdist's workers need)."""

    def __repr__(self) -> str:
        return "REMOVE"


REMOVE = Remove()
INTEGER = f"{RANGES}.IntegerParameterRanges[0]"
CONTINUOUS = f"{RANGES}.ContinuousParameterRanges[0]"
BAD_FILES = [
    (f"{INTEGER}.MinValue", "ten", f'{INTEGER}.MinValue: "ten" is not a whole number'),
    (f"{INTEGER}.MinValue", "10.5", f'{INTEGER}.MinValue: "10.5" is not a whole number'),
    (f"{INTEGER}.MaxValue", 50, f"{INTEGER}.MaxValue: 50 is not a whole number"),
    (f"{CONTINUOUS}.MaxValue", "nan", f'{CONTINUOUS}.MaxValue: "nan" is not a number'),
    (f"{CONTINUOUS}.MinValue", "0.05", f"{CONTINUOUS}.MaxValue: 0.03 is below MinValue 0.05"),
    (f"{CONTINUOUS}.ScalingType", "Cubic", f'{CONTINUOUS}.ScalingType: "Cubic" is not one of'),
    (f"{CONTINUOUS}.ScalingType", "ReverseLogarithmic", None),  # 0.01..0.03 is within [0, 1)
    (f"{INTEGER}.ScalingType", "ReverseLogarithmic",
     f"{INTEGER}.ScalingType: ReverseLogarithmic is for continuous ranges only"),
    (f"{INTEGER}.MinValue", "0", None),
    (f"{CONFIG}.Strategy", "Genetic", f'{CONFIG}.Strategy: "Genetic" is not one of'),
    (f"{CONFIG}.Strategy", "Grid",
     f"{INTEGER}: the Grid strategy takes categorical ranges only"),
    (f"{CONFIG}.HyperParameterTuningJobObjective.Type", "Biggest",
     f'{CONFIG}.HyperParameterTuningJobObjective.Type: "Biggest" is not Maximize or Minimize'),
    (f"{CONFIG}.HyperParameterTuningJobObjective.MetricName", "val:acc",
     f"{CONFIG}.HyperParameterTuningJobObjective.MetricName: 'val:acc' is not a Name in"),
    (f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs", 0,
     f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs: 0 is below 1"),
    (f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs", REMOVE,
     f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs: missing (required)"),
    (f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs", "4",
     f'{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs: "4" is not a whole number'),
    (f"{CONFIG}.TrainingJobEarlyStoppingType", "Sometimes",
     f'{CONFIG}.TrainingJobEarlyStoppingType: "Sometimes" is not Off or Auto'),
    (f"{CONFIG}.Stratgy", "Random", f"{CONFIG}.Stratgy: unknown field"),
    (f"{INTEGER}.Name", "batch_size", f"{INTEGER}.Name: 'batch_size' is named twice"),
    ("TrainingJobDefinition.StaticHyperParameters.seed", 42,
     "TrainingJobDefinition.StaticHyperParameters.seed: 42 is not a string"),
    ("TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex", "val_accuracy=",
     "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex: needs a group "
     "(...) around the value"),
    ("TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex", "([0-9",
     "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex: not a regular "
     "expression"),
    ("HyperParameterTuningJobName", "a" * 33, "HyperParameterTuningJobName: 'aaa"),
    ("WarmStartConfig", {}, "WarmStartConfig: not supported by local tuning"),
    # SageMaker's limits: ResourceLimits' ranges and the highest service quotas.
    (f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs", 100000,
     f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs: 100000 is above SageMaker's 100"),
    (f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs", -3,
     f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs: -3 is below 1"),
    (f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs", 10001,
     f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs: 10001 is above SageMaker's 10000 for "
     "Random"),
    (f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds", -5,
     f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds: -5 is below 120"),
    (f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds", 15768001,
     f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds: 15768001 is above SageMaker's 15768000"),
    (f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds", "600",
     f'{CONFIG}.ResourceLimits.MaxRuntimeInSeconds: "600" is not a whole number'),
    (f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds", 600, None),
    (f"{CONFIG}.TuningJobCompletionCriteria", {"TargetObjectiveValue": 0.9},
     f"{CONFIG}.TuningJobCompletionCriteria.TargetObjectiveValue: unknown field"),
    (f"{CONFIG}.TuningJobCompletionCriteria", {"TargetObjectiveMetricValue": "0.9"},
     f'{CONFIG}.TuningJobCompletionCriteria.TargetObjectiveMetricValue: "0.9" is not a number'),
    (f"{CONFIG}.TuningJobCompletionCriteria",
     {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}},
     f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving"
     ".MaxNumberOfTrainingJobsNotImproving: 2 is below 3"),
    (f"{CONFIG}.TuningJobCompletionCriteria", {"BestObjectiveNotImproving": [3]},
     f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving: [3] is not an object"),
    (f"{CONFIG}.TuningJobCompletionCriteria",
     {"ConvergenceDetected": {"CompleteOnConvergence": "Yes"}},
     f"{CONFIG}.TuningJobCompletionCriteria.ConvergenceDetected.CompleteOnConvergence: \"Yes\" "
     "is not Disabled or Enabled"),
    (f"{CONFIG}.TuningJobCompletionCriteria",
     {"TargetObjectiveMetricValue": 0.95, "ConvergenceDetected": {
         "CompleteOnConvergence": "Enabled"}, "BestObjectiveNotImproving": {
         "MaxNumberOfTrainingJobsNotImproving": 3}}, None),
    (f"{CONFIG}.StrategyConfig", {"HyperbandStrategyConfig": {"MaxResource": 9}},
     f"{CONFIG}.StrategyConfig: only the Hyperband strategy takes one, not Random"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_FILES,
                         ids=[f"{case[0].split('.')[-1]}={case[1]!r}"[:60] for case in BAD_FILES])
def test_a_mistake_in_the_tuning_file_is_named_by_its_json_path(path, value, message):
    if message is None:
        assert parse(changed(path, value)).max_jobs == 4
        return
    with pytest.raises(ConfigError) as raised:
        parse(changed(path, value))
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_logarithmic_scaling_refuses_a_range_reaching_zero():
    document = changed(f"{CONTINUOUS}.ScalingType", "Logarithmic")
    document[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] = "0"
    with pytest.raises(ConfigError, match=r"Logarithmic needs MinValue above 0, not 0"):
        parse(document)


def hyperband(strategy_config=None, static=None) -> dict:
    """A Hyperband file: epochs static (not tuned), as SageMaker's MaxResource inference reads."""
    document = changed(f"{CONFIG}.Strategy", "Hyperband")
    del document[CONFIG]["ParameterRanges"]["IntegerParameterRanges"]
    document["TrainingJobDefinition"]["StaticHyperParameters"] = (
        {"batch_size": "32", "epochs": "27"} if static is None else static)
    if strategy_config is not None:
        document[CONFIG]["StrategyConfig"] = strategy_config
    return document


HB = f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
HYPERBAND_FILES = [
    (hyperband(), {"MinResource": 1, "MaxResource": 27}),
    (hyperband(static={"num_epochs": "40"}), {"MinResource": 1, "MaxResource": 40}),
    (hyperband(static={"n-epochs": "12"}), {"MinResource": 1, "MaxResource": 12}),
    (hyperband({"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 9}}),
     {"MinResource": 2, "MaxResource": 9}),
    (hyperband(static={"batch_size": "32"}),
     f"{HB}.MaxResource: missing, and no static hyperparameter epochs, numepochs, n-epochs, "
     "n_epochs, num_epochs to infer it from"),
    (hyperband(static={"epochs": "30000"}),
     "TrainingJobDefinition.StaticHyperParameters.epochs: 30000 is not 1 to 20000"),
    (hyperband([]), f"{CONFIG}.StrategyConfig: [] is not an object"),
    (hyperband({"HyperbandStrategyConfig": [1, 9]}), f"{HB}: [1, 9] is not an object"),
    (hyperband({"Hyperband": {}}), f"{CONFIG}.StrategyConfig.Hyperband: unknown field"),
    (hyperband({"HyperbandStrategyConfig": {"MaxResources": 9}}),
     f"{HB}.MaxResources: unknown field"),
    (hyperband({"HyperbandStrategyConfig": {"MinResource": 10, "MaxResource": 5}}),
     f"{HB}.MinResource: 10 is above MaxResource 5"),
    (hyperband({"HyperbandStrategyConfig": {"MinResource": 0}}),
     f"{HB}.MinResource: 0 is not 1 to 20000"),
    (hyperband({"HyperbandStrategyConfig": {"MaxResource": -4}}),
     f"{HB}.MaxResource: -4 is not 1 to 20000"),
    (hyperband({"HyperbandStrategyConfig": {"MaxResource": 20001}}),
     f"{HB}.MaxResource: 20001 is not 1 to 20000"),
]


@pytest.mark.parametrize(("document", "expected"), HYPERBAND_FILES)
def test_hyperband_resources_follow_sagemakers_rules(document, expected):
    if isinstance(expected, dict):
        config = parse(document)
        assert config.hyperband == expected
        made = tuningsearch.pruner(config)
        assert (made._min_resource, made._max_resource) == (expected["MinResource"],
                                                           expected["MaxResource"])
        return
    with pytest.raises(ConfigError) as raised:
        parse(document)
    assert str(raised.value).startswith(expected), str(raised.value)


def test_hyperband_refuses_early_stopping_auto_as_sagemaker_does():
    document = changed(f"{CONFIG}.Strategy", "Hyperband")
    document[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    with pytest.raises(ConfigError, match="Hyperband stops jobs itself; it must be Off"):
        parse(document)


def grid(values: dict, max_jobs=None) -> dict:
    document = changed(f"{CONFIG}.Strategy", "Grid")
    document[CONFIG]["ParameterRanges"] = {"CategoricalParameterRanges": [
        {"Name": name, "Values": options} for name, options in values.items()]}
    if max_jobs is None:
        del document[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    else:
        document[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = max_jobs
    return document


def test_a_grid_larger_than_sagemaker_would_run_is_refused_with_its_count_before_it_is_built():
    values = [str(n) for n in range(30)]
    with pytest.raises(ConfigError, match=f"{RANGES}: the grid has 729000000 combinations; "
                                          "SageMaker runs at most 750 training jobs"):
        parse(grid({f"p{n}": values for n in range(6)}))
    assert parse(grid({"a": values, "b": values[:25]})).max_jobs == 750


def test_grid_runs_every_combination_and_refuses_a_smaller_job_limit():
    config = parse(grid({"learning_rate": ["0.01", "0.1"], "epochs": ["3", "5", "7"]}))
    assert config.max_jobs == 6
    with pytest.raises(ConfigError, match="MaxNumberOfTrainingJobs: 5 is below the grid's 6"):
        parse(grid({"learning_rate": ["0.01", "0.1"], "epochs": ["3", "5", "7"]}, 5))


@pytest.mark.parametrize("workload", ["penguins", "digits"])
def test_each_workload_ships_a_valid_default_tuning_file(workload):
    config = load(REPO / "pipeline" / "tuning" / "configs" / f"{workload}.json")
    assert {r.name for r in config.ranges} == {"epochs", "learning_rate"}
    assert config.objective == "validation:accuracy" and config.maximize
    assert config.max_parallel <= config.max_jobs


def test_the_penguins_file_has_the_programs_ranges():
    config = load(REPO / "pipeline" / "tuning" / "configs" / "penguins.json")
    ranges = {r.name: r for r in config.ranges}
    assert (ranges["epochs"].kind, ranges["epochs"].low, ranges["epochs"].high) == \
        ("Integer", 10, 50)
    assert (ranges["learning_rate"].kind, ranges["learning_rate"].low,
            ranges["learning_rate"].high) == ("Continuous", 0.01, 0.03)


def test_a_tuning_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "tune.json"
    path.write_text("{\"HyperParameterTuningJobConfig\": ")
    with pytest.raises(ConfigError, match=f"{path}: not valid JSON"):
        load(path)


@pytest.mark.parametrize(("strategy", "sampler", "pruner"), [
    ("Bayesian", "TPESampler", "NopPruner"),
    ("Random", "RandomSampler", "NopPruner"),
    ("Hyperband", "RandomSampler", "HyperbandPruner"),
])
def test_each_strategy_maps_to_its_optuna_sampler_and_pruner(strategy, sampler, pruner):
    config = parse(hyperband() if strategy == "Hyperband"
                   else changed(f"{CONFIG}.Strategy", strategy))
    assert type(tuningsearch.sampler(config)).__name__ == sampler
    assert type(tuningsearch.pruner(config)).__name__ == pruner


def test_grid_maps_to_the_grid_sampler_and_early_stopping_to_sagemakers_median_rule():
    document = grid({"learning_rate": ["0.01", "0.1"]})
    document[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    config = parse(document)
    assert type(tuningsearch.sampler(config)).__name__ == "GridSampler"
    assert type(tuningsearch.pruner(config)).__name__ == "RunningAverageMedianPruner"


def early_stopping_study(direction: str = "Maximize"):
    import optuna

    document = changed(f"{CONFIG}.TrainingJobEarlyStoppingType", "Auto")
    document[CONFIG]["HyperParameterTuningJobObjective"]["Type"] = direction
    return optuna.create_study(direction=direction.lower(), pruner=tuningsearch.pruner(
        parse(document)))


def run_epochs(study, values, complete=True):
    """A trial that reports one value per epoch; returns (trial, epoch it was stopped at)."""
    trial = study.ask()
    for epoch, value in enumerate(values, 1):
        trial.report(value, epoch)
        if trial.should_prune():
            return trial, epoch
    if complete:
        study.tell(trial, values[-1])
    return trial, None


def test_early_stopping_compares_with_the_median_of_earlier_jobs_running_averages():
    # The case: an earlier job 0.5, 0.6, 0.7; the current 0.58 then 0.57. At epoch 2
    # the earlier job's running average is 0.55: the current job goes on (Optuna's
    # MedianPruner compares with the earlier job's 0.6 and would stop it).
    study = early_stopping_study()
    run_epochs(study, [0.5, 0.6, 0.7])
    current, stopped = run_epochs(study, [0.58, 0.57], complete=False)
    assert stopped is None
    # A third job at epoch 2 against 0.55 and 0.575 (the running job counts: it started
    # earlier): median 0.5625, so 0.56 is stopped there.
    assert run_epochs(study, [0.6, 0.56], complete=False)[1] == 2
    # A fourth against 0.55, 0.575 and 0.58 (stopped jobs count too): median 0.575.
    assert run_epochs(study, [0.6, 0.574], complete=False)[1] == 2
    # A fifth: the median of 0.55, 0.575, 0.58 and 0.587 is 0.5775.
    assert run_epochs(study, [0.6, 0.578], complete=False)[1] is None


def test_early_stopping_when_minimizing_stops_a_job_above_the_median():
    study = early_stopping_study("Minimize")
    run_epochs(study, [0.9, 0.7, 0.5])
    assert run_epochs(study, [0.85, 0.81], complete=False)[1] == 2  # above (0.9+0.7)/2
    assert run_epochs(study, [0.8, 0.79], complete=False)[1] is None
    assert run_epochs(early_stopping_study(), [0.1, 0.1])[1] is None  # nothing to compare


def test_sampled_values_stay_in_their_ranges_and_are_strings_as_sagemaker_sends_them(tmp_path):
    document = changed(f"{CONTINUOUS}.ScalingType", "ReverseLogarithmic")
    document[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        MinValue="0.9", MaxValue="0.999")
    document[CONFIG]["ParameterRanges"]["CategoricalParameterRanges"] = [
        {"Name": "optimizer", "Values": ["sgd", "adam"]}]
    config = parse(document)
    study = tuningsearch.study(config, "unit", tmp_path / "study.journal")
    for _ in range(30):
        trial = study.ask(tuningsearch.distributions(config))
        values = tuningsearch.hyperparameter_values(config, trial.params)
        assert all(isinstance(value, str) for value in values.values())
        assert 10 <= int(values["epochs"]) <= 50
        assert 0.9 <= float(values["learning_rate"]) <= 0.999
        assert values["optimizer"] in {"sgd", "adam"}
        study.tell(trial, 0.5)


def test_the_study_is_kept_on_disk_and_a_rerun_draws_new_values(tmp_path):
    config = parse(changed(f"{CONFIG}.RandomSeed", 3))
    first = tuningsearch.study(config, "job", tmp_path / "study.journal")
    drawn = [first.ask(tuningsearch.distributions(config)).params for _ in range(2)]
    again = tuningsearch.study(config, "job", tmp_path / "study.journal")
    assert len(again.trials) == 2
    assert again.ask(tuningsearch.distributions(config)).params not in drawn


EPOCH_LINES = (
    "epoch=1/3 train_loss=1.019799 train_accuracy=0.416667 val_loss=0.787974 "
    "val_accuracy=0.826923\n"
    "epoch=2/3 train_loss=0.690128 train_accuracy=0.791667 val_loss=0.583419 "
    "val_accuracy=0.846154\n"
    "packed /opt/ml/output/model.tar.gz\n")


def test_the_objective_is_the_last_value_the_metric_regex_finds():
    config = parse(VALID)
    assert tuningresults.objective(EPOCH_LINES, config) == 0.846154
    assert tuningresults.objective("error: hyperparameter epochs=0\n", config) is None


@pytest.mark.parametrize(("regex", "value"), [
    ("val_accuracy=([0-9\\.]+)(\\s)", 0.846154),  # two groups: the first is the value
    ("val_(loss|accuracy)=([0-9\\.]+)", None),  # its first group is no number: no value
])
def test_a_metric_regex_with_two_groups_takes_group_one_as_sagemaker_does(regex, value):
    document = changed(
        "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions[0].Regex", regex)
    config = parse(document)
    assert tuningresults.objective(EPOCH_LINES, config) == value


def record(name: str, status: str, value, epochs: str, start: str) -> runs.Run:
    fields = {"name": name, "kind": "training", "status": status, "start": start,
              "end": start.replace(":00.", ":09."), "seconds": 9.0,
              "hyperparameters": {"epochs": epochs, "learning_rate": "0.02", "batch_size": "32"}}
    if value is not None:
        fields["metric"] = {"name": "validation:accuracy", "value": value}
    return runs.Run(Path(name), fields)


def test_the_results_table_best_job_and_plot_follow_sagemakers_shapes(tmp_path):
    config = parse(VALID)
    trials = [record("t-001-aa", "Completed", 0.81, "10", "2026-01-01T00:00:00.000000Z"),
              # A failed job that printed values before failing carries none (SageMaker).
              record("t-002-bb", "Failed", 0.97, "20", "2026-01-01T00:01:00.000000Z"),
              record("t-003-cc", "Completed", 0.93, "30", "2026-01-01T00:02:00.000000Z"),
              record("t-004-dd", "Stopped", 0.99, "40", "2026-01-01T00:03:00.000000Z")]
    table = tuningresults.rows(config, trials)
    best = tuningresults.write(tmp_path, config, table)
    with (tmp_path / "results.csv").open() as kept:
        read = list(csv.DictReader(kept))
    assert list(read[0]) == ["epochs", "learning_rate", "TrainingJobName", "TrainingJobStatus",
                             "FinalObjectiveValue", "TrainingStartTime", "TrainingEndTime",
                             "TrainingElapsedTimeSeconds"]
    assert [row["TrainingJobStatus"] for row in read] == ["Completed", "Failed", "Completed",
                                                          "Stopped"]
    assert read[1]["FinalObjectiveValue"] == "" and read[2]["epochs"] == "30"
    # A stopped job has no model, so it is never the best, whatever its last value.
    assert best["TrainingJobName"] == "t-003-cc"
    described = json.loads((tmp_path / "best-training-job.json").read_text())
    assert described["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Maximize", "MetricName": "validation:accuracy", "Value": 0.93}
    assert described["TunedHyperParameters"] == {"epochs": "30", "learning_rate": "0.02"}
    assert described["TuningJobName"] == tmp_path.name
    assert described["TrainingJobArn"] == (
        "arn:aws:sagemaker:local:000000000000:training-job/t-003-cc")
    assert (tmp_path / "objective.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_minimize_ranks_the_lowest_objective_first():
    document = changed(f"{CONFIG}.HyperParameterTuningJobObjective.Type", "Minimize")
    config = parse(document)
    table = tuningresults.rows(config, [
        record("a", "Completed", 0.5, "10", "2026-01-01T00:00:00.000000Z"),
        record("b", "Completed", 0.2, "10", "2026-01-01T00:01:00.000000Z")])
    assert [row["TrainingJobName"] for row in tuningresults.ranked(config, table)] == ["b", "a"]
    assert not math.isnan(float(table[0]["FinalObjectiveValue"]))
