"""Reading image cells: one way from a cell (file path, bytes, PIL image, array) to pixels, with one error text.

Every image branch reads its rows here: :class:`~mmsent.image.ImageDecoder` (and
so HOG and colour histograms) and :class:`~mmsent.image.CNNEmbedder`. A row is
read in two steps, :func:`read_cell` (a path becomes its bytes, read with a bound,
after checking that it is a regular file; an array becomes a PIL image) and
:func:`decode_rgb` (checks, then decoding to an RGB image). :func:`load_rows`
runs a per-row function in threads and turns a missing cell or any exception
into that row's error message, :func:`explain`'s, the same in every branch.
"""

import io
import os
import stat
import struct
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from PIL import Image, ImageOps, UnidentifiedImageError

from .._files import file_kind
from .._validation import BadRowsError, describe_rows, is_missing

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "ImageDecodeError",
    "Row",
    "UnreadableImage",
    "check_encoded",
    "check_pixels",
    "decode_rgb",
    "explain",
    "load_rows",
    "read_cell",
    "read_file",
]

# Above this many pixels an image is refused before decoding: a tiny file can declare
# a huge canvas (a "decompression bomb") and exhaust memory when decoded.
MAX_PIXELS = 50_000_000
# Larger files are refused before reading: photos are a few MB; a 1 GB file named .jpg is not one.
MAX_FILE_BYTES = 64 * 2**20
_BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white, as viewers do
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers of Huffman-coded JPEGs (baseline, extended sequential, progressive):
# each 8x8 block costs at least one bit of entropy-coded data there.
_HUFFMAN_FRAMES = {0xC0, 0xC1, 0xC2}
_FRAMES = _HUFFMAN_FRAMES | {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}  # markers without a length field


class ImageDecodeError(BadRowsError):
    """Raised when some rows of an image column cannot be decoded; lists all of them in ``problems``."""

    modality = "image"

    @classmethod
    def for_rows(cls, problems, n_images):
        """The error for ``problems`` (``(row, message)`` pairs) among ``n_images`` rows."""
        return cls(f"{len(problems)} of {n_images} images could not be read:\n{describe_rows(problems)}", problems)


class UnreadableImage(ValueError):
    """A cell refused by mmsent's own checks; the message completes "file 'x.jpg' ..."."""


class Row(NamedTuple):
    """One row's outcome: ``value`` as loaded, or ``error``, why it could not be (``value`` is then None)."""

    value: object
    error: str | None


def _check_regular(info, max_file_bytes):
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImage(f"is not a regular file ({file_kind(info.st_mode)}): not read")
    if max_file_bytes is not None and info.st_size > max_file_bytes:
        raise UnreadableImage(f"is {info.st_size:,} bytes, more than max_file_bytes={max_file_bytes:,}: not read")


def read_file(path, max_file_bytes=MAX_FILE_BYTES):
    """The bytes of a regular file of at most ``max_file_bytes`` bytes.

    FIFOs, devices (``/dev/zero``), directories and sockets are refused from
    ``stat``, before opening, so none of them can block or feed endless bytes; a
    larger file is refused from its size, unread. The read itself is bounded by
    that size, and a file that changes size meanwhile is refused.

    Parameters
    ----------
    path : str or path-like
    max_file_bytes : int or None, default=67_108_864
        None: no limit but the file's size when opened.

    Returns
    -------
    bytes

    Examples
    --------
    >>> from mmsent.image._io import read_file
    >>> try:
    ...     read_file("/dev/zero")
    ... except ValueError as error:
    ...     print(error)
    is not a regular file (a character device): not read
    """
    _check_regular(os.stat(path), max_file_bytes)
    # O_NONBLOCK: should the path have become a FIFO since stat, opening it must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    # A bare descriptor: 1.5x faster than a file object's read on MVSA-Single's photos (about 13 kB each).
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        _check_regular(info, max_file_bytes)
        chunks, wanted = [], info.st_size + 1  # one byte more tells a file that grew
        while wanted > 0 and (chunk := os.read(descriptor, wanted)):  # a read may return less than asked
            chunks.append(chunk)
            wanted -= len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) != info.st_size:
        raise UnreadableImage(f"changed size while being read ({info.st_size:,} bytes, then {len(data):,}): not read")
    return data


def _array_to_image(array):
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(array, mode="L")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(array, mode="RGB" if array.shape[2] == 3 else "RGBA")
    raise ValueError(f"image arrays must be HxW or HxWxC with C in 1, 3, 4; got shape {array.shape}")


def read_cell(value, max_file_bytes=MAX_FILE_BYTES):
    """One image cell → its encoded bytes (paths, bytes) or a PIL image (PIL images, uint8 arrays).

    Files are read with :func:`read_file`. The result is accepted again, unchanged.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, os.PathLike)):
        return read_file(value, max_file_bytes)
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return _array_to_image(value)
    raise TypeError(f"expected a file path, bytes, a PIL image or a uint8 array, got {type(value).__name__}")


def _jpeg_frame(data):
    """(frame marker, width, height, sampling factors, start of the entropy-coded data) of a JPEG, from its header."""
    position, frame = 2, None
    while True:
        if position + 4 > len(data):
            raise UnreadableImage("is a truncated JPEG (it ends within its header)")
        fill, marker, length = struct.unpack_from(">BBH", data, position)
        if fill != 0xFF:  # bytes between segments: decoders skip them (with a warning), so may we
            position = data.find(b"\xff", position)
            if position < 0:
                raise UnreadableImage("is a truncated JPEG (it ends within its header)")
        elif marker == 0xFF:  # fill byte
            position += 1
        elif marker in _STANDALONE:
            position += 2
        elif marker == 0xD9:
            raise UnreadableImage("is a corrupt JPEG (it ends before its image data)")
        elif marker == 0xDA:  # start of scan: the entropy-coded data follows its header
            break
        else:
            if marker in _FRAMES:
                frame = (marker, position + 4)
            position += 2 + length
    if frame is None:
        raise UnreadableImage("is a corrupt JPEG (no frame header before its image data)")
    marker, start = frame
    if start + 6 > len(data) or start + 6 + 3 * data[start + 5] > len(data):
        raise UnreadableImage("is a corrupt JPEG (its frame header is cut short)")
    height, width, n_components = struct.unpack_from(">HHB", data, start + 1)
    sampling = [(data[start + 7 + 3 * i] >> 4, data[start + 7 + 3 * i] & 15) for i in range(n_components)]
    return marker, width, height, sampling, position + 2 + length


def _ceil_div(a, b):
    return -(-a // b)


def _blocks(width, height, sampling):
    """8x8 blocks of all components of a frame, each component subsampled by its factors."""
    h_max = max((h for h, _ in sampling), default=1) or 1
    v_max = max((v for _, v in sampling), default=1) or 1
    return sum(
        _ceil_div(_ceil_div(width * h, h_max), 8) * _ceil_div(_ceil_div(height * v, v_max), 8) for h, v in sampling
    )


def check_encoded(data):
    """Refuse JPEG and PNG bytes whose image data is missing or too short; return a JPEG's (width, height).

    Decoders fill what is missing with grey (libjpeg, OpenCV) or, with Pillow's
    ``ImageFile.LOAD_TRUNCATED_IMAGES``, with black, and report it at best as a
    warning on stderr. So, before decoding: a JPEG must have an end-of-image
    marker after the start of its image data, and at least one bit of
    entropy-coded data per 8x8 block its header declares (what Huffman coding
    needs at the very least: a JPEG that declares 7000x7000 pixels and holds the
    data of 8x8 is refused); a PNG must have its closing ``IEND`` chunk.
    Returns None for other formats, which Pillow checks as it decodes.
    """
    if data.startswith(_PNG):
        if data.rfind(b"IEND") < 0:
            raise UnreadableImage("is a truncated PNG (no IEND chunk)")
        return None
    if not data.startswith(_JPEG):
        return None
    marker, width, height, sampling, scan = _jpeg_frame(data)
    end = data.rfind(b"\xff\xd9")  # cannot occur within entropy-coded data, where 0xFF is followed by 0x00
    if end < scan:
        raise UnreadableImage("is a truncated JPEG (no end-of-image marker after its image data)")
    bits = (end - scan) * 8
    # Counting blocks exactly only matters when the data is not plainly enough for a full-size frame.
    if marker in _HUFFMAN_FRAMES and bits < len(sampling) * (width // 8 + 1) * (height // 8 + 1):
        blocks = _blocks(width, height, sampling)
        if bits < blocks:
            raise UnreadableImage(
                f"is a corrupt JPEG: its header declares {width}x{height} pixels but it holds {end - scan:,} bytes "
                f"of image data, fewer than the {_ceil_div(blocks, 8):,} any JPEG of that size needs"
            )
    return width, height


def check_pixels(width, height, max_pixels):
    """Refuse an image of more than ``max_pixels`` pixels (None: no limit), from its header."""
    if max_pixels is not None and width * height > max_pixels:
        raise UnreadableImage(
            f"is {width}x{height} = {width * height:,} pixels, more than "
            f"max_pixels={max_pixels:,} (refused as a possible decompression bomb)"
        )


def _to_rgb(image):
    """Any PIL mode → RGB uint8: alpha over white, 16-bit scaled, CMYK converted."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit integer) greyscale: keep the top 8 bits instead of clipping.
        values = np.asarray(image, dtype=np.uint32)
        shift = 8 if image.mode.startswith("I;16") or values.max(initial=0) < 2**16 else 24
        image = Image.fromarray((values >> shift).astype(np.uint8), mode="L")
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        scaled = values * 255 if values.max(initial=0) <= 1 else values
        image = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_rgb(source, max_pixels=MAX_PIXELS, draft=None):
    """A cell as :func:`read_cell` returns it → a decoded RGB PIL image, EXIF orientation applied.

    Encoded bytes are checked with :func:`check_encoded`, the pixel count with
    :func:`check_pixels`, and decoded at once (``load``), so truncated data fails
    here, whatever Pillow's ``LOAD_TRUNCATED_IMAGES`` says for JPEG and PNG.

    Parameters
    ----------
    source : bytes or PIL.Image.Image
    max_pixels : int or None, default=50_000_000
    draft : tuple of int (width, height), default=None
        Let libjpeg decode a JPEG at a reduced scale that still covers this size
        (Pillow's draft mode: much faster for large photos).
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        check_encoded(source)
        image = Image.open(io.BytesIO(source))
    try:
        check_pixels(image.width, image.height, max_pixels)
        if draft is not None and image.format == "JPEG":
            image.draft("RGB", tuple(draft))
        image.load()
        return _to_rgb(image)
    finally:
        if image is not source:
            image.close()


def _describe(value):
    if isinstance(value, (str, os.PathLike)):
        return f"file {os.fspath(value)!r}"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    return type(value).__name__


def explain(value, exc):
    """Why one image cell could not be read or decoded, in words: the one error text of every image branch."""
    what = _describe(value)
    if isinstance(exc, FileNotFoundError):
        return f"{what} does not exist"
    if isinstance(exc, UnreadableImage):
        return f"{what} {exc}"
    if isinstance(exc, UnidentifiedImageError):
        return f"{what} is not an image (empty, unknown format or corrupt header)"
    if isinstance(exc, OSError) and exc.filename is not None:  # from the file system, not from a decoder
        return f"{what} could not be read: {exc.strerror}"
    return f"{what} could not be decoded: {type(exc).__name__}: {exc}"


def _load_one(load, cell):
    if is_missing(cell):
        return Row(None, "no image (missing value)")
    try:
        return Row(load(cell), None)
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise anything; report the row
        return Row(None, explain(cell, exc))


def load_rows(cells, load, n_jobs=None):
    """``load(cell)`` for every cell, in ``n_jobs`` threads, as a list of :class:`Row`.

    A missing cell (see :func:`~mmsent._validation.is_missing`) or any exception
    becomes that row's ``error``, so one bad row never stops the others. Threads,
    whatever joblib backend is configured: decoders release the GIL, and images
    are not worth copying between processes.
    """
    cells = list(cells)
    if effective_n_jobs(n_jobs) == 1:  # one thread: joblib's dispatching alone cost 4 us a row
        return [_load_one(load, cell) for cell in cells]
    # joblib's threads take one task at a time unless told: a few batches a thread keep the load balanced
    # while the cost of handing out tasks (tens of microseconds each) stays out of the way.
    batch_size = max(1, len(cells) // (4 * effective_n_jobs(n_jobs)))
    parallel = Parallel(n_jobs=n_jobs, require="sharedmem", batch_size=batch_size)
    return parallel(delayed(_load_one)(load, cell) for cell in cells)
