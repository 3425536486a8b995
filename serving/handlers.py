"""Inference handlers: code/inference.py in the model folder, as SageMaker users write it.

Two conventions, told apart by the functions the script defines:
- the SageMaker inference toolkit's (scikit-learn, PyTorch, Hugging Face containers):
  model_fn(model_dir), then input_fn(body, content_type) -> predict_fn(data, model) ->
  output_fn(prediction, accept), or transform_fn(model, body, content_type, accept) alone;
  each may take one more argument, the context. Missing functions are ours: model_fn loads
  model.onnx, input_fn reads JSON, CSV or NPY, predict_fn runs the graph (or the model's own
  predict), output_fn writes JSON, CSV or NPY. JSON and CSV bodies arrive as str.
- the TensorFlow Serving container's: handler(data, context), or input_handler(data, context)
  and output_handler(response, context) around a call of TensorFlow Serving's REST API, which
  context.rest_uri answers over onnxruntime (tfs_rest). data is a stream of the body.
A result is (body, content type) or the body alone (of the accepted type).

Errors: a ValueError from input decoding (input_fn, input_handler, or handler before it called
the REST API) is the client's, 400; a request the REST API refused keeps that 4xx; anything
else the handler raises is a 500 with its message.
"""

import importlib.util
import inspect
import io
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from serving import anyonnx, codecs, tensors, tfs_rest
from serving import model as hooks

log = logging.getLogger("serving")
SCRIPT = Path("code") / "inference.py"
TOOLKIT = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
TFS = ("handler", "input_handler", "output_handler")
TEXT_TYPES = (codecs.JSON, codecs.CSV)  # handed to toolkit functions as str, as the toolkit does
NPY = "application/x-npy"


class HandlerError(Exception):
    """The handler cannot be loaded; the message names the script and what is wrong."""


@dataclass
class Context:
    """The TensorFlow Serving container's context fields (also passed to toolkit functions
    that take a context)."""
    model_name: str = "model"
    model_version: str | None = None
    method: str = "predict"
    rest_uri: str = ""
    grpc_port: int | None = None
    channel: object = None
    custom_attributes: str | None = None
    request_content_type: str = codecs.JSON
    accept_header: str = codecs.JSON
    content_length: int | None = None
    system_properties: dict = field(default_factory=dict)


def present(model_dir: Path) -> bool:
    return (Path(model_dir) / SCRIPT).is_file()


def _import(path: Path):
    # The script's folder first on the path: its own modules import as on SageMaker.
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("inference", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # whatever the user's module raises at import
        raise HandlerError(f"{path}: cannot import ({type(error).__name__}: {error})") from None
    return module


def _graph(model_dir: Path) -> anyonnx.GraphModel | None:
    """model.onnx at the root, else the highest numbered version folder's (TF Serving's
    layout), as a graph served from its own inputs; None when there is none."""
    candidates = [model_dir / hooks.MODEL_FILE] + sorted(
        (p for p in model_dir.glob(f"*/{hooks.MODEL_FILE}") if p.parent.name.isdigit()),
        key=lambda p: -int(p.parent.name))
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    try:
        return anyonnx.load(hooks._session(path), path)
    except (hooks.ModelError, anyonnx.GraphError) as error:
        raise HandlerError(f"{path}: {error}") from None


def call(function, *args, context=None):
    """Call a toolkit function with or without the context, as its parameters say."""
    count = len(inspect.signature(function).parameters)
    if count == len(args) + 1:
        return function(*args, context)
    return function(*args)


def default_input(body, content_type: str):
    if content_type == codecs.JSON:
        return np.array(orjson.loads(body))
    if content_type == codecs.CSV:
        return np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2, dtype=np.float64)
    if content_type == NPY:
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise codecs.CodecError(415, f"unsupported Content-Type {content_type!r}; the default "
                                 f"input_fn takes {codecs.JSON}, {codecs.CSV}, {NPY}")


def default_predict(data, model):
    if not isinstance(model, anyonnx.GraphModel):
        return model.predict(data)  # a scikit-learn-like model of the user's model_fn
    try:
        feeds = ({model.input(name, "data").name: tensors.array(model.input(name, "data"), v)
                  for name, v in data.items()} if isinstance(data, dict)
                 else {model.inputs[0].name: tensors.array(model.inputs[0], data)})
        results = model.run(anyonnx.Request(feeds, anyonnx.PLAIN,
                                            tuple(t.name for t in model.outputs)))
    except tensors.TensorError as error:
        raise codecs.CodecError(400, str(error)) from None
    return next(iter(results.values())) if len(results) == 1 else results


def default_output(prediction, accept: str):
    if accept == codecs.CSV:
        rows = np.atleast_2d(np.asarray(prediction))
        return "\n".join(",".join(str(v) for v in row) for row in rows.tolist()), accept
    if accept == NPY:
        out = io.BytesIO()
        np.save(out, np.asarray(prediction), allow_pickle=False)
        return out.getvalue(), accept
    if accept in (codecs.JSON, "*/*"):
        return orjson.dumps(tensors.json_value(prediction), option=orjson.OPT_NON_STR_KEYS), \
            codecs.JSON
    raise codecs.CodecError(406, f"unsupported Accept {accept!r}; the default output_fn "
                                 f"answers {codecs.JSON}, {codecs.CSV}, {NPY}")


def as_bytes(result, accept: str) -> tuple[bytes, str]:
    body, content_type = result if isinstance(result, tuple) else (result, accept)
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes | bytearray):
        body = orjson.dumps(tensors.json_value(body), option=orjson.OPT_NON_STR_KEYS)
    return bytes(body), content_type or accept


class Handler:
    def __init__(self, model_dir: Path, module, config):
        self.model_dir, self.module, self.config = model_dir, module, config
        self.tfs = any(hasattr(module, name) for name in TFS)
        functions = {name: getattr(module, name, None) for name in TOOLKIT + TFS}
        self.functions = functions
        self.rest = None
        graph = _graph(model_dir)
        if self.tfs:
            if not (functions["handler"] or (functions["input_handler"]
                                             and functions["output_handler"])):
                raise HandlerError(f"{model_dir / SCRIPT}: defines input_handler or "
                                   "output_handler without the other (or handler)")
            if graph is None:
                log.warning("%s: no model.onnx; context.rest_uri has nothing to serve",
                            model_dir)
            self.rest = tfs_rest.RestApi(graph, config.max_payload_bytes).start()
            return
        if functions["transform_fn"] and any(functions[n] for n in TOOLKIT[1:4]):
            raise HandlerError(f"{model_dir / SCRIPT}: transform_fn cannot be used with "
                               "input_fn, predict_fn or output_fn")
        context = Context(system_properties={"model_dir": str(model_dir)})
        if functions["model_fn"]:
            try:
                self.model = call(functions["model_fn"], str(model_dir), context=context)
            except Exception as error:  # the user's loading code
                raise HandlerError(f"{model_dir / SCRIPT}: model_fn failed "
                                   f"({type(error).__name__}: {error})") from None
        elif graph is None:
            raise HandlerError(f"{model_dir / SCRIPT}: no model_fn and no model.onnx to load")
        else:
            self.model = graph

    def context(self, environ: dict, content_type: str, accept: str) -> Context:
        attributes = environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES")
        tfs = dict(part.strip().split("=", 1) for part in (attributes or "").split(",")
                   if part.strip().startswith("tfs-") and "=" in part)
        context = Context(
            model_name=tfs.get("tfs-model-name", "model"),
            model_version=tfs.get("tfs-model-version"), method=tfs.get("tfs-method", "predict"),
            custom_attributes=attributes, request_content_type=content_type,
            accept_header=accept, content_length=int(environ.get("CONTENT_LENGTH") or 0),
            system_properties={"model_dir": str(self.model_dir)})
        if self.tfs:
            context.rest_uri = self.rest.uri(context.model_name, context.model_version,
                                             context.method)
        return context

    def invoke(self, body: bytes, environ: dict) -> tuple[bytes, str]:
        content_type = codecs.media_type(environ.get("CONTENT_TYPE")) or codecs.JSON
        accept = (environ.get("HTTP_ACCEPT") or "").strip()
        if not accept or accept == "*/*":
            accept = self.config.default_accept
        context = self.context(environ, content_type, accept)
        if self.tfs:
            return self._tfs(body, context)
        data = body
        if content_type in TEXT_TYPES:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError as error:
                raise codecs.CodecError(400, f"body is not UTF-8 text (byte "
                                             f"{error.start})") from None
        f = self.functions
        if f["transform_fn"]:
            result = self._run(False, f["transform_fn"], self.model, data, content_type, accept,
                               context=context)
        else:
            decoded = self._run(True, f["input_fn"] or default_input, data, content_type,
                                context=context)
            prediction = self._run(False, f["predict_fn"] or default_predict, decoded,
                                   self.model, context=context)
            result = self._run(False, f["output_fn"] or default_output, prediction, accept,
                               context=context)
        return as_bytes(result, accept)

    def _run(self, decoding, function, *args, context=None):
        """Call a user's function; its failure as the CodecError to answer.

        decoding: True (or a callable saying so when it fails) while the function decodes
        the client's input, where a ValueError is the client's mistake.
        """
        try:
            return call(function, *args, context=context)
        except codecs.CodecError:
            raise
        except ValueError as error:
            if decoding() if callable(decoding) else decoding:
                raise codecs.CodecError(400, str(error) or type(error).__name__) from None
            raise self._failed(error) from None
        except Exception as error:  # the user's code: its message, as a 500
            raise self._failed(error) from None

    def _failed(self, error: Exception) -> codecs.CodecError:
        refused = [s for s in (self.rest.statuses if self.rest else ()) if 400 <= s < 500]
        if refused:  # the handler passed on the REST API's refusal of the client's data
            return codecs.CodecError(refused[-1], str(error))
        log.error("inference handler failed: %s: %s", type(error).__name__, error)
        return codecs.CodecError(500, str(error) or type(error).__name__)

    def _tfs(self, body: bytes, context: Context) -> tuple[bytes, str]:
        self.rest.statuses = []
        data = io.BytesIO(body)
        f = self.functions
        if f["handler"]:
            # Before its first REST call a handler is still decoding the input.
            result = self._run(lambda: not self.rest.statuses, f["handler"], data, context)
            return as_bytes(result, context.accept_header)
        processed = self._run(True, f["input_handler"], data, context)
        if not isinstance(processed, str | bytes):
            processed = orjson.dumps(processed)
        path = context.rest_uri.split(str(self.rest.port), 1)[1]
        status, answer = self.rest.answer("POST", path, processed if isinstance(
            processed, bytes) else processed.encode("utf-8"))
        result = self._run(False, f["output_handler"], tfs_rest.Response(status, answer),
                           context)
        return as_bytes(result, context.accept_header)

    def document(self) -> dict:
        from serving import openapi

        return openapi.handler_document()


def load(model_dir: Path, config) -> Handler:
    """Import code/inference.py and load its model (model_fn) once; HandlerError if broken."""
    model_dir = Path(model_dir)
    return Handler(model_dir, _import(model_dir / SCRIPT), config)
