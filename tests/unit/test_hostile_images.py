"""Image inputs a hostile client sends: each costs what the budget allows and answers a 400
that names the record, never a 500 and never a traceback in the log."""

import io
import logging
import socket
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

from serving import config as settings
from serving import images, urls
from serving.app import create_app

from endpoint_cases import b64, bilevel_png, picture, png_with_inflating_chunk

pytestmark = pytest.mark.unit


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_chunk(png: bytes, extra: bytes) -> bytes:
    """The PNG with a chunk added after its header (8 bytes of signature, 25 of IHDR)."""
    return png[:33] + extra + png[33:]


HOSTILE_PICTURES = {
    "iccp-inflating-past-1-mb": png_with_inflating_chunk(b"iCCP"),
    "ztxt-inflating-past-1-mb": png_with_inflating_chunk(b"zTXt"),
    "png-cut-inside-the-header-chunk": picture("PNG")[:16],
    "png-cut-inside-a-text-chunk": with_chunk(picture("PNG"), chunk(b"tEXt", b"k\0" + b"v" * 99))
    [:60],
}


@pytest.fixture(scope="module")
def client(tiny_image_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    config = settings.Config(model_dir=tiny_image_model_dir,
                             images=images.Limits(file_root=root.resolve()))
    return create_app(config=config).test_client()


def refused(client, caplog, body) -> str:
    """The 400's message for a body; nothing at all logged above INFO on the way."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        reply = client.post("/invocations", json=body)
    assert reply.status_code == 400, reply.get_data()[:300]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    return reply.get_json()["error"]


@pytest.mark.parametrize("name", sorted(HOSTILE_PICTURES))
def test_a_damaged_or_inflating_png_is_a_400_naming_the_record(client, caplog, name):
    message = refused(client, caplog, [{"image": b64(picture("PNG"))},
                                       {"image": b64(HOSTILE_PICTURES[name])}])
    assert message.startswith("record 1: image is a damaged image"), message


@pytest.mark.parametrize(("url", "words"), [
    ("http://[::1/", "is not a URL (Invalid IPv6 URL)"),  # URL fetching is off here
    ("file:///images/a%00b.png", "NUL byte"),
    ("file:///" + "a" * 5000 + ".png", "longer than 4096 bytes"),
    ("file:///" + "a" * 300 + "/b.png", "outside IMAGE_URL_FILE_ROOT"),
])
def test_a_url_that_is_no_url_or_no_file_is_a_400_naming_the_record(client, caplog, url, words):
    message = refused(client, caplog, [{"image": b64(picture("PNG"))}, {"url": url}])
    assert message.startswith("record 1: url "), message
    assert words in message and len(message) < 300, message


def test_a_too_long_name_under_the_root_is_a_400_not_a_crash(client, caplog, tmp_path):
    root = tmp_path.resolve()
    limits = images.Limits(file_root=root)
    with pytest.raises(images.ImageError, match="cannot be read .File name too long"):
        urls.fetch(f"file://{root}/{'a' * 300}.png", limits)
    with pytest.raises(images.ImageError, match="not valid text"):
        urls.fetch(f"file://{root}/\udc80.png", limits)


def test_each_request_has_a_pixel_budget_tied_to_the_model_s_input_size(client, caplog):
    # The tiny model takes 8x8: 8 * 8 * 65536 = 4 Mpx decoded per request by default.
    assert images.Limits().budget(8, 8).total == 4 * 1024 * 1024
    assert images.Limits().budget(224, 224).total == images.REQUEST_PIXELS_CAP
    assert images.Limits(request_pixels=5).budget(8, 8).total == 5
    ok = client.post("/invocations", json=[{"image": b64(bilevel_png(1024))}] * 4)
    assert ok.status_code == 200, ok.get_data()[:300]
    message = refused(client, caplog, [{"image": b64(bilevel_png(1024))}] * 5)
    assert message.startswith("record 4: image needs 1048576 pixels decoded"), message
    assert "4194304 together and 4194304 are spent (IMAGE_REQUEST_PIXELS)" in message


def test_the_decompression_bomb_of_the_issue_is_refused_before_it_is_decoded(client, caplog):
    bomb = bilevel_png(4096)  # 2 KB, 16.7 Mpx: within IMAGE_MAX_PIXELS, over the budget
    assert len(bomb) < 4096
    many = [{"image": b64(bomb)}] * 2000
    started = time.process_time()
    message = refused(client, caplog, many)
    assert message.startswith("record 0: image needs 16777216 pixels decoded"), message
    # Refused from the header: far less CPU than decoding even one of them (~20-130 ms).
    assert time.process_time() - started < 1.0


def test_a_jpeg_is_reduced_while_it_is_decoded_and_counted_so():
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (30, 30, 30)).save(out, "JPEG")
    budget = images.Budget(10 ** 9)
    array = images.decode(out.getvalue(), 8, 8, 16.0, images.Limits.max_pixels, budget)
    assert array.shape == (8, 8)
    # Draft mode decodes at 1/8 scale: 500 x 375, not 12 Mpx.
    assert budget.total - budget.left == 500 * 375


def test_the_request_pixel_budget_is_a_setting():
    assert settings.from_env({}).images.request_pixels is None
    assert settings.from_env({"IMAGE_REQUEST_PIXELS": "1000"}).images.request_pixels == 1000
    with pytest.raises(settings.ConfigError, match="IMAGE_REQUEST_PIXELS"):
        settings.from_env({"IMAGE_REQUEST_PIXELS": "-1"})


# A real HTTP server on 127.0.0.1 that sends its answers a byte at a time.
class Drip:
    """path -> (answer bytes, seconds between bytes); every connection on its own thread."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            request = b""
            while b"\r\n\r\n" not in request and (part := conn.recv(4096)):
                request += part
            path = request.split(b" ")[1].decode()
            answer, gap = self.routes[path]
            try:
                for byte in answer:
                    conn.sendall(bytes([byte]))
                    if self.closed.wait(gap):
                        return
            except OSError:
                return  # the client hung up

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.closed.set()
        self.listener.close()


def redirect(to: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n".encode()


@pytest.fixture(scope="module")
def drip():
    png = picture("PNG")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(png), png)
    server = Drip({
        # A byte every 0.8 s: every read is shorter than the 1 s timeout, the whole is not.
        "/headers-drip": (ok, 0.8),
        # Three redirects of 0.8 s each (each under the timeout), then the picture.
        "/hop-1": (redirect("/hop-2"), 0.8 / 60), "/hop-2": (redirect("/hop-3"), 0.8 / 60),
        "/hop-3": (redirect("/fast"), 0.8 / 60), "/fast": (ok, 0),
    })
    yield server
    server.close()


@pytest.mark.parametrize("path", ["/headers-drip", "/hop-1"])
def test_the_url_timeout_bounds_the_whole_fetch_redirects_included(drip, path):
    limits = images.Limits(allowed_hosts=frozenset({f"127.0.0.1:{drip.port}"}), timeout=1.0)
    assert urls.fetch(drip.url("/fast"), limits) == picture("PNG")
    started = time.monotonic()
    with pytest.raises(images.ImageError, match="the fetch took longer than 1 s"):
        urls.fetch(drip.url(path), limits)
    assert time.monotonic() - started < 1.6
