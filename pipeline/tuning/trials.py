"""The trials of a tuning job: each one a CreateTrainingJob request (pipeline/jobs/builtin.py)
run by the job runner (pipeline/api/runner.py), up to MaxParallelTrainingJobs at once, each in a
thread that feeds the objective values its log prints to Optuna's pruner as they are written. The
job stops launching trials when a TuningJobCompletionCriteria is met, and stops the running ones
at MaxRuntimeInSeconds (pipeline/tuning/completion.py).
"""

import dataclasses
import secrets
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pipeline.api import requests as api
from pipeline.api import runner, submit
from pipeline.jobs import builtin
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.tuning import completion
from pipeline.tuning import results as tuningresults
from pipeline.tuning import search as tuningsearch
from pipeline.tuning.config import EPOCH_NAMES, TuningConfig, metric_values

JOURNAL = "study.journal"
OBJECTIVE_KEY = "_tuning_objective_metric"


@dataclass
class Trial:
    number: int  # 1-based, as in the trial's name
    optuna_trial: object
    name: str
    hyperparameters: dict
    run: runs.Run | None = None
    stopped_early: bool = False
    finished: bool = False
    reached_max_resource: bool = False  # Hyperband stopped it at MaxResource
    stopped_by_limit: bool = False  # MaxRuntimeInSeconds passed while it ran


class Tuner:
    """One tuning job: its trials run in threads, each one training job through the runner."""

    def __init__(self, args, config: TuningConfig, folder: Path, source: runs.Run,
                 deadline: float | None = None):
        self.args, self.config, self.folder, self.source = args, config, folder, source
        self.deadline = deadline  # time.monotonic() at which MaxRuntimeInSeconds passes
        self.completion: completion.Completion | None = None
        self.ended: list[tuple[str, float]] = []  # (trial, objective) in the order they ended
        self.name = folder.name
        self.study = tuningsearch.study(config, self.name, folder / JOURNAL)
        self.distributions = tuningsearch.distributions(config)
        self.paths = {name: source.folder / "processing" / name for name in builtin.CHANNELS}
        # Trials run side by side: their output stays in their logs.txt, off the terminal.
        self.engine = dataclasses.replace(submit.engine(args), echo=False)
        self.running: dict[str, Trial] = {}
        self.interrupted = False
        done = [t for t in self.study.trials if t.state == TrialState.COMPLETE
                and "TrainingJobName" in t.user_attrs]  # a continued job's earlier trials
        self.ended += [(t.user_attrs["TrainingJobName"], t.value)
                       for t in sorted(done, key=lambda t: t.datetime_complete)]

    def pending(self) -> list[Trial]:
        """Trials an earlier attempt started and did not finish: rerun under the same name."""
        found = []
        for frozen in self.study.trials:
            if frozen.state == TrialState.RUNNING:
                # A live handle on the stored trial, so the rerun can report and be told;
                # Optuna offers no public way from a FrozenTrial to its id.
                handle = optuna.trial.Trial(self.study, frozen._trial_id)
                found.append(Trial(frozen.number + 1, handle, frozen.user_attrs["TrainingJobName"],
                                   frozen.user_attrs["hyperparameters"]))
        return found

    def ask(self) -> Trial:
        chosen = self.study.ask(self.distributions)
        number = chosen.number + 1
        name = f"{self.name}-{number:03d}-{secrets.token_hex(4)}"
        values = tuningsearch.hyperparameter_values(self.config, chosen.params)
        hps = {**self.config.static, **values, OBJECTIVE_KEY: self.config.objective}
        chosen.set_user_attr("TrainingJobName", name)
        chosen.set_user_attr("hyperparameters", hps)
        return Trial(number, chosen, name, hps)

    def request(self, trial: Trial) -> dict:
        """The trial's CreateTrainingJob: the built-in training job with the trial's
        hyperparameters, the tuning objective among its metric definitions."""
        body = builtin.training_job(trial.name, self.args.image, self.args.local, self.paths,
                                    trial.hyperparameters, 1)
        definitions = body["AlgorithmSpecification"]["MetricDefinitions"]
        if self.config.objective not in {item["Name"] for item in definitions}:
            definitions.append({"Name": self.config.objective, "Regex": self.config.regex})
        return body

    def run_trial(self, trial: Trial) -> Trial:
        """One training job; reports each objective value to the pruner as it is printed."""
        folder = self.args.local / "training" / trial.name
        log = folder / runs.LOGS
        earlier = log.read_text(errors="replace") if log.is_file() else ""
        step = [len(metric_values(self.config.regex, earlier))]
        cap = self.max_resource(trial)

        def watch(line: str) -> None:
            values = metric_values(self.config.regex, line)
            if (not values or trial.stopped_early or trial.reached_max_resource
                    or self.interrupted):
                return
            step[0] += 1
            trial.optuna_trial.report(values[-1], step[0])
            if cap is not None and step[0] >= cap:
                trial.reached_max_resource = True
            elif trial.optuna_trial.should_prune():
                trial.stopped_early = True
            else:
                return
            # SageMaker stops the job: SIGTERM, 120 s to checkpoint.
            threading.Thread(target=self.stop, args=(trial,), daemon=True).start()

        try:
            # An interrupted attempt's run goes on in its folder: its checkpoints let it.
            runner.run(api.parse(self.request(trial)), self.engine, on_line=watch, resume=True,
                       tuning_job=self.name, hyperparameters=trial.hyperparameters,
                       inputs={n: {"run": self.source.name, "path": str(p)}
                               for n, p in self.paths.items()})
        finally:
            trial.finished = True
        run = trial.run = runs.load(folder)
        # The run's metric is the tuning objective, as SageMaker's regex reads the whole log.
        value = tuningresults.objective(log.read_text(errors="replace"), self.config)
        if run.status == runs.FAILED:
            value = None  # a failed training job has no final objective value
        run.record.pop("metric", None)
        if value is not None:
            run.record["metric"] = {"name": self.config.objective, "value": value}
        runs.write_record(folder, run.record)
        return trial

    def max_resource(self, trial: Trial) -> int | None:
        """Hyperband's MaxResource when the trial would train past it (else it ends there
        itself, and keeps its model)."""
        cap = self.config.hyperband.get("MaxResource")
        epochs = [trial.hyperparameters[name] for name in EPOCH_NAMES
                  if name in trial.hyperparameters]
        if cap is None or not epochs:
            return cap
        try:
            return cap if int(float(epochs[0])) > cap else None
        except ValueError:
            return cap

    def stop(self, trial: Trial) -> None:
        """SageMaker's StopTrainingJob: SIGTERM, 120 s to checkpoint, then SIGKILL."""
        while not trial.finished:
            if runner.stop(self.engine, trial.name):
                return
            time.sleep(0.2)  # compose has not created the container yet

    def tell(self, trial: Trial) -> str:
        """Tell Optuna how the trial ended; an interrupted one stays RUNNING for the rerun."""
        record = trial.run.record
        value = (record.get("metric") or {}).get("value")
        if record["status"] == runs.COMPLETED and value is not None:
            self.study.tell(trial.optuna_trial, value)
            self.ended.append((trial.name, value))
        elif trial.reached_max_resource and value is not None:
            self.study.tell(trial.optuna_trial, value)
        elif record["status"] == runs.STOPPED and trial.stopped_early:
            self.study.tell(trial.optuna_trial, state=TrialState.PRUNED)
        elif record["status"] == runs.STOPPED and self.interrupted:
            return "interrupted"
        else:
            self.study.tell(trial.optuna_trial, state=TrialState.FAIL)
        return record["status"]

    def progress(self, trial: Trial, ended: str, table: list[dict]) -> None:
        value = (trial.run.record.get("metric") or {}).get("value")
        shown = "no objective" if value is None else f"{self.config.objective}={value:.4f}"
        why = (" (stopped early)" if trial.stopped_early else
               " (stopped at Hyperband's MaxResource)" if trial.reached_max_resource else
               " (stopped at MaxRuntimeInSeconds)" if trial.stopped_by_limit else "")
        if ended == runs.FAILED:
            why = f": {trial.run.record.get('failure_reason', '')}"
        best = tuningresults.ranked(self.config, table)
        best_text = (f"best so far {float(best[0]['FinalObjectiveValue']):.4f} "
                     f"({best[0]['TrainingJobName']})") if best else "no best yet"
        finished = sum(row["TrainingJobStatus"] != runs.IN_PROGRESS for row in table)
        jobrun.say(f"[{finished}/{self.config.max_jobs} finished] trial {trial.number} of "
                   f"{self.config.max_jobs}: {trial.name} {ended}{why}, {shown}; {best_text}")

    def table(self) -> list[dict]:
        trials = sorted((t for t in self.study.trials if "TrainingJobName" in t.user_attrs),
                        key=lambda t: t.number)
        found = [runs.load(self.args.local / "training" / t.user_attrs["TrainingJobName"])
                 for t in trials]
        return tuningresults.rows(self.config, [run for run in found if run is not None])

    def interrupt(self) -> None:
        self.interrupted = True
        jobrun.say(f"stopping the tuning job: SIGTERM to {len(self.running)} running trial(s); "
                   f"make tune TUNING_JOB={self.name} continues it")
        threads = [threading.Thread(target=self.stop, args=(trial,))
                   for trial in self.running.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def stop_at_limit(self) -> None:
        """MaxRuntimeInSeconds passed: no new trial, the running ones stopped."""
        self.completion = completion.runtime_exceeded(self.config)
        jobrun.say(f"tuning job {self.name}: {self.completion.reason}")
        threads = []
        for trial in self.running.values():
            trial.stopped_by_limit = True
            threads.append(threading.Thread(target=self.stop, args=(trial,), daemon=True))
            threads[-1].start()

    def go(self) -> None:
        queue = self.pending()
        limit = self.config.max_jobs
        if self.out_of_time():
            self.completion = completion.runtime_exceeded(self.config)
            return
        with ThreadPoolExecutor(self.config.max_parallel) as pool:
            futures = {}
            try:
                while True:
                    while (not self.interrupted and self.completion is None
                           and len(futures) < self.config.max_parallel
                           and (queue or len(self.study.trials) < limit)):
                        trial = queue.pop(0) if queue else self.ask()
                        self.running[trial.name] = trial
                        futures[pool.submit(self.run_trial, trial)] = trial
                    if not futures:
                        return
                    timeout = (None if self.deadline is None or self.completion is not None
                               else max(0.0, self.deadline - time.monotonic()))
                    done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
                    if not done and self.out_of_time() and self.completion is None:
                        self.stop_at_limit()
                    for future in done:
                        trial = futures.pop(future)
                        future.result()
                        self.running.pop(trial.name, None)
                        ended = self.tell(trial)
                        if ended != "interrupted":
                            self.progress(trial, ended, self.table())
                        if self.completion is None:
                            self.completion = completion.check(
                                self.config, [value for _, value in self.ended],
                                [name for name, _ in self.ended])
                            if self.completion is not None:
                                jobrun.say(f"tuning job {self.name}: "
                                           f"{self.completion.reason}; no new trial")
            except KeyboardInterrupt:
                self.interrupt()
                wait(futures)
                for future, trial in futures.items():
                    if future.exception() is None:
                        self.tell(trial)
                raise
