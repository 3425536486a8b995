"""Image inputs: "pixels" rows and PNG/JPEG pictures (base64 "image", a body, or what a "url"
gives: serving/urls.py), with the limits of both (Limits).

Each function returns a float32 [height, width] array in the model's range 0..max, or raises
ImageError with a message that says what is wrong (the caller adds record and field). What a
request may cost is bounded before the work is done: pixels per picture from its header, pixels
per request (a Budget) from what will really be decoded; serving/urls.py bounds each fetch.
"""

import base64
import binascii
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = ("PNG", "JPEG")
# A picture whose border is lighter than this (mean grey, 0..255) is dark ink on light paper:
# inverted, since the models take bright strokes on a dark background.
LIGHT_BORDER = 127
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
