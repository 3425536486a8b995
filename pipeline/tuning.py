"""`python -m pipeline.tuning tune`: a hyperparameter tuning job, locally, with Optuna.

The job is described by a file in CreateHyperParameterTuningJob's shape (pipeline/tuningconfig.py)
and lives in `<local>/tuning/<name>/`: run.json, the file (tuning-job.json), Optuna's study
(study.journal) and the results (pipeline/tuningresults.py). Every trial is a training run of its
own, `<local>/training/<name>-<NNN>-<8 hex>/`, started through pipeline.jobs. Run it again with
the same name and it continues where it stopped: a trial cut short is rerun in its own folder
from its checkpoint, and no trial number is used twice.
"""

import argparse
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pipeline import jobs, runs, tuningresults, tuningsearch
from pipeline.runs import RunError
from pipeline.tuningconfig import NAME_PATTERN, ConfigError, TuningConfig, load

COPY = "tuning-job.json"
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


class Tuner:
    """One tuning job: its trials run in threads, each one compose run of the training job."""

    def __init__(self, args, config: TuningConfig, folder: Path, source: runs.Run):
        self.args, self.config, self.folder, self.source = args, config, folder, source
        self.name = folder.name
        self.study = tuningsearch.study(config, self.name, folder / JOURNAL)
        self.distributions = tuningsearch.distributions(config)
        self.paths = jobs.training_paths(source)
        self.digest = jobs.image_digest(args.docker, args.image)
        self.running: dict[str, Trial] = {}
        self.interrupted = False
        self.lock = threading.Lock()

    def pending(self) -> list[Trial]:
        """Trials an earlier attempt started and did not finish: rerun under the same name."""
        found = []
        for frozen in self.study.trials:
            if frozen.state.name == "RUNNING":
                import optuna

                found.append(Trial(frozen.number + 1, optuna.trial.Trial(self.study,
                                                                          frozen._trial_id),
                                   frozen.user_attrs["TrainingJobName"],
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

    def start_run(self, trial: Trial) -> runs.Run:
        folder = self.args.local / "training" / trial.name
        run = runs.load(folder)
        if run is not None:  # an interrupted attempt: its checkpoints let it go on
            for key in ("exit_code", "failure_reason", "metric", "seconds"):
                run.record.pop(key, None)
            run.record.update(status=runs.IN_PROGRESS, end=None,
                              attempts=run.record.get("attempts", 1) + 1)
            (folder / runs.FAILURE_FILES["training"]).unlink(missing_ok=True)
        else:
            folder.mkdir(parents=True)
            run = runs.Run(folder, {
                "name": trial.name, "kind": "training", "workload": self.args.workload,
                "status": runs.IN_PROGRESS, "start": runs.iso(runs.now()), "end": None,
                "tuning_job": self.name, "hyperparameters": trial.hyperparameters,
                "inputs": {n: {"run": self.source.name, "path": str(p)}
                           for n, p in self.paths.items()},
                "image": self.args.image, "image_digest": self.digest})
        runs.write_record(folder, run.record)
        return run

    def run_trial(self, trial: Trial) -> Trial:
        """One training job; reports each objective value to the pruner as it is printed."""
        subprocess.run([*shlex.split(self.args.docker), "rm", "-f", trial.name],
                       capture_output=True)  # a container left by a killed tuner
        run = trial.run = self.start_run(trial)
        log = run.folder / runs.LOGS
        earlier = log.read_text(errors="replace") if log.is_file() else ""
        step = [len(re.findall(self.config.regex, earlier))]

        def watch(line: str) -> None:
            values = re.findall(self.config.regex, line)
            if not values or trial.stopped_early or self.interrupted:
                return
            step[0] += 1
            trial.optuna_trial.report(float(values[-1]), step[0])
            if trial.optuna_trial.should_prune():
                trial.stopped_early = True
                # SageMaker stops the job: SIGTERM, 120 s to checkpoint (compose's grace).
                threading.Thread(target=self.stop, args=(trial,), daemon=True).start()

        mounts = jobs.training_folders(run, self.paths, trial.hyperparameters)
        try:
            code = jobs.compose_run(self.args.compose, "training", [], mounts, log,
                                    options=("--name", trial.name), echo=False, on_line=watch,
                                    append=bool(earlier))
        finally:
            trial.finished = True
        value = tuningresults.objective(log.read_text(errors="replace"), self.config)
        metric = None if value is None else {"name": self.config.objective, "value": value}
        runs.finish(run, code, metric)
        return trial

    def stop(self, trial: Trial) -> None:
        """SageMaker's StopTrainingJob: SIGTERM, 120 s to checkpoint, then SIGKILL."""
        while not trial.finished:
            done = subprocess.run([*shlex.split(self.args.docker), "stop", "-t", "120",
                                   trial.name], capture_output=True)
            if done.returncode == 0:
                return
            time.sleep(0.2)  # compose has not created the container yet

    def tell(self, trial: Trial) -> str:
        """Tell Optuna how the trial ended; an interrupted one stays RUNNING for the rerun."""
        from optuna.trial import TrialState

        record = trial.run.record
        value = (record.get("metric") or {}).get("value")
        if record["status"] == runs.COMPLETED and value is not None:
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
        why = " (stopped early)" if trial.stopped_early else ""
        if ended == runs.FAILED:
            why = f": {trial.run.record.get('failure_reason', '')}"
        best = tuningresults.ranked(self.config, table)
        best_text = (f"best so far {float(best[0]['FinalObjectiveValue']):.4f} "
                     f"({best[0]['TrainingJobName']})") if best else "no best yet"
        finished = sum(row["TrainingJobStatus"] != runs.IN_PROGRESS for row in table)
        jobs.say(f"[{finished}/{self.config.max_jobs} finished] trial {trial.number} of "
                 f"{self.config.max_jobs}: {trial.name} {ended}{why}, {shown}; {best_text}")

    def table(self) -> list[dict]:
        trials = sorted((t for t in self.study.trials if "TrainingJobName" in t.user_attrs),
                        key=lambda t: t.number)
        found = [runs.load(self.args.local / "training" / t.user_attrs["TrainingJobName"])
                 for t in trials]
        return tuningresults.rows(self.config, [run for run in found if run is not None])

    def interrupt(self) -> None:
        self.interrupted = True
        jobs.say(f"stopping the tuning job: SIGTERM to {len(self.running)} running trial(s); "
                 f"make tune TUNING_JOB={self.name} continues it")
        threads = [threading.Thread(target=self.stop, args=(trial,))
                   for trial in self.running.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def go(self) -> None:
        queue = self.pending()
        limit = self.config.max_jobs
        with ThreadPoolExecutor(self.config.max_parallel) as pool:
            futures = {}
            try:
                while True:
                    while (not self.interrupted and len(futures) < self.config.max_parallel
                           and (queue or len(self.study.trials) < limit)):
                        trial = queue.pop(0) if queue else self.ask()
                        self.running[trial.name] = trial
                        futures[pool.submit(self.run_trial, trial)] = trial
                    if not futures:
                        return
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        trial = futures.pop(future)
                        future.result()
                        self.running.pop(trial.name, None)
                        ended = self.tell(trial)
                        if ended != "interrupted":
                            self.progress(trial, ended, self.table())
            except KeyboardInterrupt:
                self.interrupt()
                wait(futures)
                for future, trial in futures.items():
                    if future.exception() is None:
                        self.tell(trial)
                raise


def _terminate(*_):
    raise KeyboardInterrupt


def open_job(args, config_path: Path) -> tuple[runs.Run, TuningConfig, bool]:
    """The tuning run to continue (TUNING_JOB names one that exists) or a new one."""
    if args.tuning_job:
        if not NAME_PATTERN.fullmatch(args.tuning_job):
            raise RunError(f"TUNING_JOB={args.tuning_job}: a tuning job name is 1-32 letters, "
                           "digits and hyphens (SageMaker's rule)")
        run = runs.load(args.local / "tuning" / args.tuning_job)
        if run is not None:
            config = load(run.folder / COPY)  # the file the job started with wins
            return run, config, True
    config = load(config_path)
    source = runs.take(args.local, "processing", args.processing_job, args.workload)
    moment = runs.now()
    name = args.tuning_job or f"{args.workload[:14]}-tune-{moment:%y%m%d-%H%M%S}"
    folder = args.local / "tuning" / name
    folder.mkdir(parents=True)
    shutil.copyfile(config_path, folder / COPY)
    record = {"name": name, "kind": "tuning", "workload": args.workload,
              "status": runs.IN_PROGRESS, "start": runs.iso(moment), "end": None,
              "strategy": config.strategy, "objective": config.objective,
              "max_jobs": config.max_jobs, "max_parallel": config.max_parallel,
              "inputs": {"train": {"run": source.name}}, "image": args.image}
    runs.write_record(folder, record)
    return runs.Run(folder, record), config, False


def tune(args) -> int:
    try:
        run, config, resumed = open_job(args, args.config)
    except ConfigError as error:
        raise RunError(f"tuning file refused, no job started: {error}") from None
    if run.status in (runs.COMPLETED, runs.FAILED):
        jobs.say(f"tuning job {run.name} is already {run.status}: see {run.folder}")
        return 0 if run.status == runs.COMPLETED else 1
    source = runs.take(args.local, "processing", run.record["inputs"]["train"]["run"],
                       args.workload)
    if resumed:
        run.record.update(status=runs.IN_PROGRESS, end=None)
        runs.write_record(run.folder, run.record)
    tuner = Tuner(args, config, run.folder, source)
    again = f", continuing after {len(tuner.study.trials)} started" if resumed else ""
    jobs.say(f"tuning job {run.name} ({config.strategy}, {config.max_jobs} trials, "
             f"{config.max_parallel} at once{again}) on processing run {source.name}: "
             f"{run.folder}")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        tuner.go()
    except KeyboardInterrupt:
        return finish(args, run, config, tuner, interrupted=True)
    return finish(args, run, config, tuner)


def finish(args, run: runs.Run, config: TuningConfig, tuner: Tuner,
           interrupted: bool = False) -> int:
    table = tuner.table()
    best = tuningresults.write(run.folder, config, table)
    counts = {status: sum(row["TrainingJobStatus"] == status for row in table)
              for status in (runs.COMPLETED, runs.STOPPED, runs.FAILED, runs.IN_PROGRESS)}
    run.record.update(training_job_status_counters=counts,
                      best_training_job=best["TrainingJobName"] if best else None)
    failure = run.folder / runs.FAILURE_FILES["tuning"]
    if interrupted:
        code = 143
    elif best is None:
        failure.parent.mkdir(exist_ok=True)
        failure.write_text(f"no trial of {len(table)} completed with an objective "
                           f"{config.objective}: see the trials' output/failure\n")
        code = 1
    else:
        code = 0
    runs.finish(run, code, None if best is None else {
        "name": config.objective, "value": float(best["FinalObjectiveValue"])})
    runs.prune(args.local, "training", max(args.keep, config.max_jobs))
    runs.prune(args.local, "tuning", args.keep)
    if code == 0:
        jobs.say(f"tuning job {run.name} Completed: best {best['TrainingJobName']} "
                 f"{config.objective}={float(best['FinalObjectiveValue']):.4f}; "
                 f"{tuningresults.TABLE}, {tuningresults.BEST}, {tuningresults.PLOT} in "
                 f"{run.folder}")
        return 0
    print(f"tuning job {run.name} {run.status}: {run.record['failure_reason']}",
          file=sys.stderr, flush=True)
    return code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.tuning", description=__doc__.splitlines()[0])
    top.add_argument("step", choices=("tune", "evaluate-best", "chosen"))
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--compose", default="docker-compose -f docker-compose.yml")
    top.add_argument("--docker", default="docker")
    top.add_argument("--image", default="penguins-training:latest")
    top.add_argument("--keep", type=int, default=20, help="KEEP_RUNS")
    top.add_argument("--config", type=Path, help="the tuning job file (TUNING_CONFIG)")
    top.add_argument("--tuning-job", help="TUNING_JOB: a name, or the job to continue")
    top.add_argument("--processing-job")
    top.add_argument("--top", type=int, default=2, help="how many best trials to evaluate")
    top.add_argument("--field", choices=("training", "evaluation"), default="training")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pipeline import tuningpipeline

    step = {"tune": tune, "evaluate-best": tuningpipeline.evaluate_best,
            "chosen": tuningpipeline.chosen}[args.step]
    try:
        return step(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
