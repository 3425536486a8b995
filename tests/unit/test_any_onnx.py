"""Any ONNX graph without our signature, in-process: the case table the contract tests run
over HTTP, the graph read off onnxruntime, and a single-input graph's plain arrays."""

import pytest

from serving import anyonnx, tensors
from serving import config as settings
from serving import model as hooks
from serving.app import create_app

import tiny_model
from endpoint_cases import ANY_ONNX_CASES, ANY_ONNX_CSV_CASES, Reply, check_case

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def two_inputs_dir(tmp_path_factory):
    return tiny_model.build_two_inputs(tmp_path_factory.mktemp("any-onnx"))


@pytest.fixture(scope="module")
def client(two_inputs_dir):
    return create_app(config=settings.Config(model_dir=two_inputs_dir)).test_client()


def send(client, method, path, body=None, headers=None) -> Reply:
    response = client.open(path, method=method, data=body, headers=headers or {})
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                 response.get_data())


@pytest.mark.parametrize("case", ANY_ONNX_CASES, ids=lambda case: case.id)
def test_any_onnx_contract_case(client, case):
    check_case(case, send(client, case.method, case.path, case.body, case.headers), [])


@pytest.fixture(scope="module")
def iris_client(tmp_path_factory):
    folder = tiny_model.build_iris(tmp_path_factory.mktemp("any-onnx-iris"), labels_file=False)
    return create_app(config=settings.Config(model_dir=folder)).test_client()


@pytest.mark.parametrize("case", ANY_ONNX_CSV_CASES, ids=lambda case: case.id)
def test_any_onnx_csv_case(iris_client, case):
    check_case(case, send(iris_client, case.method, case.path, case.body, case.headers), [])


def test_the_openapi_document_offers_csv_rows_for_a_single_2d_input(iris_client, client):
    body = iris_client.get("/openapi.json").get_json()["paths"]["/invocations"]["post"]
    csv = body["requestBody"]["content"]["text/csv"]["schema"]["description"]
    assert "4 numbers" in csv and "features (FP32 [?, 4])" in csv
    two = client.get("/openapi.json").get_json()["paths"]["/invocations"]["post"]
    assert "text/csv" not in two["requestBody"]["content"]


def test_a_graph_without_a_signature_is_read_off_its_inputs_and_outputs(two_inputs_dir):
    model = hooks.load(two_inputs_dir)
    assert isinstance(model, anyonnx.GraphModel)
    assert model.inputs == (tensors.Tensor("features", "FP32", (None, 3)),
                            tensors.Tensor("offset", "INT64", (None, 1)))
    assert [(t.name, t.datatype) for t in model.outputs] == [("scores", "FP32"),
                                                            ("total", "FP32")]


def test_the_openapi_document_names_the_graph_s_inputs(client):
    document = client.get("/openapi.json").get_json()
    request = document["components"]["schemas"]["InferenceRequest"]
    entries = request["properties"]["inputs"]["items"]["anyOf"]
    assert [e["properties"]["name"]["enum"] for e in entries] == [["features"], ["offset"]]
    assert [e["properties"]["datatype"]["enum"] for e in entries] == [["FP32"], ["INT64"]]
    assert "/invocations" in document["paths"]


def single_input(path):
    """A one-input graph: "x" FP64 [batch, 2] -> "y" = x + 1."""
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.DOUBLE, [], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["one"], value=one),
         helper.make_node("Add", ["x", "one"], ["y"])], "single",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))
    return path


def test_a_single_input_model_takes_a_plain_array(tmp_path):
    app = create_app(config=settings.Config(model_dir=single_input(tmp_path))).test_client()
    reply = app.post("/invocations", json=[[1, 2], [3.5, 4]])
    assert reply.status_code == 200 and reply.get_json() == [[2, 3], [4.5, 5]]
    assert app.post("/invocations", json={"instances": [[0, 0]]}).get_json() == {
        "predictions": [[1, 1]]}
    refused = app.post("/invocations", json=[1, 2])
    assert refused.status_code == 400 and "'x'" in refused.get_json()["error"]
    ragged = app.post("/invocations", json=[[1, 2], [3]])
    assert ragged.status_code == 400 and "rectangular" in ragged.get_json()["error"]


def test_a_graph_taking_what_json_cannot_send_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    sequence = helper.make_tensor_sequence_value_info("items", TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("SequenceLength", ["items"], ["count"])], "sequence", [sequence],
        [helper.make_tensor_value_info("count", TensorProto.INT64, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "model.onnx"))
    with pytest.raises(hooks.ModelError, match="input 'items' is seq"):
        hooks.load(tmp_path)
