"""The S3 REST API over the plain-file store, on werkzeug (its server, routing of requests,
Range and conditional GETs). Path-style and <bucket>.localhost addressing; SigV4 (or any)
signatures are accepted unchecked, as a local S3 has no accounts.

    python -m pipeline.s3.server --root local/s3 --port 9000 [--host 127.0.0.1 ...]
"""

import argparse
import datetime
import logging
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote, unquote

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.serving import make_server
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from pipeline.s3 import listing
from pipeline.s3.chunked import body_stream
from pipeline.s3.store import S3Error, Store
from pipeline.s3.uploads import Uploads

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
UNSUPPORTED = ("acl", "policy", "tagging", "versioning", "versions", "lifecycle", "cors",
               "encryption", "website", "notification", "replication", "object-lock",
               "retention", "legal-hold", "select", "restore", "attributes")


def xml(tag: str, children: list | None = None, status: int = 200,
        namespace: bool = True) -> Response:
    """An S3 XML answer; children are (name, text) pairs or (name, [children]) nested."""
    def fill(parent, items):
        for name, value in items:
            child = ElementTree.SubElement(parent, name)
            if isinstance(value, list):
                fill(child, value)
            else:
                child.text = str(value)
    # botocore reads an Error's fields only without the namespace, as S3 sends them.
    root = ElementTree.Element(tag, xmlns=NAMESPACE) if namespace else ElementTree.Element(tag)
    fill(root, children or [])
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)
    return Response(body, status, content_type="application/xml")


def isodate(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC) \
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def amz_headers(request: Request) -> tuple[str | None, dict]:
    metadata = {name[11:].lower(): value for name, value in request.headers.items()
                if name.lower().startswith("x-amz-meta-")}
    return request.headers.get("Content-Type"), metadata


class S3App:
    def __init__(self, root: Path):
        self.store = Store(root)
        self.uploads = Uploads(self.store)

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except S3Error as error:
            response = self.error(request, error)
        except RequestedRangeNotSatisfiable:
            response = self.error(request, S3Error(416, "InvalidRange", "the Range asked for "
                                                   "is not within the object"))
        response.headers["x-amz-request-id"] = uuid.uuid4().hex[:16].upper()
        return response(environ, start_response)

    def error(self, request: Request, error: S3Error) -> Response:
        fields = [(name, value) for name, value in error.fields.items()]
        answer = xml("Error", [("Code", error.code), ("Message", error.message), *fields,
                               ("Resource", request.path)], error.status, namespace=False)
        if request.method == "HEAD":
            answer.set_data(b"")
        return answer

    def dispatch(self, request: Request) -> Response:
        host = request.host.split(":")[0]
        path = request.path.lstrip("/")
        if host.endswith(".localhost"):
            path = f"{host[:-len('.localhost')]}/{path}"
        bucket, _, key = path.partition("/")
        args, method = request.args, request.method
        unsupported = [name for name in UNSUPPORTED if name in args]
        if unsupported:
            raise S3Error(501, "NotImplemented", f"this local S3 does not implement "
                          f"?{unsupported[0]} ({method} {request.path})")
        if not bucket:
            return self.list_buckets()
        if not key:
            return self.bucket_operation(request, bucket)
        if method == "POST" and "uploads" in args:
            upload_id = self.uploads.create(bucket, key, *amz_headers(request))
            return xml("InitiateMultipartUploadResult",
                       [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)])
        if method == "POST" and "uploadId" in args:
            return self.complete(request, bucket, key)
        if method == "PUT" and "uploadId" in args:
            etag = self.uploads.put_part(bucket, key, args["uploadId"],
                                         args.get("partNumber", 0, int), body_stream(request))
            return Response(status=200, headers={"ETag": f'"{etag}"'})
        if method == "DELETE" and "uploadId" in args:
            self.uploads.abort(bucket, key, args["uploadId"])
            return Response(status=204)
        if method == "PUT" and "x-amz-copy-source" in request.headers:
            return self.copy(request, bucket, key)
        if method == "PUT":
            info = self.store.put(bucket, key, body_stream(request), *amz_headers(request),
                                  request.headers.get("Content-MD5"))
            return Response(status=200, headers={"ETag": f'"{info.etag}"'})
        if method in ("GET", "HEAD"):
            return self.get(request, bucket, key)
        if method == "DELETE":
            self.store.delete(bucket, key)
            return Response(status=204)
        raise S3Error(405, "MethodNotAllowed", f"{method} is not allowed on an object")

    def list_buckets(self) -> Response:
        return xml("ListAllMyBucketsResult", [
            ("Owner", [("ID", "local"), ("DisplayName", "local")]),
            ("Buckets", [("Bucket", [("Name", name), ("CreationDate", isodate(when))])
                         for name, when in self.store.buckets()])])

    def bucket_operation(self, request: Request, bucket: str) -> Response:
        method, args = request.method, request.args
        if method == "PUT":
            self.store.create_bucket(bucket)
            return Response(status=200, headers={"Location": f"/{bucket}"})
        if method == "HEAD":
            self.store.bucket_dir(bucket)
            return Response(status=200, headers={"x-amz-bucket-region": "us-east-1"})
        if method == "DELETE":
            self.store.delete_bucket(bucket)
            return Response(status=204)
        if method == "POST" and "delete" in args:
            return self.delete_objects(request, bucket)
        if method == "GET" and "location" in args:
            self.store.bucket_dir(bucket)
            return xml("LocationConstraint")
        if method == "GET" and "uploads" not in args:
            return self.list_objects(args, bucket)
        raise S3Error(501, "NotImplemented", f"this local S3 does not implement {method} "
                      f"{request.full_path} on a bucket")

    def list_objects(self, args, bucket: str) -> Response:
        v2 = args.get("list-type") == "2"
        prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
        max_keys = args.get("max-keys", 1000, int)
        encode = (lambda text: quote(text, safe="/")) if args.get("encoding-type") == "url" \
            else (lambda text: text)
        try:
            after = listing.untoken(args["continuation-token"]) if "continuation-token" in args \
                else args.get("start-after" if v2 else "marker", "")
        except ValueError as error:
            raise S3Error(400, "InvalidArgument", str(error)) from error
        keys = self.store.keys(bucket, prefix)
        found = listing.page(keys, prefix, delimiter, after, min(max(max_keys, 0), 1000))
        contents = []
        for key in found.keys:
            info = self.store.info(bucket, key)
            contents.append(("Contents", [
                ("Key", encode(key)), ("LastModified", isodate(info.mtime)),
                ("ETag", f'"{info.etag}"'), ("Size", info.size),
                ("StorageClass", "STANDARD")]))
        head = [("Name", bucket), ("Prefix", encode(prefix)), ("MaxKeys", max_keys)]
        if delimiter:
            head.append(("Delimiter", encode(delimiter)))
        if args.get("encoding-type") == "url":
            head.append(("EncodingType", "url"))
        head.append(("IsTruncated", str(found.truncated).lower()))
        if v2:
            head.append(("KeyCount", len(found.keys) + len(found.common_prefixes)))
            if "continuation-token" in args:
                head.append(("ContinuationToken", args["continuation-token"]))
            if found.truncated:
                head.append(("NextContinuationToken", listing.token(found.last)))
        else:
            head.append(("Marker", encode(args.get("marker", ""))))
            if found.truncated and delimiter:
                head.append(("NextMarker", encode(found.last)))
        prefixes = [("CommonPrefixes", [("Prefix", encode(common))])
                    for common in found.common_prefixes]
        return xml("ListBucketResult", head + contents + prefixes)

    def get(self, request: Request, bucket: str, key: str) -> Response:
        info = self.store.info(bucket, key)
        wanted = request.headers.get("If-Match")
        if wanted and wanted.strip('"') not in (info.etag, "*"):
            raise S3Error(412, "PreconditionFailed", f"If-Match {wanted} does not match the "
                          f"ETag of {key!r}, \"{info.etag}\"", Key=key)
        response = send_file(info.path, request.environ, mimetype=info.content_type,
                             etag=info.etag, last_modified=info.mtime, max_age=None)
        if response.status_code == 416:
            raise RequestedRangeNotSatisfiable()
        # S3's headers, not a file download's: the stored type as given, no disposition.
        for name in ("Content-Disposition", "Cache-Control", "Date"):
            response.headers.pop(name, None)
        response.headers["Content-Type"] = info.content_type
        response.headers["Last-Modified"] = formatdate(info.mtime, usegmt=True)
        for name, value in info.metadata.items():
            response.headers[f"x-amz-meta-{name}"] = value
        return response

    def copy(self, request: Request, bucket: str, key: str) -> Response:
        source = unquote(request.headers["x-amz-copy-source"].split("?")[0]).lstrip("/")
        source_bucket, _, source_key = source.partition("/")
        replace = None
        if request.headers.get("x-amz-metadata-directive") == "REPLACE":
            content_type, metadata = amz_headers(request)
            replace = {"content_type": content_type, "metadata": metadata}
        info = self.store.copy(source_bucket, source_key, bucket, key, replace)
        return xml("CopyObjectResult", [("LastModified", isodate(info.mtime)),
                                        ("ETag", f'"{info.etag}"')])

    def complete(self, request: Request, bucket: str, key: str) -> Response:
        parts = []
        try:
            for part in ElementTree.fromstring(request.get_data()).iter():
                if part.tag.rsplit("}", 1)[-1] == "Part":
                    fields = {child.tag.rsplit("}", 1)[-1]: child.text for child in part}
                    parts.append((int(fields["PartNumber"]), fields["ETag"]))
        except (ElementTree.ParseError, KeyError, ValueError, TypeError) as error:
            raise S3Error(400, "MalformedXML", "CompleteMultipartUpload is not a list of "
                          f"Part elements with PartNumber and ETag: {error}") from error
        info = self.uploads.complete(bucket, key, request.args["uploadId"], parts)
        return xml("CompleteMultipartUploadResult", [
            ("Location", f"{request.host_url}{bucket}/{quote(key)}"), ("Bucket", bucket),
            ("Key", key), ("ETag", f'"{info.etag}"')])

    def delete_objects(self, request: Request, bucket: str) -> Response:
        self.store.bucket_dir(bucket)
        try:
            document = ElementTree.fromstring(request.get_data())
        except ElementTree.ParseError as error:
            raise S3Error(400, "MalformedXML", f"Delete is not XML: {error}") from error
        done, quiet = [], False
        for element in document.iter():
            name = element.tag.rsplit("}", 1)[-1]
            if name == "Quiet":
                quiet = (element.text or "").strip() == "true"
            elif name == "Key":
                try:
                    self.store.delete(bucket, element.text or "")
                    done.append(("Deleted", [("Key", element.text)]))
                except S3Error as error:
                    done.append(("Error", [("Key", element.text), ("Code", error.code),
                                           ("Message", error.message)]))
        return xml("DeleteResult", [item for item in done if not quiet or item[0] == "Error"])


def serve(root: Path, hosts: list[str], port: int) -> None:
    """Serve on every address (one thread each) until the process is stopped."""
    app = S3App(root)
    servers = [make_server(host, port, app, threaded=True) for host in hosts]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the folder of the buckets")
    parser.add_argument("--host", action="append", help="an address to listen on "
                        "(repeatable; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    options = parser.parse_args(argv)
    logging.basicConfig()
    logging.getLogger("werkzeug").setLevel(logging.INFO if options.verbose else logging.WARNING)
    options.root.mkdir(parents=True, exist_ok=True)
    serve(options.root, options.host or ["127.0.0.1"], options.port)


if __name__ == "__main__":
    main()
