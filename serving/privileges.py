"""`serve` started as root (SageMaker's way) gives up root before it starts nginx and uWSGI.

What needs root is done first (serving/prepare.py); then what the unprivileged processes must
write is handed to them, and the launcher becomes nobody:nogroup itself, so that no process of
the endpoint runs as uid 0: not nginx's master, not uWSGI's, not `serve`.

Handed over: the run folder (nginx.conf, nginx's pid and temp folders, a model copy) and the
container's stdout and stderr. Docker makes those pipes root's, mode 0600: nginx opens
/dev/stdout for its access log, which nobody could not do.

Without the capabilities this takes (a container started as root with --cap-drop CHOWN, say),
`serve` keeps root and so do nginx and uWSGI: the endpoint works, and the log says why.
Masters that kept root to run their workers as nobody would need the same three.
"""

import grp
import os
import pwd
import stat
from pathlib import Path

UNPRIVILEGED = ("nobody", "nogroup")
STATUS = Path("/proc/self/status")
# What the hand-over and the drop take (linux/capability.h bit numbers).
NEEDED = {"CAP_CHOWN": 0, "CAP_SETGID": 6, "CAP_SETUID": 7}
STDIO = (1, 2)


def missing_capabilities(status: str) -> list[str]:
    """The capabilities of NEEDED that /proc/self/status's CapEff line does not hold."""
    effective = next((int(line.split()[1], 16) for line in status.splitlines()
                      if line.startswith("CapEff:")), 0)
    return [name for name, bit in NEEDED.items() if not effective >> bit & 1]


def drop(run_dir: Path, user: str = UNPRIVILEGED[0], group: str = UNPRIVILEGED[1]) -> None:
    """Hand run_dir and stdout/stderr to user:group, then become them for good (no supplementary
    groups, real, effective and saved ids all changed: root cannot be taken back)."""
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    os.chown(run_dir, uid, gid)
    for descriptor in STDIO:
        # Docker's pipes, or its terminal (docker run -t); never /dev/null or a file.
        try:
            if stat.S_ISFIFO(os.fstat(descriptor).st_mode) or os.isatty(descriptor):
                os.fchown(descriptor, uid, gid)
        except OSError:
            continue  # closed, or not ours to give: what writes to it inherited still can
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    # nobody's home (/nonexistent) is no place to write; root's is not readable any more.
    os.environ["HOME"] = str(run_dir)
