"""Image inputs: "pixels" rows, base64 PNG/JPEG "image", and "url" fetched under an allow-list.

Each function returns a float32 [height, width] array in the model's range 0..max, or raises
ImageError with a message that says what is wrong (the caller adds record and field). What a
request may cost is bounded before the work is done: pixels per picture from its header, pixels
per request (a Budget) from what will really be decoded, bytes and seconds per fetch.
"""

import base64
import binascii
import contextlib
import http.client
import io
import socket
import ssl
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import numpy as np

FORMATS = ("PNG", "JPEG")
# A picture whose border is lighter than this (mean grey, 0..255) is dark ink on light paper:
# inverted, since the models take bright strokes on a dark background.
LIGHT_BORDER = 127
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
NUMBER_TYPES = frozenset({int, float, str})
# What Pillow raises on a damaged or hostile file (a truncated chunk, a compressed text or ICC
# chunk inflating past PngImagePlugin.MAX_TEXT_CHUNK, a broken header): the client's mistake.
DAMAGED = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError,
           struct.error, zlib.error)
# The default pixel budget of a request: this many decoded pixels per pixel of the model's
# input (256 times its side each way), at most REQUEST_PIXELS_CAP. Decoding costs about 8 ns
# and a byte a pixel: an 8x8 model's requests decode at most 4 Mpx (~35 ms), any model's 64 Mpx.
PIXELS_PER_INPUT_PIXEL = 256 * 256
REQUEST_PIXELS_CAP = 64 * 1024 * 1024
# JPEG's draft mode decodes at 1/2, 1/4 or 1/8 scale while reading; it stops at twice the
# model's side, so the Lanczos resize still averages several source pixels into each.
DRAFT_MARGIN = 2
# A file name longer than this is no file under IMAGE_URL_FILE_ROOT (Linux's PATH_MAX).
MAX_PATH = 4096


class ImageError(ValueError):
    """An image input that cannot be used; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What the endpoint may decode and fetch (serving/config.py reads them)."""
    max_pixels: int = 4096 * 4096  # one picture, from its header
    request_pixels: int | None = None  # a request's pictures, decoded; None: the model's default
    allowed_hosts: frozenset = field(default_factory=frozenset)  # "host" or "host:port"
    file_root: Path | None = None
    timeout: float = 3.0
    max_bytes: int = 6 * 1024 * 1024

    def budget(self, height: int, width: int) -> "Budget":
        """A new request's pixel budget for a model whose input is height x width."""
        if self.request_pixels is not None:
            return Budget(self.request_pixels)
        return Budget(min(REQUEST_PIXELS_CAP, PIXELS_PER_INPUT_PIXEL * height * width))


class Budget:
    """The pixels one request may still decode; every picture spends from it before decoding."""

    def __init__(self, pixels: int):
        self.total = self.left = pixels

    def spend(self, pixels: int) -> None:
        if pixels > self.left:
            spent = self.total - self.left
            raise ImageError(f"needs {pixels} pixels decoded; the request's pictures may have "
                             f"{self.total} together and {spent} are spent (IMAGE_REQUEST_PIXELS)")
        self.left -= pixels


def pixels(value, height: int, width: int, top: float) -> np.ndarray:
    """`height` rows of `width` numbers (or numeric strings, as CSV gives) in 0..top."""
    if not isinstance(value, list) or len(value) != height or not all(
            isinstance(row, list) and len(row) == width for row in value):
        raise ImageError(f"must be {height} rows of {width} numbers")
    flat = [v for row in value for v in row]
    if not NUMBER_TYPES.issuperset(map(type, flat)):
        wrong = next(v for v in flat if type(v) not in NUMBER_TYPES)
        raise ImageError(f"must hold numbers, got {type(wrong).__name__}")
    try:
        array = np.array(flat, dtype=np.float64)
    except ValueError:
        raise ImageError("must hold numbers, got a string that is not one") from None
    # NaN fails both comparisons, so it is refused too.
    if not ((array >= 0) & (array <= top)).all():
        raise ImageError(f"values must be between 0 and {top:g}")
    return array.astype(np.float32).reshape(height, width)


def from_base64(text) -> bytes:
    if not isinstance(text, str):
        raise ImageError(f"must be a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("is not valid base64") from None


def decode(data: bytes, height: int, width: int, top: float, max_pixels: int,
           budget: Budget | None = None) -> np.ndarray:
    """A PNG or JPEG as the model's grey [height, width] input in 0..top.

    Grey ("L"), the light-background rule (LIGHT_BORDER) on the picture's border, resized
    with Lanczos (an average over the source pixels, as a downscaled scan is), then scaled.
    A JPEG is reduced while it is decoded (draft); a PNG is decoded whole, then reduced by
    whole factors before the Lanczos pass. Nothing is decoded before the header's size has
    passed max_pixels and the decoded size the request's budget.
    """
    from PIL import Image, UnidentifiedImageError

    too_many = f"the {max_pixels} allowed (IMAGE_MAX_PIXELS)"
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
        columns, rows = picture.size
        if columns * rows > max_pixels:  # from the header, before anything is decompressed
            raise ImageError(f"has {columns}x{rows} pixels, more than {too_many}")
        if picture.format == "JPEG":
            picture.draft("L", (width * DRAFT_MARGIN, height * DRAFT_MARGIN))
        if budget is not None:
            budget.spend(picture.size[0] * picture.size[1])
        grey = picture.convert("L")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("is not a PNG or JPEG image") from None
    except Image.DecompressionBombError:  # Pillow's own bound, far above ours
        raise ImageError(f"has more pixels than {too_many}") from None
    except DAMAGED as error:
        raise ImageError(f"is a damaged image ({error})") from None
    edges = [grey.crop(box) for box in ((0, 0, grey.width, 1), (0, grey.height - 1, grey.width,
             grey.height), (0, 0, 1, grey.height), (grey.width - 1, 0, grey.width, grey.height))]
    border = np.concatenate([np.asarray(edge, dtype=np.float32).ravel() for edge in edges])
    small = np.asarray(grey.resize((width, height), Image.Resampling.LANCZOS,
                                   reducing_gap=DRAFT_MARGIN), dtype=np.float32)
    if border.mean() > LIGHT_BORDER:
        small = 255 - small
    return np.clip(small, 0, 255) * np.float32(top / 255)


def _allowed(host: str, port: int, limits: Limits) -> bool:
    return host in limits.allowed_hosts or f"{host}:{port}" in limits.allowed_hosts


def _read_file(parts, limits: Limits) -> bytes:
    if limits.file_root is None:
        raise ImageError("file:// URLs are off (the endpoint has no IMAGE_URL_FILE_ROOT)")
    if parts.netloc not in ("", "localhost"):
        raise ImageError(f"file:// URLs name no host, got {parts.netloc!r}")
    root = limits.file_root.resolve()
    name = unquote(parts.path)
    if "\0" in name or len(name.encode()) > MAX_PATH:
        raise ImageError("the file name holds a NUL byte or is longer than "
                         f"{MAX_PATH} bytes; no file under IMAGE_URL_FILE_ROOT has it")
    try:
        # resolve() follows every symlink and "..", so what is checked is what is opened.
        path = Path(name).resolve()
        if not path.is_relative_to(root):
            raise ImageError("the file is outside IMAGE_URL_FILE_ROOT")
        if not path.is_file():
            raise ImageError("no such file under IMAGE_URL_FILE_ROOT")
        with path.open("rb") as stream:
            data = stream.read(limits.max_bytes + 1)
    except OSError as error:
        raise ImageError(f"the file cannot be read ({error.strerror or 'error'})") from None
    if len(data) > limits.max_bytes:
        raise ImageError(f"the file is larger than the {limits.max_bytes} byte limit")
    return data


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as error:  # "Invalid IPv6 URL" and the like
        raise ImageError(f"is not a URL ({error})") from None


def _target(url: str, limits: Limits):
    """(scheme, host, port, path) of an http(s) URL the allow-list admits, or ImageError."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ImageError(f"the scheme {scheme or 'of a relative URL'!r} is not fetched; "
                         "use http, https or file")
    if not limits.allowed_hosts:
        raise ImageError("URL fetching is off (the endpoint has no IMAGE_URL_ALLOWED_HOSTS)")
    if "@" in parts.netloc:
        raise ImageError("URLs with user names or passwords are not fetched")
    try:
        host, port = (parts.hostname or "").lower(), parts.port or (443 if scheme == "https"
                                                                    else 80)
    except ValueError:
        raise ImageError("the URL's port is not a number") from None
    if not _allowed(host, port, limits):
        raise ImageError(f"the host {host}:{port} is not in IMAGE_URL_ALLOWED_HOSTS")
    return scheme, host, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _hang_up(sock) -> None:
    """At the fetch's deadline: a read that is waiting returns at once, whatever it waits for."""
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _get(scheme: str, host: str, port: int, path: str, deadline: float, limits: Limits):
    """One GET without following anything: (status, location, body), done by the deadline.

    A per-read timeout would not do: a server sending a byte a little faster than it keeps
    every read short and the whole as long as it likes. A timer hangs up at the deadline.
    """
    took_too_long = ImageError(f"the fetch took longer than {limits.timeout:g} s")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise took_too_long
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=remaining,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=remaining)
    timer = None
    try:
        conn.connect()
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), _hang_up, (conn.sock,))
        timer.daemon = True
        timer.start()
        conn.request("GET", path, headers={"Accept": "image/png, image/jpeg",
                                           "User-Agent": "sagemaker-serving"})
        reply = conn.getresponse()
        if time.monotonic() >= deadline:  # hung up on: the headers may be cut short
            raise took_too_long
        if reply.status in (301, 302, 303, 307, 308):
            return reply.status, reply.getheader("Location"), b""
        if reply.status != 200:
            raise ImageError(f"the server answered {reply.status} {reply.reason}")
        length = reply.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limits.max_bytes:
            raise ImageError(f"the body of {length} bytes is over the {limits.max_bytes} "
                             "byte limit")
        body = bytearray()
        while chunk := reply.read1(CHUNK):
            body += chunk
            if len(body) > limits.max_bytes:
                raise ImageError(f"the body is over the {limits.max_bytes} byte limit")
        if time.monotonic() >= deadline:  # hung up on: the end of the body is not its end
            raise took_too_long
        return 200, None, bytes(body)
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline or isinstance(error, TimeoutError):
            raise took_too_long from None
        raise ImageError(f"the fetch failed ({type(error).__name__}: {error})") from None
    finally:
        if timer is not None:
            timer.cancel()
        conn.close()


def fetch(url, limits: Limits) -> bytes:
    """The bytes behind an allowed URL; every hop of a redirect is checked as the first was."""
    if not isinstance(url, str):
        raise ImageError(f"must be a URL string, got {type(url).__name__}")
    parts = _split(url)
    if parts.scheme.lower() == "file":
        return _read_file(parts, limits)
    deadline = time.monotonic() + limits.timeout
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = _target(url, limits)
        status, location, body = _get(scheme, host, port, path, deadline, limits)
        if status == 200:
            return body
        if not location:
            raise ImageError(f"the server answered {status} without a Location")
        try:
            url = urljoin(url, location)
        except ValueError as error:
            raise ImageError(f"the server redirects to no URL ({error})") from None
        if _split(url).scheme.lower() not in ("http", "https"):
            raise ImageError("a redirect leads off http(s); not followed")
    raise ImageError(f"more than {MAX_REDIRECTS} redirects")


def image_of(field_name: str, value, height: int, width: int, top: float,
             limits: Limits, budget: Budget | None = None) -> np.ndarray:
    """The model input of one record's image field ("pixels", "image" or "url"); a picture
    spends from the request's budget (a new one when none is given)."""
    if field_name == "pixels":
        return pixels(value, height, width, top)
    if field_name == "url":
        data = fetch(value, limits)
    else:  # bytes only from a picture sent as the body; JSON has strings alone
        data = value if type(value) is bytes else from_base64(value)
    return decode(data, height, width, top, limits.max_pixels,
                  budget if budget is not None else limits.budget(height, width))
