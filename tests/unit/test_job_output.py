"""What a job run prints on the terminal: every line, or (JOB_OUTPUT=brief, make pipeline and
make demo) nothing of the job's own but its end, and a failed job's last lines. logs.txt keeps
every line either way."""

import sys

import pytest

from pipeline.jobs import steps
from pipeline.runs import jobrun
from pipeline.runs import records as runs

pytestmark = pytest.mark.pipeline


@pytest.fixture
def fake_docker(tmp_path):
    """A docker stand-in: `run` of a job's host prints 30 epoch lines and exits with the code
    in exit-code.txt; any other command does nothing."""
    script = tmp_path / "docker.py"
    script.write_text(
        "import sys\n"
        "if sys.argv[1] != 'run':\n"
        "    sys.exit(0)\n"
        "for i in range(1, 31):\n"
        "    print(f'epoch={i}/30 val_accuracy=0.{i:02d}')\n"
        f"sys.exit(int(open({str(tmp_path / 'exit-code.txt')!r}).read()))\n")
    return f"{sys.executable} {script}"


def run_job(tmp_path, docker, code: int):
    """make train's step on a processing run, through the job runner."""
    local = tmp_path / "local"
    source = runs.create(local, "processing", "penguins")
    for channel in ("train", "validation", "pipeline"):
        (source.folder / "processing" / channel).mkdir(parents=True)
    runs.finish(source, 0)
    (tmp_path / "exit-code.txt").write_text(str(code))
    done = steps.main(["train", "--local", str(local), "--docker", docker, "--image", "x",
                       "--keep", "5"])
    return runs.runs(local, "training")[0], done


def test_a_single_step_prints_every_line_of_its_job(tmp_path, fake_docker, capsys,
                                                     monkeypatch):
    monkeypatch.delenv(jobrun.OUTPUT_ENV, raising=False)
    run, code = run_job(tmp_path, fake_docker, 0)
    out = capsys.readouterr().out
    assert code == 0 and out.count("epoch=") == 30
    assert "Completed in" in out and "validation:accuracy 0.3" in out


def test_brief_output_is_the_end_line_and_the_log_keeps_everything(tmp_path, fake_docker,
                                                                    capsys, monkeypatch):
    monkeypatch.setenv(jobrun.OUTPUT_ENV, "brief")
    run, code = run_job(tmp_path, fake_docker, 0)
    out = capsys.readouterr().out
    assert code == 0 and "epoch=" not in out
    # The step's line at its start (which run it took) and the run's at its end.
    assert len(out.splitlines()) == 2 and "Completed in" in out.splitlines()[-1]
    assert (run.folder / runs.LOGS).read_text().count("epoch=") == 30


def test_a_failed_job_in_brief_output_shows_its_last_lines(tmp_path, fake_docker, capsys,
                                                           monkeypatch):
    monkeypatch.setenv(jobrun.OUTPUT_ENV, "brief")
    run, code = run_job(tmp_path, fake_docker, 3)
    captured = capsys.readouterr()
    assert code == 1 and "epoch=" not in captured.out
    tail = [line for line in captured.err.splitlines() if line.startswith("epoch=")]
    assert tail[0].startswith(f"epoch={31 - jobrun.FAILED_TAIL}/") and tail[-1].startswith(
        "epoch=30/")
    assert "Failed" in captured.err
