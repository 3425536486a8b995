"""What the images are: entrypoints, layers, and what they must not carry."""

import base64
import binascii
import contextlib
import io
import re
import tarfile
import tempfile
from pathlib import Path

import docker
import pytest

from harness import PROCESSING_IMAGE, SERVING_IMAGE, TRAINING_IMAGE, run_job

REPO = Path(__file__).resolve().parents[2]
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def certificates(text: bytes) -> set[bytes]:
    """The DER bytes of every PEM certificate in text, whatever its line wrapping."""
    found = set()
    for body in PEM.findall(text):
        # The markers without a certificate between them (e.g. in ssl's source) are skipped.
        with contextlib.suppress(binascii.Error):
            found.add(base64.b64decode(b"".join(body.split()), validate=True))
    return found


def file_in_image(client, image: str, path: str) -> bytes:
    """A file of the image, copied out of a created (never started) container: no log stream
    that can come back short."""
    container = client.containers.create(image, ["true"], entrypoint=[], network_disabled=True,
                                         labels={"penguins.test": "1"})
    try:
        stream, stat = container.get_archive(path)
        with tempfile.TemporaryFile() as archive:
            for chunk in stream:
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                member = tar.next()
                assert member is not None and member.isfile(), (image, path, stat)
                content = tar.extractfile(member).read()
    finally:
        container.remove(force=True)
    assert len(content) == stat["size"], (image, path, len(content), stat)
    return content


def build_bundle() -> bytes:
    """The CA bundle the build was given (make copies it to .build/ca-bundle.pem)."""
    path = REPO / ".build" / "ca-bundle.pem"
    return path.read_bytes() if path.is_file() else b""


class Stream(io.RawIOBase):
    """The chunks docker save yields as a file tarfile reads in stream mode: a 2 GB image is
    read as the engine writes it, never stored and read again."""

    def __init__(self, chunks):
        self.chunks, self.left = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.left:
            self.left = next(self.chunks, None)
            if self.left is None:
                self.left = b""
                return 0
        size = min(len(buffer), len(self.left))
        buffer[:size], self.left = self.left[:size], self.left[size:]
        return size


def image_files(image: str):
    """Yield (path, bytes) of every regular file in every layer of the image."""
    # The engine writes a 2 GB image's tar before its first byte: beside other tests' load that
    # took longer than the client's default 60 s read timeout.
    patient = docker.from_env(timeout=600)
    with contextlib.closing(patient):
        saved = io.BufferedReader(Stream(patient.images.get(image).save(named=True)), 1 << 20)
        with tarfile.open(fileobj=saved, mode="r|") as outer:
            for member in outer:
                if not member.name.endswith(".tar"):
                    continue
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as layer:
                    for entry in layer:
                        if entry.isfile():
                            yield entry.name, layer.extractfile(entry).read()


@pytest.mark.parametrize("image", sorted({TRAINING_IMAGE, SERVING_IMAGE}))
def test_build_ca_bundle_is_in_no_layer(docker_client, image):
    bundle = build_bundle()
    if not bundle.strip():
        pytest.fail("make gives every build a CA bundle file; .build/ca-bundle.pem is missing")
    # Certificates the image has anyway (Debian's ca-certificates) are not a leak.
    system = certificates(file_in_image(docker_client, image, SYSTEM_BUNDLE))
    assert len(system) > 100, f"{image}: {SYSTEM_BUNDLE} holds {len(system)} certificates"
    extra = certificates(bundle) - system
    seen = 0
    for name, content in image_files(image):
        seen += 1
        assert not name.endswith("ca-bundle.pem"), name
        if bundle in content:
            pytest.fail(f"{image}: {name} holds the build's CA bundle")
        if extra and b"-----BEGIN CERTIFICATE-----" in content:
            leaked = certificates(content) & extra
            assert not leaked, f"{image}: {name} holds a certificate of the build bundle"
    assert seen > 1000  # the layers were really read


@pytest.mark.parametrize("image", sorted({TRAINING_IMAGE, SERVING_IMAGE}))
def test_onnxruntime_keeps_no_device_id_and_logs_no_telemetry_notice(docker_client, image):
    output = docker_client.containers.run(
        image, ["sh", "-c", "mkdir -p $HOME && python -c 'import onnxruntime' 2>&1 "
                            "&& find $HOME -mindepth 1"],
        entrypoint=[], remove=True, user="nobody", environment={"HOME": "/tmp/home"},
        labels={"penguins.test": "1"}, network_mode="none",
    ).decode()
    assert output == "", output


def test_training_image_trains_when_started_without_arguments(docker_client, tmp_path):
    """SageMaker SDK 3.x starts training containers with no `train` argument."""
    (tmp_path / "output").mkdir()
    result = run_job(docker_client, TRAINING_IMAGE, None, {tmp_path: ("/opt/ml", "rw")})
    assert result.exit_code != 0
    assert "channel pipeline is missing" in (tmp_path / "output" / "failure").read_text()


def test_entrypoints_are_on_path_and_exec(docker_client):
    for image, words in ((TRAINING_IMAGE, ["train", "process", "evaluate"]),
                         (PROCESSING_IMAGE, ["process"]), (SERVING_IMAGE, ["serve"])):
        for word in words:
            script = docker_client.containers.run(
                image, ["sh", "-c", f"cat $(command -v {word})"], entrypoint=[], remove=True,
                labels={"penguins.test": "1"}, network_mode="none",
            ).decode()
            assert re.search(r"^exec ", script, re.M), (image, word, script)


def test_serving_image_is_lean(docker_client):
    probe = ("for tool in gcc cc g++ make; do command -v $tool && exit 1; done; "
             "python -c 'import tensorflow' 2>/dev/null && exit 2; "
             "python -c 'import sklearn' 2>/dev/null && exit 3; exit 0")
    # A non-zero exit raises ContainerError, naming which probe failed.
    docker_client.containers.run(SERVING_IMAGE, ["sh", "-c", probe], entrypoint=[], remove=True,
                                 labels={"penguins.test": "1"}, network_mode="none")
    labels = docker_client.images.get(SERVING_IMAGE).labels
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"


def test_images_hold_no_credentials(docker_client):
    for image in sorted({TRAINING_IMAGE, SERVING_IMAGE}):
        env = docker_client.images.get(image).attrs["Config"]["Env"]
        joined = "\n".join(env)
        for secret in ("AWS_SECRET", "AWS_ACCESS_KEY", "PIP_CERT", "SSL_CERT_FILE", "TOKEN"):
            assert secret not in joined, (image, env)
