"""model.tar.gz: the one extraction every job, the endpoint's deploys and the tests use."""

import io
import re
import tarfile
from pathlib import Path

import pytest

from training.contract.archive import extract, pack

pytestmark = pytest.mark.training


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
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


def test_an_archive_made_with_tar_dot_is_accepted(tmp_path, python):
    """`tar czf model.tar.gz -C model .` (how SageMaker users often pack) names members ./x."""
    archive = archive_of(tmp_path / "model.tar.gz", [
        member(".", tarfile.DIRTYPE), member("./labels.json", data=b"[]")])
    target = tmp_path / "served"
    target.mkdir()
    extract(archive, target)
    assert (target / "labels.json").read_bytes() == b"[]"
