"""TensorFlow Serving's REST API over onnxruntime, on a loopback port, for inference handlers.

A TensorFlow Serving container's handler posts to `context.rest_uri`
(http://localhost:<port>/v1/models/<name>[/versions/<v>]:predict) with {"instances": ...} or
{"inputs": ...} and reads {"predictions": ...} or {"outputs": ...}; here the graph is
model.onnx and the answers are anyonnx's. Each worker runs its own server in a thread, on a
port the kernel picks, so workers never share one.
"""

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from serving import anyonnx, codecs

log = logging.getLogger("serving")
PATH = re.compile(r"/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?"
                  r"(:(?P<method>[a-z]+)|/metadata)?")


class RestApi:
    """The REST API of one graph; `statuses` keeps what it answered, for the invocation."""

    def __init__(self, model: anyonnx.GraphModel | None, limit_bytes: int):
        self.model = model
        self.limit_bytes = limit_bytes
        self.statuses = []  # the handler's calls during the current invocation
        self.port = None

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, JSON body) of one REST request."""
        status, value = self._answer(method, path, body)
        self.statuses.append(status)
        return status, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        found = PATH.fullmatch(path.split("?", 1)[0])
        if found is None:
            return 404, {"error": f"no such path {path}; the REST API serves "
                                  "/v1/models/<name>:predict"}
        if self.model is None:
            return 404, {"error": "no model.onnx in the model folder to serve"}
        if method == "GET":
            version = found["version"] or "1"
            return 200, {"model_version_status": [{"version": version, "state": "AVAILABLE",
                                                   "status": {"error_code": "OK",
                                                              "error_message": ""}}]}
        if found["method"] != "predict":
            return 400, {"error": f"{found['method'] or 'metadata'} is not served here; "
                                  "only :predict (instances or inputs)"}
        if len(body) > self.limit_bytes:
            return 413, {"error": f"request body of {len(body)} bytes is over the limit"}
        try:
            return 200, orjson.loads(anyonnx.answer(self.model, body))
        except codecs.CodecError as mistake:
            return mistake.status, {"error": mistake.message}

    def start(self) -> "RestApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                status, answer = api.answer(method, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_POST(self):  # noqa: N802 - http.server's names
                self._reply("POST")

            def do_GET(self):  # noqa: N802
                self._reply("GET")

            def log_message(self, *args):  # the endpoint's own log has the invocation
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="tfs-rest", daemon=True).start()
        return self

    def uri(self, name: str, version: str | None, method: str) -> str:
        path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "")
        return f"http://localhost:{self.port}{path}:{method}"


class Response:
    """What a requests.Response gives an output_handler: status_code, content, text, json()."""

    def __init__(self, status: int, content: bytes):
        self.status_code = status
        self.content = content
        self.headers = {"Content-Type": "application/json"}
        self.ok = status < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self):
        return orjson.loads(self.content)
