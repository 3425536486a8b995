"""Script mode in-process: the training job runs a user's entry point (training/jobs/script.py),
and make's jobs send a user's code (pipeline/jobs/builtin.py)."""

import json
import sys
import tarfile

import pytest

from pipeline.jobs import builtin
from pipeline.runs.records import RunError
from training.jobs import script, train

pytestmark = pytest.mark.training

SHOW_ENVIRONMENT = """
import json, os, sys
names = ["SM_CHANNEL_TRAIN", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "SM_HP_EPOCHS", "SM_HOSTS",
         "SM_CURRENT_HOST", "SM_NUM_CPUS", "SM_HPS", "SM_TRAINING_ENV"]
seen = {"argv": sys.argv[1:], **{name: os.environ.get(name) for name in names}}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as file:
    json.dump(seen, file)
"""


def job(tmp_path, monkeypatch, code: dict, hyperparameters: dict, submit=None):
    """An /opt/ml tree whose hyperparameters name a program in a source folder."""
    base, source = tmp_path / "ml", tmp_path / "source"
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    source.mkdir()
    for name, text in code.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    hyperparameters = {"sagemaker_submit_directory": json.dumps(submit or f"file://{source}"),
                       **hyperparameters}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"]}))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {}}))
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    monkeypatch.delenv("SAGEMAKER_PROGRAM", raising=False)
    monkeypatch.delenv("MODEL_ARCHIVE", raising=False)
    return base, source


def test_a_named_program_runs_with_the_toolkits_environment_and_arguments(tmp_path,
                                                                          monkeypatch):
    base, _ = job(tmp_path, monkeypatch, {"train.py": SHOW_ENVIRONMENT},
                  {"sagemaker_program": json.dumps("train.py"), "epochs": "3"})
    monkeypatch.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 0
    seen = json.loads((base / "model" / "seen.json").read_text())
    assert seen["argv"] == ["--epochs", "3"]
    assert seen["SM_CHANNEL_TRAIN"] == str(base / "input" / "data" / "train")
    assert seen["SM_MODEL_DIR"] == str(base / "model")
    assert seen["SM_OUTPUT_DATA_DIR"] == str(base / "output" / "data")
    assert seen["SM_HP_EPOCHS"] == "3" and json.loads(seen["SM_HPS"]) == {"epochs": 3}
    assert json.loads(seen["SM_HOSTS"]) == ["algo-1"] and seen["SM_CURRENT_HOST"] == "algo-1"
    assert int(seen["SM_NUM_CPUS"]) >= 1
    assert json.loads(seen["SM_TRAINING_ENV"])["user_entry_point"] == "train.py"
    with tarfile.open(base / "output" / "model.tar.gz") as archive:
        assert archive.getnames() == ["seen.json"]


def test_sagemaker_program_in_the_environment_names_the_program_too(tmp_path, monkeypatch):
    shell = '#!/bin/sh\necho "$@" > "$SM_MODEL_DIR/a"\n'
    base, _ = job(tmp_path, monkeypatch, {"run.sh": shell}, {"lr": "0.5"})
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "run.sh")
    assert script.program(base) == "run.sh"
    assert train.main() == 0
    assert (base / "model" / "a").read_text().split() == ["--lr", "0.5"]


def test_no_program_leaves_the_built_in_workload(tmp_path, monkeypatch):
    base, _ = job(tmp_path, monkeypatch, {}, {"epochs": "3"})
    assert script.program(base) is None


def test_a_failing_script_fails_the_job_with_its_last_stderr_lines(tmp_path, monkeypatch):
    failing = ("import sys\nprint('step one', file=sys.stderr)\n"
               "raise ValueError('no rows in train')\n")
    base, _ = job(tmp_path, monkeypatch, {"train.py": failing},
                  {"sagemaker_program": "train.py"})
    monkeypatch.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert failure.startswith("the entry point train.py exited with code 1:")
    assert "step one" in failure and "ValueError: no rows in train" in failure
    assert not (base / "output" / "model.tar.gz").exists()


def test_the_scripts_own_exit_code_is_the_jobs(tmp_path, monkeypatch):
    base, _ = job(tmp_path, monkeypatch, {"train.py": "raise SystemExit(7)\n"},
                  {"sagemaker_program": "train.py"})
    assert train.main() == 7


def test_a_requirement_missing_from_the_wheelhouse_is_named(tmp_path, monkeypatch):
    base, source = job(tmp_path, monkeypatch, {"train.py": "print('never')\n",
                                               "requirements.txt": "no-such-package-xyz==1.0\n"},
                       {"sagemaker_program": "train.py"})
    (source / "wheelhouse").mkdir()
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert "requirements.txt: cannot install no-such-package-xyz==1.0" in failure
    assert "wheelhouse/" in failure


def test_a_missing_program_file_is_named_with_what_the_code_holds(tmp_path, monkeypatch):
    base, _ = job(tmp_path, monkeypatch, {"other.py": ""}, {"sagemaker_program": "train.py"})
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert "sagemaker_program=train.py: no such file" in failure and "other.py" in failure


def test_a_source_tarball_is_unpacked_before_the_program_runs(tmp_path, monkeypatch):
    base, source = job(tmp_path, monkeypatch, {"train.py": SHOW_ENVIRONMENT},
                       {"sagemaker_program": "train.py"}, submit="placeholder")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "train.py", arcname="train.py")
    hps = {"sagemaker_program": "train.py", "sagemaker_submit_directory": f"file://{archive}"}
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    assert train.main() == 0
    assert (base / "code" / "train.py").is_file() and (base / "model" / "seen.json").is_file()


@pytest.mark.parametrize("uri, words", [
    ("s3://bucket/code/sourcedir.tar.gz", "no S3 here; set S3_ENDPOINT_URL"),
    ("file:///nowhere/sourcedir.tar.gz", "no such file or folder in the container"),
])
def test_a_code_location_that_cannot_be_read_is_named(uri, words):
    with pytest.raises(script.JobError, match="sagemaker_submit_directory=") as raised:
        script.code_source(uri, environ={})
    assert words in str(raised.value)


def test_s3_code_is_left_to_the_toolkit_when_an_endpoint_is_configured():
    uri = "s3://bucket/sourcedir.tar.gz"
    assert script.code_source(uri, environ={"S3_ENDPOINT_URL": "http://s3.local"}) == uri


def test_pip_errors_name_the_package_or_show_the_last_lines():
    stderr = ("ERROR: Could not find a version that satisfies the requirement foo==9 (from "
              "versions: none)\nERROR: No matching distribution found for foo==9\n")
    assert "cannot install foo==9: the package index" in script.requirements_error(
        stderr, 1, wheelhouse=False)
    assert script.requirements_error("x\ny\nboom\n", 2, False).endswith("exit code 2: x y boom")


def test_an_entry_point_without_a_source_dir_is_run_from_its_own_folder(tmp_path):
    (tmp_path / "train.py").write_text("")
    assert builtin.entry_point(str(tmp_path / "train.py"), None) == ("train.py", tmp_path)
    assert builtin.entry_point("train.py", str(tmp_path)) == ("train.py", tmp_path)
    with pytest.raises(RunError, match="ENTRY_POINT=fit.py: no such file"):
        builtin.entry_point("fit.py", str(tmp_path))


def test_a_processing_script_goes_as_script_processor_sends_it(tmp_path):
    (tmp_path / "prep.py").write_text("print(1)\n")
    entrypoint, arguments, code = builtin.script(str(tmp_path / "prep.py"), "--seed '4 2'")
    assert entrypoint == ["python3", "/opt/ml/processing/code/prep.py"]
    assert arguments == ["--seed", "4 2"]
    assert code["S3Input"]["S3Uri"] == f"file://{tmp_path / 'prep.py'}"
    assert code["S3Input"]["LocalPath"] == "/opt/ml/processing/code"
    with pytest.raises(RunError, match="SCRIPT=.*nope.py: no such file"):
        builtin.script(str(tmp_path / "nope.py"), "")
    with pytest.raises(RunError, match="ARGUMENTS="):
        builtin.script(str(tmp_path / "prep.py"), "'unclosed")


def test_script_modes_python_is_the_jobs_own(tmp_path, monkeypatch):
    # The toolkit runs a script with the interpreter that runs the job (the image's venv).
    base, _ = job(tmp_path, monkeypatch, {"train.py": "import sys\nopen(__import__('os')."
                                          "environ['SM_MODEL_DIR'] + '/py', 'w').write("
                                          "sys.executable)\n"},
                  {"sagemaker_program": "train.py"})
    assert train.main() == 0
    assert (base / "model" / "py").read_text() == sys.executable
