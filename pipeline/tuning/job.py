"""`python -m pipeline.tuning.job tune`: a hyperparameter tuning job, locally, with Optuna.

The job is described by a file in CreateHyperParameterTuningJob's shape (pipeline/tuning/config.py)
and lives in `<local>/tuning/<name>/`: run.json, the file (tuning-job.json), Optuna's study
(study.journal) and the results (pipeline/tuning/results.py). Every trial is a training run of its
own, `<local>/training/<name>-<NNN>-<8 hex>/` (pipeline/tuning/trials.py). Run it again with
the same name and it continues where it stopped: a trial cut short is rerun in its own folder
from its checkpoint, and no trial number is used twice.
"""

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from pipeline.runs import files, jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError
from pipeline.tuning import completion
from pipeline.tuning import results as tuningresults
from pipeline.tuning.config import COPY, NAME_PATTERN, ConfigError, TuningConfig, load
from pipeline.tuning.trials import Tuner


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
    # SageMaker caps tuning job names at 32 characters: a shorter stamp than other runs'.
    name = args.tuning_job or f"{args.workload[:14]}-tune-{runs.now():%y%m%d-%H%M%S}"
    run = runs.create(args.local, "tuning", args.workload, name=name,
                      strategy=config.strategy, objective=config.objective,
                      max_jobs=config.max_jobs, max_parallel=config.max_parallel,
                      inputs={"train": {"run": source.name}}, image=args.image)
    shutil.copyfile(config_path, run.folder / COPY)
    return run, config, False


def tune(args) -> int:
    try:
        run, config, resumed = open_job(args, args.config)
    except ConfigError as error:
        raise RunError(f"tuning file refused, no job started: {error}") from None
    if run.status in (runs.COMPLETED, runs.FAILED):
        jobrun.say(f"tuning job {run.name} is already {run.status}: see {run.folder}")
        return 0 if run.status == runs.COMPLETED else 1
    source = runs.take(args.local, "processing", run.record["inputs"]["train"]["run"],
                       args.workload)
    if resumed:
        for key in ("exit_code", "failure_reason", "seconds"):
            run.record.pop(key, None)
        run.record.update(status=runs.IN_PROGRESS, end=None)
        runs.write_record(run.folder, run.record)
        (run.folder / runs.FAILURE_FILES["tuning"]).unlink(missing_ok=True)
    deadline = None
    if config.max_runtime:  # counted from the job's start, a continued job included
        spent = (runs.now() - runs.parse_time(run.record["start"])).total_seconds()
        deadline = time.monotonic() + config.max_runtime - spent
    tuner = Tuner(args, config, run.folder, source, deadline)
    again = f", continuing after {len(tuner.study.trials)} started" if resumed else ""
    jobrun.say(f"tuning job {run.name} ({config.strategy}, {config.max_jobs} trials, "
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
    ended = tuner.completion or completion.Completion(
        "MaxNumberOfTrainingJobs", f"{len(table)} of {config.max_jobs} trials started")
    objectives = [value for _, value in tuner.ended]
    summary = ended.record(completion.not_improving(config, objectives, completion.IMPROVEMENT))
    if not interrupted:
        files.write_json(run.folder / completion.FILE, summary)
    run.record.update(training_job_status_counters=counts,
                      best_training_job=best["TrainingJobName"] if best else None,
                      completion=None if interrupted else summary)
    failure = run.folder / runs.FAILURE_FILES["tuning"]
    if interrupted:
        failure.parent.mkdir(exist_ok=True)
        failure.write_text(f"stopped after {counts[runs.COMPLETED]} completed trial(s) of "
                           f"{config.max_jobs}; make tune TUNING_JOB={run.name} continues it\n")
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
    runs.prune(args.local, "training", max(args.keep, config.max_jobs), args.workload)
    runs.prune(args.local, "tuning", args.keep, args.workload)
    if code == 0:
        jobrun.say(f"tuning job {run.name} Completed ({ended.criterion}: {ended.reason}): "
                   f"best {best['TrainingJobName']} "
                   f"{config.objective}={float(best['FinalObjectiveValue']):.4f}; "
                   f"{tuningresults.TABLE}, {tuningresults.BEST}, {completion.FILE}, "
                   f"{tuningresults.PLOT} in "
                   f"{run.folder}")
        return 0
    print(f"tuning job {run.name} {run.status}: {run.record['failure_reason']}",
          file=sys.stderr, flush=True)
    return code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.tuning.job", description=__doc__.splitlines()[0])
    top.add_argument("step", choices=("tune", "evaluate-best", "chosen"))
    jobrun.common_arguments(top)
    top.add_argument("--config", type=Path, help="the tuning job file (TUNING_CONFIG)")
    top.add_argument("--tuning-job", help="TUNING_JOB: a name, or the job to continue")
    top.add_argument("--processing-job")
    top.add_argument("--top", type=int, default=2, help="how many best trials to evaluate")
    top.add_argument("--field", choices=("training", "evaluation"), default="training")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pipeline.tuning import best

    step = {"tune": tune, "evaluate-best": best.evaluate_best,
            "chosen": best.chosen}[args.step]
    try:
        return step(args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
