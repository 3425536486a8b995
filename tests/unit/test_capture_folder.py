"""The compose endpoint's Data Capture folder (CAPTURE_DIR) as make serve prepares it
(pipeline/endpoints/bluegreen.py): owner-only, and the colours' own. They run as the host's user,
or, when that is root, start as root and become nobody (serving/privileges.py), who must then
own it."""

import os
from types import SimpleNamespace

import pytest

from pipeline.endpoints import bluegreen

pytestmark = pytest.mark.pipeline


def capturing(folder, endpoint_dir) -> bluegreen.Endpoint:
    return bluegreen.Endpoint(SimpleNamespace(
        compose="docker compose -p capturefolder -f docker-compose.yml", docker="docker",
        endpoint_dir=endpoint_dir, port=0, ping_deadline=1, endpoint_name=None,
        capture_dir=folder))


def test_the_capture_folder_is_owner_only_and_the_colours_own(tmp_path):
    folder = tmp_path / "capture" / "penguins"
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # as make serve left it before the folders were owner-only
    capturing(folder, tmp_path / "endpoint").prepare_capture()
    status = folder.stat()
    assert status.st_mode & 0o777 == 0o700
    writer = bluegreen.NOBODY if os.geteuid() == 0 else os.geteuid()
    assert status.st_uid == writer


def test_a_capture_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(bluegreen.EndpointError, match=r"CAPTURE_DIR=.*/file/penguins: cannot "
                                                      r"make it writable for the endpoint"):
        capturing(tmp_path / "file" / "penguins", tmp_path / "endpoint").prepare_capture()
