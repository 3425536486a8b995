"""A request body as its bytes: SigV4 streaming uploads (Content-Encoding aws-chunked,
x-amz-content-sha256 STREAMING-…) frame the payload in signed chunks and trailers; the chunk
signatures are not checked, as no signature is here."""

from werkzeug.wrappers import Request


class AwsChunked:
    """Reads `<hex size>[;chunk-signature=…]\\r\\n<bytes>\\r\\n` frames up to the 0-size one."""

    def __init__(self, raw):
        self.raw, self.left, self.done = raw, 0, False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                line = self.raw.readline()
                if not line.strip():
                    self.done = True
                    break
                self.left = int(line.split(b";")[0].strip(), 16)
                if self.left == 0:
                    self.done = True
                    break
            want = self.left if size < 0 else min(self.left, size - len(out))
            block = self.raw.read(want)
            if not block:
                raise ValueError("the aws-chunked body ended inside a chunk")
            out += block
            self.left -= len(block)
            if self.left == 0:
                self.raw.readline()
        return bytes(out)


def body_stream(request: Request):
    streaming = request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")
    if streaming or "aws-chunked" in request.headers.get("Content-Encoding", ""):
        return AwsChunked(request.stream)
    return request.stream
