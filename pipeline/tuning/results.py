"""A tuning job's results, in the shapes SageMaker gives them.

`results.csv` has the columns of `HyperparameterTuningJobAnalytics.dataframe()` (one per tuned
hyperparameter, then TrainingJobName, TrainingJobStatus, FinalObjectiveValue,
TrainingStartTime, TrainingEndTime, TrainingElapsedTimeSeconds), `best-training-job.json` is
`DescribeHyperParameterTuningJob`'s BestTrainingJob, and `objective.png` plots the objective by
trial and by each tuned hyperparameter.
"""

import csv
import io
from pathlib import Path

from pipeline.runs import files
from pipeline.runs import records as runs
from pipeline.tuning.config import TuningConfig, metric_values

TABLE = "results.csv"
BEST = "best-training-job.json"
PLOT = "objective.png"
# ARNs in SageMaker's pattern for a local machine: region "local", account 000000000000.
ARN = "arn:aws:sagemaker:local:000000000000:{kind}/{name}"
COLUMNS = ("TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
           "TrainingEndTime", "TrainingElapsedTimeSeconds")


def objective(logs: str, config: TuningConfig) -> float | None:
    """As SageMaker reads it: the metric definition's regex over the log, the last value."""
    found = metric_values(config.regex, logs)
    return found[-1] if found else None


def rows(config: TuningConfig, trials: list[runs.Run]) -> list[dict]:
    """One row per trial, in trial order."""
    table = []
    for run in trials:
        record = run.record
        hps = record.get("hyperparameters", {})
        row = {each.name: hps.get(each.name, "") for each in config.ranges}
        value = record.get("metric", {}).get("value") if record.get("metric") else None
        if record["status"] == runs.FAILED:  # as SageMaker: a failed job has no final value
            value = None
        row.update(TrainingJobName=run.name, TrainingJobStatus=record["status"],
                   FinalObjectiveValue="" if value is None else value,
                   TrainingStartTime=record["start"], TrainingEndTime=record.get("end") or "",
                   TrainingElapsedTimeSeconds=record.get("seconds", ""))
        table.append(row)
    return table


def ranked(config: TuningConfig, table: list[dict]) -> list[dict]:
    """Completed trials with an objective, best first (SageMaker's BestTrainingJob first)."""
    scored = [row for row in table if row["TrainingJobStatus"] == runs.COMPLETED
              and row["FinalObjectiveValue"] != ""]
    return sorted(scored, key=lambda row: float(row["FinalObjectiveValue"]),
                  reverse=config.maximize)


def best_training_job(config: TuningConfig, row: dict, tuning_job: str) -> dict:
    return {
        "TrainingJobName": row["TrainingJobName"],
        "TrainingJobArn": ARN.format(kind="training-job", name=row["TrainingJobName"].lower()),
        "TuningJobName": tuning_job,
        "TunedHyperParameters": {each.name: row[each.name] for each in config.ranges},
        "CreationTime": row["TrainingStartTime"],
        "TrainingStartTime": row["TrainingStartTime"],
        "TrainingEndTime": row["TrainingEndTime"],
        "TrainingJobStatus": row["TrainingJobStatus"],
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Maximize" if config.maximize else "Minimize",
            "MetricName": config.objective, "Value": float(row["FinalObjectiveValue"])},
        "ObjectiveStatus": "Succeeded",
    }


def write(folder: Path, config: TuningConfig, table: list[dict]) -> dict | None:
    """results.csv, best-training-job.json and objective.png; returns the best row (or None)."""
    columns = [each.name for each in config.ranges] + list(COLUMNS)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(table)
    files.write_whole(folder / TABLE, out.getvalue())
    best = ranked(config, table)
    if best:
        files.write_json(folder / BEST, best_training_job(config, best[0], folder.name))
    plot(folder / PLOT, config, table)
    return best[0] if best else None


def plot(path: Path, config: TuningConfig, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    scored = [(index + 1, row) for index, row in enumerate(table)
              if row["FinalObjectiveValue"] != ""]
    panels = 1 + len(config.ranges)
    figure, axes = pyplot.subplots(1, panels, figsize=(4 * panels, 3.5), squeeze=False)
    colours = {runs.COMPLETED: "tab:blue", runs.STOPPED: "tab:orange"}
    for axis, each in zip(axes[0], [None, *config.ranges], strict=True):
        for number, row in scored:
            x = number if each is None else row[each.name]
            if each is not None and each.kind != "Categorical":
                x = float(x)
            axis.scatter([x], [float(row["FinalObjectiveValue"])],
                         color=colours.get(row["TrainingJobStatus"], "tab:red"))
        axis.set_xlabel("trial" if each is None else each.name)
        if each is not None and each.scaling == "Logarithmic":
            axis.set_xscale("log")
        axis.set_ylabel(config.objective)
        axis.grid(alpha=0.3)
    axes[0][0].set_title("objective by trial (orange: stopped early)", fontsize=9)
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=80)
    pyplot.close(figure)
    files.write_whole(path, picture.getvalue())
