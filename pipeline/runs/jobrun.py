"""One job run: its record (pipeline/runs/records.py), its container through docker-compose, its
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

# Compose's own progress lines (v1 "Creating x ... done", v2 "Container x Creating"): not the job's.
COMPOSE_NOISE = ("Creating ", "Starting ", "Removing ", "Stopping ", "Recreating ",
                 "Network ", "Container ")


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


def compose_run(compose: str, service: str, args: list[str], mounts: dict, log: Path,
                options: tuple = (), echo: bool = True, on_line=None, append: bool = False) -> int:
    """Run one job container; its output goes to the terminal and to the run's log.

    Tuning trials run several at once: they keep their output in the log only (echo=False),
    name their container (options, e.g. --name) so it can be stopped, watch each line
    (on_line) and append to the log of an interrupted attempt.
    """
    echo = echo and not brief()
    environ = {**os.environ, **{name: str(path) for name, path in mounts.items()}}
    command = [*shlex.split(compose), "run", "--rm", "-T", *options, service, *args]

    def _show(line: str, kept) -> None:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        kept.write(line)
        kept.flush()
        if on_line is not None:
            on_line(line)

    # A trial's compose client is kept out of the terminal's Ctrl-C: the tuner stops its
    # container as SageMaker stops a job (SIGTERM), not with a SIGINT the job does not handle.
    with log.open("a" if append else "w") as kept, subprocess.Popen(
            command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=not echo) as job:
        held = None  # a bare number may be compose v1 echoing the exit code: decided at the end
        try:
            for line in job.stdout:
                if line.lstrip().startswith(COMPOSE_NOISE):
                    continue
                if held is not None:
                    _show(held, kept)
                    held = None
                if line.strip().isdigit():
                    held = line
                    continue
                _show(line, kept)
            code = job.wait()
            if held is not None and held.strip() != str(code):
                _show(held, kept)
            return code
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


def host_network(docker: str, compose: str, network: str = "hosts") -> None:
    """Makes the compose project's internal network of a job's hosts before their `compose run`s
    start at once: each would make it, and two at once made two networks of one name that no
    container could then join ("network … is ambiguous")."""
    project = compose_project(shlex.split(compose))
    if project is None:
        return
    name, docker = f"{project}_{network}", shlex.split(docker)
    found = subprocess.run([*docker, "network", "ls", "-q", "--filter", f"name=^{name}$"],
                           capture_output=True, text=True).stdout.split()
    if len(found) > 1:  # the twins an earlier race left: no container can join either
        subprocess.run([*docker, "network", "rm", *found], capture_output=True)
    if len(found) != 1:
        # Compose's own labels: compose v1 and v2 take the network as the project's.
        subprocess.run([*docker, "network", "create", "--internal",
                        "--label", f"com.docker.compose.project={project}",
                        "--label", f"com.docker.compose.network={network}", name],
                       capture_output=True)


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
