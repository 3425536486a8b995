"""Fixtures shared by the in-process layers."""

import pytest

import tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A servable model folder: a small seeded Keras network exported to ONNX, as training does."""
    return tiny_model.build(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    """monkeypatch for module-scoped fixtures."""
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()
