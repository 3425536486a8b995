"""Fixtures shared by the in-process layers."""

import pytest

import tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A servable tabular model folder: a tiny Penguins-like graph, as training writes it."""
    return tiny_model.build(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def tiny_image_model_dir(tmp_path_factory):
    """A servable image model folder: a tiny 8x8 digits-like graph with the "image" entry."""
    return tiny_model.build_image(tmp_path_factory.mktemp("image-model"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    """monkeypatch for module-scoped fixtures."""
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()
