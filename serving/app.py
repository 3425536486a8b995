"""The WSGI app: a plain route table over the pure hooks of codecs and model.

No web framework: a request is a dict lookup of its path and method, and an answer is
(status, body, content type, headers). Flask's request and response objects, routing and
hooks cost about 50 µs a request hot and about 100 µs in a loaded container (docs/bench.md),
more than decoding, checking, running and answering one record.
"""

import logging
import sys
import uuid
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path

from werkzeug.test import Client

from serving import bodies, codecs, handlers, multimodel, openapi, utilization
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
WORKER_BOOT_ERROR = 22  # uWSGI's code for an app that cannot load: --need-app halts it
JSON = "application/json"
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

# An answer: status, body, content type (None: no body to type), further headers.
Reply = tuple[int, bytes, str | None, tuple[tuple[str, str], ...]]


def error(status: int, message: str, headers: tuple = ()) -> Reply:
    return status, codecs.orjson.dumps({"error": message}), JSON, headers


def ping(state, environ) -> Reply:
    # Only a worker that loaded and warmed the model exists to answer.
    return 200, b"", None, ()


def request_body(environ, config) -> bytes:
    """The body of an /invocations request, with what every model's route checks first."""
    # The body first, whatever the answer: an unread body turns it into nginx's 502.
    body = bodies.read(environ, config.max_payload_bytes)
    if len(environ.get(CUSTOM_ATTRIBUTES_KEY, "")) > MAX_CUSTOM_ATTRIBUTES:
        # InvokeEndpoint refuses these too.
        raise codecs.CodecError(400, f"{CUSTOM_ATTRIBUTES} is longer than "
                                     f"{MAX_CUSTOM_ATTRIBUTES} characters")
    return body


def invocations(state, environ) -> Reply:
    model, config, capture = state
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
    return 200, answer, accept, ()


def invocations_of_any(state, environ) -> Reply:
    """/invocations of a model that decodes its own requests (any ONNX graph, a handler)."""
    model, config, capture = state
    try:
        body = request_body(environ, config)
        answer, content_type = model.invoke(body, environ)
    except codecs.CodecError as mistake:
        return error(mistake.status, mistake.message)
    if capture is not None:
        capture.submit(body, environ.get("CONTENT_TYPE"), answer, content_type,
                       environ.get(INFERENCE_ID_KEY) or None)
    return 200, answer, content_type, ()


def execution_parameters(state, environ) -> Reply:
    _model, config, _capture = state
    return 200, codecs.orjson.dumps({
        "MaxConcurrentTransforms": config.workers,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": config.max_payload_mb,
    }), JSON, ()


def openapi_document(state, environ) -> Reply:
    model, _config, _capture = state
    document = (openapi.document(model.signature) if isinstance(model, hooks.Model)
                else model.document())
    return 200, codecs.orjson.dumps(document), JSON, ()


def instance_utilization(state, environ) -> Reply:
    """This container's CPU and memory counters, for the router's CPUUtilization and
    MemoryUtilization (serving/utilization.py)."""
    return 200, codecs.orjson.dumps(utilization.read()), JSON, ()


def targeted(view):
    """The view with the model of the request's target (a multi-model endpoint's state holds
    the cache, multimodel.Models, where a single model's holds the model)."""
    def of_target(state, environ) -> Reply:
        models, config, capture = state
        try:
            model = models.get(environ.get(multimodel.TARGET_MODEL_KEY))
        except multimodel.TargetError as mistake:
            bodies.discard_unread(environ)
            return error(mistake.status, mistake.message)
        chosen = invocations_of_any if view is invocations and not isinstance(
            model, hooks.Model) else view
        return chosen((model, config, capture), environ)
    return of_target


def loaded_models(state, environ) -> Reply:
    """SageMaker's List Model API of a multi-model container: the loaded models, least
    recently used first."""
    models = state[0]
    return 200, codecs.orjson.dumps({"models": [
        {"modelName": target, "modelUrl": str(models.root / target)} for target in models.loaded
    ]}), JSON, ()


ROUTES = (
    ("/ping", ("GET",), ping),
    ("/invocations", ("POST",), invocations),
    ("/execution-parameters", ("GET",), execution_parameters),
    ("/openapi.json", ("GET",), openapi_document),
    (utilization.PATH, ("GET",), instance_utilization),
)


def request_path(environ: dict) -> str:
    """The path as the client wrote it (WSGI hands it over as latin-1 of its bytes)."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return path.encode("latin-1").decode("utf-8", "replace")


def allowed(methods: dict) -> str:
    return ", ".join(sorted({*methods, "OPTIONS"}))


def unrouted(methods: dict | None, environ: dict) -> Reply:
    """No view for this path and method: 404, 405 (with Allow), or OPTIONS' answer."""
    bodies.discard_unread(environ)
    path, method = request_path(environ), environ.get("REQUEST_METHOD", "")
    if methods is None:
        return error(404, f"no such path {path}; the endpoint serves /ping and /invocations")
    if method == "OPTIONS":
        return 200, b"", None, (("Allow", allowed(methods)),)
    return error(405, f"{method} is not allowed on {path}", (("Allow", allowed(methods)),))


class App:
    """A WSGI app over a route table, {path: {method: view}}, each view bound to its state.

    Every answer carries the inference id (the caller's, else nginx's request id, else a new
    one) and echoes the custom attributes, as SageMaker's InvokeEndpoint answers do.
    """

    def __init__(self, routes: dict[str, dict[str, Callable[[dict], Reply]]],
                 extensions: dict):
        self.routes = routes
        self.extensions = extensions  # what tests reach: the capture, the model cache

    def reply(self, environ: dict) -> Reply:
        methods = self.routes.get(environ.get("PATH_INFO"))
        view = methods and methods.get(environ.get("REQUEST_METHOD"))
        if view is None:
            return unrouted(methods, environ)
        try:
            return view(environ)
        except Exception:  # a bug, not the client's mistake: logged, never a stack trace out
            log.exception("unexpected error on %s", request_path(environ))
            return error(500, "internal error; see the endpoint's log")

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        status, body, content_type, extra = self.reply(environ)
        headers = [("Content-Length", str(len(body))),
                   (INFERENCE_ID, environ.get(INFERENCE_ID_KEY) or environ.get(REQUEST_ID_KEY)
                    or uuid.uuid4().hex)]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        attributes = environ.get(CUSTOM_ATTRIBUTES_KEY)
        if attributes is not None:
            headers.append((CUSTOM_ATTRIBUTES, attributes))
        headers.extend(extra)
        start_response(STATUS_LINES[status], headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def test_client(self) -> Client:
        """werkzeug's test client: requests through the whole WSGI app, in-process."""
        return Client(self)


def load(model_dir: Path, config: settings.Config):
    """An inference handler if the folder has code/inference.py, else model.onnx."""
    if handlers.present(model_dir):
        return handlers.load(model_dir, config)
    return hooks.load(model_dir)


def create_app(model_dir: Path | None = None, config: settings.Config | None = None) -> App:
    """Load the model (which runs it once), then build the app (ModelError if it is broken)."""
    config = config or settings.from_env()
    if config.multi_model:
        model = multimodel.Models(config.models_dir, config.models_memory_mb * 1024 * 1024,
                                  lambda folder: load(folder, config))
    else:
        model = load(Path(model_dir or config.model_dir), config)
    # Started here, in the worker: a thread started before uWSGI forks would not survive.
    capture = Capture(config.capture).start() if config.capture else None
    state = (model, config, capture)
    signed = isinstance(model, hooks.Model)  # the fast path is for models with our signature
    routes = {}
    for path, methods, view in ROUTES:
        chosen = invocations_of_any if view is invocations and not signed else view
        if config.multi_model and view in (invocations, openapi_document):
            chosen = targeted(view)
        routes[path] = dict.fromkeys(methods, lambda environ, chosen=chosen: chosen(state, environ))
    if config.multi_model:
        routes["/models"] = {"GET": lambda environ: loaded_models(state, environ)}
    for methods in routes.values():
        if "GET" in methods:  # HEAD is GET without the body
            methods["HEAD"] = methods["GET"]
    return App(routes, {"capture": capture, "models": model if config.multi_model else None})


def worker_app() -> App:
    """The app of one model server worker; a broken model exits it, which halts the server."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return create_app()
    except (hooks.ModelError, handlers.HandlerError, settings.ConfigError) as broken:
        log.error("cannot serve: %s", broken)
        sys.exit(WORKER_BOOT_ERROR)
