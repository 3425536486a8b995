"""The Flask app: a plain route table over the pure hooks of codecs and model."""

import logging
import sys
import uuid
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from serving import codecs, handlers, multimodel, openapi, utilization
from serving import config as settings
from serving import model as hooks
from serving.capture import Capture

log = logging.getLogger("serving")
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID_KEY = "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"  # the same headers in the WSGI environ
REQUEST_ID_KEY = "HTTP_X_REQUEST_ID"  # nginx's id of a request the caller gave no id
CUSTOM_ATTRIBUTES_KEY = "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"
MAX_CUSTOM_ATTRIBUTES = 1024
WORKER_BOOT_ERROR = 3  # gunicorn halts the whole server when a worker exits with this


def error(status: int, message: str) -> Response:
    return Response(codecs.orjson.dumps({"error": message}), status,
                    mimetype="application/json")


def ping(state) -> Response:
    # Only a worker that loaded and warmed the model exists to answer.
    return Response(b"", 200)


def discard(stream, size: int) -> None:
    """Read and drop a refused body of `size` bytes (nginx bounds it, see read_body).

    nginx is still sending it: a worker that answered and closed the connection first would
    turn the answer into nginx's 502.
    """
    while size > 0 and (chunk := stream.read(min(size, 1024 * 1024))):
        size -= len(chunk)


def read_body(environ: dict, limit: int) -> bytes:
    """The request body, at most `limit` bytes (413 beyond).

    The one place that enforces SAGEMAKER_MAX_PAYLOAD_IN_MB: it holds with or without nginx
    in front (the in-process tests have none), and nginx's own bound sits above it (see
    nginx.conf.template). Read straight from the WSGI input: werkzeug's stream wrappers cost
    more per request than the whole model does, and they would be where Flask's
    MAX_CONTENT_LENGTH applies.
    """
    too_large = f"larger than the {limit // (1024 * 1024)} MB limit (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
    length = environ.get("CONTENT_LENGTH")
    if length:
        size = int(length)
        if size > limit:
            discard(environ["wsgi.input"], size)
            raise codecs.CodecError(413, f"request body of {size} bytes is {too_large}")
        return environ["wsgi.input"].read(size)
    body = environ["wsgi.input"].read(limit + 1)  # chunked: no length given
    if len(body) > limit:
        raise codecs.CodecError(413, f"request body is {too_large}")
    return body


def request_body(environ, config) -> bytes:
    """The body of an /invocations request, with what every model's route checks first."""
    # The body first, whatever the answer: an unread body turns it into nginx's 502.
    body = read_body(environ, config.max_payload_bytes)
    if len(environ.get(CUSTOM_ATTRIBUTES_KEY, "")) > MAX_CUSTOM_ATTRIBUTES:
        # InvokeEndpoint refuses these too.
        raise codecs.CodecError(400, f"{CUSTOM_ATTRIBUTES} is longer than "
                                     f"{MAX_CUSTOM_ATTRIBUTES} characters")
    return body


def invocations(state) -> Response:
    model, config, capture = state
    # Straight from the WSGI environ: werkzeug's header view costs more than the model.
    environ = request.environ
    try:
        body = request_body(environ, config)
        accept = codecs.negotiate(environ.get("HTTP_ACCEPT"), config.default_accept)
        records, shape = codecs.decode(body, environ.get("CONTENT_TYPE"), model.signature)
        answer = codecs.encode(hooks.answer(model, records, config.images), accept, shape)
    except codecs.CodecError as mistake:
        return error(mistake.status, mistake.message)
    except hooks.RecordError as mistake:
        return error(400, str(mistake))
    if capture is not None:  # Data Capture keeps successful invocations only, as SageMaker's
        capture.submit(body, environ.get("CONTENT_TYPE"), answer, accept,
                       environ.get(INFERENCE_ID_KEY) or None)
    return Response(answer, 200, content_type=accept)


def invocations_of_any(state) -> Response:
    """/invocations of a model that decodes its own requests (any ONNX graph, a handler)."""
    model, config, capture = state
    environ = request.environ
    try:
        body = request_body(environ, config)
        answer, content_type = model.invoke(body, environ)
    except codecs.CodecError as mistake:
        return error(mistake.status, mistake.message)
    if capture is not None:
        capture.submit(body, environ.get("CONTENT_TYPE"), answer, content_type,
                       environ.get(INFERENCE_ID_KEY) or None)
    return Response(answer, 200, content_type=content_type)


def execution_parameters(state) -> Response:
    _model, config, _capture = state
    return Response(codecs.orjson.dumps({
        "MaxConcurrentTransforms": config.workers,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": config.max_payload_mb,
    }), 200, mimetype="application/json")


def openapi_document(state) -> Response:
    model, _config, _capture = state
    document = (openapi.document(model.signature) if isinstance(model, hooks.Model)
                else model.document())
    return Response(codecs.orjson.dumps(document), 200, mimetype="application/json")


def instance_utilization(state) -> Response:
    """This container's CPU and memory counters, for the router's CPUUtilization and
    MemoryUtilization (serving/utilization.py)."""
    return Response(codecs.orjson.dumps(utilization.read()), 200, mimetype="application/json")


def targeted(view):
    """The view with the model of the request's target (a multi-model endpoint's state holds
    the cache, multimodel.Models, where a single model's holds the model)."""
    def of_target(state) -> Response:
        models, config, capture = state
        environ = request.environ
        try:
            model = models.get(environ.get(multimodel.TARGET_MODEL_KEY))
        except multimodel.TargetError as mistake:
            if environ.get("CONTENT_LENGTH"):  # an unread body turns the answer into a 502
                discard(environ["wsgi.input"], int(environ["CONTENT_LENGTH"]))
            return error(mistake.status, mistake.message)
        chosen = invocations_of_any if view is invocations and not isinstance(
            model, hooks.Model) else view
        return chosen((model, config, capture))
    return of_target


def loaded_models(state) -> Response:
    """SageMaker's List Model API of a multi-model container: the loaded models, least
    recently used first."""
    models = state[0]
    return Response(codecs.orjson.dumps({"models": [
        {"modelName": target, "modelUrl": str(models.root / target)} for target in models.loaded
    ]}), 200, mimetype="application/json")


ROUTES = (
    ("/ping", ("GET",), ping),
    ("/invocations", ("POST",), invocations),
    ("/execution-parameters", ("GET",), execution_parameters),
    ("/openapi.json", ("GET",), openapi_document),
    (utilization.PATH, ("GET",), instance_utilization),
)


def echo_headers(response: Response) -> Response:
    environ = request.environ
    response.headers[INFERENCE_ID] = (environ.get(INFERENCE_ID_KEY) or environ.get(REQUEST_ID_KEY)
                                      or uuid.uuid4().hex)
    attributes = environ.get(CUSTOM_ATTRIBUTES_KEY)
    if attributes is not None:
        response.headers[CUSTOM_ATTRIBUTES] = attributes
    return response


def http_error(exc: HTTPException) -> Response:
    messages = {
        404: f"no such path {request.path}; the endpoint serves /ping and /invocations",
        405: f"{request.method} is not allowed on {request.path}",
    }
    response = error(exc.code or 500, messages.get(exc.code, exc.description or exc.name))
    for name, value in exc.get_headers():
        if name == "Allow":
            response.headers[name] = value
    return response


def server_error(exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.path)
    return error(500, "internal error; see the endpoint's log")


def load(model_dir: Path, config: settings.Config):
    """An inference handler if the folder has code/inference.py, else model.onnx."""
    if handlers.present(model_dir):
        return handlers.load(model_dir, config)
    return hooks.load(model_dir)


def create_app(model_dir: Path | None = None, config: settings.Config | None = None) -> Flask:
    """Load the model (which runs it once), then build the app (ModelError if it is broken)."""
    config = config or settings.from_env()
    if config.multi_model:
        model = multimodel.Models(config.models_dir, config.models_memory_mb * 1024 * 1024,
                                  lambda folder: load(folder, config))
    else:
        model = load(Path(model_dir or config.model_dir), config)
    # Started here, in the worker: a thread started before gunicorn forks would not survive.
    capture = Capture(config.capture).start() if config.capture else None
    state = (model, config, capture)
    app = Flask("serving")
    app.extensions["capture"] = capture
    app.extensions["models"] = model if config.multi_model else None
    signed = isinstance(model, hooks.Model)  # the fast path is for models with our signature
    for path, methods, view in ROUTES:
        chosen = invocations_of_any if view is invocations and not signed else view
        if config.multi_model and view in (invocations, openapi_document):
            chosen = targeted(view)
        app.add_url_rule(path, view.__name__, lambda chosen=chosen: chosen(state),
                         methods=methods)
    if config.multi_model:
        app.add_url_rule("/models", "models", lambda: loaded_models(state), methods=("GET",))
    app.after_request(echo_headers)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, server_error)
    return app


def worker_app() -> Flask:
    """The app of one gunicorn worker; a broken model exits it, which halts the server."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return create_app()
    except (hooks.ModelError, handlers.HandlerError, settings.ConfigError) as broken:
        log.error("cannot serve: %s", broken)
        sys.exit(WORKER_BOOT_ERROR)
