"""Any ONNX graph, served from its own inputs and outputs (no signature needed).

JSON requests in three shapes, each answered in its own:
- Open Inference Protocol v2: {"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?,
  "id"?} -> {"model_name", "id"?, "outputs": [{"name", "shape", "datatype", "data"}]};
- TensorFlow Serving's REST predict API: {"instances": [...]} -> {"predictions": [...]} (row
  format) and {"inputs": {name: value}} -> {"outputs": ...} (columnar format);
- a plain JSON array, the whole tensor of a single-input model -> the output's array (an
  object of output name -> array when the graph has several).
The same decoding answers /invocations and the loopback REST API of inference handlers
(serving/tfs_rest.py).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import orjson

from serving import codecs, tensors
from serving.tensors import Tensor, TensorError

log = logging.getLogger("serving")
V2, INSTANCES, COLUMNS, PLAIN = "v2", "instances", "columns", "plain"
MODEL_NAME = "model"


class GraphError(ValueError):
    """A graph that cannot be served from its own inputs; the message names the input."""


@dataclass(frozen=True)
class Request:
    feeds: dict  # input name -> array
    shape: str  # V2, INSTANCES, COLUMNS or PLAIN
    outputs: tuple  # output names to answer
    id: object = None  # a v2 request's id, echoed


@dataclass(frozen=True)
class GraphModel:
    session: object  # onnxruntime.InferenceSession
    path: Path
    inputs: tuple  # of Tensor
    outputs: tuple  # of Tensor

    @property
    def input_names(self) -> str:
        return ", ".join(t.name for t in self.inputs)

    def input(self, name, where: str) -> Tensor:
        found = next((t for t in self.inputs if t.name == name), None)
        if found is None:
            raise TensorError(f"{where}: {name!r} is not an input of the model; it takes "
                              f"{self.input_names}")
        return found

    def run(self, request: Request) -> dict:
        """Output name -> value; InvalidArgument of onnxruntime is the client's (400)."""
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        try:
            values = self.session.run(list(request.outputs), request.feeds)
        except InvalidArgument as error:
            raise TensorError(f"the model cannot run on these inputs: {error}") from None
        return dict(zip(request.outputs, values, strict=True))

    @property
    def csv_input(self) -> Tensor | None:
        """The input CSV rows feed: the only one, 2-D and numeric; else None."""
        if len(self.inputs) != 1:
            return None
        tensor = self.inputs[0]
        numeric = tensor.datatype[:2] in ("FP", "IN", "UI")
        return tensor if numeric and len(tensor.shape) == 2 else None

    def invoke(self, body: bytes, environ: dict) -> tuple[bytes, str]:
        """(answer, content type) of one /invocations request; CodecError for a mistake."""
        kind = codecs.media_type(environ.get("CONTENT_TYPE")) or codecs.JSON
        takes = "application/json" + (" or text/csv" if self.csv_input else "")
        if kind not in (codecs.JSON, codecs.CSV) or (kind == codecs.CSV and not self.csv_input):
            why = ("" if kind != codecs.CSV else "; CSV rows are for a model with one 2-D "
                   f"numeric input, and this one takes {self.input_names}")
            raise codecs.CodecError(415, f"unsupported Content-Type {kind!r}; this model "
                                         f"takes {takes}{why}")
        accept = environ.get("HTTP_ACCEPT")
        reply_kind = codecs.JSON
        if accept and accept.strip():
            reply_kind = codecs.negotiate(accept, codecs.JSON)
            if reply_kind not in (codecs.JSON, codecs.CSV):
                raise codecs.CodecError(406, f"unsupported Accept {accept!r}: this model "
                                             "answers application/json or text/csv")
        if kind == codecs.JSON and reply_kind == codecs.JSON:
            return answer(self, body), codecs.JSON
        try:
            decoded = (csv_request(self, body) if kind == codecs.CSV else
                       request(self, _json(body)))
            results = self.run(decoded)
            if reply_kind == codecs.CSV:
                return csv_answer(results, accept), codecs.CSV
            return orjson.dumps(reply(self, decoded, results),
                                option=orjson.OPT_NON_STR_KEYS), codecs.JSON
        except TensorError as error:
            raise codecs.CodecError(400, str(error)) from None

    def document(self) -> dict:
        from serving import openapi

        return openapi.graph_document(self)


def load(session, path: Path) -> GraphModel:
    """The graph's inputs and outputs, warmed once; GraphError if an input is no tensor."""
    inputs = tuple(tensors.spec(node) for node in session.get_inputs())
    for tensor, node in zip(inputs, session.get_inputs(), strict=True):
        if not tensor.datatype:
            raise GraphError(f"input {tensor.name!r} is {node.type}; only tensors of "
                             f"{', '.join(sorted(tensors.DATATYPES))} can be sent as JSON")
    outputs = tuple(tensors.spec(node) for node in session.get_outputs())
    model = GraphModel(session, path, inputs, outputs)
    feeds = {tensor.name: tensors.zeros(tensor) for tensor in inputs}
    try:
        model.run(Request(feeds, V2, tuple(t.name for t in outputs)))
    except Exception as error:  # a graph whose free dimensions need other sizes still serves
        log.warning("%s: not warmed on all-zero inputs (%s)", path, error)
    return model


def _v2(model: GraphModel, value: dict) -> Request:
    feeds = {}
    for number, entry in enumerate(value["inputs"]):
        tensor = model.input(entry.get("name"), f"inputs[{number}]")
        if tensor.name in feeds:
            raise TensorError(f"input {tensor.name!r} is given twice")
        missing = [key for key in ("shape", "datatype", "data") if key not in entry]
        if missing:
            raise TensorError(f"input {tensor.name!r}: no {', '.join(missing)}")
        if entry["datatype"] != tensor.datatype:
            raise TensorError(f"input {tensor.name!r}: datatype {entry['datatype']!r} is not "
                              f"the model's {tensor.datatype}")
        feeds[tensor.name] = tensors.array(tensor, entry["data"], entry["shape"])
    absent = [t.name for t in model.inputs if t.name not in feeds]
    if absent:
        raise TensorError(f"inputs: no input {absent[0]!r}; the model takes {model.input_names}")
    wanted = value.get("outputs")
    names = tuple(t.name for t in model.outputs)
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
            raise TensorError('"outputs" must be a list of {"name": ...} objects')
        chosen = tuple(o.get("name") for o in wanted)
        unknown = [name for name in chosen if name not in names]
        if unknown or not chosen:
            raise TensorError(f"outputs: {unknown[0] if unknown else 'none'!r} is not an "
                              f"output of the model; it gives {', '.join(names)}")
        names = chosen
    return Request(feeds, V2, names, value.get("id"))


def _instances(model: GraphModel, instances) -> dict:
    if not isinstance(instances, list) or not instances:
        raise TensorError('"instances" must be a non-empty list')
    if len(model.inputs) == 1:
        return {model.inputs[0].name: tensors.array(model.inputs[0], instances)}
    columns = {tensor.name: [] for tensor in model.inputs}
    for number, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise TensorError(f"instances[{number}]: the model has inputs {model.input_names};"
                              " each instance is an object of them")
        for name, column in columns.items():
            if name not in instance:
                raise TensorError(f"instances[{number}]: no input {name!r}")
            column.append(instance[name])
    return {t.name: tensors.array(t, columns[t.name]) for t in model.inputs}


def _columns(model: GraphModel, inputs) -> dict:
    if not isinstance(inputs, dict):
        if len(model.inputs) != 1:
            raise TensorError(f'"inputs": the model has inputs {model.input_names}; give an '
                              "object of them, or v2 input objects")
        inputs = {model.inputs[0].name: inputs}
    for name in inputs:
        model.input(name, '"inputs"')
    absent = [t.name for t in model.inputs if t.name not in inputs]
    if absent:
        raise TensorError(f'"inputs": no input {absent[0]!r}')
    return {t.name: tensors.array(t, inputs[t.name]) for t in model.inputs}


def request(model: GraphModel, value) -> Request:
    """A decoded JSON body as the graph's feeds, or TensorError naming the input."""
    outputs = tuple(t.name for t in model.outputs)
    if isinstance(value, list):
        if len(model.inputs) != 1:
            raise TensorError(f"a plain array is for a single-input model; this one takes "
                              f"{model.input_names}: send v2 inputs or instances")
        return Request({model.inputs[0].name: tensors.array(model.inputs[0], value)}, PLAIN,
                       outputs)
    if isinstance(value, dict) and "inputs" in value:
        inputs = value["inputs"]
        if isinstance(inputs, list) and inputs and all(isinstance(i, dict) for i in inputs):
            return _v2(model, value)
        return Request(_columns(model, inputs), COLUMNS, outputs)
    if isinstance(value, dict) and "instances" in value:
        return Request(_instances(model, value["instances"]), INSTANCES, outputs)
    raise TensorError('expected {"inputs": [...]} (Open Inference Protocol v2), '
                      '{"instances": [...]}, or a JSON array for a single-input model')


def _rows(value, count: int) -> list:
    rows = tensors.json_value(value)
    return rows if isinstance(rows, list) and len(rows) == count else [rows] * count


def reply(model: GraphModel, request: Request, results: dict) -> dict | list:
    """The answer in the shape of the request."""
    if request.shape == V2:
        outputs = []
        for name, value in results.items():
            data = tensors.json_value(value.ravel() if hasattr(value, "ravel") else value)
            outputs.append({
                "name": name,
                "datatype": tensors.datatype_of(value) if hasattr(value, "dtype") else "BYTES",
                "shape": list(getattr(value, "shape", (len(data),))),
                "data": data,
            })
        answer = {"model_name": MODEL_NAME, "outputs": outputs}
        return answer | ({"id": request.id} if request.id is not None else {})
    single = len(results) == 1
    if request.shape == INSTANCES:
        count = len(next(iter(request.feeds.values())))
        if single:
            return {"predictions": tensors.json_value(next(iter(results.values())))}
        columns = {name: _rows(value, count) for name, value in results.items()}
        return {"predictions": [{name: column[row] for name, column in columns.items()}
                                for row in range(count)]}
    values = {name: tensors.json_value(value) for name, value in results.items()}
    value = next(iter(values.values())) if single else values
    return {"outputs": value} if request.shape == COLUMNS else value


def _json(body: bytes):
    if not body.strip():
        raise codecs.CodecError(400, "empty body: send the model's inputs as JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise codecs.CodecError(400, f"malformed JSON: {error}") from None


def csv_request(model: GraphModel, body: bytes) -> Request:
    """text/csv rows as the only input's feed, answered as a plain array would be."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise codecs.CodecError(400, f"the CSV body is not UTF-8 text: {error}") from None
    tensor = model.csv_input
    return Request({tensor.name: tensors.csv_array(tensor, text)}, PLAIN,
                   tuple(t.name for t in model.outputs))


def csv_answer(results: dict, accept: str) -> bytes:
    """One CSV line per row of the only output (1-D: a value a line); CodecError 406 when the
    graph's outputs are not one such array."""
    values = list(results.values())
    if len(values) != 1 or getattr(values[0], "ndim", 3) not in (1, 2):
        raise codecs.CodecError(406, f"unsupported Accept {accept!r}: the model's outputs "
                                     f"({', '.join(results)}) are not one table of rows; ask "
                                     "for application/json")
    rows = values[0].reshape(len(values[0]), -1).tolist()
    return "".join(",".join(map(str, row)) + "\n" for row in rows).encode()


def answer(model: GraphModel, body: bytes) -> bytes:
    """The JSON answer to a JSON body; CodecError (400) for a mistake, naming the input."""
    value = _json(body)
    try:
        decoded = request(model, value)
        return orjson.dumps(reply(model, decoded, model.run(decoded)),
                            option=orjson.OPT_NON_STR_KEYS)
    except TensorError as error:
        raise codecs.CodecError(400, str(error)) from None
