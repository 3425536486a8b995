"""One object read whole by its URI: what a pipeline reads between its steps (property
files, JsonGet's S3Uri) and what a CreateModelPackage request names (the model archive, its
statistics). `s3://` through boto3, which goes to the local S3 when AWS_ENDPOINT_URL_S3 is set
(`make env`), `file://` and plain paths from disk. A file that cannot be read is an OSError,
whatever the scheme."""

from pathlib import Path
from urllib.parse import unquote, urlparse


def read(uri: str) -> bytes:
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        import boto3  # host venv only; a file:// pipeline never needs it
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = boto3.client("s3").get_object(Bucket=parsed.netloc,
                                                 Key=parsed.path.lstrip("/"))
            return body["Body"].read()
        except (BotoCoreError, ClientError) as error:  # one kind of error for every scheme
            raise OSError(f"{uri}: {error}") from None
    if parsed.scheme in ("file", ""):
        return Path(unquote(parsed.path) if parsed.scheme else uri).read_bytes()
    raise OSError(f"{uri}: only s3://, file:// and paths can be read")


def download(uri: str, target: Path) -> Path:
    """One object (s3://, file:// or a path) copied to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read(uri))
    return target
