"""Multipart uploads: each in .uploads/<id>/ (its parts as numbered files) until it completes
into one plain file, or is aborted. S3's rules hold: parts are 1-10000, listed in order, each but
the last at least 5 MiB, and the ETag is the MD5 of the parts' MD5s with "-<count>"."""

import hashlib
import json
import shutil
import time
import uuid

from pipeline.runs.files import write_json
from pipeline.s3.store import CHUNK, S3Error, Store

MIN_PART_BYTES = 5 << 20
MAX_PARTS = 10000


class Uploads:
    def __init__(self, store: Store):
        self.store = store
        self.root = store.root / ".uploads"

    def _folder(self, upload_id: str, bucket: str, key: str):
        folder = self.root / upload_id
        try:
            upload = json.loads((folder / "upload.json").read_text())
        except (OSError, ValueError):
            upload = None
        if not upload_id.isalnum() or upload is None or \
                (upload["bucket"], upload["key"]) != (bucket, key):
            raise S3Error(404, "NoSuchUpload", f"no multipart upload {upload_id!r} of {key!r} "
                          f"in bucket {bucket!r} (completed, aborted or never created)",
                          UploadId=upload_id)
        return folder, upload

    def create(self, bucket: str, key: str, content_type: str | None, metadata: dict) -> str:
        self.store.object_path(bucket, key)
        upload_id = uuid.uuid4().hex
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        write_json(folder / "upload.json", {
            "bucket": bucket, "key": key, "content_type": content_type,
            "metadata": metadata, "initiated": time.time()})
        return upload_id

    def put_part(self, bucket: str, key: str, upload_id: str, number: int, stream) -> str:
        folder, _ = self._folder(upload_id, bucket, key)
        if not 1 <= number <= MAX_PARTS:
            raise S3Error(400, "InvalidArgument", f"partNumber {number} is not between 1 and "
                          f"{MAX_PARTS}", UploadId=upload_id)
        temporary = self.store.temporary()
        digest = hashlib.md5(usedforsecurity=False)
        with temporary.open("wb") as file:
            while block := stream.read(CHUNK):
                digest.update(block)
                file.write(block)
        temporary.replace(folder / f"{number:05d}")
        (folder / f"{number:05d}.md5").write_text(digest.hexdigest())
        return digest.hexdigest()

    def complete(self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]):
        """Join the listed parts, in order, into the object's file."""
        folder, upload = self._folder(upload_id, bucket, key)
        if not parts:
            raise S3Error(400, "MalformedXML", "CompleteMultipartUpload lists no parts",
                          UploadId=upload_id)
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error(400, "InvalidPartOrder", "the parts are not listed in ascending order "
                          f"of PartNumber: {numbers}", UploadId=upload_id)
        digests = []
        for index, (number, etag) in enumerate(parts):
            part = folder / f"{number:05d}"
            stored = (folder / f"{number:05d}.md5")
            if not stored.exists() or stored.read_text() != etag.strip('"'):
                raise S3Error(400, "InvalidPart", f"part {number} was not uploaded, or its ETag "
                              f"is not {etag}", UploadId=upload_id, PartNumber=number)
            if index < len(parts) - 1 and part.stat().st_size < MIN_PART_BYTES:
                raise S3Error(400, "EntityTooSmall", f"part {number} is "
                              f"{part.stat().st_size} bytes; every part but the last must be at "
                              f"least {MIN_PART_BYTES} bytes", UploadId=upload_id)
            digests.append(bytes.fromhex(etag.strip('"')))
        target = self.store.object_path(bucket, key)
        temporary = self.store.temporary()
        try:
            with temporary.open("wb") as joined:
                for number in numbers:
                    with (folder / f"{number:05d}").open("rb") as part:
                        shutil.copyfileobj(part, joined, CHUNK)
            etag = f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}" \
                   f"-{len(parts)}"
            info = self.store.place(bucket, key, target, temporary, etag,
                                    upload["content_type"], upload["metadata"])
        finally:
            temporary.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        return info

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        folder, _ = self._folder(upload_id, bucket, key)
        shutil.rmtree(folder, ignore_errors=True)
