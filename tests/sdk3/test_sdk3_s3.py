"""The SageMaker SDK 3.x on the local S3: its Session and S3Uploader/S3Downloader reach the
server through AWS_ENDPOINT_URL_S3 (what `make env` exports), as they would reach AWS."""

import boto3
import pytest

from pipeline.s3 import service

from harness import free_port

pytestmark = pytest.mark.sdk


@pytest.fixture
def session(tmp_path, monkeypatch):
    from sagemaker.core.helper.session_helper import Session

    root = tmp_path / "s3"
    state = service.start(root, free_port())
    for name, value in service.client_env(state["port"]).items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="bucket")
    yield Session(boto_session=boto3.Session()), root
    service.stop(root)


def test_sdk3_uploads_a_folder_that_lands_as_plain_files(session, tmp_path):
    sagemaker_session, root = session
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "train.csv").write_text("a,b\n")
    (data / "nested" / "more.csv").write_text("c,d\n")
    uri = sagemaker_session.upload_data(str(data), bucket="bucket", key_prefix="sdk3/data")
    assert uri == "s3://bucket/sdk3/data"
    assert (root / "bucket" / "sdk3" / "data" / "nested" / "more.csv").read_text() == "c,d\n"


def test_sdk3_s3_uploader_and_downloader_round_trip(session, tmp_path):
    from sagemaker.core.s3 import S3Downloader, S3Uploader

    sagemaker_session, root = session
    S3Uploader.upload_string_as_file_body("hello", "s3://bucket/sdk3/hello.txt",
                                          sagemaker_session=sagemaker_session)
    (root / "bucket" / "sdk3" / "by-hand.txt").write_text("edited")
    assert S3Downloader.read_file("s3://bucket/sdk3/by-hand.txt",
                                  sagemaker_session=sagemaker_session) == "edited"
    assert sorted(S3Downloader.list("s3://bucket/sdk3", sagemaker_session=sagemaker_session)) \
        == ["s3://bucket/sdk3/by-hand.txt", "s3://bucket/sdk3/hello.txt"]
    back = tmp_path / "back"
    S3Downloader.download("s3://bucket/sdk3", str(back), sagemaker_session=sagemaker_session)
    assert (back / "hello.txt").read_text() == "hello"
