"""The model hooks: load(model_dir) and predict(model, records), with numpy and onnxruntime only.

One prediction path for every model with our signature: decode (codecs) -> signature check
(records) -> onnxruntime -> encode (codecs). The training job exports the whole inference
pipeline as one graph, model.onnx, with its signature in the graph's metadata. A model.onnx
without one is served from its own graph (anyonnx).
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving import answers, anyonnx, images, records, signature
from serving.records import RecordError

__all__ = ["MODEL_FILE", "Model", "ModelError", "RecordError", "answer", "load",
           "predict", "probabilities"]

MODEL_FILE = "model.onnx"


class ModelError(Exception):
    """The model folder cannot be served; the message names the file."""


@dataclass(frozen=True)
class Model:
    session: object  # onnxruntime.InferenceSession
    signature: signature.Signature
    outputs: list  # [the signature's output name]

    @property
    def labels(self) -> tuple:
        return self.signature.labels


def _session(path: Path):
    import onnxruntime

    if not path.is_file():
        raise ModelError(f"{path}: missing")
    # Errors only, so each worker's start adds no onnxruntime warnings to the endpoint's log.
    onnxruntime.set_default_logger_severity(3)
    options = onnxruntime.SessionOptions()
    # One thread per session: the model server's worker processes give the parallelism.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelError(f"{path}: cannot load ({error})") from None


def probe(model: Model) -> list:
    """Records every model takes: all fields missing, or black images."""
    spec = model.signature
    if spec.image:
        return [{"pixels": [[0] * spec.image.width] * spec.image.height}] * 3
    return [dict.fromkeys(spec.names)] * 3


def load(model_dir: Path) -> "Model | anyonnx.GraphModel":
    """Load model.onnx and its signature, or raise ModelError naming the file.

    Without a signature in its metadata the graph is served from its own inputs and outputs.

    The check run on the signature's probe also warms the session, so the first request
    pays no first-call cost. Its answer may be NaN (a graph without imputation, every field
    missing): such records get their 400 when asked, the model still serves.
    """
    path = Path(model_dir) / MODEL_FILE
    session = _session(path)
    if signature.SIGNATURE_KEY not in session.get_modelmeta().custom_metadata_map:
        try:
            return anyonnx.load(session, path)
        except anyonnx.GraphError as error:
            raise ModelError(f"{path}: {error}") from None
    try:
        sig = signature.read(session)
    except signature.SignatureError as error:
        raise ModelError(f"{path}: {error}") from None
    model = Model(session, sig, [sig.output])
    try:
        answer = probabilities(model, probe(model), images.Limits())
    except Exception as error:  # whatever the graph raises on the signature's own inputs
        raise ModelError(f"{path}: does not run on its signature's inputs ({error})") from None
    if answer.shape != (3, len(sig.labels)):
        raise ModelError(f"{path}: gives {answer.shape[-1]} classes (shape "
                         f"{list(answer.shape)}), the signature names {len(sig.labels)} labels")
    return model


def probabilities(model: Model, batch: list, limits: images.Limits) -> np.ndarray:
    """Class probabilities [N, classes] for decoded records."""
    feeds = records.feeds(model.signature, batch, limits)
    return model.session.run(model.outputs, feeds)[0]


def answer(model: Model, batch, limits: images.Limits | None = None) -> answers.Answers:
    """The answers to decoded records (a list, or a CSV body's columns), or RecordError."""
    probs = probabilities(model, batch, limits or images.Limits())
    found = answers.of(model.labels, probs.ravel().tolist(), probs.argmax(axis=1).tolist())
    if found is None:
        # Numbers within float32 can still overflow inside a graph; a NaN is no answer.
        rows = probs.tolist()
        number = next(n for n, row in enumerate(rows) if not all(map(math.isfinite, row)))
        raise RecordError(f"record {number}: the model gives no finite answer; "
                          f"{records.largest_number(model.signature, batch[number])} "
                          "is probably out of range")
    return found


def predict(model: Model, batch: list, limits: images.Limits | None = None) -> list[dict]:
    """One result per record, in order: prediction, confidence and every class's probability."""
    if not batch:
        return []
    return answer(model, batch, limits).results()
