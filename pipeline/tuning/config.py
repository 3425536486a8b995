"""A tuning job file in CreateHyperParameterTuningJob's shape, checked before any job starts.

The same file can be sent to AWS, so the checks are SageMaker's rules, and every mistake is
named by its JSON path (`HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0]
.MinValue: "ten" is not a whole number`). Standard library only.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

# The job file as the run keeps it: a resumed job reads this copy, not the file named again.
COPY = "tuning-job.json"
CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
SCALINGS = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
# SageMaker's limit and pattern for a tuning job's name.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
# Fields of the API this tool reads; others the API knows are passed over, not refused.
TOP_FIELDS = {"HyperParameterTuningJobName", CONFIG, DEFINITION, "Tags", "Autotune",
              "WarmStartConfig", "TrainingJobDefinitions"}
CONFIG_FIELDS = {"Strategy", "StrategyConfig", "HyperParameterTuningJobObjective",
                 "ResourceLimits", "ParameterRanges", "TrainingJobEarlyStoppingType",
                 "TuningJobCompletionCriteria", "RandomSeed"}
UNSUPPORTED = {"WarmStartConfig", "TrainingJobDefinitions", "Autotune"}
# SageMaker's limits (API ranges and the highest service quotas, "Resource Limits for
# Automatic Model Tuning"): a file within them runs on AWS too.
MAX_PARALLEL = 100
MAX_JOBS = {"Random": 10000}
MAX_JOBS_DEFAULT = 750  # Bayesian, Hyperband, and Grid's combinations
RUNTIME_RANGE = (120, 15768000)
MAX_RESOURCE = 20000
MIN_NOT_IMPROVING = 3
# The static hyperparameters Hyperband reads MaxResource from when it is not given.
EPOCH_NAMES = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


class ConfigError(ValueError):
    """One mistake in a tuning job file: its JSON path and what is wrong."""


@dataclass(frozen=True)
class Range:
    name: str
    kind: str  # Integer, Continuous or Categorical
    low: float = 0
    high: float = 0
    scaling: str = "Auto"
    values: tuple = ()


@dataclass(frozen=True)
class TuningConfig:
    strategy: str
    objective: str
    maximize: bool
    max_jobs: int
    max_parallel: int
    ranges: tuple[Range, ...]
    early_stopping: bool
    static: dict
    regex: str
    seed: int | None = None
    hyperband: dict = field(default_factory=dict)
    name: str | None = None
    max_runtime: int | None = None  # ResourceLimits.MaxRuntimeInSeconds
    # TuningJobCompletionCriteria: TargetObjectiveMetricValue, BestObjectiveNotImproving
    # .MaxNumberOfTrainingJobsNotImproving, ConvergenceDetected.CompleteOnConvergence=Enabled.
    target: float | None = None
    not_improving: int | None = None
    convergence: bool = False

    def combinations(self) -> int:
        return math.prod(len(r.values) for r in self.ranges)


def metric_values(regex: str, text: str) -> list[float]:
    """Each value a metric definition's regex finds, as SageMaker reads one: the first group
    of each match, kept when it is a number."""
    found = []
    for match in re.finditer(regex, text):
        try:
            found.append(float(match.group(1)))
        except (TypeError, ValueError):
            continue
    return found


def _get(node: dict, key: str, path: str, kind: type, required: bool = True):
    if key not in node:
        if required:
            raise ConfigError(f"{path}.{key}: missing (required)".lstrip("."))
        return None
    value = node[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        word = {dict: "an object", list: "a list", str: "a string", int: "a whole number"}[kind]
        raise ConfigError(f"{path}.{key}: {json.dumps(value)} is not {word}".lstrip("."))
    return value


def _known(node: dict, known: set, path: str) -> None:
    for key in node:
        if key not in known:
            raise ConfigError(f"{path}.{key}: unknown field (known: {', '.join(sorted(known))})")


def _number(value, path: str, whole: bool) -> float:
    word = "a whole number" if whole else "a number"
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (whole and number != int(number)):
        raise ConfigError(f"{path}: {json.dumps(value)} is not {word} (write it as a string, "
                          f"e.g. \"10\")")
    return int(number) if whole else number


def _numeric_range(item: dict, path: str, kind: str) -> Range:
    _known(item, {"Name", "MinValue", "MaxValue", "ScalingType"}, path)
    name = _get(item, "Name", path, str)
    whole = kind == "Integer"
    for key in ("MinValue", "MaxValue"):
        if key not in item:
            raise ConfigError(f"{path}.{key}: missing (required)")
    low = _number(item["MinValue"], f"{path}.MinValue", whole)
    high = _number(item["MaxValue"], f"{path}.MaxValue", whole)
    if low > high:
        raise ConfigError(f"{path}.MaxValue: {high} is below MinValue {low}")
    scaling = _get(item, "ScalingType", path, str, required=False) or "Auto"
    if scaling not in SCALINGS:
        raise ConfigError(f"{path}.ScalingType: {json.dumps(scaling)} is not one of "
                          f"{', '.join(SCALINGS)}")
    if scaling == "Logarithmic" and low <= 0:
        raise ConfigError(f"{path}.ScalingType: Logarithmic needs MinValue above 0, not {low}")
    if scaling == "ReverseLogarithmic":
        if whole:
            raise ConfigError(f"{path}.ScalingType: ReverseLogarithmic is for continuous "
                              "ranges only")
        if not 0 <= low < high < 1:
            raise ConfigError(f"{path}.ScalingType: ReverseLogarithmic needs "
                              f"0 <= MinValue < MaxValue < 1, not {low}..{high}")
    return Range(name, kind, low, high, scaling)


def _categorical(item: dict, path: str) -> Range:
    _known(item, {"Name", "Values"}, path)
    name = _get(item, "Name", path, str)
    values = _get(item, "Values", path, list)
    if not values:
        raise ConfigError(f"{path}.Values: empty; give at least one value")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise ConfigError(f"{path}.Values[{index}]: {json.dumps(value)} is not a string")
    if len(set(values)) != len(values):
        raise ConfigError(f"{path}.Values: a value is repeated")
    return Range(name, "Categorical", values=tuple(values))


def _ranges(config: dict, strategy: str, static: dict) -> tuple[Range, ...]:
    path = f"{CONFIG}.ParameterRanges"
    node = _get(config, "ParameterRanges", CONFIG, dict)
    _known(node, {f"{k}ParameterRanges" for k in ("Integer", "Continuous", "Categorical")}
           | {"AutoParameters"}, path)
    if "AutoParameters" in node:
        raise ConfigError(f"{path}.AutoParameters: Autotune is not supported locally")
    found: list[Range] = []
    for kind in ("Integer", "Continuous", "Categorical"):
        key = f"{kind}ParameterRanges"
        for index, item in enumerate(_get(node, key, path, list, required=False) or []):
            where = f"{path}.{key}[{index}]"
            if not isinstance(item, dict):
                raise ConfigError(f"{where}: {json.dumps(item)} is not an object")
            made = _categorical(item, where) if kind == "Categorical" else \
                _numeric_range(item, where, kind)
            if any(r.name == made.name for r in found) or made.name in static:
                raise ConfigError(f"{where}.Name: {made.name!r} is named twice (ranges and "
                                  "StaticHyperParameters must not overlap)")
            if strategy == "Grid" and kind != "Categorical":
                raise ConfigError(f"{where}: the Grid strategy takes categorical ranges only")
            found.append(made)
    if not found:
        raise ConfigError(f"{path}: no parameter range to tune")
    return tuple(found)


def parse(document, path_name: str = "the tuning file") -> TuningConfig:
    """TuningConfig from a parsed JSON document, or ConfigError naming the first mistake."""
    if not isinstance(document, dict):
        raise ConfigError(f"{path_name}: the top level is not a JSON object")
    _known(document, TOP_FIELDS, "")
    for key in UNSUPPORTED & set(document):
        raise ConfigError(f"{key}: not supported by local tuning; remove it")
    name = _get(document, "HyperParameterTuningJobName", "", str, required=False)
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"HyperParameterTuningJobName: {name!r} is not 1-32 letters, digits "
                          "and hyphens")
    config = _get(document, CONFIG, "", dict)
    _known(config, CONFIG_FIELDS, CONFIG)
    strategy = _get(config, "Strategy", CONFIG, str)
    if strategy not in STRATEGIES:
        raise ConfigError(f"{CONFIG}.Strategy: {json.dumps(strategy)} is not one of "
                          f"{', '.join(STRATEGIES)}")
    objective = _get(config, "HyperParameterTuningJobObjective", CONFIG, dict)
    where = f"{CONFIG}.HyperParameterTuningJobObjective"
    _known(objective, {"Type", "MetricName"}, where)
    direction = _get(objective, "Type", where, str)
    if direction not in ("Maximize", "Minimize"):
        raise ConfigError(f"{where}.Type: {json.dumps(direction)} is not Maximize or Minimize")
    metric = _get(objective, "MetricName", where, str)
    limits = _get(config, "ResourceLimits", CONFIG, dict)
    where = f"{CONFIG}.ResourceLimits"
    _known(limits, {"MaxNumberOfTrainingJobs", "MaxParallelTrainingJobs", "MaxRuntimeInSeconds"},
           where)
    max_jobs = _get(limits, "MaxNumberOfTrainingJobs", where, int, required=strategy != "Grid")
    parallel = _get(limits, "MaxParallelTrainingJobs", where, int)
    runtime = _get(limits, "MaxRuntimeInSeconds", where, int, required=False)
    job_cap = MAX_JOBS.get(strategy, MAX_JOBS_DEFAULT)
    for key, value, low, high in (
            ("MaxNumberOfTrainingJobs", max_jobs, 1, job_cap),
            ("MaxParallelTrainingJobs", parallel, 1, MAX_PARALLEL),
            ("MaxRuntimeInSeconds", runtime, *RUNTIME_RANGE)):
        if value is not None and value < low:
            raise ConfigError(f"{where}.{key}: {value} is below {low}")
        if value is not None and value > high:
            raise ConfigError(f"{where}.{key}: {value} is above SageMaker's {high}"
                              f"{f' for {strategy}' if key == 'MaxNumberOfTrainingJobs' else ''}")
    stopping = _get(config, "TrainingJobEarlyStoppingType", CONFIG, str, required=False) or "Off"
    if stopping not in ("Off", "Auto"):
        raise ConfigError(f"{CONFIG}.TrainingJobEarlyStoppingType: {json.dumps(stopping)} is "
                          "not Off or Auto")
    if strategy == "Hyperband" and stopping != "Off":
        raise ConfigError(f"{CONFIG}.TrainingJobEarlyStoppingType: Hyperband stops jobs itself; "
                          "it must be Off")
    seed = _get(config, "RandomSeed", CONFIG, int, required=False)
    target, not_improving, convergence = _completion(config)

    definition = _get(document, DEFINITION, "", dict)
    static = _get(definition, "StaticHyperParameters", DEFINITION, dict, required=False) or {}
    for key, value in static.items():
        if not isinstance(value, str):
            raise ConfigError(f"{DEFINITION}.StaticHyperParameters.{key}: {json.dumps(value)} "
                              "is not a string (SageMaker passes every hyperparameter as one)")
    hyperband = _hyperband(config, strategy, static)
    ranges = _ranges(config, strategy, static)
    spec = _get(definition, "AlgorithmSpecification", DEFINITION, dict)
    where = f"{DEFINITION}.AlgorithmSpecification"
    definitions = _get(spec, "MetricDefinitions", where, list)
    regex = None
    for index, item in enumerate(definitions):
        item_path = f"{where}.MetricDefinitions[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{item_path}: {json.dumps(item)} is not an object")
        pattern = _get(item, "Regex", item_path, str)
        try:
            groups = re.compile(pattern).groups
        except re.error as error:
            raise ConfigError(f"{item_path}.Regex: not a regular expression ({error})") from None
        if groups < 1:
            raise ConfigError(f"{item_path}.Regex: needs a group (...) around the value")
        if _get(item, "Name", item_path, str) == metric:
            regex = pattern
    if regex is None:
        raise ConfigError(f"{CONFIG}.HyperParameterTuningJobObjective.MetricName: {metric!r} "
                          f"is not a Name in {where}.MetricDefinitions")
    made = TuningConfig(strategy, metric, direction == "Maximize", max_jobs or 0, parallel,
                        ranges, stopping == "Auto", dict(static), regex, seed, hyperband, name,
                        runtime, target, not_improving, convergence)
    if strategy == "Grid":
        # Counted, never listed: a grid too large is refused before Optuna builds it.
        combos = made.combinations()
        if combos > MAX_JOBS_DEFAULT:
            raise ConfigError(f"{CONFIG}.ParameterRanges: the grid has {combos} combinations; "
                              f"SageMaker runs at most {MAX_JOBS_DEFAULT} training jobs per "
                              "tuning job")
        if max_jobs is not None and max_jobs < combos:
            raise ConfigError(f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs: {max_jobs} is "
                              f"below the grid's {combos} combinations; leave it out or raise it")
        made = TuningConfig(**{**made.__dict__, "max_jobs": combos})
    return made


def _completion(config: dict) -> tuple[float | None, int | None, bool]:
    """TuningJobCompletionCriteria: (TargetObjectiveMetricValue, MaxNumberOfTrainingJobsNot
    Improving, CompleteOnConvergence is Enabled)."""
    where = f"{CONFIG}.TuningJobCompletionCriteria"
    node = _get(config, "TuningJobCompletionCriteria", CONFIG, dict, required=False)
    if node is None:
        return None, None, False
    _known(node, {"TargetObjectiveMetricValue", "BestObjectiveNotImproving",
                  "ConvergenceDetected"}, where)
    target = node.get("TargetObjectiveMetricValue")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int | float)
                               or not math.isfinite(target)):
        raise ConfigError(f"{where}.TargetObjectiveMetricValue: {json.dumps(target)} is not a "
                          "number")
    not_improving = None
    best = _get(node, "BestObjectiveNotImproving", where, dict, required=False)
    if best is not None:
        path = f"{where}.BestObjectiveNotImproving"
        _known(best, {"MaxNumberOfTrainingJobsNotImproving"}, path)
        not_improving = _get(best, "MaxNumberOfTrainingJobsNotImproving", path, int,
                             required=False)
        if not_improving is not None and not_improving < MIN_NOT_IMPROVING:
            raise ConfigError(f"{path}.MaxNumberOfTrainingJobsNotImproving: {not_improving} is "
                              f"below {MIN_NOT_IMPROVING}")
    convergence = False
    detected = _get(node, "ConvergenceDetected", where, dict, required=False)
    if detected is not None:
        path = f"{where}.ConvergenceDetected"
        _known(detected, {"CompleteOnConvergence"}, path)
        value = _get(detected, "CompleteOnConvergence", path, str, required=False) or "Disabled"
        if value not in ("Disabled", "Enabled"):
            raise ConfigError(f"{path}.CompleteOnConvergence: {json.dumps(value)} is not "
                              "Disabled or Enabled")
        convergence = value == "Enabled"
    return (None if target is None else float(target)), not_improving, convergence


def _hyperband(config: dict, strategy: str, static: dict) -> dict:
    """HyperbandStrategyConfig's MinResource and MaxResource, MaxResource inferred from a
    static epochs hyperparameter as SageMaker does; {} for other strategies."""
    where = f"{CONFIG}.StrategyConfig"
    node = _get(config, "StrategyConfig", CONFIG, dict, required=False)
    if node is not None and strategy != "Hyperband":
        raise ConfigError(f"{where}: only the Hyperband strategy takes one, not {strategy}")
    if strategy != "Hyperband":
        return {}
    node = node or {}
    _known(node, {"HyperbandStrategyConfig"}, where)
    where += ".HyperbandStrategyConfig"
    hyperband = _get(node, "HyperbandStrategyConfig", where.rsplit(".", 1)[0], dict,
                     required=False) or {}
    _known(hyperband, {"MinResource", "MaxResource"}, where)
    found = {}
    for key in ("MinResource", "MaxResource"):
        value = _get(hyperband, key, where, int, required=False)
        if value is not None and not 1 <= value <= MAX_RESOURCE:
            raise ConfigError(f"{where}.{key}: {value} is not 1 to {MAX_RESOURCE}")
        if value is not None:
            found[key] = value
    if "MaxResource" not in found:
        named = [name for name in EPOCH_NAMES if name in static]
        if not named:
            raise ConfigError(f"{where}.MaxResource: missing, and no static hyperparameter "
                              f"{', '.join(EPOCH_NAMES)} to infer it from (SageMaker's rule)")
        epochs = _number(static[named[0]], f"{DEFINITION}.StaticHyperParameters.{named[0]}",
                         whole=True)
        if not 1 <= epochs <= MAX_RESOURCE:
            raise ConfigError(f"{DEFINITION}.StaticHyperParameters.{named[0]}: {epochs} is not "
                              f"1 to {MAX_RESOURCE}, so MaxResource cannot be inferred from it")
        found["MaxResource"] = epochs
    found.setdefault("MinResource", 1)
    if found["MinResource"] > found["MaxResource"]:
        raise ConfigError(f"{where}.MinResource: {found['MinResource']} is above MaxResource "
                          f"{found['MaxResource']}")
    return found


def load(path: Path) -> TuningConfig:
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    return parse(document, str(path))
