"""An inference script in the SageMaker inference toolkit's style (the scikit-learn, PyTorch
and Hugging Face containers): model_fn, input_fn, predict_fn, output_fn.

The model folder holds model.onnx (input "features", float [batch, 4]; output "scores",
class probabilities) and labels.json; this script is its code/inference.py.
"""

import json
import os

import numpy as np
import onnxruntime


def model_fn(model_dir):
    session = onnxruntime.InferenceSession(os.path.join(model_dir, "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    with open(os.path.join(model_dir, "labels.json")) as handle:
        labels = json.load(handle)
    return session, labels


def input_fn(request_body, request_content_type):
    if request_content_type == "application/json":
        body = json.loads(request_body)
        rows = body["features"] if isinstance(body, dict) else body  # or just the rows
    elif request_content_type == "text/csv":
        rows = [[float(value) for value in line.split(",")]
                for line in request_body.splitlines() if line.strip()]
    else:
        raise ValueError(f"unsupported content type {request_content_type}")
    features = np.asarray(rows, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != 4:
        raise ValueError(f"expected rows of 4 features, got shape {list(features.shape)}")
    return features


def predict_fn(input_data, model):
    session, labels = model
    scores = session.run(["scores"], {"features": input_data})[0]
    return [{"label": labels[int(row.argmax())], "scores": row.tolist()} for row in scores]


def output_fn(prediction, accept):
    if accept == "text/csv":
        return "\n".join(row["label"] for row in prediction), accept
    return json.dumps({"predictions": prediction}), "application/json"
