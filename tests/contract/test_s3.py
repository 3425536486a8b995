"""The local S3 as clients use it: a real server process on a free port, boto3 and the SageMaker
SDK 2.x over HTTP; objects are files a user can read and edit, and survive a restart."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3_cases import KEYS, LIST_CASES

from pipeline.s3 import service, transfer

from harness import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "s3"
    state = service.start(root, free_port())
    yield root, state["port"]
    service.stop(root)


@pytest.fixture
def s3(server):
    root, port = server
    client = boto3.client("s3", endpoint_url=service.endpoint(port), region_name="us-east-1",
                          aws_access_key_id="any", aws_secret_access_key="thing")
    client.create_bucket(Bucket="bucket")
    return client


def body(s3, key, **extra) -> bytes:
    return s3.get_object(Bucket="bucket", Key=key, **extra)["Body"].read()


def test_an_object_put_with_boto3_is_a_plain_file_and_back(server, s3):
    root, _ = server
    s3.put_object(Bucket="bucket", Key="data/train.csv", Body=b"a,b\n1,2\n",
                  ContentType="text/csv", Metadata={"origin": "test"})
    assert (root / "bucket" / "data" / "train.csv").read_bytes() == b"a,b\n1,2\n"
    head = s3.head_object(Bucket="bucket", Key="data/train.csv")
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == \
        (8, "text/csv", {"origin": "test"})
    digest = hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert head["ETag"] == f'"{digest}"'


def test_a_file_edited_by_hand_is_what_s3_serves(server, s3):
    root, _ = server
    s3.put_object(Bucket="bucket", Key="notes.txt", Body=b"before")
    (root / "bucket" / "notes.txt").write_bytes(b"after, by hand")
    (root / "bucket" / "dropped").mkdir()
    (root / "bucket" / "dropped" / "in.json").write_text("{}")
    assert body(s3, "notes.txt") == b"after, by hand"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="bucket")["Contents"]]
    assert keys == ["dropped/in.json", "notes.txt"]


def test_any_credentials_sign_a_request(server):
    _, port = server
    stranger = boto3.client("s3", endpoint_url=service.endpoint(port), region_name="eu-west-1",
                            aws_access_key_id="AKIANOBODY", aws_secret_access_key="wrong")
    stranger.create_bucket(Bucket="theirs", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    assert [b["Name"] for b in stranger.list_buckets()["Buckets"]] == ["theirs"]


def test_a_multipart_upload_arrives_whole_with_a_multipart_etag(server, s3, tmp_path):
    root, _ = server
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * 1024 * 1024 + 5))
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_file(str(source), "bucket", "big/one.bin", Config=config)
    assert s3.head_object(Bucket="bucket", Key="big/one.bin")["ETag"].endswith('-3"')
    assert (root / "bucket" / "big" / "one.bin").read_bytes() == source.read_bytes()
    s3.download_file("bucket", "big/one.bin", str(tmp_path / "back.bin"), Config=config)
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()


def test_an_aborted_multipart_upload_leaves_nothing(server, s3):
    root, _ = server
    upload = s3.create_multipart_upload(Bucket="bucket", Key="gone")["UploadId"]
    s3.upload_part(Bucket="bucket", Key="gone", UploadId=upload, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="bucket", Key="gone", UploadId=upload)
    with pytest.raises(ClientError, match="NoSuchUpload"):
        s3.complete_multipart_upload(Bucket="bucket", Key="gone", UploadId=upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "x"}]})
    assert s3.list_objects_v2(Bucket="bucket")["KeyCount"] == 0
    assert list((root / ".uploads").iterdir()) == []


@pytest.mark.parametrize("name, request_, pages", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_list_objects_v2_pages_as_s3_does(s3, name, request_, pages):
    for key in KEYS:
        s3.put_object(Bucket="bucket", Key=key, Body=key.encode())
    seen, token = [], {}
    while True:
        page = s3.list_objects_v2(Bucket="bucket", **request_, **token)
        seen.append(([item["Key"] for item in page.get("Contents", [])],
                     [common["Prefix"] for common in page.get("CommonPrefixes", [])]))
        assert page["KeyCount"] == len(seen[-1][0]) + len(seen[-1][1])
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == pages


def test_ranged_gets_answer_the_bytes_asked_for(s3):
    s3.put_object(Bucket="bucket", Key="digits", Body=b"0123456789")
    assert body(s3, "digits", Range="bytes=2-4") == b"234"
    assert body(s3, "digits", Range="bytes=7-") == b"789"
    assert body(s3, "digits", Range="bytes=-3") == b"789"
    answer = s3.get_object(Bucket="bucket", Key="digits", Range="bytes=2-4")
    assert answer["ContentRange"] == "bytes 2-4/10"
    with pytest.raises(ClientError, match="InvalidRange"):
        s3.get_object(Bucket="bucket", Key="digits", Range="bytes=20-30")


def test_missing_things_are_s3s_errors(s3):
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="bucket", Key="nope")
    with pytest.raises(ClientError, match="404"):
        s3.head_object(Bucket="bucket", Key="nope")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        s3.list_objects_v2(Bucket="nobucket")
    with pytest.raises(ClientError, match="folder marker"):
        s3.put_object(Bucket="bucket", Key="folder/", Body=b"")


def test_objects_survive_a_restart(server, s3):
    root, port = server
    s3.put_object(Bucket="bucket", Key="kept.txt", Body=b"still here", Metadata={"a": "1"})
    service.stop(root)
    assert service.status(root) is None
    service.start(root, port)
    assert body(s3, "kept.txt") == b"still here"
    assert s3.head_object(Bucket="bucket", Key="kept.txt")["Metadata"] == {"a": "1"}


def test_copy_and_batch_delete(s3):
    s3.put_object(Bucket="bucket", Key="a", Body=b"A", Metadata={"m": "1"})
    s3.copy_object(Bucket="bucket", Key="b", CopySource={"Bucket": "bucket", "Key": "a"})
    assert (body(s3, "b"), s3.head_object(Bucket="bucket", Key="b")["Metadata"]) == \
        (b"A", {"m": "1"})
    deleted = s3.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert sorted(item["Key"] for item in deleted["Deleted"]) == ["a", "b"]
    assert s3.list_objects_v2(Bucket="bucket")["KeyCount"] == 0


def test_a_jobs_data_moves_where_sagemaker_puts_it(s3, tmp_path):
    for key in ("input/train/a.csv", "input/train/sub/b.csv", "input/test.csv"):
        s3.put_object(Bucket="bucket", Key=key, Body=key.encode())
    channel = tmp_path / "channel"
    transfer.download_prefix(s3, "s3://bucket/input/train", channel)
    assert sorted(p.relative_to(channel).as_posix() for p in channel.rglob("*.csv")) == \
        ["a.csv", "sub/b.csv"]
    single = tmp_path / "single"
    transfer.download_prefix(s3, "s3://bucket/input/test.csv", single)
    assert (single / "test.csv").read_bytes() == b"input/test.csv"
    outputs = tmp_path / "outputs"
    (outputs / "train").mkdir(parents=True)
    (outputs / "train" / "train.csv").write_text("x")
    assert transfer.upload_folder(s3, outputs, "s3://bucket/job/output/") == \
        ["s3://bucket/job/output/train/train.csv"]
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"tar")
    uri = transfer.training_output_uri("s3://bucket/models", "job-1")
    transfer.upload_file(s3, model, uri)
    assert body(s3, "models/job-1/output/model.tar.gz") == b"tar"


@pytest.mark.sdk
def test_the_sagemaker_sdk_2_reads_and_writes_through_the_endpoint_variable(
        server, s3, tmp_path, monkeypatch):
    from sagemaker.s3 import S3Downloader, S3Uploader
    from sagemaker.session import Session

    _, port = server
    for name, value in service.client_env(port).items():
        monkeypatch.setenv(name, value)
    session = Session(boto_session=boto3.Session())
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n")
    uri = session.upload_data(str(data), bucket="bucket", key_prefix="sdk2/data")
    assert uri == "s3://bucket/sdk2/data"
    S3Uploader.upload_string_as_file_body("hello", "s3://bucket/sdk2/hello.txt",
                                          sagemaker_session=session)
    assert S3Downloader.read_file("s3://bucket/sdk2/hello.txt", sagemaker_session=session) == \
        "hello"
    assert sorted(S3Downloader.list("s3://bucket/sdk2", sagemaker_session=session)) == \
        ["s3://bucket/sdk2/data/train.csv", "s3://bucket/sdk2/hello.txt"]
    back = tmp_path / "back"
    S3Downloader.download("s3://bucket/sdk2/data", str(back), sagemaker_session=session)
    assert (back / "train.csv").read_text() == "a,b\n"


def test_make_s3_starts_it_make_env_points_boto3_at_it_and_make_s3_stop_stops_it(tmp_path):
    port = free_port()
    settings = [f"LOCAL_DIR={tmp_path}", f"S3_PORT={port}"]
    # The suite's venv is installed before any test runs; a test never reinstalls it.
    make = ["make", "--no-print-directory", "-s", "-o", ".venv/.installed"]
    try:
        started = subprocess.run([*make, "s3", *settings], cwd=REPO, text=True,
                                 capture_output=True, timeout=60)
        assert started.returncode == 0, started.stderr
        exports = subprocess.run([*make, "env", *settings], cwd=REPO, text=True,
                                 capture_output=True, check=True).stdout
        create = "import boto3; boto3.client('s3').create_bucket(Bucket='fromenv')"
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("AWS_")}
        subprocess.run(["bash", "-c", f'{exports}\n"{sys.executable}" -c "{create}"'],
                       env=environment, check=True, timeout=60)
        assert (tmp_path / "s3" / "fromenv").is_dir()
    finally:
        stopped = subprocess.run([*make, "s3-stop", *settings], cwd=REPO, text=True,
                                 capture_output=True, timeout=60)
    assert stopped.stdout.strip() == "local S3 stopped"
    assert service.status(tmp_path / "s3") is None
