"""What the job runner gives a tuning job's trials (pipeline/tuning/trials.py): each line of
the job's log as it is written, StopTrainingJob by the job's name, and a cut trial going on in
its own run; and a stopped job that saved no model uploads none. The docker here
is a shell script (no Docker)."""

import copy
import json

import pytest

from pipeline.api import requests as api
from pipeline.api import runner
from pipeline.runs import records as runs

pytestmark = pytest.mark.unit


def request(tmp_path, name: str = "trial-001") -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "tiny:1", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "score",
                                                          "Regex": "score=([0-9.]+)"}]},
        "HyperParameters": {"epochs": "2"},
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/models"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def engine(tmp_path, job: str = "true", docker: str = "true") -> runner.Engine:
    """The runner with a docker stand-in whose `run` is the shell commands `job` and whose other
    commands go to `docker`."""
    script = tmp_path / "docker.sh"
    script.write_text(f'if [ "$1" = run ]; then {job}; exit $?; fi\nexec {docker} "$@"\n')
    return runner.Engine(tmp_path / "local", project="Tune", docker=f"sh {script}",
                         echo=False, announce=False)


def test_each_line_of_the_log_is_handed_over_as_it_is_written(tmp_path):
    seen = []
    job = "echo score=0.1; echo other; echo score=0.3"
    answer = runner.run(api.parse(request(tmp_path)), engine(tmp_path, job),
                        on_line=seen.append)
    assert answer["TrainingJobStatus"] == "Completed"
    assert seen == ["score=0.1\n", "other\n", "score=0.3\n"]


def test_stop_sends_stoptrainingjob_to_the_jobs_containers_by_name(tmp_path):
    calls = tmp_path / "calls"
    docker = f"sh -c 'echo \"$@\" >> {calls}' --"
    assert runner.stop(engine(tmp_path, docker=docker), "Trial-001", 2)
    assert calls.read_text().splitlines() == ["stop -t 120 tune-trial-001-algo-1",
                                              "stop -t 120 tune-trial-001-algo-2"]
    assert not runner.stop(engine(tmp_path, docker="false"), "trial-001")


def test_a_cut_trial_goes_on_in_its_own_run_with_its_log_appended(tmp_path):
    cut = engine(tmp_path, "echo epoch=1; exit 143")
    first = runner.run(api.parse(request(tmp_path)), cut, tuning_job="t")
    assert first["TrainingJobStatus"] == "Stopped"
    folder = tmp_path / "local" / "training" / "trial-001"
    (folder / "checkpoints" / "state.json").write_text("{}")
    start = runs.load(folder).record["start"]
    with pytest.raises(api.RequestError, match="exists already"):
        runner.run(api.parse(request(tmp_path)), cut)
    again = engine(tmp_path, "echo epoch=2")
    answer = runner.run(api.parse(request(tmp_path)), again, resume=True, tuning_job="t")
    assert answer["TrainingJobStatus"] == "Completed"
    record = runs.load(folder).record
    assert record["attempts"] == 2 and record["start"] == start and record["tuning_job"] == "t"
    assert "failure_reason" not in record
    assert (folder / "logs.txt").read_text() == "epoch=1\nepoch=2\n"
    assert (folder / "checkpoints" / "state.json").is_file()
    assert json.loads((folder / "request.json").read_text())["TrainingJobName"] == "trial-001"


def test_a_new_trial_with_resume_starts_as_any_job(tmp_path):
    body = copy.deepcopy(request(tmp_path, "trial-002"))
    answer = runner.run(api.parse(body), engine(tmp_path, "echo hi"), resume=True)
    assert answer["TrainingJobStatus"] == "Completed"
    assert "attempts" not in runs.load(tmp_path / "local" / "training" / "trial-002").record


def test_a_stopped_job_that_saved_no_model_uploads_none(tmp_path):
    answer = runner.run(api.parse(request(tmp_path)),
                        engine(tmp_path, "exit 143"))
    assert answer["TrainingJobStatus"] == "Stopped" and "ModelArtifacts" not in answer
    assert not (tmp_path / "local" / "training" / "trial-001" / "output" /
                "model.tar.gz").exists()
    assert not (tmp_path / "models").exists()


def test_max_runtime_stops_the_jobs_containers_by_name(tmp_path):
    calls = tmp_path / "calls"
    docker = f"sh -c 'echo \"$@\" >> {calls}' --"
    body = request(tmp_path)
    body["StoppingCondition"]["MaxRuntimeInSeconds"] = 1
    answer = runner.run(api.parse(body), engine(tmp_path, "sleep 2", docker))
    assert answer["TrainingJobStatus"] == "Stopped"
    assert answer["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "stop -t 120 tune-trial-001-algo-1" in calls.read_text().splitlines()
