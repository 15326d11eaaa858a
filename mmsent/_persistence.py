"""Model files: the fitted estimator, its metadata, and a SHA-256 checked before anything is loaded.

Two formats:

- ``"joblib"`` (the default): a pickle. Fast, and holds any estimator, but unpickling runs
  code: load only files from people you trust. mmsent checks the file's SHA-256 *before*
  unpickling, so a corrupted or altered file (one flipped byte) is refused before any of
  its code runs.
- ``"skops"``: no pickle. Loading builds only the types on an allow-list
  (:data:`TRUSTED_TYPES` plus those the caller names) and refuses a file holding any
  other. For files from people you don't trust.

Both carry a header, the ASCII JSON ``{"sha256": "<64 hex digits>", "metadata": {...}}``,
in a place their own format keeps for such data, so that the usual readers still work:

- joblib: a standard gzip file (RFC 1952) around joblib's pickle stream; the header is the
  gzip *extra field* (subfield ``MS``). ``joblib.load(path)`` and ``zcat`` read it as ever
  (without the check: prefer :func:`load_model`).
- skops: the zip archive of ``skops.io``; the header is the archive comment.
  ``skops.io.load(path)`` reads it as ever.

The digest is the SHA-256 of the whole file read with its own 64 digits as ``0``: every
other byte, metadata included, is covered. It detects corruption, and changes made by
anyone who did not also rewrite the digest; to be sure of the author, compare it with a
digest you got from them another way (``load_model(path, sha256=...)``). Reading the
header (:func:`model_metadata`, ``mmsent info``) never unpickles.
"""

import copy
import datetime
import hashlib
import io
import json
import os
import platform
import struct
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import scipy.sparse
import sklearn
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import Bunch

from . import __version__
from ._classifier import MultimodalSentimentClassifier
from .fusion import ModalityClassifier, ModalityImputer, ModalityVotingClassifier
from .image import BatchedPipeline, CNNEmbedder, ColorHistogram, HOGTransformer, ImageDecoder
from .text import JiebaTokenizer, LexiconFeatures, TextCleaner, TokenTfidfVectorizer, passthrough_tokens

__all__ = [
    "FORMATS",
    "TRUSTED_TYPES",
    "ModelIntegrityError",
    "ModelVersionWarning",
    "UntrustedTypesError",
    "load_model",
    "model_metadata",
    "save_model",
]

METADATA_ATTRIBUTE = "mmsent_metadata_"
FORMATS = ("joblib", "skops")
_FORMAT_VERSION = 2  # 1: a bare joblib zlib pickle, no header

_DIGEST_PREFIX = b'{"sha256": "'
_DIGEST_LENGTH = 64
_ZERO_DIGEST = b"0" * _DIGEST_LENGTH
_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2, CM=deflate
_GZIP_FEXTRA = 0x04
_GZIP_SUBFIELD = b"MS"
_ZIP_MAGIC = b"PK\x03\x04"
# A gzip extra field holds at most 65,535 bytes, 4 of them the subfield's id and length;
# a zip comment fits in the same bound.
_MAX_HEADER_BYTES = 65_531


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


#: Types a skops model file may hold beyond skops' own defaults (scikit-learn estimators,
#: NumPy and SciPy containers), found with ``skops.io.get_untrusted_types`` on fitted models
#: of every fusion: mmsent's classes and the vectorizer's token pass-through function,
#: scikit-learn's calibration internals (``probability=True``, soft voting), ``Bunch``
#: (``named_estimators_``), CSR support vectors of a kernel SVC, and the usual CV splitters
#: passed as ``cv``.
TRUSTED_TYPES = tuple(
    sorted(
        [
            *map(
                _type_name,
                [
                    MultimodalSentimentClassifier,
                    JiebaTokenizer,
                    TextCleaner,
                    TokenTfidfVectorizer,
                    passthrough_tokens,
                    ImageDecoder,
                    BatchedPipeline,
                    HOGTransformer,
                    ColorHistogram,
                    CNNEmbedder,
                    LexiconFeatures,
                    ModalityImputer,
                    ModalityClassifier,
                    ModalityVotingClassifier,
                    np.dtype,  # SimpleImputer's fitted dtype (stacking with missing modalities)
                    Bunch,
                    scipy.sparse.csr_matrix,
                    KFold,
                    StratifiedKFold,
                ],
            ),
            # Private to scikit-learn: named here rather than imported.
            "sklearn.calibration._CalibratedClassifier",
            "sklearn.calibration._SigmoidCalibration",
        ]
    )
)


class ModelVersionWarning(UserWarning):
    """A model file was written by other versions of mmsent, scikit-learn or NumPy."""


class ModelIntegrityError(ValueError):
    """A model file failed its SHA-256 check, or no hash vouches for it; nothing was loaded."""


class UntrustedTypesError(ValueError):
    """A skops model file holds types nobody trusted; nothing was built."""


# -- metadata ------------------------------------------------------------------------------


def _json_value(value):
    """``json.dumps`` hook: NumPy scalars and arrays become builtins."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"model metadata must be JSON-serializable; got {type(value).__name__} {value!r:.60}")


def _parameter(value):
    """A constructor parameter as JSON: itself when it is plain data, else its repr."""
    try:
        return json.loads(json.dumps(value, default=_json_value))
    except (TypeError, ValueError):
        return repr(value)


def _feature_sizes(model):
    """Width of each modality's feature block, read from the fitted ``ColumnTransformer``s."""
    fitted = getattr(model, "model_", None)
    # Voting and stacking hold one pipeline per modality; the others are one pipeline.
    branches = getattr(fitted, "named_estimators_", None) or {"model": fitted}
    sizes = {}
    for branch in branches.values():
        branch = getattr(branch, "estimator_", branch)  # a ModalityClassifier wraps its branch
        features = getattr(branch, "named_steps", {}).get("features")
        for name, columns in getattr(features, "output_indices_", {}).items():
            if columns.stop > columns.start:  # a dropped remainder has an empty slice
                sizes[name] = columns.stop - columns.start
    return sizes


def _describe(model, *, metrics=None, data=None):
    metadata = {
        "format_version": _FORMAT_VERSION,
        "mmsent_version": __version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "estimator": _type_name(type(model)),
    }
    for key, attribute in [
        ("classes", "classes_"),
        ("fusion", "fusion"),
        ("n_samples_fit", "n_samples_fit_"),
        ("n_features_in", "n_features_in_"),
        ("feature_names_in", "feature_names_in_"),
        ("modality_weights", "modality_weights_"),
    ]:
        if hasattr(model, attribute):
            metadata[key] = getattr(model, attribute)
    sizes = _feature_sizes(model)
    if sizes:
        metadata["feature_sizes"] = sizes
    if hasattr(model, "get_params"):
        metadata["params"] = {name: _parameter(value) for name, value in model.get_params(deep=False).items()}
    if metrics is not None:
        metadata["metrics"] = dict(metrics)
    if data is not None:
        metadata["data"] = dict(data)
    # One JSON round trip: the header and the model's attribute hold the same builtins.
    return json.loads(json.dumps(metadata, default=_json_value))


# -- the header ------------------------------------------------------------------------------


def _gzip_header_span(data):
    """``(start, end)`` of the mmsent subfield in a gzip extra field, or None."""
    if not data.startswith(_GZIP_MAGIC) or len(data) < 12 or not data[3] & _GZIP_FEXTRA:
        return None
    (extra_length,) = struct.unpack_from("<H", data, 10)
    position, end = 12, min(12 + extra_length, len(data))
    while position + 4 <= end:
        (length,) = struct.unpack_from("<H", data, position + 2)
        if data[position : position + 2] == _GZIP_SUBFIELD:
            return position + 4, min(position + 4 + length, end)
        position += 4 + length
    return None


def _zip_header_span(data):
    """``(start, end)`` of a zip archive's comment (the end of the file), or None."""
    if not data.startswith(_ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            comment = archive.comment
    except zipfile.BadZipFile:
        return None
    if not comment or not data.endswith(comment):
        return None
    return len(data) - len(comment), len(data)


_HEADER_SPAN = {"joblib": _gzip_header_span, "skops": _zip_header_span}


def _digest(data, digest_at):
    """SHA-256 of ``data`` read with the 64 digits at ``digest_at`` as ``0``."""
    view = memoryview(data)
    hasher = hashlib.sha256(view[:digest_at])
    hasher.update(_ZERO_DIGEST)
    hasher.update(view[digest_at + _DIGEST_LENGTH :])
    return hasher.hexdigest()


def _read_header(data):
    """``(file_info, metadata)`` of a model file's bytes; nothing is unpickled.

    ``file_info["integrity"]`` is ``"verified"`` (the digest matches), ``"mismatch"``
    (corrupted or altered, or a damaged header) or ``"absent"`` (no mmsent header:
    ``sha256`` is then the plain SHA-256 of the file, as ``sha256sum`` prints it).
    """
    for file_format, header_span in _HEADER_SPAN.items():
        span = header_span(data)
        if span is not None:
            break
    else:
        file_format = "skops" if data.startswith(_ZIP_MAGIC) else "joblib"
        return {"format": file_format, "sha256": hashlib.sha256(data).hexdigest(), "integrity": "absent"}, None
    start, end = span
    header = bytes(data[start:end])
    digest_at = start + len(_DIGEST_PREFIX)
    # A file cut short inside its header has no digest field to skip: hash it whole.
    enough = len(data) >= digest_at + _DIGEST_LENGTH
    actual = _digest(data, digest_at) if enough else hashlib.sha256(data).hexdigest()
    info = {"format": file_format, "sha256": actual, "integrity": "mismatch"}
    try:
        parsed = json.loads(header)
        recorded, metadata = parsed["sha256"], parsed["metadata"]
    except (ValueError, KeyError, TypeError):  # a damaged header
        return info, None
    if not header.startswith(_DIGEST_PREFIX) or not isinstance(metadata, dict):
        return info, None
    if recorded == actual:
        info["integrity"] = "verified"
    else:
        info["recorded_sha256"] = recorded
    return info, metadata


# -- writing ----------------------------------------------------------------------------------


def _joblib_bytes(model, header, compress):
    """A gzip member around joblib's pickle stream, the header in its extra field."""
    pickled = io.BytesIO()
    joblib.dump(model, pickled)
    raw = pickled.getbuffer()
    deflate = zlib.compressobj(compress, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: gzip frames it
    extra = _GZIP_SUBFIELD + struct.pack("<H", len(header)) + header
    return b"".join(
        [
            _GZIP_MAGIC,
            bytes([_GZIP_FEXTRA]),
            bytes(4),  # MTIME unset: the metadata says when
            b"\x00\xff",  # XFL, OS unknown
            struct.pack("<H", len(extra)),
            extra,
            deflate.compress(raw),
            deflate.flush(),
            struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF),
        ]
    )


def _skops_bytes(model, header, compress):
    """skops' zip archive, the header as its comment."""
    skops_io = _import_skops()
    archive_bytes = skops_io.dumps(
        model,
        compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
        compresslevel=compress or None,
    )
    buffer = io.BytesIO(archive_bytes)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = header
    return buffer.getvalue()


def _import_skops():
    try:
        import skops.io
    except ImportError as exc:  # pragma: no cover - skops is a dependency
        raise ImportError("the skops format needs the skops package: pip install skops") from exc
    return skops.io


def _format_for(path, file_format):
    if file_format is None:
        return "skops" if path.suffix.lower() == ".skops" else "joblib"
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {file_format!r}")
    return file_format


def _write_atomically(path, data):
    """Write beside ``path`` and rename into place: the file appears complete or not at all."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_model(model, path, *, format=None, metrics=None, data=None, compress=3):
    """Write a fitted model to ``path`` atomically, with its metadata and SHA-256.

    The metadata holds the versions of mmsent, scikit-learn, NumPy and Python, the
    estimator's parameters, its classes, fusion, per-modality feature sizes and the
    training data's shape, plus the ``metrics`` and ``data`` given. It is written
    twice: in the file's header, where :func:`model_metadata` and ``mmsent info``
    read it without loading the model, and as ``mmsent_metadata_`` on a shallow copy
    of the model (``model`` itself is not changed). The file is written beside
    ``path`` and renamed into place: it appears complete or not at all.

    Which format: ``"joblib"`` for your own models and people you trust (loading
    unpickles, i.e. runs code; any estimator fits); ``"skops"`` for files that travel
    to or from people you don't trust (loading builds only :data:`TRUSTED_TYPES` and
    types the reader names). See the module docstring for the layout on disk.

    Parameters
    ----------
    model : fitted estimator
    path : str or path-like
    format : {"joblib", "skops"}, default=None
        None: ``"skops"`` if ``path`` ends in ``.skops``, else ``"joblib"``.
    metrics : mapping, default=None
        Scores of the model (name → number), e.g. on held-out data.
    data : mapping, default=None
        A JSON-serializable description of the data the model was fitted and
        evaluated on, e.g. ``{"train": {"manifest": ..., "sha256": ..., "n_posts": ...}}``.
        The estimator records no fingerprint of its training data itself.
    compress : int, default=3
        Deflate level, 0 to 9 (0: none).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmsent import load_model, model_metadata, save_model
    >>> model = DummyClassifier().fit([[0], [1]], ["neg", "pos"])
    >>> path = save_model(model, pathlib.Path(tempfile.mkdtemp()) / "model.joblib", metrics={"accuracy": 0.5})
    >>> load_model(path).mmsent_metadata_["classes"]
    ['neg', 'pos']
    >>> info = model_metadata(path)
    >>> info["metrics"], info["file"]["format"], info["file"]["integrity"]
    ({'accuracy': 0.5}, 'joblib', 'verified')
    """
    path = Path(path)
    file_format = _format_for(path, format)
    if not hasattr(model, "predict"):
        raise TypeError(f"save_model expects a fitted model, got a {type(model).__name__}")
    metadata = _describe(model, metrics=metrics, data=data)
    header = json.dumps({"sha256": _ZERO_DIGEST.decode(), "metadata": metadata}, ensure_ascii=True).encode()
    if len(header) > _MAX_HEADER_BYTES:
        raise ValueError(
            f"the model's metadata takes {len(header):,} bytes; at most {_MAX_HEADER_BYTES:,} fit in the "
            "file's header. Pass smaller metrics / data descriptions."
        )
    annotated = copy.copy(model)
    setattr(annotated, METADATA_ATTRIBUTE, metadata)
    write = _joblib_bytes if file_format == "joblib" else _skops_bytes
    content = bytearray(write(annotated, header, compress))
    digest_at = _HEADER_SPAN[file_format](content)[0] + len(_DIGEST_PREFIX)
    content[digest_at : digest_at + _DIGEST_LENGTH] = _digest(content, digest_at).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, content)
    return path


# -- reading ----------------------------------------------------------------------------------


def _version_mismatches(metadata):
    current = {"mmsent": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}
    saved = {
        "mmsent": metadata.get("mmsent_version"),
        "scikit-learn": metadata.get("sklearn_version"),
        "numpy": metadata.get("numpy_version"),
    }
    return [f"{name} {saved[name]} (now {current[name]})" for name in current if saved[name] != current[name]]


def _warn_on_versions(path, metadata):
    mismatches = _version_mismatches(metadata)
    if mismatches:
        warnings.warn(
            f"{path} was saved with {', '.join(mismatches)}; predictions may differ. "
            "Re-fit and save the model with the current versions to be sure.",
            ModelVersionWarning,
            stacklevel=3,
        )


def _check_integrity(path, info, sha256, require_hash):
    if info["integrity"] == "mismatch":
        recorded = info.get("recorded_sha256", "unreadable (damaged header)")
        raise ModelIntegrityError(
            f"{path} failed its integrity check: its content hashes to {info['sha256']}, its header "
            f"records {recorded}. The file is corrupted or was altered; it was not loaded."
        )
    if sha256 is not None and sha256.lower() != info["sha256"]:
        raise ModelIntegrityError(
            f"{path} has SHA-256 {info['sha256']}, not the expected {sha256}; it was not loaded."
        )
    if info["integrity"] == "absent" and sha256 is None and require_hash:
        raise ModelIntegrityError(
            f"{path} carries no mmsent SHA-256 (written by joblib.dump, skops.io.dump or an older mmsent), "
            "so nothing vouches for its content and it was not loaded. If you trust its source, pass "
            "the digest its author published as sha256=..., or require_hash=False."
        )


def _load_skops(data, path, trusted):
    skops_io = _import_skops()
    if isinstance(trusted, (str, type)):
        trusted = [trusted]
    allowed = [*TRUSTED_TYPES, *(name if isinstance(name, str) else _type_name(name) for name in trusted or ())]
    untrusted = sorted(set(skops_io.get_untrusted_types(data=data)) - set(allowed))
    if untrusted:
        raise UntrustedTypesError(
            f"{path} holds types outside mmsent's trusted list: {untrusted} (skops.io.get_untrusted_types). "
            "Building them could run their code, so the file was not loaded. If you trust them, "
            f"name them: load_model(path, trusted={untrusted!r})."
        )
    return skops_io.loads(data, trusted=allowed)


def load_model(path, *, trusted=None, sha256=None, require_hash=True):
    """Load a model written by :func:`save_model`, checking its SHA-256 first.

    The file is read once; its digest is checked on those bytes before anything
    is unpickled or built, so a corrupted or altered file (one flipped byte) is
    refused before any of its code runs. Warns with :class:`ModelVersionWarning`
    when the file was written with other versions of mmsent, scikit-learn or
    NumPy: predictions may then differ.

    joblib files are pickles: a matching digest proves the file is as it was
    written, not that its author meant well. Load them only from people you trust;
    take others as skops files, which are built only from trusted types.

    Parameters
    ----------
    path : str or path-like
    trusted : sequence of str or type, default=None
        skops files only: types to build beyond :data:`TRUSTED_TYPES` (and skops'
        own defaults), as :class:`UntrustedTypesError` lists them. A pickle cannot
        be audited, so passing this for a joblib file is an error.
    sha256 : str, default=None
        The digest you expect, from a channel you trust (``mmsent info`` prints it;
        for a file without mmsent's header, the plain SHA-256 of the file).
    require_hash : bool, default=True
        Refuse files that carry no mmsent digest (``joblib.dump``, ``skops.io.dump``,
        older mmsent) unless ``sha256`` is given. A digest that does not match is
        refused whatever this says.

    Returns
    -------
    estimator

    Raises
    ------
    ModelIntegrityError
        The digest does not match, or no digest vouches for the file.
    UntrustedTypesError
        A skops file holds types that are not trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    data = path.read_bytes()
    info, metadata = _read_header(data)
    _check_integrity(path, info, sha256, require_hash)
    if metadata is not None:
        _warn_on_versions(path, metadata)
    if info["format"] == "skops":
        model = _load_skops(data, path, trusted)
    elif trusted is not None:
        raise ValueError(
            f"{path} is a pickle (joblib): its types cannot be checked before it runs, so `trusted` does "
            "not apply. Load it only if you trust its source, or ask for a skops file."
        )
    else:
        model = joblib.load(io.BytesIO(data))
    if not hasattr(model, "predict"):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a fitted model")
    if metadata is None and getattr(model, METADATA_ATTRIBUTE, None) is not None:
        _warn_on_versions(path, getattr(model, METADATA_ATTRIBUTE))
    return model


def model_metadata(model_or_path):
    """The metadata of a model, or of a model file read without loading the model.

    For a path, the metadata in the file's header plus ``"file"``: its ``format``,
    ``sha256`` and ``integrity`` (``"verified"``, ``"mismatch"`` or ``"absent"``
    for a file without mmsent's header, whose metadata is then unknown). Nothing is
    unpickled, so this is safe on any file. For a model: its saved metadata, or a
    description made now.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmsent import model_metadata
    >>> model_metadata(DummyClassifier().fit([[0], [1]], [0, 1]))["classes"]
    [0, 1]
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        info, metadata = _read_header(path.read_bytes())
        return {**(metadata or {}), "file": info}
    return getattr(model_or_path, METADATA_ATTRIBUTE, None) or _describe(model_or_path)
