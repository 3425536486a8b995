"""Fixtures shared by the in-process layers, and the shuffled module order of make test."""

import random

import pytest

import tiny_model


def pytest_addoption(parser):
    parser.addoption(
        "--shuffle-modules", metavar="SEED", type=int, default=None,
        help="run the test modules in an order shuffled with SEED (each module's own tests keep "
             "their order): every module must pass alone and after any other")


def pytest_report_header(config):
    seed = config.getoption("shuffle_modules")
    if seed is not None:
        return f"test modules in shuffled order, seed {seed} (--shuffle-modules {seed} repeats it)"
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    seed = config.getoption("shuffle_modules")
    if seed is None:
        return
    modules = sorted({item.path for item in items})
    random.Random(seed).shuffle(modules)
    rank = {path: number for number, path in enumerate(modules)}
    items.sort(key=lambda item: rank[item.path])  # stable: a module's tests keep their order


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


@pytest.fixture(scope="session", autouse=True)
def sdk_schema_checked_once():
    """The SageMaker SDK validates its config on every default it looks up, jsonschema checking
    the SDK's schema itself each time first (60 ms; 230 times, 14 s of CPU, in test_sdk and
    test_script_mode): the tests that use the SDK run it as make sdk-pipeline does, the schema
    checked once (pipeline/workflow/sdk.py)."""
    import jsonschema

    from pipeline.workflow import sdk

    original, jsonschema.validate = jsonschema.validate, sdk.validate
    yield
    jsonschema.validate = original
