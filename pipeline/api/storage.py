"""Where a job's data comes from and where its outputs go, by URI.

SageMaker downloads each S3 input into the container before the job starts and uploads outputs
when it ends. Here a file:// URI names a host path: an input is mounted read-only where the job
reads it (nothing copied), an output is copied to it as an upload would be. s3:// goes through
an `S3` (fetch a prefix into a folder, store a file or folder under a prefix): `from_environment`
gives the local S3's (pipeline/s3, boto3) when AWS_ENDPOINT_URL_S3 points at one (`make s3`,
`eval "$(make -s env)"`); without it, an s3:// URI is refused by name before any job starts.
"""

import os
import shutil
from pathlib import Path
from typing import Protocol


class StorageError(Exception):
    """An input that cannot be read or an output that cannot be written, with the URI."""


class NoLocalS3(StorageError):
    """An s3:// URI while no local S3 is configured."""


class S3(Protocol):
    def fetch(self, uri: str, folder: Path) -> None:
        """Every object under the prefix `uri`, into folder (keys relative to the prefix)."""

    def store(self, path: Path, uri: str) -> None:
        """A file as the object `uri`, or a folder's files under the prefix `uri`."""


class BotoS3:
    """S3 through pipeline/s3/transfer.py: boto3 at AWS_ENDPOINT_URL_S3 (the local S3), with
    the prefix and key rules SageMaker uses for a job's data."""

    def __init__(self, endpoint: str | None = None):
        try:
            from pipeline.s3 import transfer
        except ImportError as error:  # the host's python3 without the venv's boto3
            raise NoLocalS3(f"s3:// needs boto3 ({error}); run make setup, then make job "
                            "with the venv's python") from None
        self.transfer = transfer
        self.client = transfer.client(endpoint)

    def fetch(self, uri: str, folder: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            fetched = self.transfer.download_prefix(self.client, uri, folder)
        except (BotoCoreError, ClientError, ValueError) as error:
            raise StorageError(f"cannot download {uri}: {error}") from None
        if not fetched:  # SageMaker's words for an input prefix that holds nothing
            raise StorageError(f"No S3 objects found under S3 URL {uri}")

    def store(self, path: Path, uri: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if path.is_file():
                self.transfer.upload_file(self.client, path, uri)
            else:
                self.transfer.upload_folder(self.client, path, uri)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot upload to {uri}: {error}") from None


def from_environment() -> "Storage":
    """file:// always; s3:// through the local S3 when AWS_ENDPOINT_URL_S3 names one."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    return Storage(BotoS3(endpoint) if endpoint else None)


def file_path(uri: str) -> Path | None:
    """The host path of a file:// URI (absolute, or relative to the working folder); None for
    any other URI."""
    if not uri.startswith("file://"):
        return None
    return Path(uri[len("file://"):]).absolute()


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


class Storage:
    """file:// on the host's disk, s3:// through `s3` when one is given."""

    def __init__(self, s3: S3 | None = None):
        self.s3 = s3

    def check(self, uri: str, where: str, reading: bool = False) -> None:
        """Refuse what cannot work before a job starts: a missing file:// input, or s3://
        with no local S3."""
        path = file_path(uri)
        if path is None and self.s3 is None:
            raise NoLocalS3(f"{where}: {uri} is an s3:// URI and no local S3 is configured "
                            "(AWS_ENDPOINT_URL_S3 is unset: make s3, then eval \"$(make -s "
                            "env)\"), or give a file:// URI (a folder on this machine)")
        if path is not None and reading and not path.exists():
            raise StorageError(f"{where}: {uri}: no such file or folder")

    def fetch(self, uri: str, folder: Path) -> None:
        """Everything under `uri` into folder: an s3:// prefix's objects, a file:// folder's
        files or the one file:// file (by its name)."""
        path = file_path(uri)
        if path is None and self.s3 is None:
            raise NoLocalS3(f"{uri}: no local S3 is configured")
        folder.mkdir(parents=True, exist_ok=True)
        if path is None:
            self.s3.fetch(uri, folder)
            return
        try:
            if path.is_dir():
                shutil.copytree(path, folder, dirs_exist_ok=True)
            else:
                shutil.copy2(path, folder / path.name)
        except OSError as error:
            raise StorageError(f"cannot read {uri}: {error}") from None

    def store(self, path: Path, uri: str) -> None:
        """Upload a file to `uri`, or a folder's files under it, as SageMaker uploads outputs
        (symbolic links are not followed)."""
        target = file_path(uri)
        if target is None:
            if self.s3 is None:
                raise NoLocalS3(f"{uri}: no local S3 is configured")
            self.s3.store(path, uri)
            return
        try:
            if path.is_file():
                copy(path, target)
                return
            for source in sorted(path.rglob("*")):
                if source.is_file() and not source.is_symlink():
                    copy(source, target / source.relative_to(path))
        except OSError as error:
            raise StorageError(f"cannot write {uri}: {error}") from None


def copy(source: Path, target: Path) -> None:
    """One file, written whole (a temporary name, then renamed); nothing when it is the same
    file already (an S3OutputPath inside the run folder)."""
    if target.exists() and target.samefile(source):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
