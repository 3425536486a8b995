"""The host processes of monitoring schedules (pipeline/monitoring/executions.py, one a
schedule) and of the alarm watcher (pipeline/monitoring/alarms.py): started out of the
terminal's session with their pid and start time in a pid file, ended by that file only, so a pid
the system has since given to another process is never signalled. Standard library only.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.runs import jobrun

REPO = Path(__file__).resolve().parents[2]


def background(args, module: str, options: list, pid_file: Path, log_file: Path) -> int:
    """`python -m module` with make's common options, its pid and start time in `pid_file` (see
    started) and its output appended to `log_file`; its pid."""
    command = [sys.executable, "-m", module, "--local", str(args.local),
               "--workload", args.workload, "--compose", args.compose, "--docker", args.docker,
               "--image", args.image, "--keep", str(args.keep), *options]
    with log_file.open("a") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
    partial = pid_file.with_name(f".{pid_file.name}.partial")
    partial.write_text(f"{child.pid} {started(child.pid)}\n")
    partial.replace(pid_file)
    return child.pid


def started(pid: int) -> str | None:
    """A process's start time (clock ticks after boot, /proc/<pid>/stat field 22), None once it
    has ended (a zombie too): with the pid it names one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") or len(fields) < 20 else fields[19]


def running(pid_file: Path) -> bool:
    """Whether the process `pid_file` names still runs."""
    try:
        pid, when = pid_file.read_text().split()
        return started(int(pid)) == when
    except (OSError, ValueError):
        return False


def stop_process(pid_file: Path, what: str, wait: float = 0) -> None:
    """End the process `pid_file` names, if it still runs (SIGTERM), waiting up to `wait`
    seconds for it to end."""
    try:
        pid, when = pid_file.read_text().split()
        if started(int(pid)) == when:
            os.kill(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + wait
            while started(int(pid)) == when and time.monotonic() < deadline:
                time.sleep(0.1)
            jobrun.say(f"stopped {what} {pid}")
    except (OSError, ValueError):
        pass  # no pid file, a damaged one, or the process is gone
    pid_file.unlink(missing_ok=True)
