"""Job runs: names, records, which run a step takes, pruning, and the job list."""

import json
import re
import sys
import time
from pathlib import Path

import pytest

from pipeline.jobs import steps as jobs
from pipeline.runs import jobrun
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline
NAME = re.compile(r"^penguins-train-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}$")


def made(local: Path, kind: str, exit_code: int, failure: str = "", metric=None) -> runs.Run:
    run = runs.create(local, kind, "penguins")
    if failure:
        path = run.folder / runs.FAILURE_FILES[kind]
        path.parent.mkdir(parents=True)
        path.write_text(failure + "\n")
    runs.finish(run, exit_code, metric)
    return run


def test_a_run_is_named_as_sagemaker_names_jobs_and_recorded_in_its_folder(tmp_path):
    run = made(tmp_path, "training", 0, metric={"name": "validation:accuracy", "value": 0.9})
    assert NAME.match(run.name), run.name
    assert run.folder == tmp_path / "training" / run.name
    record = json.loads((run.folder / runs.RECORD).read_text())
    assert record["status"] == runs.COMPLETED
    assert record["start"] <= record["end"] and record["seconds"] >= 0
    assert record["metric"] == {"name": "validation:accuracy", "value": 0.9}


def test_runs_started_in_the_same_millisecond_get_distinct_names(tmp_path):
    names = {runs.create(tmp_path, "processing", "penguins").name for _ in range(20)}
    assert len(names) == 20


@pytest.mark.parametrize(("code", "status"), [(0, runs.COMPLETED), (1, runs.FAILED),
                                              (2, runs.FAILED), (143, runs.STOPPED),
                                              (137, runs.STOPPED)])
def test_exit_code_decides_the_status(tmp_path, code, status):
    assert made(tmp_path, "training", code).status == status


def test_a_failed_run_records_the_jobs_own_reason(tmp_path):
    run = made(tmp_path, "training", 1, failure="hyperparameter epochs='abc' is not a number")
    assert run.record["failure_reason"] == "hyperparameter epochs='abc' is not a number"
    silent = made(tmp_path, "evaluation", 3)
    assert silent.record["failure_reason"] == "the job exited with code 3"


def test_a_step_takes_the_newest_completed_run_never_a_failed_one(tmp_path):
    older = made(tmp_path, "training", 0)
    made(tmp_path, "training", 1, failure="broken")
    made(tmp_path, "training", 143)
    assert runs.take(tmp_path, "training", None, "penguins").name == older.name
    newer = made(tmp_path, "training", 0)
    assert runs.take(tmp_path, "training", None, "penguins").name == newer.name


def test_a_named_run_is_taken_only_when_completed(tmp_path):
    good = made(tmp_path, "training", 0)
    bad = made(tmp_path, "training", 1, failure="channel train is missing")
    assert runs.take(tmp_path, "training", good.name, "penguins").name == good.name
    with pytest.raises(runs.RunError, match=r"TRAINING_JOB=.* is Failed.*channel train"):
        runs.take(tmp_path, "training", bad.name, "penguins")
    with pytest.raises(runs.RunError, match=r"TRAINING_JOB=nope: no such training run"):
        runs.take(tmp_path, "training", "nope", "penguins")


def test_no_completed_run_says_which_step_to_run(tmp_path):
    made(tmp_path, "processing", 1, failure="no rows")
    with pytest.raises(runs.RunError, match="no Completed processing run.*make process first"):
        runs.take(tmp_path, "processing", None, "penguins")


def test_another_workloads_runs_are_not_taken(tmp_path):
    runs.finish(runs.create(tmp_path, "training", "digits"), 0)
    with pytest.raises(runs.RunError, match="no Completed training run of penguins"):
        runs.take(tmp_path, "training", None, "penguins")


def test_a_named_run_of_another_workload_is_refused(tmp_path):
    digits = runs.create(tmp_path, "processing", "digits")
    runs.finish(digits, 0)
    with pytest.raises(runs.RunError, match=rf"PROCESSING_JOB={digits.name} is a run of digits, "
                                            "not penguins"):
        runs.take(tmp_path, "processing", digits.name, "penguins")
    assert runs.take(tmp_path, "processing", digits.name, "digits").name == digits.name


def test_prune_keeps_the_newest_finished_runs_and_any_in_progress(tmp_path):
    made_runs = [made(tmp_path, "training", code) for code in (0, 1, 0, 0)]
    running = runs.create(tmp_path, "training", "penguins")
    removed = runs.prune(tmp_path, "training", 2)
    assert removed == [made_runs[1].name, made_runs[0].name]
    left = {run.name for run in runs.runs(tmp_path, "training")}
    assert left == {made_runs[2].name, made_runs[3].name, running.name}


def test_prune_leaves_other_workloads_runs_alone(tmp_path):
    penguins = [made(tmp_path, "training", 0) for _ in range(2)]
    digits = runs.create(tmp_path, "training", "digits")
    runs.finish(digits, 0)
    assert runs.prune(tmp_path, "training", 1, "penguins") == [penguins[0].name]
    assert {run.name for run in runs.runs(tmp_path, "training")} == {penguins[1].name,
                                                                      digits.name}


def test_the_job_list_is_newest_first_with_status_duration_and_metric(tmp_path):
    first = made(tmp_path, "processing", 0)
    second = made(tmp_path, "training", 1, failure="x")
    third = made(tmp_path, "evaluation", 0, metric={"name": "test:accuracy", "value": 0.98})
    lines = runs.table(runs.runs(tmp_path)).splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STATUS", "DURATION", "METRIC"]
    assert [line.split()[0] for line in lines[1:]] == [third.name, second.name, first.name]
    assert lines[1].split()[2] == "Completed" and lines[1].endswith("test:accuracy=0.9800")
    assert lines[2].split()[2] == "Failed"


def test_a_jobs_every_line_goes_to_the_log_and_the_terminal_and_its_code_is_returned(tmp_path,
                                                                                    capsys):
    script = tmp_path / "job.py"
    # A job's own lines are kept whatever they look like (compose's progress lines were once
    # filtered out, and a job's "Container ..." line with them).
    script.write_text("import sys\n"
                      "print('epoch=1/1 val_accuracy=0.5')\n"
                      "print('Container algo-1 is the chief')\n"
                      "print('error: broken', file=sys.stderr)\n"
                      "sys.exit(3)\n")
    log = tmp_path / "logs.txt"
    assert jobrun.container_run([sys.executable, str(script)], log) == 3
    kept = log.read_text()
    assert kept == "epoch=1/1 val_accuracy=0.5\nContainer algo-1 is the chief\nerror: broken\n"
    assert capsys.readouterr().out == kept


def test_process_without_data_says_what_to_do(tmp_path, capsys):
    code = jobs.main(["process", "--local", str(tmp_path), "--data", str(tmp_path / "data")])
    assert code == 1
    assert "run make data" in capsys.readouterr().err
    assert not (tmp_path / "processing").exists()  # no run started


def test_a_training_step_records_its_inputs_and_hyperparameters(tmp_path):
    source = made(tmp_path, "processing", 0)
    for channel in ("train", "validation", "pipeline"):
        (source.folder / "processing" / channel).mkdir(parents=True)
    # A stand-in for the docker command: its `run` prints what a training job would.
    docker = tmp_path / "docker.py"
    docker.write_text("import sys\n"
                      "if sys.argv[1] == 'run':\n"
                      "    print('epoch=1/1 val_accuracy=0.875000')\n")
    started = time.time()
    code = jobs.main(["train", "--local", str(tmp_path), "--docker", f"{sys.executable} {docker}",
                      "--hyperparameter", "epochs=1"])
    assert code == 0
    run = runs.runs(tmp_path, "training")[0]
    assert run.status == runs.COMPLETED
    assert run.record["inputs"]["train"]["run"] == source.name
    assert run.record["hyperparameters"] == {"epochs": "1"}
    assert run.record["metric"] == {"name": "validation:accuracy", "value": 0.875}
    config = json.loads((run.folder / "input/config/hyperparameters.json").read_text())
    assert config == {"epochs": "1"}
    assert runs.parse_time(run.record["start"]).timestamp() >= started - 1
