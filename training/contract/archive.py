"""Pack /opt/ml/model into model.tar.gz exactly as SageMaker does: contents at the archive root."""

import os
import tarfile
import tempfile
from pathlib import Path


def extract(archive: Path, target: Path) -> None:
    """Extract model.tar.gz as SageMaker does, refusing links and paths outside target.

    Every member is checked before anything is written, the same way on every Python: the
    "data" extraction filter alone would strip an absolute path and keep a link that points
    inside target, and Debian bookworm's Python 3.11.2 has no filters at all.
    """
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise tarfile.TarError(f"member {member.name!r} points outside the archive's "
                                       f"folder; a model archive holds relative paths only")
            if not (member.isfile() or member.isdir()):
                raise tarfile.TarError(f"member {member.name!r} is not a file or folder (a "
                                       f"link or device); a model archive holds only those")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, members, filter="data")
        else:
            tar.extractall(target, members)


def pack(model_dir: Path, archive: Path) -> Path:
    """Write archive atomically (temp file in the same folder, then rename)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{archive.name}.", dir=archive.parent)
    os.close(handle)
    try:
        with tarfile.open(temp, "w:gz") as tar:
            for path in sorted(Path(model_dir).iterdir()):
                tar.add(path, arcname=path.name)
        os.chmod(temp, 0o644)
        os.replace(temp, archive)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return archive
