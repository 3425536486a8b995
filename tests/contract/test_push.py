"""`make push` to a real registry on localhost, and a pull back."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from harness import SERVING_IMAGE, TRAINING_IMAGE, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry (the distribution v2 server) on a free localhost port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-registry is not installed; make test installs it where it can")
        pytest.skip("needs Debian's docker-registry package (make test installs it as root)")
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    server = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/v2/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def training_image(docker_client):
    """The push is under test, not the training image's 2.3 GB (a minute of the suite): the
    serving image's layers stand in for it under a training image's name of the test's own."""
    name = f"{TRAINING_IMAGE.split(':')[0]}:push-{os.getpid()}"
    docker_client.images.get(SERVING_IMAGE).tag(name)
    yield name
    docker_client.images.remove(name)


def test_push_and_pull_back(docker_client, registry, training_image):
    target = f"{registry}/penguins"
    # IMAGES_BUILT=1: the images are built (make test built them); the stand-in is not rebuilt.
    done = subprocess.run(["make", "--no-print-directory", "push", f"REGISTRY={target}",
                           f"TRAINING_IMAGE={training_image}", "IMAGES_BUILT=1"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    for image in (training_image, SERVING_IMAGE):
        assert f"pushed {target}/{image}" in done.stdout
        name, tag = image.split(":")
        tags = requests.get(f"http://{registry}/v2/penguins/{name}/tags/list", timeout=10).json()
        assert tag in tags["tags"]
    remote = f"{target}/{SERVING_IMAGE}"
    local_id = docker_client.images.get(SERVING_IMAGE).id
    docker_client.images.remove(f"{target}/{training_image}")
    docker_client.images.remove(remote)
    pulled = docker_client.images.pull(remote)
    try:
        assert pulled.id == local_id
    finally:
        docker_client.images.remove(remote)


def test_push_without_registry_says_how(docker_client):
    # REGISTRY left unset, as a user who forgot it would: no other make variable may stand in.
    environ = {name: value for name, value in os.environ.items() if name != "REGISTRY"}
    done = subprocess.run(["make", "--no-print-directory", "push"], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode != 0
    assert "usage: make push REGISTRY=" in done.stderr
    assert "pushed" not in done.stdout
