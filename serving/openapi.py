"""The endpoint's OpenAPI document, with the request schema read off the served model's signature.

Served at GET /openapi.json; the contract tests drive schemathesis with it.
"""

from serving.codecs import IMAGE_TYPES
from serving.signature import IMAGE_FIELDS, Signature

NULLABLE_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string"}], "nullable": True}
ERROR = {"$ref": "#/components/responses/Error"}


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
        **{str(status): ERROR for status in (400, 404, 405, 406, 413, 415)},
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


def document(signature: Signature) -> dict:
    """The whole OpenAPI 3.0 document of an endpoint serving a model with this signature."""
    labels = list(signature.labels)
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "openapi": "3.0.3",
        "info": {"title": "SageMaker hosting endpoint", "version": "1.0", "description":
                 "Client mistakes are answered with 4xx and a JSON error that names the "
                 "record, field or line; never 5xx."},
        "paths": {
            "/ping": _get("Healthy (200) once every worker has loaded and warmed the model."),
            "/execution-parameters": _get("Batch transform settings.", {
                "type": "object",
                "required": ["MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"],
                "properties": {"MaxConcurrentTransforms": {"type": "integer", "minimum": 1},
                               "BatchStrategy": {"type": "string", "enum": ["MULTI_RECORD"]},
                               "MaxPayloadInMB": {"type": "integer", "minimum": 1}}}),
            "/openapi.json": _get("This document.", {"type": "object"}),
            "/invocations": _invocations(signature),
        },
        "components": {
            "schemas": {
                "Record": record_schema(signature),
                "Result": {"type": "object",
                           "required": ["prediction", "confidence", "probabilities"],
                           "properties": {
                               "prediction": {"type": "string", "enum": labels},
                               "confidence": probability,
                               "probabilities": {"type": "object",
                                                 "additionalProperties": probability}}},
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string", "minLength": 1}}},
            },
            "responses": {"Error": {"description": "A client mistake, named.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }
