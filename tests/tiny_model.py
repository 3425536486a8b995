"""Small servable model folders in the archive format (one model.onnx with its signature),
built with the training job's own graph code, for the in-process tests."""

from pathlib import Path

LABELS = ["Adelie", "Chinstrap", "Gentoo"]
DIGITS = [str(digit) for digit in range(10)]
IMAGE = {"input": "pixels", "height": 8, "width": 8, "max": 16.0}
ROWS = 60


def penguins_frame(rows: int = ROWS):
    """A seeded raw frame shaped as processing reads the dataset, with some missing values."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows).astype(object),
        "bill_length_mm": rng.normal(44, 5, rows),
        "bill_depth_mm": rng.normal(17, 2, rows),
        "flipper_length_mm": rng.normal(200, 14, rows),
        "body_mass_g": rng.normal(4200, 800, rows),
        "sex": rng.choice(["female", "male"], rows).astype(object),
    })
    frame.loc[::7, "sex"] = None
    frame.loc[::9, "bill_depth_mm"] = np.nan
    return frame


def _seeded_network(shape: tuple, hidden: int, classes: int, scale: float = 1.0):
    import keras

    keras.utils.set_random_seed(7)
    layers = [keras.Input(shape)]
    if len(shape) > 1:
        # Scaling inside the graph, as the Digits workload's network does.
        layers += [keras.layers.Rescaling(scale), keras.layers.Flatten()]
    layers += [keras.layers.Dense(hidden, activation="relu"),
               keras.layers.Dense(classes, activation="softmax")]
    network = keras.Sequential(layers)
    network(keras.ops.zeros((1, *shape)))
    return network


def build(path: Path) -> Path:
    """A tiny Penguins-like graph: a seeded fitted transformer and an unfitted seeded MLP."""
    import onnx

    from training.model import graph
    from training.workloads.penguins import data as penguins_data

    frame = penguins_frame()
    features = penguins_data.transformer().fit(penguins_data.marked(frame))
    width = features.transform(penguins_data.marked(frame.head(1))).shape[1]
    network = _seeded_network((width,), 10, len(LABELS))
    model = graph.build(features, network, LABELS, penguins_data.field_types())
    onnx.save(model, str(path / "model.onnx"))
    return path


def _renamed_output(model, name: str):
    from onnx import helper

    result = model.graph.output[0]
    model.graph.node.append(helper.make_node("Identity", [result.name], [name]))
    named = type(result)()
    named.CopyFrom(result)
    named.name = name
    model.graph.output.pop()
    model.graph.output.append(named)
    return model


def build_image(path: Path) -> Path:
    """A tiny digits-like graph: input "pixels" [None, 8, 8] in 0..16, ten classes."""
    import onnx

    from training.model import graph

    network = _seeded_network((8, 8), 16, len(DIGITS), 1 / IMAGE["max"])
    model = graph.network_onnx(network)
    model.graph.input[0].name, old = IMAGE["input"], model.graph.input[0].name
    for node in model.graph.node:
        node.input[:] = [IMAGE["input"] if name == old else name for name in node.input]
    model = _renamed_output(model, graph.OUTPUT)
    onnx.checker.check_model(model)
    graph.write_signature(model, graph.signature(model, DIGITS) | {"image": IMAGE})
    onnx.save(model, str(path / "model.onnx"))
    return path


def build_two_inputs(path: Path) -> Path:
    """An ONNX graph without our signature, as a user brings one: two inputs, two outputs.

    "features" FP32 [batch, 3] and "offset" INT64 [batch, 1]; "scores" = features * 2 +
    offset (FP32 [batch, 3]) and "total" = the row sums of scores (FP32 [batch]).
    """
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Constant", [], ["two"], value=helper.make_tensor(
            "two", TensorProto.FLOAT, [], [2.0])),
        helper.make_node("Mul", ["features", "two"], ["doubled"]),
        helper.make_node("Cast", ["offset"], ["shift"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["doubled", "shift"], ["scores"]),
        helper.make_node("Constant", [], ["rows"], value=helper.make_tensor(
            "rows", TensorProto.INT64, [1], [1])),
        helper.make_node("ReduceSum", ["scores", "rows"], ["total"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "two-inputs",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("offset", TensorProto.INT64, ["batch", 1])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path / "model.onnx"))
    return path


IRIS_LABELS = ["setosa", "versicolor", "virginica"]
# Rows of each class the fixed weights below put first (petal length and width decide).
IRIS_ROWS = {"setosa": [5.1, 3.5, 1.4, 0.2], "versicolor": [6.0, 2.9, 4.5, 1.5],
             "virginica": [6.9, 3.1, 5.9, 2.3]}


def build_iris(path: Path, labels_file: bool = True) -> Path:
    """The examples' model: "features" FP32 [batch, 4] -> "scores" = softmax(features @ w + b),
    fixed weights on petal length and width; no signature. labels.json beside it."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[0, 0, 0], [0, 0, 0], [-4, 0, 4], [-4, 2, 6]], np.float32)
    bias = np.array([14, 4, -24], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["raw"]),
         helper.make_node("Add", ["raw", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["scores"], axis=1)], "iris",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))
    if labels_file:
        (path / "labels.json").write_text(json.dumps(IRIS_LABELS))
    return path
