"""An inference script in the TensorFlow Serving container's style: handler(data, context)
turns the request into TensorFlow Serving's REST predict call and its answer into ours.

The model folder holds model.onnx (input "features", float [batch, 4]; output "scores")
where the TensorFlow container has a SavedModel; the REST API at context.rest_uri serves it.
"""

import json

import requests

LABELS = ["setosa", "versicolor", "virginica"]


def _process_input(data, context):
    if context.request_content_type == "application/json":
        body = json.loads(data.read().decode("utf-8"))
        rows = body["features"] if isinstance(body, dict) else body  # or just the rows
        return json.dumps({"instances": rows})
    if context.request_content_type == "text/csv":
        lines = data.read().decode("utf-8").splitlines()
        rows = [[float(value) for value in line.split(",")] for line in lines if line.strip()]
        return json.dumps({"instances": rows})
    raise ValueError(f"unsupported content type {context.request_content_type or 'unknown'}")


def _process_output(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    predictions = response.json()["predictions"]
    labelled = [{"label": LABELS[row.index(max(row))], "scores": row} for row in predictions]
    return json.dumps({"predictions": labelled}), "application/json"


def handler(data, context):
    payload = _process_input(data, context)
    response = requests.post(context.rest_uri, data=payload, timeout=30)
    return _process_output(response, context)
