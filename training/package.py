"""Pack /opt/ml/model into model.tar.gz exactly as SageMaker does: contents at the archive root."""

import os
import tarfile
import tempfile
from pathlib import Path


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
