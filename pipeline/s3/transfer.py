"""A job's S3 data where SageMaker puts it: an S3Prefix down into a folder (a channel, a
processing input) and a folder up under a prefix (processing outputs, a training job's
model.tar.gz at S3OutputPath/<job>/output/). Works against the local S3 or AWS alike: the
client is boto3's, pointed by AWS_ENDPOINT_URL_S3 or an endpoint given."""

from pathlib import Path
from urllib.parse import urlparse

import boto3


def client(endpoint: str | None = None):
    """An S3 client; with no endpoint, boto3's own resolution (AWS_ENDPOINT_URL_S3, else AWS)."""
    return boto3.client("s3", endpoint_url=endpoint) if endpoint else boto3.client("s3")


def split(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI; anything else is refused by name."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def training_output_uri(s3_output_path: str, job_name: str, name: str = "model.tar.gz") -> str:
    """Where SageMaker puts a training job's model.tar.gz (or output.tar.gz)."""
    return f"{s3_output_path.rstrip('/')}/{job_name}/output/{name}"


def download_prefix(s3, uri: str, folder: Path) -> list[Path]:
    """Every object whose key starts with the URI's prefix (S3DataType S3Prefix), into `folder`
    at its path after the prefix; an object whose key is the prefix itself lands by its name."""
    bucket, prefix = split(uri)
    folder = Path(folder).resolve()
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a console's folder marker holds no data
            relative = Path(key).name if key == prefix else key[len(prefix):].lstrip("/")
            target = (folder / relative).resolve()
            if not target.is_relative_to(folder):
                raise ValueError(f"s3://{bucket}/{key} would be written outside {folder}")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
            written.append(target)
    return written


def upload_folder(s3, folder: Path, uri: str) -> list[str]:
    """Every file under `folder` to `uri`/<its path in the folder> (a processing output)."""
    bucket, prefix = split(uri)
    base = prefix.rstrip("/")
    uploaded = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            key = f"{base}/{path.relative_to(folder).as_posix()}" if base \
                else path.relative_to(folder).as_posix()
            s3.upload_file(str(path), bucket, key)
            uploaded.append(f"s3://{bucket}/{key}")
    return uploaded


def upload_file(s3, path: Path, uri: str) -> str:
    """One file to exactly `uri` (a model.tar.gz to training_output_uri)."""
    bucket, key = split(uri)
    s3.upload_file(str(path), bucket, key)
    return uri
