"""Build output (containers/progress.sh): one line for an image that is up to date, and the
steps only while they actually run. Fed the legacy builder's real shape of output."""

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
PROGRESS = Path(__file__).resolve().parents[2] / "containers" / "progress.sh"

CACHED = """Sending build context to Docker daemon  2.1MB
Step 1/5 : ARG BASE_IMAGE=python:3.11-slim-bookworm
Step 2/5 : FROM ${BASE_IMAGE} AS builder
 ---> 3f2a1b
Step 3/5 : RUN apt-get update
 ---> Using cache
 ---> 9c8d7e
Step 4/5 : COPY training/ /opt/program/training/
 ---> Using cache
 ---> 1a2b3c
Step 5/5 : CMD ["train"]
 ---> Using cache
 ---> 4d5e6f
Successfully built 4d5e6f
Successfully tagged penguins-training:latest
"""

CODE_CHANGED = CACHED.replace(
    "Step 4/5 : COPY training/ /opt/program/training/\n ---> Using cache\n",
    "Step 4/5 : COPY training/ /opt/program/training/\n").replace(
    "Step 5/5 : CMD [\"train\"]\n ---> Using cache\n",
    "Step 5/5 : CMD [\"train\"]\n ---> Running in 77aa\n")


def build(tmp_path, output: str, status: int = 0):
    script = tmp_path / "builder.sh"
    script.write_text(f"cat <<'OUT'\n{output}OUT\nexit {status}\n")
    return subprocess.run(["bash", str(PROGRESS), str(tmp_path / "build.log"),
                           "penguins-training:latest", "bash", str(script)],
                          capture_output=True, text=True)


def test_an_up_to_date_image_is_one_line(tmp_path):
    done = build(tmp_path, CACHED)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["penguins-training:latest up to date"]
    assert (tmp_path / "build.log").read_text() == CACHED


def test_only_the_steps_that_run_are_printed(tmp_path):
    done = build(tmp_path, CODE_CHANGED)
    lines = done.stdout.splitlines()
    assert [line.split("] ", 1)[1] for line in lines[:-1]] == [
        "Step 4/5 : COPY training/ /opt/program/training/", 'Step 5/5 : CMD ["train"]']
    assert lines[-1].startswith("built penguins-training:latest in ")


def test_a_failed_build_prints_the_log_tail_and_keeps_the_status(tmp_path):
    done = build(tmp_path, CODE_CHANGED + "ERROR: pip could not find numpy\n", status=3)
    assert done.returncode == 3
    assert "ERROR: pip could not find numpy" in done.stdout
    assert "building penguins-training:latest failed" in done.stderr
