"""One ONNX graph for the whole inference pipeline: raw fields in, class probabilities out.

The fitted scikit-learn ColumnTransformer (converted with skl2onnx) is joined to the Keras
network's ONNX export with onnx.compose, and a signature in the model's metadata says what a
request must give. Serving then needs onnxruntime and the signature alone.

Inputs: one per raw field, shape [None, 1] (skl2onnx's per-column input of a ColumnTransformer):
tensor(string) for a categorical field, tensor(float) for a numeric one. A missing number is
NaN (imputed with the mean); a missing category is MISSING_STRING, a category of its own, so
records are marked (a workload's marked(), feeds()) before they reach the transformer or the
graph.
"""

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

from training.contract.jobio import MISSING

# A missing category's value. "" is already one of MISSING, so marking a missing category maps it
# onto a string that means "missing" everywhere else too.
MISSING_STRING = ""
SIGNATURE_KEY = "sagemaker_signature"
SIGNATURE_VERSION = 1
OUTPUT = "probabilities"
FEATURES = "features"  # the transformer's output, the network's input
NETWORK_PREFIX = "network/"  # the Keras graph's names, kept apart from skl2onnx's
ELEMENT_TYPES = {1: "float", 8: "string", 7: "int64", 11: "double"}  # onnx.TensorProto codes


def _opsets(model) -> dict:
    return {entry.domain or "": entry.version for entry in model.opset_import}


def preprocessing_onnx(features, types: list, opsets: dict | None = None):
    """A fitted transformer as an ONNX model: inputs `types` (skl2onnx types), output
    FEATURES (float). opsets: the network's, so that the two graphs can be merged."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    return convert_sklearn(features, initial_types=types, target_opset=opsets,
                           final_types=[(FEATURES, FloatTensorType([None, None]))])


def network_onnx(network):
    """The Keras network's ONNX export (tf2onnx through keras' model.export), in memory."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="network-") as folder:
        path = Path(folder) / "network.onnx"
        # Keras's exporter prints progress on stdout; the job's log keeps to its own lines.
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # tf2onnx on numpy 2
                network.export(str(path), format="onnx", verbose=False)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
        return onnx.load(str(path))


def join(preprocessing, network):
    """preprocessing's FEATURES fed into network's only input; the output named OUTPUT."""
    import onnx
    from onnx import compose, helper

    network = compose.add_prefix(network, NETWORK_PREFIX)
    if len(network.graph.input) != 1 or len(network.graph.output) != 1:
        raise ValueError("the network must have one input and one output")
    # merge_models wants one IR version; both are old enough for every op used here.
    ir_version = max(preprocessing.ir_version, network.ir_version)
    preprocessing.ir_version = network.ir_version = ir_version
    # And one opset per domain: skl2onnx declares the lowest its nodes need, which may be
    # below the network's; the checker below and the jobs' 1e-5 check hold the ops' meaning.
    for model, other in ((preprocessing, network), (network, preprocessing)):
        theirs = _opsets(other)
        for entry in model.opset_import:
            entry.version = max(entry.version, theirs.get(entry.domain or "", 0))
    merged = compose.merge_models(
        preprocessing, network,
        io_map=[(FEATURES, network.graph.input[0].name)],
        outputs=[network.graph.output[0].name],
    )
    graph = merged.graph
    result = graph.output[0]
    graph.node.append(helper.make_node("Identity", [result.name], [OUTPUT], name="output"))
    named = onnx.ValueInfoProto()
    named.CopyFrom(result)
    named.name = OUTPUT
    graph.output.pop()
    graph.output.append(named)
    onnx.checker.check_model(merged)
    return merged


def _dims(value) -> list:
    return [d.dim_value if d.HasField("dim_value") else None
            for d in value.type.tensor_type.shape.dim]


def signature(model, labels, extra: dict | None = None) -> dict:
    """What a request must give and what comes back, read off the graph's own inputs.

    extra: more entries merged in (an image model's "image")."""
    inputs = [{"name": value.name,
               "type": ELEMENT_TYPES.get(value.type.tensor_type.elem_type, "unknown"),
               "shape": _dims(value)} for value in model.graph.input]
    output = model.graph.output[0]
    return {
        "version": SIGNATURE_VERSION,
        "inputs": inputs,
        "output": {"name": output.name, "shape": _dims(output)},
        "labels": [str(label) for label in labels],
        # A field's value in `values` (after stripping spaces) or null is missing; the graph
        # takes a missing number as NaN and a missing string as `string`.
        "missing": {"values": list(MISSING), "string": MISSING_STRING, "number": "NaN"},
    } | (extra or {})


def write_signature(model, sig: dict) -> None:
    """Store sig in the model's metadata_props under SIGNATURE_KEY (replacing any earlier one)."""
    kept = [p for p in model.metadata_props if p.key != SIGNATURE_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = SIGNATURE_KEY, json.dumps(sig, sort_keys=True)


def read_signature(source) -> dict:
    """The signature of a model: a ModelProto, an onnxruntime session, or a .onnx path.

    A session reads it without parsing the graph a second time (custom_metadata_map).
    """
    if hasattr(source, "get_modelmeta"):
        props = source.get_modelmeta().custom_metadata_map
    else:
        if isinstance(source, str | Path):
            import onnx

            source = onnx.load(str(source), load_external_data=False)
        props = {p.key: p.value for p in source.metadata_props}
    if SIGNATURE_KEY not in props:
        raise ValueError(f"the model has no {SIGNATURE_KEY} in its metadata")
    return json.loads(props[SIGNATURE_KEY])


def build(features, network, labels, types: list, extra: dict | None = None):
    """The one graph: a fitted transformer (its input types as preprocessing_onnx's) + the
    Keras network, with its signature (extra as signature's)."""
    net = network_onnx(network)
    pre = preprocessing_onnx(features, types, _opsets(net))
    model = join(pre, net)
    model.producer_name = "penguins-training graph.py"
    write_signature(model, signature(model, labels, extra))
    return model


def scores(path: Path, tensor: str, x):
    """The one graph's OUTPUT for `x` fed in at `tensor`: one of its inputs, or a tensor inside
    it (the part of the graph from there on), as onnxruntime serves it."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnx.utils import Extractor

    model = onnx.load(str(path))
    if tensor not in {value.name for value in model.graph.input}:
        model = Extractor(model).extract_model([tensor], [OUTPUT])
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {tensor: np.asarray(x, dtype=np.float32)})[0]
