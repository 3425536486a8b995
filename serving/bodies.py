"""Request bodies: read within the payload limit, or drained when the answer needs none of them."""

from serving import codecs


def discard(stream, size: int) -> None:
    """Read and drop a refused body of `size` bytes (nginx bounds it, see read).

    nginx is still sending it: a worker that answered and closed the connection first would
    turn the answer into nginx's 502.
    """
    while size > 0 and (chunk := stream.read(min(size, 1024 * 1024))):
        size -= len(chunk)


def read(environ: dict, limit: int) -> bytes:
    """The request body, at most `limit` bytes (413 beyond).

    The one place that enforces SAGEMAKER_MAX_PAYLOAD_IN_MB: it holds with or without nginx
    in front (the in-process tests have none), and nginx's own bound sits above it (see
    nginx.conf.template). Read straight from the WSGI input: a framework's stream wrappers
    cost more per request than the whole model does.
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


def discard_unread(environ: dict) -> None:
    """An answer given without reading the body: an unread body turns it into nginx's 502."""
    if environ.get("CONTENT_LENGTH"):
        discard(environ["wsgi.input"], int(environ["CONTENT_LENGTH"]))
