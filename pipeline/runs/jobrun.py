"""One job run: its record (pipeline/runs/records.py), its container through `docker run`, its
end.

Every job container starts here (the job runner's hosts, pipeline/api/hosts.py) and every make
command says here how its run ended, so a run's log and KEEP_RUNS pruning are the same whatever
the job. Standard library only.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from pipeline.runs import records as runs

# JOB_OUTPUT=brief (what make pipeline and make demo set): a job's own lines go to its logs.txt
# only, the terminal gets one line at its start and one at its end, and a failed job's last
# lines. Anything else: every line on the terminal too, as a job's log reads on SageMaker.
OUTPUT_ENV = "JOB_OUTPUT"
FAILED_TAIL = 20


def brief() -> bool:
    return os.environ.get(OUTPUT_ENV, "").strip().lower() == "brief"


def say(message: str) -> None:
    print(message, flush=True)


def image_digest(docker: str, image: str) -> str | None:
    done = subprocess.run([*shlex.split(docker), "image", "inspect", "-f", "{{.Id}}", image],
                          capture_output=True, text=True)
    return done.stdout.strip() or None


def container_run(command: list[str], log: Path, echo: bool = True, on_line=None,
                  append: bool = False) -> int:
    """Run one job container (a `docker run` command); its output goes to the terminal and to
    the run's log.

    Tuning trials run several at once: they keep their output in the log only (echo=False),
    name their container (--name) so it can be stopped, watch each line (on_line) and append to
    the log of an interrupted attempt.
    """
    echo = echo and not brief()

    def _show(line: str, kept) -> None:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        kept.write(line)
        kept.flush()
        if on_line is not None:
            on_line(line)

    # A trial's docker client is kept out of the terminal's Ctrl-C: the tuner stops its
    # container as SageMaker stops a job (SIGTERM), not with a SIGINT the job does not handle.
    with log.open("a" if append else "w") as kept, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", start_new_session=not echo) as job:
        try:
            for line in job.stdout:
                _show(line, kept)
            return job.wait()
        except KeyboardInterrupt:
            job.terminate()
            job.wait()
            return 143


def compose_project(words: list[str], default: str | None = None) -> str | None:
    """The project a compose command's -p names (else `default`, else None), spelt as compose
    spells it in its containers' labels and its networks' names: lower case; letters, digits,
    - and _ only."""
    name = next((words[i + 1] for i, word in enumerate(words[:-1])
                 if word in ("-p", "--project-name")), default)
    return None if name is None else re.sub(r"[^-_a-z0-9]", "", name.lower())


def report(args, run: runs.Run) -> int:
    """A run that has ended: keep at most KEEP_RUNS runs of its kind, and say how it went."""
    removed = runs.prune(args.local, run.record["kind"], args.keep, args.workload)
    if removed:
        say(f"removed {len(removed)} old {run.record['kind']} run(s) beyond KEEP_RUNS={args.keep}")
    if run.status == runs.COMPLETED:
        got = run.record.get("metric") or {}
        words = f", {got['name']} {got['value']:.4g}" if "value" in got and "name" in got else ""
        say(f"{run.record['kind']} run {run.name} Completed in {runs.duration(run.record)}"
            f"{words}: {run.folder}")
        return 0
    logs = run.folder / runs.LOGS
    if brief() and logs.is_file():
        sys.stderr.writelines(line + "\n" for line in
                              logs.read_text(errors="replace").splitlines()[-FAILED_TAIL:])
    print(f"{run.record['kind']} run {run.name} {run.status}: {run.record['failure_reason']} "
          f"(log: {run.folder / runs.LOGS})", file=sys.stderr, flush=True)
    return 1


def common_arguments(top: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What every command that starts job runs is told by make."""
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--compose", default="docker-compose -f docker-compose.yml")
    top.add_argument("--docker", default="docker")
    top.add_argument("--image", default="penguins-training:latest")
    top.add_argument("--keep", type=int, default=20, help="KEEP_RUNS")
    return top
