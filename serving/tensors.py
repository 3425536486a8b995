"""Tensors of any ONNX graph: its inputs and outputs as specs, JSON values checked into arrays.

The names are the Open Inference Protocol v2's (FP32, INT64, BYTES, ...); every check names
the input it refuses.
"""

import math
from dataclasses import dataclass

import numpy as np

# onnxruntime's element type -> (v2 datatype, numpy dtype)
TYPES = {
    "tensor(float)": ("FP32", np.float32),
    "tensor(double)": ("FP64", np.float64),
    "tensor(float16)": ("FP16", np.float16),
    "tensor(int8)": ("INT8", np.int8),
    "tensor(int16)": ("INT16", np.int16),
    "tensor(int32)": ("INT32", np.int32),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(uint8)": ("UINT8", np.uint8),
    "tensor(uint16)": ("UINT16", np.uint16),
    "tensor(uint32)": ("UINT32", np.uint32),
    "tensor(uint64)": ("UINT64", np.uint64),
    "tensor(bool)": ("BOOL", np.bool_),
    "tensor(string)": ("BYTES", np.object_),
}
DATATYPES = {datatype: dtype for datatype, dtype in TYPES.values()}
# numpy kinds a JSON value of each datatype may arrive as (before the cast).
KINDS = {"FP": "fiu", "IN": "iu", "UI": "iu", "BO": "b", "BY": "U"}
WORDS = {"fiu": "numbers", "iu": "whole numbers", "b": "true/false", "U": "strings"}
KIND_WORDS = {"f": "fractions", "i": "whole numbers", "u": "whole numbers", "b": "true/false",
              "U": "strings"}


class TensorError(ValueError):
    """A value that does not fit an input; the message names the input."""


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str  # v2: FP32, INT64, BYTES, ...; "" for a non-tensor output (sequence, map)
    shape: tuple  # ints, None for a dimension the graph leaves free

    @property
    def dtype(self):
        return DATATYPES[self.datatype]

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


def spec(node) -> Tensor:
    """The Tensor of an onnxruntime NodeArg (free dimensions: None)."""
    datatype = TYPES.get(node.type, ("",))[0]
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (node.shape or ()))
    return Tensor(node.name, datatype, shape)


def datatype_of(array) -> str:
    for datatype, dtype in DATATYPES.items():
        if array.dtype == dtype or (datatype == "BYTES" and array.dtype.kind in "OUS"):
            return datatype
    return ""


def _range_check(tensor: Tensor, values: np.ndarray) -> None:
    if values.dtype.kind not in "iuf" or not values.size or tensor.datatype == "FP64":
        return
    if tensor.datatype.startswith("FP"):
        top = float(np.finfo(tensor.dtype).max)
        finite = values[np.isfinite(values)]
        if finite.size and float(np.abs(finite).max()) > top:
            raise TensorError(f"input {tensor.name!r}: values must be within ±{top:.4g} "
                              f"({tensor.datatype})")
        return
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise TensorError(f"input {tensor.name!r}: values must be whole numbers "
                          f"({tensor.datatype})")
    info = np.iinfo(tensor.dtype)
    low, high = values.min(), values.max()
    if low < info.min or high > info.max:
        raise TensorError(f"input {tensor.name!r}: values must be from {info.min} to "
                          f"{info.max} ({tensor.datatype})")


def array(tensor: Tensor, data, shape=None) -> np.ndarray:
    """data (a JSON value) as the input's array: its datatype, a shape the graph takes.

    shape: the v2 request's shape for flat (or nested) data; None: the data's own nesting.
    """
    name = tensor.name
    try:
        values = np.asarray(data)
    except (ValueError, TypeError):
        raise TensorError(f"input {name!r}: data is not a rectangular array (rows of "
                          "unequal length)") from None
    if values.dtype == object and values.size:
        raise TensorError(f"input {name!r}: data must be a rectangular array of "
                          f"{WORDS[KINDS[tensor.datatype[:2]]]} (no nulls or objects)")
    kinds = KINDS[tensor.datatype[:2]]
    kind = values.dtype.kind
    # Whole-valued floats are fine for integer inputs (JSON writes 3.0 for 3 at times).
    if values.size and kind not in kinds and not (kinds == "iu" and kind == "f"):
        raise TensorError(f"input {name!r}: {tensor.datatype} takes {WORDS[kinds]}, got "
                          f"{KIND_WORDS.get(kind, 'other values')}")
    if shape is not None:
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise TensorError(f"input {name!r}: shape must be a list of whole numbers")
        if math.prod(shape) != values.size:
            raise TensorError(f"input {name!r}: shape {shape} holds {math.prod(shape)} values, "
                              f"data has {values.size}")
        values = values.reshape(shape)
    given = list(values.shape)
    fits = len(given) == len(tensor.shape) and all(
        want is None or want == got for want, got in zip(tensor.shape, given, strict=True))
    if not fits:
        raise TensorError(f"input {name!r}: shape {given} does not fit the model's "
                          f"{tensor.shape_text()} ({tensor.datatype})")
    _range_check(tensor, values)
    if tensor.datatype == "BYTES":
        return values.astype(object)
    return values.astype(tensor.dtype)


def zeros(tensor: Tensor) -> np.ndarray:
    """A small array every input takes: free dimensions 1, zeros or empty strings."""
    shape = tuple(1 if d is None else d for d in tensor.shape)
    if tensor.datatype == "BYTES":
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype=tensor.dtype)


def json_value(value):
    """An output (array, or a sequence/map of a non-tensor output) as plain JSON data."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S":
            value = value.astype(str)
        return value.tolist()
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def csv_array(tensor: Tensor, text: str) -> np.ndarray:
    """text/csv rows (no header) as a 2-D numeric input's array; TensorError naming the row and
    column (both from 1) of the first cell that is not a number, or a row of the wrong width."""
    import csv

    width = tensor.shape[1]
    rows = []
    for number, row in enumerate(csv.reader(text.rstrip("\r\n").splitlines()), 1):
        if width is not None and len(row) != width:
            raise TensorError(f"row {number}: {len(row)} columns; input {tensor.name!r} takes "
                              f"{width} ({tensor.shape_text()})")
        width = len(row)
        values = []
        for column, cell in enumerate(row, 1):
            try:
                values.append(float(cell))
            except ValueError:
                raise TensorError(f"row {number}, column {column}: {cell.strip()[:40]!r} is not "
                                  f"a number (input {tensor.name!r}, {tensor.datatype}; no header "
                                  "row)") from None
        rows.append(values)
    if not rows:
        raise TensorError(f"no rows: send one CSV row of input {tensor.name!r} per line")
    try:
        return array(tensor, np.asarray(rows))
    except TensorError as error:
        raise TensorError(f"{error} (in the CSV rows)") from None
