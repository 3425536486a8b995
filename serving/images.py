"""Image inputs: "pixels" rows, base64 PNG/JPEG "image", and "url" fetched under an allow-list.

Each function returns a float32 [height, width] array in the model's range 0..max, or raises
ImageError with a message that says what is wrong (the caller adds record and field).
"""

import base64
import binascii
import http.client
import io
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import numpy as np

FORMATS = ("PNG", "JPEG")
# A picture whose border is lighter than this (mean grey, 0..255) is dark ink on light paper:
# inverted, since the models take bright strokes on a dark background.
LIGHT_BORDER = 127
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
NUMBER_TYPES = frozenset({int, float, str})


class ImageError(ValueError):
    """An image input that cannot be used; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What the endpoint may decode and fetch (serving/config.py reads them)."""
    max_pixels: int = 4096 * 4096
    allowed_hosts: frozenset = field(default_factory=frozenset)  # "host" or "host:port"
    file_root: Path | None = None
    timeout: float = 3.0
    max_bytes: int = 6 * 1024 * 1024


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


def decode(data: bytes, height: int, width: int, top: float, max_pixels: int) -> np.ndarray:
    """A PNG or JPEG as the model's grey [height, width] input in 0..top.

    Grey ("L"), the light-background rule (LIGHT_BORDER) on the full picture's border, resized
    with Lanczos (an average over the source pixels, as a downscaled scan is), then scaled.
    """
    from PIL import Image, UnidentifiedImageError

    too_many = f"the {max_pixels} allowed (IMAGE_MAX_PIXELS)"
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageError("is not a PNG or JPEG image") from None
    except Image.DecompressionBombError:  # Pillow's own bound, far above ours
        raise ImageError(f"has more pixels than {too_many}") from None
    columns, rows = picture.size
    if columns * rows > max_pixels:  # from the header, before anything is decompressed
        raise ImageError(f"has {columns}x{rows} pixels, more than {too_many}")
    try:
        grey = picture.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"is a damaged image ({error})") from None
    array = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    small = np.asarray(grey.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32)
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
    # resolve() follows every symlink and "..", so what is checked is what is opened.
    path = Path(unquote(parts.path)).resolve()
    if not path.is_relative_to(root):
        raise ImageError("the file is outside IMAGE_URL_FILE_ROOT")
    if not path.is_file():
        raise ImageError("no such file under IMAGE_URL_FILE_ROOT")
    with path.open("rb") as stream:
        data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ImageError(f"the file is larger than the {limits.max_bytes} byte limit")
    return data


def _target(url: str, limits: Limits):
    """(scheme, host, port, path) of an http(s) URL the allow-list admits, or ImageError."""
    parts = urlsplit(url)
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


def _get(scheme: str, host: str, port: int, path: str, deadline: float, limits: Limits):
    """One GET without following anything: (status, location, body)."""
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=limits.timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=limits.timeout)
    try:
        conn.request("GET", path, headers={"Accept": "image/png, image/jpeg",
                                           "User-Agent": "sagemaker-serving"})
        reply = conn.getresponse()
        if reply.status in (301, 302, 303, 307, 308):
            return reply.status, reply.getheader("Location"), b""
        if reply.status != 200:
            raise ImageError(f"the server answered {reply.status} {reply.reason}")
        length = reply.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limits.max_bytes:
            raise ImageError(f"the body of {length} bytes is over the {limits.max_bytes} "
                             "byte limit")
        body = bytearray()
        sock = conn.sock  # http.client lets go of it once the body is read
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if sock is not None and sock.fileno() != -1:
                sock.settimeout(remaining)  # each read waits no longer than the whole may
            chunk = reply.read1(CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > limits.max_bytes:
                raise ImageError(f"the body is over the {limits.max_bytes} byte limit")
        return 200, None, bytes(body)
    except TimeoutError:
        raise ImageError(f"the fetch took longer than {limits.timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise ImageError(f"the fetch failed ({type(error).__name__}: {error})") from None
    finally:
        conn.close()


def fetch(url, limits: Limits) -> bytes:
    """The bytes behind an allowed URL; every hop of a redirect is checked as the first was."""
    if not isinstance(url, str):
        raise ImageError(f"must be a URL string, got {type(url).__name__}")
    if urlsplit(url).scheme.lower() == "file":
        return _read_file(urlsplit(url), limits)
    deadline = time.monotonic() + limits.timeout
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = _target(url, limits)
        status, location, body = _get(scheme, host, port, path, deadline, limits)
        if status == 200:
            return body
        if not location:
            raise ImageError(f"the server answered {status} without a Location")
        url = urljoin(url, location)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ImageError("a redirect leads off http(s); not followed")
    raise ImageError(f"more than {MAX_REDIRECTS} redirects")


def image_of(field_name: str, value, height: int, width: int, top: float,
             limits: Limits) -> np.ndarray:
    """The model input of one record's image field ("pixels", "image" or "url")."""
    if field_name == "pixels":
        return pixels(value, height, width, top)
    if field_name == "url":
        data = fetch(value, limits)
    else:  # bytes only from a picture sent as the body; JSON has strings alone
        data = value if type(value) is bytes else from_base64(value)
    return decode(data, height, width, top, limits.max_pixels)
