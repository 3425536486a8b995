"""Pack /opt/ml/model into model.tar.gz exactly as SageMaker does: contents at the archive root."""

import os
import tarfile
import tempfile
from pathlib import Path


def extract(archive: Path, target: Path) -> None:
    """Extract model.tar.gz as SageMaker does, refusing links and paths outside target."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
            return
        # Debian bookworm's Python 3.11.2 predates extraction filters: check by hand.
        for member in tar.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                raise tarfile.TarError(f"unsafe member {member.name!r}")
        tar.extractall(target)


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
