"""Buckets are folders and objects are plain files: LOCAL_DIR/s3/<bucket>/<key>.

What S3 keeps beside an object's bytes (its ETag, Content-Type and x-amz-meta-* headers) is a
hidden sidecar, .meta/<bucket>/<key>.json, valid only while the file keeps the size and mtime it
records: a file a user edited or dropped in is served with a fresh MD5 ETag and a guessed type.
Bucket names never start with a dot, so the hidden folders beside them (.meta, .uploads, .tmp,
.server) are never buckets. Every write lands in .tmp first and is renamed into place whole.
"""

import base64
import contextlib
import hashlib
import json
import mimetypes
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.runs.files import write_json

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024
CHUNK = 1 << 20


class S3Error(Exception):
    """An S3 error answer: HTTP status, S3 error code and a message naming what is wrong."""

    def __init__(self, status: int, code: str, message: str, **fields):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


@dataclass
class ObjectInfo:
    key: str
    path: Path
    size: int
    mtime: float
    etag: str
    content_type: str = "binary/octet-stream"
    metadata: dict = field(default_factory=dict)


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    # Buckets ---------------------------------------------------------------------------------
    def bucket_dir(self, bucket: str, must_exist: bool = True) -> Path:
        if not BUCKET_NAME.match(bucket) or ".." in bucket:
            raise S3Error(400, "InvalidBucketName", f"bucket name {bucket!r} is not valid: 3-63 "
                          "lowercase letters, digits, dots and hyphens, starting and ending with "
                          "a letter or digit", BucketName=bucket)
        path = self.root / bucket
        if must_exist and not path.is_dir():
            raise S3Error(404, "NoSuchBucket", f"bucket {bucket!r} does not exist "
                          f"(no folder {path})", BucketName=bucket)
        return path

    def buckets(self) -> list[tuple[str, float]]:
        if not self.root.is_dir():
            return []
        return sorted((entry.name, entry.stat().st_mtime) for entry in os.scandir(self.root)
                      if entry.is_dir() and BUCKET_NAME.match(entry.name))

    def create_bucket(self, bucket: str) -> None:
        self.bucket_dir(bucket, must_exist=False).mkdir(parents=True, exist_ok=True)

    def delete_bucket(self, bucket: str) -> None:
        path = self.bucket_dir(bucket)
        if any(item.is_file() for item in path.rglob("*")):
            raise S3Error(409, "BucketNotEmpty", f"bucket {bucket!r} is not empty",
                          BucketName=bucket)
        shutil.rmtree(path)
        shutil.rmtree(self.root / ".meta" / bucket, ignore_errors=True)

    # Objects ---------------------------------------------------------------------------------
    def object_path(self, bucket: str, key: str) -> Path:
        """The file of a key; a key no file can stand for is refused by name."""
        base = self.bucket_dir(bucket)
        parts = key.split("/")
        why = ("is empty" if not key else
               f"is longer than {MAX_KEY_BYTES} bytes" if len(key.encode()) > MAX_KEY_BYTES else
               "ends with '/' (a folder marker)" if key.endswith("/") else
               "has an empty, '.' or '..' path segment" if {"", ".", ".."} & set(parts) else
               "contains a NUL character" if "\0" in key else None)
        if why:
            raise S3Error(400, "InvalidArgument", f"key {key!r} {why}: this local S3 keeps each "
                          "object as a plain file under its bucket's folder", Key=key)
        return base.joinpath(*parts)

    def _sidecar(self, bucket: str, key: str) -> Path:
        return self.root / ".meta" / bucket / f"{key}.json"

    def info(self, bucket: str, key: str) -> ObjectInfo:
        path = self.object_path(bucket, key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            stat = None
        if stat is None or not path.is_file():
            raise S3Error(404, "NoSuchKey", f"no object {key!r} in bucket {bucket!r}",
                          Key=key, BucketName=bucket)
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(self._sidecar(bucket, key).read_text())
            if meta["size"] == stat.st_size and meta["mtime_ns"] == stat.st_mtime_ns:
                return ObjectInfo(key, path, stat.st_size, stat.st_mtime, meta["etag"],
                                  meta["content_type"], meta["metadata"])
        # A file a user wrote or edited: what S3 would say of a plain PUT of it.
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as file:
            while block := file.read(CHUNK):
                digest.update(block)
        guessed = mimetypes.guess_type(key)[0] or "binary/octet-stream"
        return self._record(bucket, key, path, digest.hexdigest(), guessed, {})

    def _record(self, bucket, key, path, etag, content_type, metadata) -> ObjectInfo:
        stat = path.stat()
        sidecar = self._sidecar(bucket, key)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        write_json(sidecar, {"etag": etag, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                             "content_type": content_type, "metadata": metadata})
        return ObjectInfo(key, path, stat.st_size, stat.st_mtime, etag, content_type, metadata)

    def temporary(self) -> Path:
        folder = self.root / ".tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / uuid.uuid4().hex

    def put(self, bucket: str, key: str, stream, content_type: str | None, metadata: dict,
            content_md5: str | None = None) -> ObjectInfo:
        """Stream a body into place whole; the old object stays until the new one is complete."""
        target = self.object_path(bucket, key)
        temporary = self.temporary()
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with temporary.open("wb") as file:
                while block := stream.read(CHUNK):
                    digest.update(block)
                    file.write(block)
            received = base64.b64encode(digest.digest()).decode()
            if content_md5 is not None and content_md5 != received:
                raise S3Error(400, "BadDigest", f"the Content-MD5 of {key!r} does not match "
                              "the body received", Key=key)
            return self.place(bucket, key, target, temporary, digest.hexdigest(),
                              content_type, metadata)
        finally:
            temporary.unlink(missing_ok=True)

    def place(self, bucket, key, target: Path, temporary: Path, etag, content_type,
              metadata) -> ObjectInfo:
        for parent in reversed(target.relative_to(self.root).parents[:-2]):
            if (self.root / parent).is_file():
                raise S3Error(409, "KeyConflict", f"key {key!r} cannot be stored: "
                              f"{parent.relative_to(bucket)} is an object (a plain file), so it "
                              "cannot also be a folder of objects", Key=key)
        if target.is_dir():
            raise S3Error(409, "KeyConflict", f"key {key!r} cannot be stored: other objects "
                          f"live under '{key}/' (a folder)", Key=key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        return self._record(bucket, key, target, etag,
                            content_type or "binary/octet-stream", metadata)

    def copy(self, source_bucket, source_key, bucket, key, replace: dict | None) -> ObjectInfo:
        """CopyObject; `replace` holds new headers (MetadataDirective REPLACE), else they copy."""
        source = self.info(source_bucket, source_key)
        target = self.object_path(bucket, key)
        temporary = self.temporary()
        try:
            shutil.copyfile(source.path, temporary)
            headers = replace or {"content_type": source.content_type,
                                  "metadata": source.metadata}
            return self.place(bucket, key, target, temporary, source.etag,
                              headers["content_type"], headers["metadata"])
        finally:
            temporary.unlink(missing_ok=True)

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object and the folders it leaves empty; a missing key is no error."""
        base = self.bucket_dir(bucket)
        for path, stop in ((self.object_path(bucket, key), base),
                           (self._sidecar(bucket, key), self.root / ".meta" / bucket)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()
            parent = path.parent
            while parent != stop and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under a prefix, in S3's order (UTF-8 bytes)."""
        base = self.bucket_dir(bucket)
        start = base.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else base
        found = []
        for folder, _, files in os.walk(start):
            relative = Path(folder).relative_to(base).as_posix()
            stem = "" if relative == "." else relative + "/"
            found += [stem + name for name in files if (stem + name).startswith(prefix)]
        return sorted(found, key=lambda key: key.encode())
