"""The endpoint's OpenAPI document, with the request schema read off the served model's signature.

Served at GET /openapi.json; the contract tests drive schemathesis with it.
"""

from serving.codecs import IMAGE_TYPES
from serving.signature import IMAGE_FIELDS, Signature

NULLABLE_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string"}], "nullable": True}
ERROR = {"$ref": "#/components/responses/Error"}
ERRORS = {str(status): ERROR for status in (400, 404, 405, 406, 413, 415)}


def record_schema(signature: Signature) -> dict:
    """One record, as the signature takes it."""
    if signature.image:
        spec = signature.image
        row = {"type": "array", "minItems": spec.width, "maxItems": spec.width,
               "items": {"type": "number", "minimum": 0, "maximum": spec.max}}
        choices = {
            "pixels": {"type": "array", "minItems": spec.height, "maxItems": spec.height,
                       "items": row, "description": f"{spec.height} rows of {spec.width} "
                       f"values, 0 (background) to {spec.max:g} (brightest stroke)"},
            "image": {"type": "string", "format": "byte",
                      "description": "base64 PNG or JPEG; made grey, inverted when its border "
                                     f"is light, resized to {spec.width}x{spec.height}"},
            "url": {"type": "string", "description": "http(s) or file URL, fetched only "
                    "under the endpoint's IMAGE_URL_ALLOWED_HOSTS / IMAGE_URL_FILE_ROOT"},
        }
        return {"oneOf": [{"type": "object", "required": [name], "properties": {name: schema},
                           "additionalProperties": False}
                          for name, schema in choices.items() if name in IMAGE_FIELDS]}
    missing = ", ".join(repr(v) for v in sorted(signature.missing))
    return {
        "type": "object",
        "description": f"Raw fields; a missing value may be null, absent or one of {missing}; "
                       "numbers may be numeric strings; other fields are ignored.",
        "minProperties": 1,
        "properties": {field.name: ({"type": "string", "nullable": True}
                                    if field.kind == "string" else NULLABLE_NUMBER)
                       for field in signature.fields},
    }


def _responses() -> dict:
    result = {"$ref": "#/components/schemas/Result"}
    return {
        "200": {
            "description": "One result per record, in order; the shape mirrors a JSON request.",
            "content": {
                "application/json": {"schema": {"anyOf": [
                    result, {"type": "array", "items": result},
                    {"type": "object", "required": ["predictions"],
                     "properties": {"predictions": {"type": "array", "items": result}}}]}},
                "text/csv": {"schema": {"type": "string",
                                        "description": "prediction,confidence per line"}},
                "application/jsonlines": {"schema": {"type": "string",
                                                     "description": "One Result per line."}},
            },
        },
        **ERRORS,
    }


def _invocations(signature: Signature) -> dict:
    record = {"$ref": "#/components/schemas/Record"}
    many = {"type": "array", "minItems": 1, "items": record}
    return {"post": {
        "summary": "Predict one record or many.",
        "parameters": [
            {"in": "header", "name": "Accept", "schema": {"type": "string", "enum": [
                "application/json", "text/csv", "application/jsonlines", "*/*"]}},
            {"in": "header", "name": "X-Amzn-SageMaker-Custom-Attributes",
             "schema": {"type": "string", "maxLength": 1024}},
            {"in": "header", "name": "X-Amzn-SageMaker-Inference-Id",
             "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"anyOf": [
                record, many,
                {"type": "object", "required": ["instances"], "properties": {"instances": many}},
            ]}},
            "text/csv": {"schema": {"type": "string", "description":
                                    f"Headerless; one record per line: "
                                    f"{signature.csv_columns()} (an extra leading label "
                                    "column is ignored)."}},
            "application/jsonlines": {"schema": {"type": "string",
                                                 "description": "One Record per line."}},
            **({kind: {"schema": {"type": "string", "format": "binary", "description":
                                  "One PNG or JPEG picture, as an \"image\" record."}}
                for kind in IMAGE_TYPES} if signature.image else {}),
        }},
        "responses": _responses(),
    }}


def _get(summary: str, schema: dict | None = None) -> dict:
    ok = {"description": summary}
    if schema:
        ok["content"] = {"application/json": {"schema": schema}}
    return {"get": {"summary": summary, "responses": {"200": ok}}}


def _common(invocations: dict, schemas: dict, description: str) -> dict:
    """The document around a model's /invocations and schemas."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "SageMaker hosting endpoint", "version": "1.0",
                 "description": description},
        "paths": {
            "/ping": _get("Healthy (200) once every worker has loaded and warmed the model."),
            "/execution-parameters": _get("Batch transform settings.", {
                "type": "object",
                "required": ["MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"],
                "properties": {"MaxConcurrentTransforms": {"type": "integer", "minimum": 1},
                               "BatchStrategy": {"type": "string", "enum": ["MULTI_RECORD"]},
                               "MaxPayloadInMB": {"type": "integer", "minimum": 1}}}),
            "/openapi.json": _get("This document.", {"type": "object"}),
            "/utilization": _get(
                "This container's CPU and memory counters, for the router's CPUUtilization and "
                "MemoryUtilization.", {
                    "type": "object",
                    "required": ["Seconds", "CpuSeconds", "MemoryBytes", "MemoryLimitBytes"],
                    "properties": {name: {"type": "number", "nullable": True, "minimum": 0}
                                   for name in ("Seconds", "CpuSeconds", "MemoryBytes",
                                                "MemoryLimitBytes")}}),
            "/invocations": invocations,
        },
        "components": {
            "schemas": {**schemas, "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "string", "minLength": 1}}}},
            "responses": {"Error": {"description": "A client mistake, named.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }


def _v2_input(tensor) -> dict:
    ranked = {"type": "array", "minItems": len(tensor.shape), "maxItems": len(tensor.shape),
              "items": {"type": "integer", "minimum": 0}}
    return {"type": "object", "required": ["name", "shape", "datatype", "data"],
            "description": f"{tensor.name}: {tensor.datatype} of shape {tensor.shape_text()} "
                           "(? is free); data flat in row-major order, or nested",
            "properties": {"name": {"type": "string", "enum": [tensor.name]},
                           "datatype": {"type": "string", "enum": [tensor.datatype]},
                           "shape": ranked, "data": {"type": "array"},
                           "parameters": {"type": "object"}}}


def graph_document(model) -> dict:
    """The document of an endpoint serving an ONNX graph without a signature (anyonnx)."""
    inputs = [_v2_input(tensor) for tensor in model.inputs]
    names = [tensor.name for tensor in model.outputs]
    request = {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "minItems": len(inputs), "maxItems": len(inputs),
                   "items": {"anyOf": inputs}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "enum": names}}}}}}
    output = {"type": "object", "required": ["name", "shape", "datatype", "data"],
              "properties": {"name": {"type": "string", "enum": names},
                             "shape": {"type": "array", "items": {"type": "integer"}},
                             "datatype": {"type": "string"}, "data": {"type": "array"}}}
    bodies = [{"$ref": "#/components/schemas/InferenceRequest"},
              {"type": "object", "required": ["instances"],
               "properties": {"instances": {"type": "array", "minItems": 1}}}]
    if len(inputs) == 1:
        bodies.append({"type": "array", "minItems": 1, "description":
                       f"The whole tensor {model.inputs[0].name} as nested arrays"})
    content = {"application/json": {"schema": {"anyOf": bodies}}}
    tensor = model.csv_input
    if tensor is not None:
        columns = "" if tensor.shape[1] is None else f"{tensor.shape[1]} "
        content["text/csv"] = {"schema": {"type": "string", "description":
                               f"Rows of {columns}numbers, one a line, no header: the input "
                               f"{tensor.name} ({tensor.datatype} {tensor.shape_text()})"}}
    invocations = {"post": {
        "summary": "Run the graph: Open Inference Protocol v2 JSON, TensorFlow Serving's "
                   "instances, or a plain array (or CSV rows) for a single-input model.",
        "requestBody": {"required": True, "content": content},
        "responses": {"200": {"description": "The outputs, in the shape of the request "
                                             "(CSV rows with Accept: text/csv).",
                              "content": {"application/json": {"schema": {}},
                                          "text/csv": {"schema": {"type": "string"}}}},
                      **ERRORS},
    }}
    return _common(invocations, {
        "InferenceRequest": request,
        "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"],
                              "properties": {"model_name": {"type": "string"},
                                             "id": {"type": "string"},
                                             "outputs": {"type": "array", "items": output}}},
    }, "Any ONNX graph, read off its own inputs and outputs. Client mistakes are answered "
       "with 4xx and a JSON error that names the input; never 5xx.")


def handler_document() -> dict:
    """The document of an endpoint whose inference handler reads its own requests."""
    invocations = {"post": {
        "summary": "The inference handler's input_fn/handler decides what it takes.",
        "requestBody": {"required": True, "content": {"*/*": {"schema": {}}}},
        "responses": {"200": {"description": "The handler's answer."}, **ERRORS,
                      "500": ERROR},
    }}
    return _common(invocations, {}, "An inference handler (code/inference.py): a ValueError "
                   "while it decodes the input is a 400, its other errors 500s, as JSON.")


def document(signature: Signature) -> dict:
    """The whole OpenAPI 3.0 document of an endpoint serving a model with this signature."""
    labels = list(signature.labels)
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    return _common(_invocations(signature), {
        "Record": record_schema(signature),
        "Result": {"type": "object",
                   "required": ["prediction", "confidence", "probabilities"],
                   "properties": {
                       "prediction": {"type": "string", "enum": labels},
                       "confidence": probability,
                       "probabilities": {"type": "object",
                                         "additionalProperties": probability}}},
    }, "Client mistakes are answered with 4xx and a JSON error that names the record, field "
       "or line; never 5xx.")
