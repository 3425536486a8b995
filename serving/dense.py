"""A plain-Python forward pass over network.json, for requests of a few records.

onnxruntime answers a thousand rows in the time Python takes for a handful, but each call costs
tens of microseconds in a busy worker, several times the whole network (measured under wrk: a
single-record request costs the worker about 20 µs less this way). Training writes
network.json beside model.onnx when the network is a plain stack of Dense layers; the model
hooks check at load that it answers as model.onnx does and use onnxruntime for larger batches.
"""

import math
import operator

ACTIVATIONS = ("linear", "relu", "softmax")


class NetworkError(ValueError):
    """network.json is not a usable Dense stack; the message says what is wrong."""


def parse(spec, width: int) -> tuple:
    """Layers as ((column, bias) per unit, activation) from network.json, for `width` inputs."""
    layers = spec.get("layers") if isinstance(spec, dict) else None
    if not isinstance(layers, list) or not layers:
        raise NetworkError('expected {"layers": [...]}')
    parsed = []
    for number, layer in enumerate(layers):
        try:
            kernel, bias, activation = layer["kernel"], layer["bias"], layer["activation"]
            # Stored as Keras keeps it, [inputs][units]; a unit's column is what a row meets.
            columns = [[float(w) for w in column] for column in zip(*kernel, strict=True)]
            bias = [float(b) for b in bias]
        except (KeyError, TypeError, ValueError) as error:
            raise NetworkError(f"layer {number}: malformed ({error!r})") from None
        if activation not in ACTIVATIONS:
            raise NetworkError(f"layer {number}: unsupported activation {activation!r}")
        if len(kernel) != width or len(columns) != len(bias):
            raise NetworkError(f"layer {number}: a {len(kernel)}x{len(columns)} kernel with "
                               f"{len(bias)} biases does not follow {width} inputs")
        parsed.append((tuple(zip(map(tuple, columns), bias, strict=True)), activation))
        width = len(bias)
    return tuple(parsed)


def forward(layers: tuple, row: list) -> list:
    """The network's outputs for one row of features."""
    mul = operator.mul
    for units, activation in layers:
        row = [sum(map(mul, row, column), bias) for column, bias in units]
        if activation == "relu":
            row = [value if value > 0.0 else 0.0 for value in row]
        elif activation == "softmax":
            top = max(row)
            row = [math.exp(value - top) for value in row]
            total = math.fsum(row)
            row = [value / total for value in row]
    return row
