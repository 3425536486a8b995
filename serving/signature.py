"""The model's signature: what a request must give and what comes back, read from model.onnx.

The training job stores it as JSON in the graph's metadata (key SIGNATURE_KEY). Serving knows
no model: every field name, type, label, image size and missing-value marker comes from here.
"""

import json
import math
from dataclasses import dataclass

SIGNATURE_KEY = "sagemaker_signature"
SUPPORTED_VERSION = 1
# onnxruntime's names of the element types a signature may declare.
ONNX_TYPES = {"string": "tensor(string)", "float": "tensor(float)"}
IMAGE_FIELDS = ("pixels", "image", "url")  # a record of an image model has exactly one


class SignatureError(ValueError):
    """The signature is missing or cannot be served; the message says what is wrong."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "string" or "float"


@dataclass(frozen=True)
class Image:
    input: str
    height: int
    width: int
    max: float


@dataclass(frozen=True)
class Signature:
    fields: tuple  # of Field, in the signature's order (the CSV column order); () for an image
    image: Image | None
    labels: tuple
    output: str
    missing: frozenset  # strings (after stripping spaces) that mean "missing"
    missing_string: str  # what a missing string field becomes
    raw: dict  # the signature as stored, for the OpenAPI document

    def __post_init__(self):
        # Looked up on every request: computed once.
        names = tuple(field.name for field in self.fields)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "known", frozenset(names or IMAGE_FIELDS))
        object.__setattr__(self, "numbers", tuple(f.name for f in self.fields if f.kind == "float"))
        object.__setattr__(self, "strings", tuple(f.name for f in self.fields
                                                  if f.kind == "string"))
        # float() reads each marker as NaN or not at all: a column of numbers may then be
        # read with float() alone, the markers it refuses read one by one (serving/records).
        object.__setattr__(self, "float_markers_are_nan",
                           all(_nan_or_not_a_number(marker) for marker in self.missing))

    @property
    def csv_width(self) -> int:
        return self.image.height * self.image.width if self.image else len(self.fields)

    def csv_record(self, row: list) -> dict:
        """A record of one CSV row's values (the label column already dropped)."""
        if self.image:
            width = self.image.width
            return {"pixels": [row[start:start + width] for start in range(0, len(row), width)]}
        return dict(zip(self.names, row, strict=True))

    def csv_columns(self) -> str:
        """The CSV columns, in words, for error messages and documentation."""
        if self.image:
            return f"{self.csv_width} pixel values ({self.image.height} rows of {self.image.width})"
        return ",".join(self.names)


def _nan_or_not_a_number(text: str) -> bool:
    try:
        return math.isnan(float(text))
    except ValueError:
        return True


def _shape(entry: dict) -> list:
    shape = entry.get("shape")
    if not isinstance(shape, list):
        raise SignatureError(f"input {entry.get('name')!r} has no shape list")
    return shape


def _image(raw: dict, inputs: list) -> Image:
    spec = raw["image"]
    if not isinstance(spec, dict):
        raise SignatureError('"image" must be an object')
    entry = next((i for i in inputs if i.get("name") == spec.get("input")), None)
    if entry is None or len(inputs) != 1:
        raise SignatureError(f'"image" names input {spec.get("input")!r}; an image model '
                             "has exactly that one input")
    height, width, top = spec.get("height"), spec.get("width"), spec.get("max")
    if not all(type(v) is int and v > 0 for v in (height, width)):
        raise SignatureError('"image" needs positive whole "height" and "width"')
    if type(top) not in (int, float) or not math.isfinite(top) or top <= 0:
        raise SignatureError('"image" needs a positive "max"')
    if entry.get("type") != "float" or _shape(entry)[1:] != [height, width]:
        raise SignatureError(f"input {entry['name']!r} must be float of shape "
                             f"[null, {height}, {width}]")
    return Image(entry["name"], height, width, float(top))


def _fields(inputs: list) -> tuple:
    fields = []
    for entry in inputs:
        name, kind = entry.get("name"), entry.get("type")
        if not isinstance(name, str) or kind not in ONNX_TYPES or _shape(entry)[1:] != [1]:
            raise SignatureError(f"input {name!r}: expected a string or float field of shape "
                                 f"[null, 1], got {kind!r} {entry.get('shape')!r}")
        if name in IMAGE_FIELDS:
            raise SignatureError(f"input {name!r}: the name is kept for image inputs")
        fields.append(Field(name, kind))
    return tuple(fields)


def parse(raw) -> Signature:
    """A Signature of the stored JSON value, or SignatureError saying what is wrong."""
    if not isinstance(raw, dict):
        raise SignatureError("expected a JSON object")
    if raw.get("version") != SUPPORTED_VERSION:
        raise SignatureError(f"version {raw.get('version')!r} is not {SUPPORTED_VERSION}")
    inputs, labels = raw.get("inputs"), raw.get("labels")
    missing, output = raw.get("missing", {}), raw.get("output")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise SignatureError('"inputs" must be a non-empty list of objects')
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise SignatureError('"labels" must be a non-empty list of strings')
    if not isinstance(output, dict) or not isinstance(output.get("name"), str):
        raise SignatureError('"output" must be an object with a "name"')
    values = missing.get("values", []) if isinstance(missing, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) \
            or not isinstance(missing.get("string", ""), str):
        raise SignatureError('"missing" must hold a list of strings "values" and a "string"')
    image = _image(raw, inputs) if "image" in raw else None
    return Signature(() if image else _fields(inputs), image, tuple(labels), output["name"],
                     frozenset(v.strip() for v in values), missing.get("string", ""), raw)


def read(session) -> Signature:
    """The signature of an onnxruntime session, checked against the session's own graph."""
    props = session.get_modelmeta().custom_metadata_map
    if SIGNATURE_KEY not in props:
        raise SignatureError(f"no {SIGNATURE_KEY} in the model's metadata; export the model "
                             "with its signature (training/model/graph.py)")
    try:
        raw = json.loads(props[SIGNATURE_KEY])
    except ValueError as error:
        raise SignatureError(f"{SIGNATURE_KEY} is not JSON ({error})") from None
    signature = parse(raw)
    graph = {i.name: i.type for i in session.get_inputs()}
    wanted = ({signature.image.input: ONNX_TYPES["float"]} if signature.image else
              {f.name: ONNX_TYPES[f.kind] for f in signature.fields})
    if graph != wanted:
        raise SignatureError(f"the signature's inputs {wanted} are not the graph's {graph}")
    if signature.output not in {o.name for o in session.get_outputs()}:
        raise SignatureError(f"the graph has no output {signature.output!r}")
    return signature
