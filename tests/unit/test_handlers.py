"""Inference handlers (code/inference.py) in-process: both example conventions on the shared
case table, and what a broken or failing handler gives."""

import shutil
from pathlib import Path

import pytest

from serving import config as settings
from serving import handlers
from serving.app import create_app

import tiny_model
from endpoint_cases import HANDLER_CASES, Reply, check_case

pytestmark = pytest.mark.unit
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONVENTIONS = ["endpoint-toolkit", "endpoint-tfs-handler"]


def handler_model(folder: Path, script: str, labels_file: bool = True) -> Path:
    """tiny_model.build_iris with code/inference.py of the given text."""
    tiny_model.build_iris(folder, labels_file)
    (folder / "code").mkdir()
    (folder / "code" / "inference.py").write_text(script)
    return folder


def example_model(folder: Path, example: str) -> Path:
    tiny_model.build_iris(folder)
    shutil.copytree(EXAMPLES / example / "code", folder / "code")
    return folder


def send(client, method, path, body=None, headers=None) -> Reply:
    response = client.open(path, method=method, data=body, headers=headers or {})
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.get_data())


@pytest.fixture(scope="module", params=CONVENTIONS)
def client(request, tmp_path_factory):
    folder = example_model(tmp_path_factory.mktemp(request.param), request.param)
    return create_app(config=settings.Config(model_dir=folder)).test_client()


@pytest.mark.parametrize("case", HANDLER_CASES, ids=lambda case: case.id)
def test_handler_contract_case(client, case):
    check_case(case, send(client, case.method, case.path, case.body, case.headers), [])


def app_of(tmp_path, script: str, labels_file: bool = True):
    folder = handler_model(tmp_path, script, labels_file)
    return create_app(config=settings.Config(model_dir=folder)).test_client()


def test_without_model_fn_the_graph_is_loaded_and_run_by_default(tmp_path):
    app = app_of(tmp_path, "def output_fn(prediction, accept):\n"
                           "    return {'rows': len(prediction)}, 'application/json'\n")
    reply = app.post("/invocations", json=[[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.9, 2.3]])
    assert reply.status_code == 200 and reply.get_json() == {"rows": 2}
    refused = app.post("/invocations", json=[[1, 2]])
    assert refused.status_code == 400 and "'features'" in refused.get_json()["error"]


def test_transform_fn_answers_alone_with_its_content_type(tmp_path):
    app = app_of(tmp_path, "def transform_fn(model, body, content_type, accept):\n"
                           "    return body.upper(), 'text/plain'\n")
    reply = app.post("/invocations", data="abc", content_type="text/csv")
    assert (reply.status_code, reply.data, reply.content_type) == (200, b"ABC", "text/plain")


def test_functions_that_take_a_context_get_one(tmp_path):
    app = app_of(tmp_path, "def input_fn(body, content_type, context):\n"
                           "    return context.system_properties['model_dir']\n"
                           "def predict_fn(data, model):\n    return data\n"
                           "def output_fn(prediction, accept):\n    return prediction\n")
    assert app.post("/invocations", json=[]).data.decode() == str(tmp_path)


def test_a_handler_s_exception_is_a_500_with_its_message(tmp_path):
    app = app_of(tmp_path, "def predict_fn(data, model):\n"
                           "    raise RuntimeError('the weights are gone')\n")
    reply = app.post("/invocations", json=[[1, 2, 3, 4]])
    assert reply.status_code == 500
    assert reply.get_json() == {"error": "the weights are gone"}


def test_a_value_error_after_decoding_is_still_the_handler_s_500(tmp_path):
    app = app_of(tmp_path, "def output_fn(prediction, accept):\n"
                           "    raise ValueError('cannot write this')\n")
    assert app.post("/invocations", json=[[1, 2, 3, 4]]).status_code == 500


@pytest.mark.parametrize(("script", "words"), [
    ("import no_such_module\n", "cannot import (ModuleNotFoundError"),
    ("def model_fn(model_dir):\n    raise OSError('no weights')\n", "model_fn failed"),
    ("def input_handler(data, context):\n    return data\n", "without the other"),
    ("def transform_fn(m, b, c, a):\n    pass\ndef input_fn(b, c):\n    pass\n",
     "transform_fn cannot be used with"),
])
def test_a_handler_that_cannot_load_is_named(tmp_path, script, words):
    folder = handler_model(tmp_path, script)
    with pytest.raises(handlers.HandlerError, match="inference.py") as raised:
        handlers.load(folder, settings.Config(model_dir=folder))
    assert words in str(raised.value)


def test_input_and_output_handlers_wrap_the_rest_api(tmp_path):
    app = app_of(tmp_path, "import json\n"
                           "def input_handler(data, context):\n"
                           "    return json.dumps({'instances': json.load(data)})\n"
                           "def output_handler(response, context):\n"
                           "    if response.status_code != 200:\n"
                           "        raise ValueError(response.text)\n"
                           "    return response.content, context.accept_header\n")
    reply = app.post("/invocations", json=[[5.1, 3.5, 1.4, 0.2]])
    assert reply.status_code == 200 and len(reply.get_json()["predictions"][0]) == 3
    refused = app.post("/invocations", json=[[5.1]])
    assert refused.status_code == 400 and "[1, 1]" in refused.get_json()["error"]


def test_the_rest_api_answers_tf_serving_s_paths(tmp_path):
    app = app_of(tmp_path, "def handler(data, context):\n"
                           "    import requests\n"
                           "    status = requests.get(context.rest_uri.rsplit(':', 1)[0])\n"
                           "    return status.content, 'application/json'\n")
    reply = app.post("/invocations", json={},
                     headers={"X-Amzn-SageMaker-Custom-Attributes":
                              "tfs-model-name=iris,tfs-model-version=3"})
    assert reply.get_json()["model_version_status"][0] == {
        "version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


def test_requirements_the_image_meets_are_not_installed_and_other_pins_are_noted():
    from serving import prepare

    install, notes = prepare.plan("# comment\nnumpy>=1\nnumpy==1.21.6  # old pin\n"
                                  "no-such-package-here==1.0\n\n")
    assert install == ["no-such-package-here==1.0"]
    assert len(notes) == 1 and "numpy==1.21.6 asked; the image's numpy" in notes[0]


@pytest.mark.parametrize(("text", "words"), [
    ("-r other.txt\n", "line 1: options (-r)"),
    ("numpy\nnot a requirement!\n", "line 2"),
])
def test_requirements_the_endpoint_cannot_read_are_named(text, words):
    from serving import prepare

    with pytest.raises(prepare.PrepareError, match="requirements.txt") as raised:
        prepare.plan(text)
    assert words in str(raised.value)


def test_a_requirement_missing_from_the_wheelhouse_is_named(tmp_path):
    from serving import prepare

    (tmp_path / "code" / "wheelhouse").mkdir(parents=True)
    (tmp_path / "code" / "requirements.txt").write_text("no-such-package-here==1.0\n")
    said = []
    with pytest.raises(prepare.PrepareError, match="cannot install no-such-package-here"):
        prepare.install_requirements(tmp_path, said.append)
    assert said == ["requirements.txt: installing no-such-package-here==1.0"]
