"""The multi-model endpoint in-process: targets loaded on first use, LRU eviction under the
memory bound, an archive added while serving, and the mistakes a client can make."""

import pytest
from multi_model_cases import (
    DIGITS_BODY,
    DIGITS_TARGET,
    MISTAKES,
    PENGUINS,
    PENGUINS_BODY,
    assert_predicts,
    check_both_models,
    check_mistake,
    error_naming,
    lay_out,
)

from serving import config as settings
from serving.app import create_app
from serving.multimodel import TARGET_MODEL

from endpoint_cases import Reply
from tiny_model import DIGITS, LABELS

pytestmark = pytest.mark.unit
MB = 1024 * 1024


def serving(root, memory_mb=settings.DEFAULT_MODELS_MEMORY_MB):
    config = settings.Config(model_dir=root / "absent", multi_model=True, models_dir=root,
                             models_memory_mb=memory_mb, workers=1)
    app = create_app(config=config)
    client = app.test_client()

    def send(target, body):
        headers = {"Content-Type": "application/json"}
        if target is not None:
            headers[TARGET_MODEL] = target
        reply = client.post("/invocations", data=body, headers=headers)
        return Reply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()},
                     reply.data)

    def loaded():
        return [model["modelName"] for model in client.get("/models").get_json()["models"]]

    return app, client, send, loaded


@pytest.fixture
def models(tmp_path, tiny_model_dir, tiny_image_model_dir):
    root = tmp_path / "models"
    lay_out(root, PENGUINS, tiny_model_dir)
    lay_out(root, DIGITS_TARGET, tiny_image_model_dir)
    return root


@pytest.fixture
def endpoint(models):
    app, client, send, loaded = serving(models)
    yield client, send, loaded
    app.extensions["models"].close()


def test_the_multi_model_setting_is_read_as_sagemaker_names_it(tmp_path):
    config = settings.from_env({"SAGEMAKER_MULTI_MODEL": "true", "MULTI_MODEL_MEMORY_MB": "64",
                                "SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert (config.multi_model, config.models_dir, config.models_memory_mb) == (
        True, tmp_path / "models", 64)
    assert not settings.from_env({}).multi_model
    with pytest.raises(settings.ConfigError, match="SAGEMAKER_MULTI_MODEL"):
        settings.from_env({"SAGEMAKER_MULTI_MODEL": "yes"})


def test_ping_answers_with_no_model_loaded(endpoint):
    client, _send, loaded = endpoint
    assert client.get("/ping").status_code == 200
    assert loaded() == []


def test_each_target_is_loaded_on_first_use_and_kept(endpoint):
    _client, send, loaded = endpoint
    check_both_models(send)
    assert loaded() == [PENGUINS, DIGITS_TARGET]
    assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
    assert loaded() == [DIGITS_TARGET, PENGUINS]  # least recently used first


def test_the_least_recently_used_model_is_unloaded_under_the_memory_bound(
        tmp_path, tiny_model_dir, tiny_image_model_dir):
    root = tmp_path / "models"
    # Each model 0.6 MB extracted: a 1 MB bound holds one of them.
    lay_out(root, PENGUINS, tiny_model_dir, pad_bytes=6 * MB // 10)
    lay_out(root, DIGITS_TARGET, tiny_image_model_dir, pad_bytes=6 * MB // 10)
    app, _client, send, loaded = serving(root, memory_mb=1)
    cache = app.extensions["models"]
    try:
        assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
        folder = cache.loaded[PENGUINS].folder
        assert_predicts(send(DIGITS_TARGET, DIGITS_BODY), DIGITS)
        assert loaded() == [DIGITS_TARGET]
        assert not folder.exists()  # unloaded: its extracted files are gone too
        assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)  # loaded again on demand
        assert loaded() == [PENGUINS]
    finally:
        cache.close()


def test_a_model_larger_than_the_whole_bound_is_refused_naming_it(tmp_path, tiny_model_dir):
    root = tmp_path / "models"
    lay_out(root, PENGUINS, tiny_model_dir, pad_bytes=2 * MB)
    app, _client, send, loaded = serving(root, memory_mb=1)
    error_naming(send(PENGUINS, PENGUINS_BODY), 507, PENGUINS, "MULTI_MODEL_MEMORY_MB")
    assert loaded() == []
    app.extensions["models"].close()


def test_an_archive_added_while_serving_is_served_with_no_restart(endpoint, models,
                                                                  tiny_model_dir):
    _client, send, _loaded = endpoint
    target = "penguins/2.tar.gz"
    error_naming(send(target, PENGUINS_BODY), 404, target)
    lay_out(models, target, tiny_model_dir)
    assert_predicts(send(target, PENGUINS_BODY), LABELS)


def test_an_archive_replaced_in_place_is_loaded_again(endpoint, models, tiny_image_model_dir):
    _client, send, _loaded = endpoint
    assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
    lay_out(models, PENGUINS, tiny_image_model_dir)
    assert_predicts(send(PENGUINS, DIGITS_BODY), DIGITS)


def test_an_archive_removed_or_made_a_folder_after_serving_is_not_found(endpoint, models):
    # The target's path is checked once; whether an archive is there, every time.
    _client, send, _loaded = endpoint
    assert_predicts(send(PENGUINS, PENGUINS_BODY), LABELS)
    (models / PENGUINS).unlink()
    error_naming(send(PENGUINS, PENGUINS_BODY), 404, PENGUINS)
    (models / PENGUINS).mkdir()
    error_naming(send(PENGUINS, PENGUINS_BODY), 404, PENGUINS)


def test_a_broken_archive_is_a_failed_dependency_naming_the_target(endpoint, models):
    _client, send, loaded = endpoint
    (models / "broken.tar.gz").write_bytes(b"not a tar archive")
    error_naming(send("broken.tar.gz", PENGUINS_BODY), 424, "broken.tar.gz")
    assert loaded() == []


@pytest.mark.parametrize(("target", "status", "words"),
                         [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_client_mistakes_are_4xx_naming_what_is_wrong(endpoint, target, status, words):
    _client, send, _loaded = endpoint
    check_mistake(send, target, status, words)


def test_a_single_model_endpoint_has_no_models_listing(tiny_model_dir):
    client = create_app(config=settings.Config(model_dir=tiny_model_dir)).test_client()
    assert client.get("/models").status_code == 404


def test_openapi_describes_the_target_model(endpoint):
    client, _send, _loaded = endpoint
    document = client.get("/openapi.json", headers={TARGET_MODEL: PENGUINS}).get_json()
    assert "paths" in document
    reply = client.get("/openapi.json")
    assert reply.status_code == 400 and TARGET_MODEL in reply.get_json()["error"]
