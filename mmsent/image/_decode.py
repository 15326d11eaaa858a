"""One decoding step for every image input: paths, bytes, PIL images, arrays."""

import importlib.util
import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from .._validation import BadRowsError, as_value_list, describe_rows, is_missing, row_labels

__all__ = ["ImageDecoder", "ImageDecodeError", "decode_image", "decode_images", "clear_image_cache"]

_BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white, as viewers do
_CACHE_BYTES = 512 * 2**20
_cache = OrderedDict()  # (path, mtime_ns, file size, size, backend, max_pixels) -> array, least recent first
_cache_bytes = 0
_cache_lock = threading.Lock()
# Above this many pixels an image is refused before decoding: a tiny file can declare
# a huge canvas (a "decompression bomb") and exhaust memory when decoded.
MAX_PIXELS = 50_000_000


class ImageDecodeError(BadRowsError):
    """Raised when some rows of an image column cannot be decoded; lists all of them in ``problems``."""

    modality = "image"

    @classmethod
    def for_rows(cls, problems, n_images):
        """The error for ``problems`` (``(row, message)`` pairs) among ``n_images`` rows."""
        return cls(f"{len(problems)} of {n_images} images could not be read:\n{describe_rows(problems)}", problems)


def clear_image_cache():
    """Forget the decoded images kept in memory (results do not change)."""
    global _cache_bytes
    with _cache_lock:
        _cache.clear()
        _cache_bytes = 0


def _remember(key, array):
    global _cache_bytes
    with _cache_lock:
        _cache[key] = array
        _cache_bytes += array.nbytes
        while _cache_bytes > _CACHE_BYTES and _cache:
            _, dropped = _cache.popitem(last=False)
            _cache_bytes -= dropped.nbytes


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
        image = Image.fromarray(np.clip(values * 255 if values.max(initial=0) <= 1 else values, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


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


def _open(value):
    """Return a PIL image for one input value (the caller closes file-backed ones)."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return _array_to_image(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(value))
    if isinstance(value, (str, os.PathLike)):
        return Image.open(value)
    raise TypeError(
        f"expected a file path, bytes, a PIL image or a uint8 array, got {type(value).__name__}"
    )


def _check_pixels(width, height, max_pixels):
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"{width}x{height} = {width * height:,} pixels is more than "
            f"max_pixels={max_pixels:,} (refused as a possible decompression bomb)"
        )


def _opencv_jpeg(value, size, max_pixels):
    """Decode a JPEG file or bytes with OpenCV; None when the input is not a JPEG.

    libjpeg-turbo decodes at 1/2, 1/4 or 1/8 scale directly (``IMREAD_REDUCED_*``),
    the largest reduction that still covers ``size`` is used, EXIF orientation is
    applied by OpenCV, and ``INTER_AREA`` resizes. About 1.4x PIL's speed here, and
    OpenCV releases the GIL, so threads scale.
    """
    import cv2

    if isinstance(value, (str, os.PathLike)):
        with open(value, "rb") as handle:
            data = handle.read()
    else:
        data = bytes(value)
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    with Image.open(io.BytesIO(data)) as header:  # reads the header only
        width, height = header.size
    _check_pixels(width, height, max_pixels)
    reduction = next(
        (k for k in (8, 4, 2) if size is not None and min(width, height) // k >= max(size)), 1
    )
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags[reduction])
    if bgr is None:
        raise ValueError("OpenCV could not decode this JPEG")
    if size is not None and (bgr.shape[1], bgr.shape[0]) != tuple(size):
        bgr = cv2.resize(bgr, tuple(size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_image(value, size=(64, 64), backend="pil", max_pixels=MAX_PIXELS):
    """Decode one image input to an RGB uint8 array of shape ``(height, width, 3)``.

    Parameters
    ----------
    value : str, path-like, bytes, PIL.Image.Image or ndarray
        A file path, encoded file bytes, a PIL image, or an HxW / HxWxC uint8 array.
    size : tuple of int (width, height) or None, default=(64, 64)
        Resize (aspect ratio not kept) to this size; None keeps the original.
    backend : {"pil", "opencv"}, default="pil"
        ``"opencv"`` decodes JPEG files and bytes with OpenCV (faster; pixels differ
        from PIL's by about 2 grey levels on average); everything else goes through
        PIL either way.
    max_pixels : int or None, default=50_000_000
        Refuse images with more pixels than this (checked from the header, before
        decoding). None disables the check; Pillow's own bomb limit still applies.

    Returns
    -------
    ndarray of shape (height, width, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import decode_image
    >>> decode_image(np.zeros((10, 20), dtype=np.uint8), size=(8, 4)).shape
    (4, 8, 3)
    """
    if backend == "opencv" and isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        decoded = _opencv_jpeg(value, size, max_pixels)
        if decoded is not None:
            return decoded
    image = _open(value)
    try:
        _check_pixels(image.width, image.height, max_pixels)
        if size is not None and getattr(image, "format", None) == "JPEG":
            image.draft("RGB", tuple(size))  # let libjpeg decode at a reduced scale: much faster
        rgb = _to_rgb(image)
        if size is not None and rgb.size != tuple(size):
            rgb = rgb.resize(tuple(size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    finally:
        if image is not value:
            image.close()


def _cache_key(value, size, backend, max_pixels):
    if isinstance(value, (str, os.PathLike)):
        try:
            stat = os.stat(value)
        except OSError:
            return None
        return (os.fspath(value), stat.st_mtime_ns, stat.st_size, tuple(size), backend, max_pixels)
    return None


def _describe(value):
    if isinstance(value, (str, os.PathLike)):
        return f"file {os.fspath(value)!r}"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    return type(value).__name__


def _failure(value, exc):
    """Why one image input could not be decoded, in words."""
    what = _describe(value)
    if isinstance(exc, FileNotFoundError):
        return f"{what} does not exist"
    if isinstance(exc, IsADirectoryError):
        return f"{what} is a directory, not an image file"
    if isinstance(exc, UnidentifiedImageError):
        return f"{what} is not an image (empty, unknown format or corrupt header)"
    return f"{what} could not be decoded: {type(exc).__name__}: {exc}"


def _decode_or_explain(value, size, backend, max_pixels):
    """(array, None) or (None, why): one row's outcome, safe to run in a thread."""
    if is_missing(value):
        return None, "no image (missing value)"
    try:
        return decode_image(value, size, backend, max_pixels), None
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise anything; report the row
        return None, _failure(value, exc)


@validate_params(
    {
        "images": ["array-like"],
        "size": [tuple, list],
        "backend": [StrOptions({"pil", "opencv"})],
        "n_jobs": [Integral, None],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def decode_images(images, size=(64, 64), backend="pil", n_jobs=None, max_pixels=MAX_PIXELS):
    """Decode a column of image inputs into one ``(n, height, width, 3)`` uint8 batch.

    Every row is attempted; if any fail (missing file, directory, corrupt or
    truncated data, too many pixels, missing value, wrong type), one
    :class:`ImageDecodeError` lists all failing rows with their index label and
    file in its message and its ``problems``, so a single bad row never hides the
    others. Decoded files
    are kept in a bounded in-memory cache keyed by path, modification time, size
    and backend.

    Parameters
    ----------
    images : array-like of image inputs
        A pandas Series (its index names the rows), list or object array of paths,
        bytes, PIL images or uint8 arrays.
    size : tuple of int (width, height), default=(64, 64)
        Common output size.
    backend : {"pil", "opencv"}, default="pil"
        Decoder for JPEG files and bytes, see :func:`decode_image`.
    n_jobs : int, default=None
        Decoding threads (``-1``: one per core). Decoders release the GIL, so
        threads run in parallel without copying images between processes.
    max_pixels : int or None, default=50_000_000
        Pixel limit per image, see :func:`decode_image`.

    Returns
    -------
    ndarray of shape (n_images, height, width, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import decode_images
    >>> decode_images([np.zeros((5, 5, 3), np.uint8)] * 2, size=(16, 16)).shape
    (2, 16, 16, 3)
    """
    width, height = size
    size = (int(width), int(height))
    values = as_value_list(images)
    batch = np.empty((len(values), size[1], size[0], 3), dtype=np.uint8)
    keys = [_cache_key(value, size, backend, max_pixels) for value in values]
    # Rows to decode, one per distinct file (posts often share a sticker or photo).
    pending, duplicates = [], {}
    for i, key in enumerate(keys):
        cached = _cache.get(key) if key is not None else None
        if cached is not None:
            batch[i] = cached
        elif key is not None and key in duplicates:
            duplicates[key].append(i)
        else:
            pending.append(i)
            if key is not None:
                duplicates[key] = []
    workers = min(effective_n_jobs(n_jobs), max(len(pending), 1))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(lambda i: _decode_or_explain(values[i], size, backend, max_pixels), pending))
    else:
        outcomes = [_decode_or_explain(values[i], size, backend, max_pixels) for i in pending]
    failures = []  # (position, why)
    for i, (array, why) in zip(pending, outcomes):
        same = duplicates.get(keys[i], []) if keys[i] is not None else []
        if why is not None:
            failures.extend((j, why) for j in [i, *same])
            continue
        batch[[i, *same]] = array
        if keys[i] is not None:
            _remember(keys[i], array.copy())
    labels = row_labels(images)
    problems = [(labels[j], why) for j, why in sorted(failures)]
    if problems:
        raise ImageDecodeError.for_rows(problems, len(values))
    return batch


class ImageDecoder(TransformerMixin, BaseEstimator):
    """Turn an image column into an ``(n, height, width, 3)`` uint8 batch.

    The first step of every image branch: later featurizers (HOG, colour
    histograms) all read the same decoded batch, so each image is decoded once.
    EXIF orientation is applied; greyscale, palette, RGBA (over white), 16-bit and
    CMYK images become RGB; everything is resized to ``size``.

    Parameters
    ----------
    size : tuple of int (width, height), default=(64, 64)
        Output size in pixels.
    backend : {"auto", "pil", "opencv"}, default="auto"
        Decoder for JPEG files and bytes (see :func:`decode_image`). ``"auto"``
        picks OpenCV when it is installed (the ``fast`` extra), else PIL. The choice
        is made at ``fit`` and kept in ``backend_``, so a fitted model decodes the
        same way at predict time, wherever it is loaded.
    n_jobs : int, default=None
        Decoding threads (``-1``: one per core).
    max_pixels : int or None, default=50_000_000
        Images with more pixels are refused (a clear per-row error) before they are
        decoded, as possible decompression bombs.

    Attributes
    ----------
    backend_ : str
        The decoder used, ``"pil"`` or ``"opencv"``.

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import ImageDecoder
    >>> ImageDecoder(size=(32, 32)).fit_transform([np.zeros((8, 8), np.uint8)]).shape
    (1, 32, 32, 3)
    """

    _parameter_constraints = {
        "size": [tuple, list],
        "backend": [StrOptions({"auto", "pil", "opencv"})],
        "n_jobs": [Integral, None],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, size=(64, 64), backend="auto", n_jobs=None, max_pixels=MAX_PIXELS):
        self.size = size
        self.backend = backend
        self.n_jobs = n_jobs
        self.max_pixels = max_pixels

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and choose the decoder; nothing else is learnt."""
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"size must be (width, height) in pixels, got {self.size!r}")
        if self.backend == "auto":
            self.backend_ = "opencv" if importlib.util.find_spec("cv2") is not None else "pil"
        else:
            self.backend_ = self.backend
        return self

    def transform(self, X):
        """Decode every row; raises :class:`ImageDecodeError` naming all bad rows."""
        check_is_fitted(self)
        return decode_images(
            X, size=tuple(self.size), backend=self.backend_, n_jobs=self.n_jobs, max_pixels=self.max_pixels
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


def as_image_batch(X, size=None):
    """Accept a decoded batch (``(n, h, w[, 3])`` uint8) or a raw image column."""
    if isinstance(X, np.ndarray) and X.ndim in (3, 4) and X.dtype != object:
        if X.dtype != np.uint8:
            raise ValueError(f"decoded image batches must be uint8, got {X.dtype}")
        if X.ndim == 3:
            X = np.repeat(X[..., None], 3, axis=3)
        if X.shape[3] != 3:
            raise ValueError(f"decoded image batches must have 3 channels, got shape {X.shape}")
        if size is not None and X.shape[1:3] != (size[1], size[0]):
            X = decode_images(list(X), size=size)
        return X
    return decode_images(X, size=(64, 64) if size is None else tuple(size))

