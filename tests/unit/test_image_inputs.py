"""Image inputs in-process: pixels, PNG/JPEG decoding, and URL fetching under the allow-list."""

import http.server
import io
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from serving import config as settings
from serving import images, urls
from serving.app import create_app

from endpoint_cases import digit_pixels, picture

pytestmark = pytest.mark.unit
LIMITS = images.Limits()


def decoded(data: bytes, max_pixels: int = LIMITS.max_pixels) -> np.ndarray:
    return images.decode(data, 8, 8, 16.0, max_pixels)


def test_pixels_are_taken_as_given():
    array = images.pixels(digit_pixels(), 8, 8, 16.0)
    assert array.shape == (8, 8) and array.dtype == np.float32
    assert array.max() == 16.0 and array.min() == 0.0


def test_pixel_strings_from_csv_are_numbers():
    rows = [[str(v) if i % 2 else f" {v} " for i, v in enumerate(row)] for row in digit_pixels()]
    assert np.array_equal(images.pixels(rows, 8, 8, 16.0), images.pixels(digit_pixels(), 8, 8, 16))


@pytest.mark.parametrize(("value", "words"), [
    ([[0] * 8] * 7, "8 rows of 8"),
    ([[0] * 7] * 8, "8 rows of 8"),
    ("0" * 64, "8 rows of 8"),
    ([[None] * 8] * 8, "NoneType"),
    ([["x"] * 8] * 8, "not one"),
    ([[-1] * 8] * 8, "between 0 and 16"),
    ([[float("nan")] * 8] * 8, "between 0 and 16"),
])
def test_bad_pixels_say_why(value, words):
    with pytest.raises(images.ImageError, match=words):
        images.pixels(value, 8, 8, 16.0)


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_a_picture_is_grey_resized_and_scaled_to_the_model_s_range(kind):
    array = decoded(picture(kind, size=32))
    assert array.shape == (8, 8) and array.min() >= 0 and array.max() <= 16.0
    stroke = np.array(digit_pixels()) > 0
    # The stroke's columns are bright, the rest dark, as the pixels input says.
    assert array[:, stroke[0]].mean() > 12 and array[:, ~stroke[0]].mean() < 4


def test_dark_ink_on_light_paper_is_inverted():
    dark_background = decoded(picture("PNG", light=False))
    light_background = decoded(picture("PNG", light=True))
    np.testing.assert_allclose(light_background, dark_background, atol=0.1)


def test_colour_and_alpha_pictures_are_made_grey():
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 255))
    image.paste((255, 255, 255, 255), (6, 0, 10, 16))
    out = io.BytesIO()
    image.save(out, "PNG")
    array = decoded(out.getvalue())
    assert array[:, 3:5].mean() > 8 and array[:, 0].mean() < 2


@pytest.mark.parametrize(("side", "words"), [
    (5000, "5000x5000 pixels, more than the 16777216 allowed"),  # over ours
    (20000, "more pixels than the 16777216 allowed"),  # over Pillow's own bound too
])
def test_too_many_pixels_are_refused_before_decoding(side, words):
    # A PNG of one colour is a few kilobytes, whatever its size: a decompression bomb.
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    assert len(out.getvalue()) < 100_000
    with pytest.raises(images.ImageError, match=f"{words} .IMAGE_MAX_PIXELS."):
        decoded(out.getvalue())
    with pytest.raises(images.ImageError, match="IMAGE_MAX_PIXELS"):
        decoded(picture("PNG", size=32), max_pixels=32 * 31)


@pytest.mark.parametrize(("data", "words"), [
    (b"GIF89a\x01\x00\x01\x00", "PNG or JPEG"),
    (b"plain text", "PNG or JPEG"),
    (picture("PNG")[:60], "damaged"),
])
def test_bytes_that_are_not_a_picture_say_why(data, words):
    with pytest.raises(images.ImageError, match=words):
        decoded(data)


def test_gif_is_not_taken_even_if_pillow_reads_it():
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "GIF")
    with pytest.raises(images.ImageError, match="PNG or JPEG"):
        decoded(out.getvalue())


@pytest.mark.parametrize("text", ["not base64!", "QUJ", 17])
def test_bad_base64_says_why(text):
    with pytest.raises(images.ImageError, match="base64"):
        images.from_base64(text)


# URL fetching: a local server that records every request it gets.
class Server:
    def __init__(self, routes: dict):
        self.routes, self.hits = routes, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.hits.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"nope"))
                if callable(body):
                    body(self)
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def slow_body(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(20):  # a byte every 0.2 s: each read is quick, the whole is not
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.2)


def chunked_huge(handler):
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"x" * 65536
    try:
        for _ in range(200):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass  # the client hung up at its limit


@pytest.fixture(scope="module")
def servers():
    png = picture("PNG")
    off_list = Server({"/digit.png": (200, {"Content-Type": "image/png"}, png)})
    allowed = Server({
        "/digit.png": (200, {"Content-Type": "image/png"}, png),
        "/hop": (302, {"Location": "/digit.png"}, b""),
        "/away": (302, {"Location": off_list.url("/digit.png", "127.0.0.1")}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/loop": (307, {"Location": "/loop"}, b""),
        "/huge": (200, {}, b"x" * (LIMITS.max_bytes + 1)),
        "/huge-chunked": (200, {}, chunked_huge),
        "/text": (200, {"Content-Type": "text/plain"}, b"hello, not an image"),
        "/slow": (200, {}, slow_body),
    })
    yield allowed, off_list
    allowed.close()
    off_list.close()


def limits(allowed, root=None, **extra) -> images.Limits:
    return images.Limits(allowed_hosts=frozenset({f"localhost:{allowed.port}"}),
                         file_root=root, timeout=extra.get("timeout", 1.0),
                         max_bytes=extra.get("max_bytes", LIMITS.max_bytes))


def test_an_allowed_url_is_fetched_and_its_redirects_on_the_list_followed(servers):
    allowed, _ = servers
    assert urls.fetch(allowed.url("/digit.png"), limits(allowed)) == picture("PNG")
    assert urls.fetch(allowed.url("/hop"), limits(allowed)) == picture("PNG")


@pytest.mark.parametrize(("url", "words"), [
    ("http://localhost:{off}/digit.png", "localhost:{off} is not in IMAGE_URL_ALLOWED_HOSTS"),
    ("http://127.0.0.1:{port}/digit.png", "127.0.0.1:{port} is not in"),
    ("http://[::1]:{port}/digit.png", "::1:{port} is not in"),
    ("http://localhost:{port}@127.0.0.1:{off}/digit.png", "user names"),
    ("http://localhost/digit.png", "localhost:80 is not in"),
    ("ftp://localhost:{port}/digit.png", "'ftp' is not fetched"),
    ("gopher://localhost:{port}/", "'gopher' is not fetched"),
    ("/digit.png", "relative URL"),
    ("file:///etc/passwd", "IMAGE_URL_FILE_ROOT"),
    ("http://localhost:{port}/away", "127.0.0.1:{off} is not in"),
    ("http://localhost:{port}/to-file", "redirect leads off"),
    ("http://localhost:{port}/huge", "byte limit"),
    ("http://localhost:{port}/loop", "more than 3 redirects"),
])
def test_ssrf_tricks_are_refused_and_nothing_off_the_list_is_fetched(servers, url, words):
    allowed, off_list = servers
    before = len(off_list.hits)
    ports = {"port": allowed.port, "off": off_list.port}
    with pytest.raises(images.ImageError, match=words.format(**ports).replace("[", r"\[")):
        urls.fetch(url.format(**ports), limits(allowed))
    assert len(off_list.hits) == before


def test_a_chunked_body_is_cut_at_the_byte_limit(servers):
    allowed, _ = servers
    with pytest.raises(images.ImageError, match="over the 100000 byte limit"):
        urls.fetch(allowed.url("/huge-chunked"), limits(allowed, max_bytes=100_000))


def test_a_slow_server_is_cut_at_the_timeout(servers):
    allowed, _ = servers
    started = time.monotonic()
    with pytest.raises(images.ImageError, match="longer than 1 s"):
        urls.fetch(allowed.url("/slow"), limits(allowed, timeout=1.0))
    assert time.monotonic() - started < 2.5


def test_url_fetching_is_off_without_an_allow_list(servers):
    allowed, _ = servers
    before = len(allowed.hits)
    with pytest.raises(images.ImageError, match="off.*IMAGE_URL_ALLOWED_HOSTS"):
        urls.fetch(allowed.url("/digit.png"), LIMITS)
    assert len(allowed.hits) == before


def test_files_are_read_only_under_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "digit.png").write_bytes(picture("PNG"))
    (outside / "secret.png").write_bytes(picture("PNG"))
    os.symlink(outside / "secret.png", root / "link.png")
    allowed = images.Limits(file_root=root.resolve())
    assert urls.fetch(f"file://{root}/digit.png", allowed) == picture("PNG")
    for url in (f"file://{root}/../outside/secret.png", f"file://{root}/link.png",
                "file:///etc/passwd", f"file://{root}/%2e%2e/outside/secret.png"):
        with pytest.raises(images.ImageError, match="outside IMAGE_URL_FILE_ROOT"):
            urls.fetch(url, allowed)
    with pytest.raises(images.ImageError, match="no host"):
        urls.fetch(f"file://evil.example{root}/digit.png", allowed)
    with pytest.raises(images.ImageError, match="no such file"):
        urls.fetch(f"file://{root}/nothing.png", allowed)


def test_a_non_image_url_body_is_a_400_naming_record_and_field(servers, tiny_image_model_dir):
    allowed, _ = servers
    config = settings.Config(model_dir=tiny_image_model_dir, images=limits(allowed))
    client = create_app(config=config).test_client()
    good = client.post("/invocations", json={"url": allowed.url("/digit.png")})
    assert good.status_code == 200 and good.get_json()["prediction"] in "0123456789"
    bad = client.post("/invocations", json=[{"url": allowed.url("/digit.png")},
                                            {"url": allowed.url("/text")}])
    assert bad.status_code == 400
    assert bad.get_json()["error"].startswith("record 1: url ")
    assert "PNG or JPEG" in bad.get_json()["error"]


@pytest.mark.parametrize(("name", "value"), [
    ("IMAGE_URL_ALLOWED_HOSTS", "http://example.com"),
    ("IMAGE_URL_ALLOWED_HOSTS", "example.com:99999"),
    ("IMAGE_URL_ALLOWED_HOSTS", "user@example.com"),
    ("IMAGE_URL_FILE_ROOT", "relative/folder"),
    ("IMAGE_URL_FILE_ROOT", "/no/such/folder"),
    ("IMAGE_URL_TIMEOUT_SECONDS", "soon"),
    ("IMAGE_URL_TIMEOUT_SECONDS", "0"),
    ("IMAGE_MAX_PIXELS", "-5"),
])
def test_bad_image_settings_name_the_variable(name, value):
    with pytest.raises(settings.ConfigError, match=name):
        settings.from_env({name: value})


def test_image_settings_from_the_environment(tmp_path):
    config = settings.from_env({
        "IMAGE_URL_ALLOWED_HOSTS": " images.example.com, LocalHost:8000 ,",
        "IMAGE_URL_FILE_ROOT": str(tmp_path), "IMAGE_URL_TIMEOUT_SECONDS": "1.5",
        "IMAGE_MAX_PIXELS": "1000000", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2"})
    assert config.images == images.Limits(
        max_pixels=1_000_000, allowed_hosts=frozenset({"images.example.com", "localhost:8000"}),
        file_root=tmp_path.resolve(), timeout=1.5, max_bytes=2 * 1024 * 1024)
