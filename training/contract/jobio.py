"""What every job shares: the /opt/ml base, the failure message file, atomic writes."""

import json
import os
import sys
import tempfile
from pathlib import Path

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"  # the sagemaker-training toolkit reads the same variable
# Strings read as a missing value, as serving reads them (serving/features.py MISSING).
# "nan" and "NaN" too: what Python and pandas write for a float NaN, never a category or a number.
MISSING = ["", "NA", "N/A", ".", "nan", "NaN"]



class JobError(Exception):
    """A failure the user can fix; the message names the parameter, channel, file or column."""


class Stopped(JobError):
    """The platform asked the job to stop (SIGTERM); a checkpoint was kept."""


def base_dir() -> Path:
    return Path(os.environ.get(BASE_DIR_ENV, "/opt/ml"))


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file so readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes 0600 files; outputs must be readable like any other (e.g. by the
        # endpoint's unprivileged workers once packed into model.tar.gz).
        os.fchmod(handle, 0o644)
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def channel_files(channel: Path, name: str) -> list[Path]:
    """Every CSV file of a training channel (its subfolders too), or JobError naming it."""
    if not channel.is_dir():
        raise JobError(f"channel {name} is missing")
    files = sorted(p for p in channel.rglob("*.csv") if p.is_file())
    if not files:
        raise JobError(f"channel {name}: no CSV file")
    return files


def read_json(variable: str, path: Path, missing: str):
    """A JSON file a setting names, or JobError naming the setting and the file (`missing`:
    what to do when there is none)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise JobError(f"{variable} {path}: no such file ({missing})") from None
    except (OSError, ValueError) as error:
        raise JobError(f"{variable} {path}: not a JSON file ({error})") from None


def fail(message_file: Path, message: str, code: int = 1) -> int:
    """Report a failure as SageMaker shows it: one line in the message file, and stderr."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr, flush=True)
    try:
        atomic_write(message_file, line[:1024] + "\n")
    except OSError as error:
        print(f"error: cannot write {message_file}: {error}", file=sys.stderr, flush=True)
    return code
