"""Image URLs: "url" inputs fetched under an allow-list (http, https) or read under a root
(file), each bounded in bytes and in time; ImageError says why one is refused."""

import contextlib
import http.client
import socket
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from serving.images import ImageError, Limits

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
# A file name longer than this is no file under IMAGE_URL_FILE_ROOT (Linux's PATH_MAX).
MAX_PATH = 4096


def _allowed(host: str, port: int, limits: Limits) -> bool:
    return host in limits.allowed_hosts or f"{host}:{port}" in limits.allowed_hosts


def _read_file(parts, limits: Limits) -> bytes:
    if limits.file_root is None:
        raise ImageError("file:// URLs are off (the endpoint has no IMAGE_URL_FILE_ROOT)")
    if parts.netloc not in ("", "localhost"):
        raise ImageError(f"file:// URLs name no host, got {parts.netloc!r}")
    root = limits.file_root.resolve()
    name = unquote(parts.path)
    try:
        size = len(name.encode())
    except UnicodeError:  # a lone surrogate (orjson refuses them; other callers may not)
        raise ImageError("the file name is not valid text") from None
    if "\0" in name or size > MAX_PATH:
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
