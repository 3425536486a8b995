"""`make pipeline TUNE=1`: after the tuning job, its two best trials are evaluated on the test
split and the better one goes on to the gate and the registry (whose lineage names the trial
and, through its run.json, the tuning job).

As the program's assignment does with `get_top_model_s3_uri(top_k=0)` and `top_k=1`: the
tuning objective (validation accuracy) picks the candidates, the test split decides.
"""

import copy
import json

from pipeline.jobs import steps as jobs
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError
from pipeline.tuning import results as tuningresults
from pipeline.tuning.config import COPY, load


def tuning_run(args) -> runs.Run:
    return runs.take(args.local, "tuning", args.tuning_job, args.workload)


def top_trials(args, run: runs.Run, top: int) -> list[str]:
    """The names of the `top` best Completed trials of a tuning job, best first."""
    config = load(run.folder / COPY)
    found = [trial for trial in runs.runs(args.local, "training")
             if trial.record.get("tuning_job") == run.name]
    table = tuningresults.rows(config, sorted(found, key=lambda t: t.name))
    return [row["TrainingJobName"] for row in tuningresults.ranked(config, table)[:top]]


CHOICE = "pipeline-choice.json"


def evaluate_best(args) -> int:
    """Evaluate the `--top` best trials; keep the one best on the test split as the choice."""
    run = tuning_run(args)
    names = top_trials(args, run, args.top)
    if not names:
        raise RunError(f"tuning job {run.name} has no Completed trial to evaluate")
    jobrun.say(f"tuning job {run.name}: evaluating its {len(names)} best trial(s) on the test "
               f"split: {', '.join(names)}")
    evaluated = []
    for name in names:
        step = copy.copy(args)
        step.training_job = name
        if jobs.evaluate(step) != 0:
            continue
        evaluated += [r for r in runs.runs(args.local, "evaluation")
                      if r.record["inputs"]["model"]["run"] == name
                      and r.status == runs.COMPLETED][:1]
    if not evaluated:
        raise RunError(f"no evaluation of tuning job {run.name}'s best trials completed")
    # The best on the test split goes to the gate; if it fails the gate, so would the others.
    best = max(evaluated, key=lambda r: r.record["metric"]["value"])
    choice = {"tuning": run.name, "training": best.record["inputs"]["model"]["run"],
              "evaluation": best.name, "test_accuracy": best.record["metric"]["value"],
              "candidates": [r.name for r in evaluated]}
    (run.folder / CHOICE).write_text(json.dumps(choice, indent=2) + "\n")
    jobrun.say(f"best on the test split: trial {choice['training']} (test:accuracy "
               f"{choice['test_accuracy']:.4f}, evaluation run {best.name})")
    return 0


def chosen(args) -> int:
    """Print the training or evaluation run the pipeline chose (for make)."""
    path = tuning_run(args).folder / CHOICE
    if not path.is_file():
        raise RunError(f"{path} is missing: run the evaluate-best step first")
    print(json.loads(path.read_text())[args.field])
    return 0
