"""The two caches of the image branches: decoded files in memory, CNN embeddings on disk."""

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from .._files import atomic_write

__all__ = ["DecodedImages", "EmbeddingCache", "content_digest"]


class DecodedImages:
    """Decoded images of files kept in memory, least recently used dropped beyond ``max_bytes``; thread-safe.

    Keys come from :meth:`key`: a file's path, modification time and size, and
    the decoding options, so a changed file is decoded again.

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image._cache import DecodedImages
    >>> cache = DecodedImages(max_bytes=100)
    >>> cache.put(("a",), np.zeros(60, np.uint8)); cache.put(("b",), np.zeros(60, np.uint8))
    >>> cache.get(("a",)) is None, cache.get(("b",)).shape
    (True, (60,))
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._items = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(value, *options):
        """The key of a file cell decoded with ``options``; None for other cells, and for paths ``stat`` fails on."""
        if not isinstance(value, (str, os.PathLike)):
            return None
        try:
            info = os.stat(value)
        except OSError:
            return None
        return (os.fspath(value), info.st_mtime_ns, info.st_size, *options)

    def get(self, key):
        """The array stored under ``key``, or None."""
        with self._lock:
            array = self._items.get(key)
            if array is not None:
                self._items.move_to_end(key)
            return array

    def put(self, key, array):
        """Keep ``array`` (not copied: do not change it afterwards) under ``key``."""
        with self._lock:
            previous = self._items.pop(key, None)
            self._bytes += array.nbytes - (0 if previous is None else previous.nbytes)
            self._items[key] = array
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self):
        """Forget every image."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


def content_digest(source):
    """SHA-256 (hex) of what a read cell shows: a file's bytes, or an in-memory image's mode, size and pixels.

    ``source`` is what :func:`~mmsent.image._io.read_cell` returns; the same
    picture under two names has one digest.
    """
    if isinstance(source, Image.Image):
        source = f"{source.mode}{source.size}".encode() + source.tobytes()
    return hashlib.sha256(source).hexdigest()


class EmbeddingCache:
    """Embeddings on disk, one ``.npy`` file per key under ``folder``, written atomically.

    Parallel runs may write the same key: each write is a complete file renamed
    into place (:func:`mmsent._files.atomic_write`). A file that cannot be read,
    or holds another shape or type, counts as absent and is written again.

    Parameters
    ----------
    folder : str or path-like
    shape : tuple of int
        The shape of every embedding.
    dtype : numpy dtype, default=np.float32

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from mmsent.image._cache import EmbeddingCache
    >>> cache = EmbeddingCache(tempfile.mkdtemp(), shape=(3,))
    >>> cache.get("ab12") is None
    True
    >>> cache.put("ab12", np.ones(3, np.float32))
    >>> cache.get("ab12")
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, folder, shape, dtype=np.float32):
        self.folder = Path(folder)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _path(self, key):
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key):
        """The embedding stored under ``key``, or None."""
        try:
            embedding = np.load(self._path(key))
        except (OSError, ValueError):  # absent, truncated or foreign: recompute it
            return None
        return embedding if embedding.shape == self.shape and embedding.dtype == self.dtype else None

    def put(self, key, embedding):
        """Store ``embedding`` under ``key``."""
        with atomic_write(self._path(key), "wb") as file:
            np.save(file, np.asarray(embedding, dtype=self.dtype))
