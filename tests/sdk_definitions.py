"""A pipeline file's definition built in-process with the test venv's SDK 2.x, no S3 needed.

Building a definition makes S3 calls (the default bucket's check, code and source_dir uploads);
here botocore answers them itself (its before-send event), so unit tests can build
examples/penguins_pipeline.py offline. The contract tests build it against the local S3.
"""

import json
import os
import runpy
from contextlib import contextmanager
from urllib.parse import urlparse

BUCKETS = (b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets><Bucket>'
           b"<Name>%s</Name><CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket>"
           b"</Buckets><Owner><ID>local</ID></Owner></ListAllMyBucketsResult>")


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data

    def read(self, *_, **__):
        data, self.data = self.data, b""
        return data


@contextmanager
def s3_answered_here(bucket: str):
    import botocore.session
    from botocore.awsrequest import AWSResponse

    def answer(request, **_):
        listing = request.method == "GET" and urlparse(request.url).path in ("", "/")
        return AWSResponse(request.url, 200, {"ETag": '"local"'},
                           _Body(BUCKETS % bucket.encode() if listing else b""))

    original = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        client = original(self, service_name, *args, **kwargs)
        if service_name == "s3":
            client.meta.events.register("before-send.s3", answer)
        return client

    botocore.session.Session.create_client = create_client
    try:
        yield
    finally:
        botocore.session.Session.create_client = original


def build(path, bucket: str = "penguins", **environment) -> tuple[str, dict]:
    """(name, definition) of a get_pipeline() file."""
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update({"AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                       "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                       "SAGEMAKER_SUPPRESS_V2_WARNING": "1", **environment})
    try:
        with s3_answered_here(bucket):
            pipeline = runpy.run_path(str(path))["get_pipeline"]()
            return pipeline.name, json.loads(pipeline.definition())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
