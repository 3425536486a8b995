"""`make pipeline TUNE=1`: after the tuning job, the two best trials evaluated, the best one
that passes the gate registered, its tuning job and trial in the registry's lineage.

As the program's assignment does with `get_top_model_s3_uri(top_k=0)` and `top_k=1`: the
tuning objective (validation accuracy) picks the candidates, the test split decides.
"""

import copy

from pipeline import jobs, runs, tuningresults
from pipeline.runs import RunError
from pipeline.tuningconfig import load


def tuning_run(args) -> runs.Run:
    return runs.take(args.local, "tuning", args.tuning_job, args.workload)


def top_trials(args, run: runs.Run, top: int) -> list[str]:
    """The names of the `top` best Completed trials of a tuning job, best first."""
    config = load(run.folder / "tuning-job.json")
    found = [trial for trial in runs.runs(args.local, "training")
             if trial.record.get("tuning_job") == run.name]
    table = tuningresults.rows(config, sorted(found, key=lambda t: t.name))
    return [row["TrainingJobName"] for row in tuningresults.ranked(config, table)[:top]]


def register_best(args) -> int:
    run = tuning_run(args)
    names = top_trials(args, run, args.top)
    if not names:
        raise RunError(f"tuning job {run.name} has no Completed trial to evaluate")
    jobs.say(f"tuning job {run.name}: evaluating its {len(names)} best trial(s) on the test "
             f"split: {', '.join(names)}")
    evaluated = []
    for name in names:
        step = copy.copy(args)
        step.training_job = name
        if jobs.evaluate(step) != 0:
            continue
        newest = [r for r in runs.runs(args.local, "evaluation")
                  if r.record["inputs"]["model"]["run"] == name and r.status == runs.COMPLETED]
        evaluated.append(newest[0])
    if not evaluated:
        raise RunError(f"no evaluation of tuning job {run.name}'s best trials completed")
    # The best on the test split goes to the gate; if it fails the gate, so would the others.
    best = max(evaluated, key=lambda r: r.record["metric"]["value"])
    jobs.say(f"best on the test split: {best.record['inputs']['model']['run']} "
             f"(test:accuracy {best.record['metric']['value']:.4f})")
    step = copy.copy(args)
    step.evaluation_job = best.name
    return jobs.register(step)
