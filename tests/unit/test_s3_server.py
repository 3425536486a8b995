"""The local S3's own code in-process: the plain-file store, multipart joining, ListObjects
paging (the cases the contract layer runs over HTTP), aws-chunked bodies, and the S3 app through
werkzeug's test client."""

import hashlib
import io

import pytest
from s3_cases import KEYS, LIST_CASES
from werkzeug.test import Client

from pipeline.s3 import listing
from pipeline.s3.chunked import AwsChunked
from pipeline.s3.server import S3App
from pipeline.s3.service import client_env
from pipeline.s3.store import S3Error, Store
from pipeline.s3.transfer import split, training_output_uri
from pipeline.s3.uploads import MIN_PART_BYTES, Uploads

pytestmark = pytest.mark.pipeline


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path)
    store.create_bucket("bucket")
    return store


def put(store, key, data: bytes, **headers):
    return store.put("bucket", key, io.BytesIO(data), headers.get("content_type"),
                     headers.get("metadata", {}))


@pytest.mark.parametrize("name, request_, pages", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_listing_pages_keys_as_s3_does(name, request_, pages):
    prefix = request_.get("Prefix", "")
    keys = sorted((key for key in KEYS if key.startswith(prefix)), key=str.encode)
    after, seen = request_.get("StartAfter", ""), []
    while True:
        found = listing.page(keys, prefix, request_.get("Delimiter", ""), after,
                             request_.get("MaxKeys", 1000))
        seen.append((found.keys, found.common_prefixes))
        if not found.truncated:
            break
        after = listing.untoken(listing.token(found.last))
    assert seen == pages


def test_a_continuation_token_the_server_did_not_give_is_refused():
    with pytest.raises(ValueError, match="ContinuationToken"):
        listing.untoken("not base64!")


def test_an_object_is_the_plain_file_at_bucket_slash_key(store, tmp_path):
    info = put(store, "data/train.csv", b"a,b\n1,2\n", content_type="text/csv",
               metadata={"origin": "test"})
    assert (tmp_path / "bucket" / "data" / "train.csv").read_bytes() == b"a,b\n1,2\n"
    assert info.etag == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    again = store.info("bucket", "data/train.csv")
    assert (again.content_type, again.metadata) == ("text/csv", {"origin": "test"})


def test_a_file_a_user_edits_is_served_with_its_new_bytes_and_etag(store, tmp_path):
    put(store, "notes.txt", b"old", content_type="text/x-custom")
    (tmp_path / "bucket" / "notes.txt").write_bytes(b"edited by hand")
    (tmp_path / "bucket" / "new.json").write_text("{}")
    info = store.info("bucket", "notes.txt")
    assert info.etag == hashlib.md5(b"edited by hand").hexdigest()
    assert info.content_type == "text/plain"  # the custom type went with the old bytes
    assert store.keys("bucket") == ["new.json", "notes.txt"]


@pytest.mark.parametrize("key, why", [
    ("a//b", "empty"), ("../escape", "'..'"), ("folder/", "folder marker"), ("", "is empty"),
    ("x" * 1025, "longer than 1024")])
def test_a_key_no_file_can_stand_for_is_refused_by_name(store, key, why):
    with pytest.raises(S3Error, match=why) as caught:
        put(store, key, b"x")
    assert caught.value.status == 400


def test_a_key_under_an_object_or_over_a_folder_is_a_conflict(store):
    put(store, "a/b", b"x")
    with pytest.raises(S3Error, match="is an object"):
        put(store, "a/b/c", b"y")
    with pytest.raises(S3Error, match="other objects live under 'a/'"):
        put(store, "a", b"z")
    assert store.keys("bucket") == ["a/b"]


def test_deleting_the_last_object_of_a_folder_removes_the_folder(store, tmp_path):
    put(store, "deep/er/key", b"x")
    store.delete("bucket", "deep/er/key")
    store.delete("bucket", "never/was")
    assert list((tmp_path / "bucket").iterdir()) == []


def test_a_bucket_with_objects_is_not_deleted(store):
    put(store, "k", b"x")
    with pytest.raises(S3Error, match="not empty"):
        store.delete_bucket("bucket")


def test_multipart_parts_join_in_order_with_the_etag_s3_gives(store, tmp_path):
    uploads = Uploads(store)
    upload = uploads.create("bucket", "big.bin", None, {})
    first, second = b"1" * MIN_PART_BYTES, b"2" * 10
    etags = [uploads.put_part("bucket", "big.bin", upload, number, io.BytesIO(data))
             for number, data in ((1, first), (2, second))]
    info = uploads.complete("bucket", "big.bin", upload, list(zip((1, 2), etags, strict=True)))
    expected = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest())
    assert info.etag == f"{expected.hexdigest()}-2"
    assert (tmp_path / "bucket" / "big.bin").read_bytes() == first + second
    assert list((tmp_path / ".uploads").iterdir()) == []


@pytest.mark.parametrize("sizes, listed, code", [
    ((10, 10), [1, 2], "EntityTooSmall"), ((10,), [2], "InvalidPart"),
    ((MIN_PART_BYTES, 10), [2, 1], "InvalidPartOrder")])
def test_multipart_rules_are_s3s(store, sizes, listed, code):
    uploads = Uploads(store)
    upload = uploads.create("bucket", "k", None, {})
    etags = {number: uploads.put_part("bucket", "k", upload, number, io.BytesIO(b"x" * size))
             for number, size in enumerate(sizes, 1)}
    with pytest.raises(S3Error) as caught:
        uploads.complete("bucket", "k", upload, [(n, etags.get(n, "0" * 32)) for n in listed])
    assert caught.value.code == code
    assert store.keys("bucket") == []


def test_aws_chunked_bodies_are_read_as_their_payload():
    framed = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n" \
             b"0;chunk-signature=ef\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"
    assert AwsChunked(io.BytesIO(framed)).read() == b"hello world"
    pieces, reader = [], AwsChunked(io.BytesIO(framed))
    while piece := reader.read(4):
        pieces.append(piece)
    assert pieces == [b"hell", b"o wo", b"rld"]


def test_the_app_answers_s3_xml_and_ranges(tmp_path):
    client = Client(S3App(tmp_path))
    assert client.put("/bucket").status_code == 200
    assert client.put("/bucket/k.txt", data=b"0123456789").headers["ETag"] == \
        f'"{hashlib.md5(b"0123456789").hexdigest()}"'
    ranged = client.get("/bucket/k.txt", headers={"Range": "bytes=2-4"})
    assert (ranged.status_code, ranged.data) == (206, b"234")
    assert client.get("/bucket/k.txt", headers={"Range": "bytes=50-"}).status_code == 416
    missing = client.get("/bucket/nope")
    assert missing.status_code == 404 and b"<Code>NoSuchKey</Code>" in missing.data
    assert client.head("/bucket/nope").data == b""
    assert b"<Key>k.txt</Key>" in client.get("/bucket?list-type=2").data
    assert client.get("/bucket?tagging").status_code == 501


def test_the_client_environment_points_s3_alone_at_the_server():
    env = client_env(9123)
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9123"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(env)
    assert "AWS_ENDPOINT_URL" not in env  # SageMaker's own API keeps its endpoint


def test_a_training_jobs_model_goes_where_sagemaker_puts_it():
    assert training_output_uri("s3://b/out/", "job-1") == "s3://b/out/job-1/output/model.tar.gz"
    assert split("s3://b/a/b.csv") == ("b", "a/b.csv")
    with pytest.raises(ValueError, match="not an s3://"):
        split("file:///tmp/x")
