"""TuningJobCompletionCriteria, MaxRuntimeInSeconds and Hyperband's MaxResource in-process: the
rules on a list of objectives, then a tuner whose trials are stand-ins (no Docker) stopping and
saying why."""

import copy
import json
import threading
import time
from types import SimpleNamespace

import pytest
from test_tuning import CONFIG, VALID

from pipeline.runs import records as runs
from pipeline.tuning import completion
from pipeline.tuning import job as tuningjob
from pipeline.tuning import search as tuningsearch
from pipeline.tuning.config import parse
from pipeline.tuning.trials import Tuner

pytestmark = pytest.mark.pipeline


def config_with(criteria: dict | None = None, direction="Maximize", jobs=8, runtime=None):
    document = copy.deepcopy(VALID)
    node = document[CONFIG]
    node["HyperParameterTuningJobObjective"]["Type"] = direction
    node["ResourceLimits"].update(MaxNumberOfTrainingJobs=jobs, MaxParallelTrainingJobs=1)
    if runtime is not None:
        node["ResourceLimits"]["MaxRuntimeInSeconds"] = runtime
    if criteria is not None:
        node["TuningJobCompletionCriteria"] = criteria
    return parse(document)


TARGET = {"TargetObjectiveMetricValue": 0.9}
NOT_IMPROVING = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
CONVERGENCE = {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}
# (criteria, direction, objectives in the order the trials ended, the criterion met or None)
CASES = [
    (TARGET, "Maximize", [0.5, 0.8, 0.89], None),
    (TARGET, "Maximize", [0.5, 0.93], "TargetObjectiveMetricValue"),
    ({"TargetObjectiveMetricValue": 0.2}, "Minimize", [0.5, 0.21], None),
    ({"TargetObjectiveMetricValue": 0.2}, "Minimize", [0.5, 0.2], "TargetObjectiveMetricValue"),
    # Each of the last three improved the best by under 1 % (0.805 is 0.6 % over 0.8).
    (NOT_IMPROVING, "Maximize", [0.8, 0.805, 0.806, 0.79], "BestObjectiveNotImproving"),
    (NOT_IMPROVING, "Maximize", [0.8, 0.805, 0.82, 0.79, 0.81], None),
    (NOT_IMPROVING, "Minimize", [0.3, 0.299, 0.31, 0.4], "BestObjectiveNotImproving"),
    (NOT_IMPROVING, "Minimize", [0.3, 0.299, 0.31, 0.29], None),
    # max(5, 8 / 4) trials in a row under 0.1 %.
    (CONVERGENCE, "Maximize", [0.8, 0.8004, 0.8, 0.8001, 0.79, 0.8002], "ConvergenceDetected"),
    (CONVERGENCE, "Maximize", [0.8, 0.8004, 0.8, 0.8001, 0.79], None),
    (CONVERGENCE, "Maximize", [0.8, 0.8004, 0.81, 0.8001, 0.79, 0.8002], None),
    (None, "Maximize", [0.99, 0.99, 0.99, 0.99, 0.99, 0.99], None),
]


@pytest.mark.parametrize(("criteria", "direction", "objectives", "criterion"), CASES)
def test_completion_criteria_are_met_as_sagemaker_defines_them(criteria, direction, objectives,
                                                                 criterion):
    config = config_with(criteria, direction)
    names = [f"t-{n:03d}" for n in range(1, len(objectives) + 1)]
    met = completion.check(config, objectives, names)
    assert (met and met.criterion) == criterion
    if criterion == "TargetObjectiveMetricValue":
        assert met.reason.startswith(f"{names[-1]} reached validation:accuracy=")


class StandIn(Tuner):
    """A tuner whose trials are training runs written directly, with scripted objectives; a
    trial with objective None runs until it is stopped (exit 143, as a SIGTERM ends one)."""

    def __init__(self, local, config, objectives, deadline=None):
        self.args = SimpleNamespace(local=local, workload="penguins", keep=50)
        self.run = runs.create(local, "tuning", "penguins", name="job")
        self.config, self.folder, self.name = config, self.run.folder, "job"
        self.study = tuningsearch.study(config, self.name, self.folder / "study.journal")
        self.distributions = tuningsearch.distributions(config)
        self.running, self.interrupted, self.deadline = {}, False, deadline
        self.completion, self.ended = None, []
        self.objectives = list(objectives)
        self.stopped = threading.Event()

    def run_trial(self, trial):
        value = self.objectives.pop(0)
        run = trial.run = runs.create(self.args.local, "training", "penguins", name=trial.name,
                                      tuning_job=self.name,
                                      hyperparameters=trial.hyperparameters)
        code = 0
        if value is None:
            code = 143 if self.stopped.wait(30) else 1
        trial.finished = True
        runs.finish(run, code, None if value is None else {"name": "validation:accuracy",
                                                           "value": value})
        return trial

    def stop(self, trial):
        self.stopped.set()


def finished(local, config, tuner):
    code = tuningjob.finish(tuner.args, tuner.run, config, tuner)
    return code, runs.load(tuner.run.folder)


def test_a_target_reached_stops_launching_trials_and_says_why(tmp_path):
    config = config_with(TARGET)
    tuner = StandIn(tmp_path, config, [0.5, 0.95, 0.4, 0.4, 0.4])
    tuner.go()
    assert len(tuner.study.trials) == 2
    code, run = finished(tmp_path, config, tuner)
    assert code == 0 and run.status == runs.COMPLETED
    assert run.record["completion"]["Criterion"] == "TargetObjectiveMetricValue"
    assert "TargetObjectiveMetricValue 0.9" in run.record["completion"]["Reason"]
    written = json.loads((run.folder / completion.FILE).read_text())
    assert written == run.record["completion"]


def test_without_criteria_every_trial_runs_and_the_job_says_so(tmp_path):
    config = config_with(jobs=3)
    tuner = StandIn(tmp_path, config, [0.5, 0.6, 0.7])
    tuner.go()
    code, run = finished(tmp_path, config, tuner)
    assert run.record["completion"]["Criterion"] == "MaxNumberOfTrainingJobs"
    assert run.record["completion"]["TuningJobCompletionDetails"] == {
        "NumberOfTrainingJobsObjectiveNotImproving": 0}


def test_max_runtime_stops_the_running_trial_and_starts_no_other(tmp_path):
    config = config_with(runtime=120)
    tuner = StandIn(tmp_path, config, [0.5, None, 0.9, 0.9], deadline=time.monotonic() + 1)
    tuner.go()
    assert len(tuner.study.trials) == 2
    code, run = finished(tmp_path, config, tuner)
    assert run.record["completion"]["Criterion"] == "MaxRuntimeInSeconds"
    assert run.record["training_job_status_counters"][runs.STOPPED] == 1
    assert code == 0  # the first trial completed: it is the best


def test_a_job_past_its_runtime_when_continued_starts_nothing(tmp_path):
    config = config_with(runtime=120)
    tuner = StandIn(tmp_path, config, [0.5], deadline=time.monotonic() - 1)
    tuner.go()
    assert tuner.study.trials == [] and tuner.completion.criterion == "MaxRuntimeInSeconds"


def test_evaluating_the_best_trials_passes_the_evaluation_step_what_it_reads(monkeypatch,
                                                                            tmp_path):
    """make pipeline TUNE=1's evaluate-best hands the tuning command's arguments to the
    evaluation step, which has script-mode options of its own (none given here): the step
    runs up to its container, whatever it reads of them."""
    from types import SimpleNamespace

    from pipeline.api import runner
    from pipeline.jobs import steps
    from pipeline.tuning import best, job

    (tmp_path / "processing" / "p1" / "processing" / "test").mkdir(parents=True)
    trained = SimpleNamespace(name="trial-1", folder=tmp_path / "training" / "trial-1",
                              record={"inputs": {"train": {"run": "p1"}}})
    (trained.folder / "output").mkdir(parents=True)
    (trained.folder / "output" / "model.tar.gz").write_bytes(b"")
    monkeypatch.setattr(best, "tuning_run", lambda args: SimpleNamespace(name="t"))
    monkeypatch.setattr(best, "top_trials", lambda args, run, top: ["trial-1"])
    monkeypatch.setattr(steps.runs, "take", lambda *a: trained)

    def container(job, engine, kind=None, **record):
        assert job.kind == "processing" and kind == "evaluation"
        raise steps.RunError("the evaluation container would start here")

    monkeypatch.setattr(runner, "run", container)
    args = job.parser().parse_args(["evaluate-best", "--local", str(tmp_path)])
    with pytest.raises(steps.RunError, match="container would start here"):
        best.evaluate_best(args)


def test_hyperband_stops_a_trial_at_max_resource_and_keeps_its_objective(monkeypatch,
                                                                          tmp_path):
    """A trial whose epochs (27) go past Hyperband's MaxResource (3) is stopped, as SageMaker
    stops it, once it prints its third epoch; it is told to Optuna with that epoch's objective
    instead of counting as failed or pruned."""
    from test_tuning import hyperband

    from pipeline.tuning import trials

    config = parse(hyperband({"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}))
    tuner = StandIn(tmp_path, config, [])
    tuner.source, tuner.paths, tuner.engine = SimpleNamespace(name="data"), {}, None
    monkeypatch.setattr(tuner, "request", lambda trial: {})
    monkeypatch.setattr(trials.api, "parse", lambda body: body)
    trial = tuner.ask()
    printed = []

    def training_job(job, engine, on_line, **record):
        """The trial's training job: an epoch line at a time until it is stopped (143)."""
        run = runs.create(tmp_path, "training", "penguins", name=trial.name)
        code = 0
        with (run.folder / runs.LOGS).open("w") as log:
            for epoch in range(1, 28):
                line = f"epoch={epoch}/27 val_accuracy={0.5 + epoch / 100:.2f}\n"
                log.write(line)
                log.flush()
                printed.append(epoch)
                on_line(line)
                if tuner.stopped.wait(5 if epoch == 3 else 0):
                    code = 143
                    break
        runs.finish(run, code)
        return {}

    monkeypatch.setattr(trials.runner, "run", training_job)
    Tuner.run_trial(tuner, trial)  # the real one: the stand-in's writes the run directly
    assert printed == [1, 2, 3] and trial.reached_max_resource and not trial.stopped_early
    assert trial.run.status == runs.STOPPED
    assert trial.run.record["metric"] == {"name": "validation:accuracy", "value": 0.53}
    assert tuner.tell(trial) == runs.STOPPED
    assert tuner.study.trials[0].value == 0.53
