"""The multi-model endpoint's contract, asserted in-process and against the image.

Each layer supplies `send(target, body) -> Reply` (target None: no header) and `loaded() ->
list` (GET /models' names); the checks are the same in both.
"""

import os
import tarfile
from pathlib import Path

from endpoint_cases import RECORD, Reply, digit_pixels, json_body
from tiny_model import DIGITS, LABELS

PENGUINS = "penguins/1.tar.gz"
DIGITS_TARGET = "digits/1.tar.gz"
PENGUINS_BODY = json_body(RECORD)
DIGITS_BODY = json_body({"pixels": digit_pixels()})
PAD = "padding.bin"  # a file that makes a model's extracted size what a test needs


def lay_out(root: Path, target: str, model_dir: Path, pad_bytes: int = 0) -> Path:
    """model_dir packed as root/target, as `make serve-multi` lays the registry out; readable by
    the server's unprivileged workers."""
    archive = root / target
    archive.parent.mkdir(parents=True, exist_ok=True)
    for folder in archive.relative_to(root).parents:  # root itself is "."
        (root / folder).chmod(0o755)
    temp = archive.with_name(f".{archive.name}")
    with tarfile.open(temp, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
        if pad_bytes:
            padding = model_dir.parent / f"{model_dir.name}-{PAD}"
            padding.write_bytes(bytes(pad_bytes))
            tar.add(padding, arcname=PAD)
    temp.chmod(0o644)
    os.replace(temp, archive)  # a server never sees half an archive
    return archive


def assert_predicts(reply: Reply, labels: list) -> None:
    assert reply.status == 200, reply.body
    assert reply.json()["prediction"] in labels, reply.body


def check_both_models(send) -> None:
    """Penguins and Digits from one endpoint, each with its own labels."""
    assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
    assert_predicts(send(DIGITS_TARGET, DIGITS_BODY), DIGITS)


def error_naming(reply: Reply, status: int, *words: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers["content-type"].startswith("application/json")
    message = reply.json()["error"]
    assert all(word in message for word in words), message


# (id, target, status, words the error names)
MISTAKES = [
    ("no-header", None, 400, ("X-Amzn-SageMaker-Target-Model",)),
    ("unknown-target", "penguins/99.tar.gz", 404, ("penguins/99.tar.gz",)),
    ("outside-the-folder", "../penguins/1.tar.gz", 400, ("../penguins/1.tar.gz",)),
    ("absolute", "/etc/passwd", 400, ("/etc/passwd",)),
]


def check_mistake(send, target, status, words) -> None:
    error_naming(send(target, PENGUINS_BODY), status, *words)
