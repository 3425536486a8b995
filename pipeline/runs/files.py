"""Files the host writes whole or not at all: a reader (make, a monitor's scan, a user) never
sees half of one, and a failed write leaves what was there before. Standard library only."""

import contextlib
import json
import os
import tempfile
from pathlib import Path


def write_whole(path: Path, data: str | bytes) -> None:
    """Write a file through a hidden temporary file beside it, then os.replace.

    The temporary name starts with a dot and ends without the file's suffix, so globs over
    the folder (*.jsonl, *.csv) never pick it up.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o644)
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_json(path: Path, data) -> None:
    """A JSON file, indented, whole or not at all."""
    write_whole(path, json.dumps(data, indent=2) + "\n")
