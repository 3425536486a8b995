"""A pipeline's Tuning step: its CreateHyperParameterTuningJob request checked by the tuning
engine (pipeline/tuning/config.py), hyperparameters drawn by its strategy's Optuna sampler
(pipeline/tuning/search.py), each trial a CreateTrainingJob request run by the training step's
runner, MaxParallelTrainingJobs at once. The answer is DescribeHyperParameterTuningJob's, with
the TrainingJobSummaries the pipeline service lists: best objective first, so
`get_top_model_s3_uri(top_k=k)` names the k-th best trial's model.tar.gz.
"""

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import optuna

from pipeline.tuning import search
from pipeline.tuning.config import ConfigError, parse
from pipeline.workflow import records
from pipeline.workflow.executor import StepFailed

OBJECTIVE = "FinalHyperParameterTuningJobObjectiveMetric"
# HyperParameterTrainingJobDefinition's fields that CreateTrainingJob does not take.
TUNING_ONLY = ("DefinitionName", "TuningObjective", "HyperParameterRanges",
               "StaticHyperParameters")
TUNING_RESOURCES = "HyperParameterTuningResourceConfig"
TRAINING_RESOURCES = {"InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId",
                      "KeepAlivePeriodInSeconds", "InstanceGroups"}


def trial_request(request, definition: dict, hyperparameters: dict, number: int):
    """The trial's CreateTrainingJob request, and its name: <tuning job>-<NNN>, as SageMaker:
    the TrainingJobDefinition without its tuning-only fields, its hyperparameters drawn, and
    HyperParameterTuningResourceConfig (what SDK 2.x writes) as the trial's ResourceConfig."""
    job = copy.deepcopy(definition)
    for tuning_only in TUNING_ONLY:
        job.pop(tuning_only, None)
    resources = job.pop(TUNING_RESOURCES, None)
    if resources is not None and "ResourceConfig" not in job:
        job["ResourceConfig"] = {key: value for key, value in resources.items()
                                 if key in TRAINING_RESOURCES}
    job["HyperParameters"] = hyperparameters
    name = f"{request.job_name[:28].rstrip('-')}-{number:03d}"
    return replace(request, name=f"{request.name}/{name}", type="Training", arguments=job,
                   job_name=name)


def tuning(train):
    """The Tuning runner over `train`, the Training step's runner."""

    def run(request) -> dict:
        try:
            config = parse(request.arguments, f"step {request.name}'s Arguments")
        except ConfigError as error:
            raise StepFailed(f"Tuning {request.name}: {error}") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize" if config.maximize else "minimize",
                                    sampler=search.sampler(config))
        space = search.distributions(config)
        definition = request.arguments["TrainingJobDefinition"]
        drawn = []
        for number in range(1, config.max_jobs + 1):
            trial = study.ask(space)
            values = {**config.static, **search.hyperparameter_values(config, trial.params)}
            drawn.append((trial, trial_request(request, definition, values, number)))

        def one(pair):
            trial, trial_job = pair
            try:
                described = train(trial_job)
            except StepFailed as error:
                return trial, trial_job, None, error.reason
            found = [m["Value"] for m in described.get("FinalMetricDataList", [])
                     if m["MetricName"] == config.objective]
            return trial, trial_job, (found[-1] if found else None), described

        with ThreadPoolExecutor(max_workers=config.max_parallel) as pool:
            results = list(pool.map(one, drawn))
        summaries = []
        for trial, trial_job, value, described in results:
            summary = {"TrainingJobName": trial_job.job_name,
                       "TrainingJobArn": records.arn("training-job", trial_job.job_name),
                       "TunedHyperParameters": search.hyperparameter_values(config,
                                                                            trial.params)}
            if isinstance(described, str) or value is None:
                summary.update(TrainingJobStatus="Failed", FailureReason=described
                               if isinstance(described, str) else
                               f"no {config.objective} in the trial's log")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                summary["TrainingJobStatus"] = "Completed"
                summary[OBJECTIVE] = {"MetricName": config.objective, "Value": value}
                study.tell(trial, value)
            summaries.append(summary)
        done = [s for s in summaries if s["TrainingJobStatus"] == "Completed"]
        if not done:
            raise StepFailed(f"Tuning {request.name}: no trial completed ("
                             f"{summaries[0].get('FailureReason', '')})")
        done.sort(key=lambda s: s[OBJECTIVE]["Value"], reverse=config.maximize)
        failed = [s for s in summaries if s["TrainingJobStatus"] != "Completed"]
        return {**request.arguments, "HyperParameterTuningJobName": request.job_name,
                "HyperParameterTuningJobArn": records.arn("hyper-parameter-tuning-job",
                                                          request.job_name),
                "HyperParameterTuningJobStatus": "Completed",
                "TrainingJobStatusCounters": {"Completed": len(done), "Failed": len(failed)},
                "TrainingJobSummaries": done + failed, "BestTrainingJob": done[0]}

    return run
