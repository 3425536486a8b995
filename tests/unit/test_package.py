"""model.tar.gz: the one extraction every job, the endpoint's deploys and the tests use."""

import io
import re
import tarfile
from pathlib import Path

import pytest

from training.contract import archive as model_archive
from training.contract.archive import extract, pack

pytestmark = pytest.mark.training


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "",
           mode: int = 0o644, size: int | None = None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    info.size = len(data) if size is None else size
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, io.BytesIO(data) if data else None


def archive_of(path: Path, members) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


@pytest.fixture(params=["with extraction filters", "without (Python 3.11.2)"])
def python(request, monkeypatch):
    """extract on this Python, and as on Debian bookworm's Python, which has no filters."""
    if request.param.startswith("without"):
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def unsafe_members(root: Path) -> dict:
    return {
        "absolute path": member(str(root / "absolute.txt"), data=b"x"),
        "parent folder": member("../outside.txt", data=b"x"),
        "nested parent folder": member("sub/../../outside.txt", data=b"x"),
        "symlink out": member("evil", tarfile.SYMTYPE, link="/etc/passwd"),
        "symlink inside": member("alias.onnx", tarfile.SYMTYPE, link="model.onnx"),
        "hardlink": member("hard.onnx", tarfile.LNKTYPE, link="model.onnx"),
        "character device": member("null", tarfile.CHRTYPE),
        "block device": member("disk", tarfile.BLKTYPE),
        "fifo": member("pipe", tarfile.FIFOTYPE),
    }


@pytest.mark.parametrize("case", list(unsafe_members(Path("/x"))))
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path, python, case):
    root = tmp_path / "root"
    target = root / "model"
    target.mkdir(parents=True)
    bad = unsafe_members(root)[case]
    archive = archive_of(tmp_path / "model.tar.gz", [
        member("model.onnx", data=b"onnx"), bad, member("labels.json", data=b"[]")])
    with pytest.raises(tarfile.TarError, match=re.escape(repr(bad[0].name))):
        extract(archive, target)
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in root.iterdir()) == ["model"]
    assert not (tmp_path / "outside.txt").exists()


def test_a_packed_model_folder_comes_back_whole(tmp_path, python):
    model = tmp_path / "model"
    (model / "assets").mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"onnx")
    (model / "assets" / "vocab.txt").write_text("a\n")
    archive = pack(model, tmp_path / "out" / "model.tar.gz")
    target = tmp_path / "served"
    target.mkdir()
    extract(archive, target)
    assert (target / "model.onnx").read_bytes() == b"onnx"
    assert (target / "assets" / "vocab.txt").read_text() == "a\n"


def test_a_target_folder_that_does_not_exist_yet_is_made(tmp_path, python):
    """As tarfile's extractall does (callers such as the multi-host test extract into a fresh
    path)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx")
    archive = pack(model, tmp_path / "out" / "model.tar.gz")
    extract(archive, tmp_path / "fresh" / "served")
    assert (tmp_path / "fresh" / "served" / "model.onnx").read_bytes() == b"onnx"


def test_an_archive_made_with_tar_dot_is_accepted(tmp_path, python):
    """`tar czf model.tar.gz -C model .` (how SageMaker users often pack) names members ./x."""
    archive = archive_of(tmp_path / "model.tar.gz", [
        member(".", tarfile.DIRTYPE), member("./labels.json", data=b"[]")])
    target = tmp_path / "served"
    target.mkdir()
    extract(archive, target)
    assert (target / "labels.json").read_bytes() == b"[]"


def test_members_are_written_with_fixed_modes_and_the_extracting_user_as_owner(tmp_path, python):
    """Debian's Python without filters kept `-rwsr-xr-x root` and world-writable files."""
    owned = [member("setuid", data=b"#!/bin/sh\n", mode=0o4755),
             member("world.json", data=b"{}", mode=0o666),
             member("sticky", tarfile.DIRTYPE, mode=0o1777),
             member("sticky/group.txt", data=b"x", mode=0o2775),
             member("deep/er/plain.txt", data=b"x", mode=0o600)]
    for info, _ in owned:
        info.uid, info.gid, info.uname, info.gname = 4321, 4321, "someone", "someone"
    target = tmp_path / "served"
    target.mkdir()
    extract(archive_of(tmp_path / "model.tar.gz", owned), target)
    modes = {path.relative_to(target).as_posix(): path.stat().st_mode & 0o7777
             for path in target.rglob("*")}
    assert modes == {"setuid": 0o755, "world.json": 0o644, "sticky": 0o755,
                     "sticky/group.txt": 0o755, "deep": 0o755, "deep/er": 0o755,
                     "deep/er/plain.txt": 0o644}
    import os

    assert {path.stat().st_uid for path in target.rglob("*")} == {os.getuid()}


def bomb(path: Path, size: int) -> Path:
    """A gzip tar of `size` zero bytes behind a small labels.json (a few KB on disk)."""
    zeros = tarfile.TarInfo("weights.bin")
    zeros.size = size
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(*member("labels.json", data=b"[]"))
        tar.addfile(zeros, io.BytesIO(bytes(size)))
    return path


def test_a_gzip_bomb_fails_with_a_named_error_before_a_byte_is_written(
        tmp_path, python, monkeypatch):
    archive = bomb(tmp_path / "model.tar.gz", 32 * 1024 * 1024)
    assert archive.stat().st_size < 256 * 1024
    target = tmp_path / "served"
    target.mkdir()
    monkeypatch.setenv("MODEL_ARCHIVE_MAX_BYTES", str(1024 * 1024))
    with pytest.raises(model_archive.ArchiveTooLarge,
                       match=r"'weights.bin' takes the archive past 1048576 bytes.*"
                             r"MODEL_ARCHIVE_MAX_BYTES"):
        extract(archive, target)
    assert list(target.iterdir()) == []
    with pytest.raises(tarfile.TarError):  # callers that catch TarError keep working
        extract(archive, target, limit=1024)
    extract(archive, target, limit=33 * 1024 * 1024)
    assert (target / "weights.bin").stat().st_size == 32 * 1024 * 1024


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path, monkeypatch):
    archive = bomb(tmp_path / "model.tar.gz", 1024 * 1024)
    target = tmp_path / "served"
    target.mkdir()
    monkeypatch.setattr(model_archive.shutil, "disk_usage",
                        lambda path: type("Usage", (), {"free": 4096})())
    with pytest.raises(model_archive.ArchiveTooLarge, match=r"has 4096 bytes free"):
        extract(archive, target)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_bad_size_cap_is_named(tmp_path, monkeypatch, value):
    archive = bomb(tmp_path / "model.tar.gz", 10)
    monkeypatch.setenv("MODEL_ARCHIVE_MAX_BYTES", value)
    with pytest.raises(model_archive.ArchiveTooLarge, match=rf"MODEL_ARCHIVE_MAX_BYTES='{value}'"):
        extract(archive, tmp_path)
