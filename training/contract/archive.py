"""Pack /opt/ml/model into model.tar.gz exactly as SageMaker does: contents at the archive root."""

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

# Every archive's extracted bytes are capped (a gzip bomb is refused, never written); the
# variable raises or lowers the cap for big models.
MAX_BYTES_ENV = "MODEL_ARCHIVE_MAX_BYTES"
DEFAULT_MAX_BYTES = 20 * 1024**3
# Written modes: the owner's exec bit decides; never setuid/setgid/sticky or group/world write.
FILE_MODE, EXECUTABLE_MODE, FOLDER_MODE = 0o644, 0o755, 0o755
CHUNK = 1024 * 1024


class ArchiveTooLarge(tarfile.TarError):
    """The archive would extract to more bytes than the cap or than the disk has free."""


def max_bytes() -> int:
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ArchiveTooLarge(f"{MAX_BYTES_ENV}={text!r}: a positive number of bytes is expected")
    return value


def checked_members(tar: tarfile.TarFile, target: Path, limit: int) -> list:
    """Every member, checked before anything is written; stops at the first header past the cap
    (a bomb's first header already says so, before its data is decompressed)."""
    members, total = [], 0
    for member in tar:
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise tarfile.TarError(f"member {member.name!r} points outside the archive's "
                                   f"folder; a model archive holds relative paths only")
        if not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"member {member.name!r} is not a file or folder (a "
                                   f"link or device); a model archive holds only those")
        total += member.size if member.isfile() else 0
        if total > limit:
            raise ArchiveTooLarge(f"member {member.name!r} takes the archive past {limit} bytes "
                                  f"extracted ({MAX_BYTES_ENV} sets the cap); nothing extracted")
        members.append(member)
    free = shutil.disk_usage(target).free
    if total > free:
        raise ArchiveTooLarge(f"the archive extracts to {total} bytes and {target} has {free} "
                              "bytes free; nothing extracted")
    return members


def folder(target: Path, path: Path) -> None:
    """path and the folders between target and it, each FOLDER_MODE whatever the umask."""
    for each in [*reversed(path.relative_to(target).parents), path.relative_to(target)]:
        if each.parts:
            (target / each).mkdir(exist_ok=True)
            (target / each).chmod(FOLDER_MODE)


def write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
    """One file's bytes (tarfile reads exactly the header's size, which the cap counted)."""
    source = tar.extractfile(member)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
        os.fchmod(out.fileno(), EXECUTABLE_MODE if member.mode & 0o100 else FILE_MODE)
    os.utime(path, (member.mtime, member.mtime))


def extract(archive: Path, target: Path, limit: int | None = None) -> None:
    """Extract model.tar.gz as SageMaker does, refusing links and paths outside target.

    The same code on every Python (Debian bookworm's 3.11.2 has no extraction filters): every
    member is checked first, then written by this function with fixed modes (FILE_MODE,
    EXECUTABLE_MODE, FOLDER_MODE) and the extracting user as owner, never the archive's. The
    extracted total is capped at `limit` (default MODEL_ARCHIVE_MAX_BYTES, else 20 GiB) and at
    the target's free space: ArchiveTooLarge, before a byte is written.
    """
    limit = limit if limit is not None else max_bytes()
    # As tarfile's extractall: the target folder is made if missing (its free space is read).
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in checked_members(tar, target, limit):
            path = target / os.path.normpath(member.name)
            if member.isdir():
                folder(target, path)
            else:
                folder(target, path.parent)
                write_file(tar, member, path)


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
