"""Model files: the fitted estimator, its metadata, and a SHA-256 checked before anything is loaded.

Two formats:

- ``"joblib"`` (the default): a pickle. Fast, and holds any estimator, but unpickling runs
  code: load only files from people you trust. mmsent checks the file's digest *before*
  unpickling, so a corrupted or altered file (one flipped byte) is refused before any of
  its code runs.
- ``"skops"``: no pickle. Loading builds only the types on an allow-list
  (:data:`TRUSTED_TYPES` plus those the caller names) and refuses a file holding any
  other. For files from people you don't trust.

Layout (format 3). A file holds the *payload*, the model as its serializer writes it, and a
*header*, the ASCII JSON ``{"metadata": {...}, "sha256": "<64 hex digits>"}``, in a place each
container keeps for such data, so that the usual readers still work:

- joblib: a gzip file (RFC 1952) ``FRAMING + HEADER + PAYLOAD``. The header is the gzip
  *extra field* (subfield ``MS``); the payload is the rest of the gzip member (the deflated
  pickle stream, its CRC and length). ``joblib.load(path)`` and ``zcat`` read it as ever. The
  stream is a standard pickle (protocol 5, metadata ``"pickler": "pickle"``), which Python's C
  unpickler loads several times faster than joblib's pure-Python one; files written before
  that hold joblib's own pickle, and load through joblib.
- skops: a zip archive ``PAYLOAD + FRAMING + HEADER``. The header is the archive comment;
  the payload is the archive written by ``skops.io`` up to the comment's length field.
  ``skops.io.load(path, trusted=...)`` reads it as ever.

The FRAMING (gzip's fixed fields and the header's length; the zip comment's length) is
exactly what :func:`save_model` writes. The digest is::

    sha256 = SHA-256(canonical metadata JSON + payload)

where the canonical JSON is ``json.dumps(metadata, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)``. With the framing compared to what it must be and the digest to the
one recorded, every byte of the file is checked but the layout of the header's JSON, which
may change without harm. This detects corruption, and changes made by anyone who did not
also rewrite the digest; to be sure of the author, compare it with a digest you got
from them another way (``load_model(path, sha256=...)``; ``mmsent info`` and the model card
print it). Reading the header (:func:`model_metadata`, ``mmsent info``) never unpickles.
"""

import copy
import datetime
import gzip
import hashlib
import io
import json
import os
import pickle
import platform
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import sklearn

from . import __version__
from ._files import atomic_write

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
# 1: a bare joblib pickle, no header; 2: the digest of the whole file, stored inside it.
_FORMAT_VERSION = 3
# The metadata's "pickler" of a joblib-format file whose payload is a standard pickle (absent: joblib's own).
_PICKLER = "pickle"

# mmsent's models take megabytes: a file this large is refused unread.
_MAX_FILE_BYTES = 4 * 1024**3

_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2, CM=deflate
_GZIP_FEXTRA = 0x04
_GZIP_SUBFIELD = b"MS"
_GZIP_FRAMING_BYTES = 16  # 10 fixed bytes, the extra field's length, the subfield's id and length
_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"  # the end-of-central-directory record: 22 bytes, the last 2 the comment's length
_ZIP_END_BYTES = 22
# A gzip extra field holds at most 65,535 bytes, 4 of them the subfield's id and length;
# a zip comment fits in the same bound.
_MAX_HEADER_BYTES = 65_531

#: Types a skops model file may hold beyond skops' own defaults (scikit-learn estimators,
#: NumPy and SciPy containers), as ``skops.io.get_untrusted_types`` names them for fitted
#: models of every fusion (and of the out-of-core classifier): mmsent's classes, the
#: vectorizer's token pass-through function and the CNN block's power normalisation,
#: NumPy's ``dtype`` (stacking's imputer, missing modalities), scikit-learn's
#: calibration internals (``probability=True``, soft voting), ``Bunch``
#: (``named_estimators_``), CSR support vectors of a kernel SVC, and the usual CV
#: splitters passed as ``cv``.
TRUSTED_TYPES = (
    "mmsent._classifier.MultimodalSentimentClassifier",
    "mmsent.fusion._columns.LowMemoryColumnTransformer",
    "mmsent.fusion._gated.GatedFusionClassifier",
    "mmsent.fusion._missing.ModalityClassifier",
    "mmsent.fusion._missing.ModalityImputer",
    "mmsent.fusion._missing.ModalityVotingClassifier",
    "mmsent.fusion._multitask.AuxiliaryTaskScores",
    "mmsent.fusion._projection.CrossModalProjector",
    "mmsent.fusion._projection.SharedSpaceFeatures",
    "mmsent.fusion._projection._Reducer",
    "mmsent.image._batched.BatchedPipeline",
    "mmsent.image._cnn.CNNEmbedder",
    "mmsent.image._color.ColorHistogram",
    "mmsent.image._decode.ImageDecoder",
    "mmsent.image._features.signed_sqrt",
    "mmsent.image._hog.HOGTransformer",
    "mmsent.retrieval._index.CrossModalIndex",
    "mmsent.scale._out_of_core.IncrementalSentimentClassifier",
    "mmsent.text._features.TextCleaner",
    "mmsent.text._lexicon.LexiconFeatures",
    "mmsent.text._tokenizer.JiebaTokenizer",
    "mmsent.text._tokenizer.passthrough_tokens",
    "mmsent.text._vectorizer.NgramVocabulary",
    "mmsent.text._vectorizer.TokenTfidfVectorizer",
    "numpy.dtype",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.utils._bunch.Bunch",
)


def _is_model(obj):
    """What model files hold: a predictor, or a retrieval index (:class:`mmsent.retrieval.CrossModalIndex`)."""
    return hasattr(obj, "predict") or hasattr(obj, "search")


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


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


# -- the file's parts ------------------------------------------------------------------------


def _canonical(value):
    """The JSON the digest covers: one text per value, whatever the layout of the header."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _digest(metadata, payload):
    """The digest a model file records: SHA-256 of the canonical metadata, then of the payload."""
    hasher = hashlib.sha256(_canonical(metadata))
    hasher.update(payload)
    return hasher.hexdigest()


def _gzip_framing(header_length):
    """gzip's fields before the header: FEXTRA set, no mtime (the metadata says when), OS unknown."""
    return b"".join(
        [
            _GZIP_MAGIC,
            bytes([_GZIP_FEXTRA]),
            bytes(4),  # MTIME
            b"\x00\xff",  # XFL, OS
            struct.pack("<H", 4 + header_length),  # the extra field's length
            _GZIP_SUBFIELD,
            struct.pack("<H", header_length),
        ]
    )


def _zip_framing(header_length):
    """The zip comment's length: the last field of the end-of-central-directory record."""
    return struct.pack("<H", header_length)


_FRAMING = {"joblib": _gzip_framing, "skops": _zip_framing}


def _split(data):
    """``(format, framing, header, payload)`` of a file with an mmsent header, else None.

    Nothing is checked here: a cut or altered file splits too, into parts that do not fit.
    """
    view = memoryview(data)
    if data[:3] == _GZIP_MAGIC and data[12:14] == _GZIP_SUBFIELD and len(data) >= _GZIP_FRAMING_BYTES:
        (length,) = struct.unpack_from("<H", data, 14)
        end = _GZIP_FRAMING_BYTES + length
        return "joblib", data[:_GZIP_FRAMING_BYTES], data[_GZIP_FRAMING_BYTES:end], view[end:]
    if data[:4] == _ZIP_MAGIC:
        # The record sits within the last 22 + 65,535 bytes: a comment holds at most 65,535.
        comment = data.rfind(_ZIP_END, max(0, len(data) - _ZIP_END_BYTES - 65_535)) + _ZIP_END_BYTES
        if comment >= _ZIP_END_BYTES and len(data) > comment:  # skops.io's own archives have no comment
            return "skops", data[comment - 2 : comment], data[comment:], view[: comment - 2]
    return None


def _parse_header(header):
    """The header's ``(metadata, recorded digest)``, or None if it is not the JSON save_model writes."""
    try:
        parsed = json.loads(header)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    if not isinstance(parsed, dict) or parsed.keys() != {"metadata", "sha256"}:
        return None
    if not isinstance(parsed["metadata"], dict) or not isinstance(parsed["sha256"], str):
        return None
    return parsed["metadata"], parsed["sha256"]


def _format_refusal(path, version):
    if isinstance(version, int) and version > _FORMAT_VERSION:
        return f"{path} is a model file of format {version}, newer than this mmsent reads: upgrade mmsent"
    return (
        f"{path} is a model file of mmsent's format {version}; this mmsent reads format {_FORMAT_VERSION} only. "
        "Re-fit the model and save it with this version (or, if you trust the file, load it with joblib.load or "
        "skops.io.load and save it again with save_model)."
    )


def _no_header(path):
    return (
        f"{path} has no mmsent header, so it is not a model file save_model wrote (joblib.dump, skops.io.dump and "
        "mmsent's format 1 write none: re-fit or re-save such a model with this version)"
    )


def _inspect(path, data):
    """``(metadata, file info)`` of a model file's bytes, or None when it has no mmsent header.

    Nothing is unpickled. ``info["integrity"]`` is ``"verified"``, or ``"mismatch"`` with the
    ``"problem"``; ``metadata`` is None when the header cannot be read. Files of another
    format version are refused (``ValueError``).
    """
    parts = _split(data)
    if parts is None:
        return None
    file_format, framing, header, payload = parts
    info = {"format": file_format, "sha256": None, "integrity": "mismatch"}
    parsed = _parse_header(header)
    if parsed is None:
        return None, {**info, "problem": "its header is not the JSON save_model writes (damaged or cut short)"}
    metadata, recorded = parsed
    if metadata.get("format_version") != _FORMAT_VERSION:
        raise ValueError(_format_refusal(path, metadata.get("format_version")))
    info["sha256"] = _digest(metadata, payload)
    if framing != _FRAMING[file_format](len(header)):
        info["problem"] = "the fields around its header are not those save_model writes (cut short or altered)"
    elif recorded != info["sha256"]:
        info["problem"] = f"its metadata and model hash to {info['sha256']}, its header records {recorded}"
    else:
        info["integrity"] = "verified"
    return metadata, info


def _read(path):
    """A model file's bytes, read once; anything but a regular file of sane size is refused unread."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"model file not found: {path}") from None
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path} is not a regular file, so not a model file")
    too_large = ValueError(f"{path} holds over {_MAX_FILE_BYTES:,} bytes, far more than a model file: refused")
    if status.st_size > _MAX_FILE_BYTES:
        raise too_large
    with path.open("rb") as file:
        data = file.read(_MAX_FILE_BYTES + 1)  # bounded: the file may have grown since stat
    if len(data) > _MAX_FILE_BYTES:
        raise too_large
    return data


# -- writing ----------------------------------------------------------------------------------


def _joblib_payload(model, compress):
    """The model's pickle stream deflated, with its CRC and length: the gzip member after the header.

    A standard pickle (protocol 5: arrays in-band, one copy), not joblib's: loading it takes
    Python's C unpickler instead of joblib's pure-Python one, and ``joblib.load`` reads both.
    """
    raw = pickle.dumps(model, protocol=5)
    deflate = zlib.compressobj(compress, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: gzip frames it
    return b"".join([deflate.compress(raw), deflate.flush(), struct.pack("<II", zlib.crc32(raw), len(raw) % 2**32)])


def _skops_payload(model, compress):
    """skops' zip archive up to its comment's length (it writes no comment): the framing adds both."""
    archive = _import_skops().dumps(
        model,
        compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
        compresslevel=compress or None,
    )
    return archive[:-2]


_PAYLOAD = {"joblib": _joblib_payload, "skops": _skops_payload}


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
    types the reader names). See the module docstring for the layout on disk and
    what the SHA-256 covers.

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
    >>> info["metrics"], info["format_version"], info["file"]["format"], info["file"]["integrity"]
    ({'accuracy': 0.5}, 3, 'joblib', 'verified')
    """
    path = Path(path)
    file_format = _format_for(path, format)
    if not _is_model(model):
        raise TypeError(f"save_model expects a fitted model, got a {type(model).__name__}")
    metadata = _describe(model, metrics=metrics, data=data)
    if file_format == "joblib":
        metadata["pickler"] = _PICKLER
    annotated = copy.copy(model)
    setattr(annotated, METADATA_ATTRIBUTE, metadata)
    payload = _PAYLOAD[file_format](annotated, compress)
    # In the metadata's own order, which the model card keeps; the digest does not depend on it.
    header = json.dumps({"metadata": metadata, "sha256": _digest(metadata, payload)}, ensure_ascii=True).encode()
    if len(header) > _MAX_HEADER_BYTES:
        raise ValueError(
            f"the model's metadata takes {len(header):,} bytes; at most {_MAX_HEADER_BYTES:,} fit in the "
            "file's header. Pass smaller metrics / data descriptions."
        )
    framing = _FRAMING[file_format](len(header))
    with atomic_write(path, "wb") as file:
        file.write(framing + header + payload if file_format == "joblib" else payload + framing + header)
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


def load_model(path, *, trusted=None, sha256=None, require_hash=True, expected=None):
    """Load a model written by :func:`save_model`, checking its SHA-256 first.

    The file is read once (a special file, or one over 4 GiB, is refused unread);
    its digest is checked on those bytes before anything is unpickled or built, so
    a corrupted or altered file (one flipped byte) is refused before any of its code
    runs. Files of mmsent's earlier formats are refused: re-fit or re-save the
    model. Warns with :class:`ModelVersionWarning` when the file was written with
    other versions of mmsent, scikit-learn or NumPy: predictions may then differ.

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
        The digest you expect, from a channel you trust: the one ``mmsent info``
        and the model card print (for a file without mmsent's header, the plain
        SHA-256 of the file, as ``sha256sum`` prints it).
    require_hash : bool, default=True
        Refuse files that carry no mmsent header (``joblib.dump``, ``skops.io.dump``,
        mmsent's format 1) unless ``sha256`` is given. A digest that does not match
        is refused whatever this says.
    expected : type, default=None
        Refuse a file holding anything but an instance of this type (after loading
        it, as the type is known only then), e.g. ``MultimodalSentimentClassifier``
        or :class:`~mmsent.retrieval.CrossModalIndex`. None: any fitted model
        (an object with ``predict``, or a retrieval index).

    Returns
    -------
    estimator

    Raises
    ------
    ModelIntegrityError
        The digest does not match, or no digest vouches for the file.
    UntrustedTypesError
        A skops file holds types that are not trusted.
    ValueError
        Not a regular file or far too large; a model file of another format version;
        a file holding something other than ``expected`` (or no fitted model).
    """
    path = Path(path)
    data = _read(path)
    inspected = _inspect(path, data)
    if inspected is None:  # not save_model's: only the caller can vouch for it
        metadata, file_format, digest = None, "skops" if data.startswith(_ZIP_MAGIC) else "joblib", None
        if sha256 is None and require_hash:
            raise ModelIntegrityError(
                f"{_no_header(path)}. Nothing vouches for its content, so it was not loaded. If you trust its "
                "source, pass the SHA-256 its author published (as sha256sum prints it) as sha256=..., or "
                "require_hash=False."
            )
        digest = hashlib.sha256(data).hexdigest()
    else:
        metadata, info = inspected
        if info["integrity"] != "verified":
            raise ModelIntegrityError(
                f"{path} failed its integrity check: {info['problem']}. "
                "The file is corrupted or was altered; it was not loaded."
            )
        file_format, digest = info["format"], info["sha256"]
    if sha256 is not None and sha256.lower() != digest:
        raise ModelIntegrityError(f"{path} has SHA-256 {digest}, not the expected {sha256}; it was not loaded.")
    if file_format == "skops":
        model = _load_skops(data, path, trusted)
    elif trusted is not None:
        raise ValueError(
            f"{path} is a pickle (joblib): its types cannot be checked before it runs, so `trusted` does "
            "not apply. Load it only if you trust its source, or ask for a skops file."
        )
    elif metadata is not None and metadata.get("pickler") == _PICKLER:
        model = pickle.loads(gzip.decompress(data))  # the digest vouched for these bytes
    else:  # joblib's own pickle: earlier files, or ones without mmsent's header
        model = joblib.load(io.BytesIO(data))
    if not isinstance(model, expected) if expected is not None else not _is_model(model):
        wanted = "a fitted model" if expected is None else f"a {expected.__name__}"
        raise ValueError(f"{path} holds a {_type_name(type(model))}, not {wanted}")
    metadata = metadata if metadata is not None else getattr(model, METADATA_ATTRIBUTE, None)
    if isinstance(metadata, dict):
        _warn_on_versions(path, metadata)
    return model


def model_metadata(model_or_path):
    """The metadata of a model, or of a model file read without loading the model.

    For a path, the metadata in the file's header plus ``"file"``: its ``format``,
    ``sha256`` (the digest :func:`load_model`'s ``sha256`` compares) and
    ``integrity``: ``"verified"``, or ``"mismatch"`` (corrupted or altered) with
    the ``problem``. Nothing is unpickled, so this is safe on any file; a file
    :func:`save_model` did not write, or wrote in an earlier format, is refused
    (``ValueError``). For a model: its saved metadata, or a description made now.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmsent import model_metadata
    >>> model_metadata(DummyClassifier().fit([[0], [1]], [0, 1]))["classes"]
    [0, 1]
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        inspected = _inspect(path, _read(path))
        if inspected is None:
            raise ValueError(_no_header(path))
        metadata, info = inspected
        return {**(metadata or {}), "file": info}
    return getattr(model_or_path, METADATA_ATTRIBUTE, None) or _describe(model_or_path)
