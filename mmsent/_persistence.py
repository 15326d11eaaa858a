"""Model files: a joblib pickle of the fitted estimator, with the metadata a user needs later."""

import copy
import datetime
import os
import platform
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np
import sklearn

from . import __version__

__all__ = ["ModelVersionWarning", "load_model", "model_metadata", "save_model"]

METADATA_ATTRIBUTE = "mmsent_metadata_"
_FORMAT_VERSION = 1


class ModelVersionWarning(UserWarning):
    """A model file was written by other versions of mmsent, scikit-learn or NumPy."""


def _builtin(value):
    """NumPy scalars and arrays → builtins, so the metadata reads the same everywhere."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def _describe(model):
    metadata = {
        "format_version": _FORMAT_VERSION,
        "mmsent_version": __version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
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
            metadata[key] = _builtin(getattr(model, attribute))
    return metadata


def save_model(model, path, *, compress=3):
    """Write a fitted model to ``path`` atomically, with its metadata.

    The file is a joblib pickle of the estimator itself, so ``joblib.load`` reads
    it too. A shallow copy of the model carries the metadata as
    ``mmsent_metadata_`` (versions of mmsent, scikit-learn, NumPy and Python, the
    classes, the fusion and the training data's shape); ``model`` itself is not
    changed. The file appears complete or not at all: it is written beside the
    target and renamed into place.

    Only load model files you trust: unpickling runs code.

    Parameters
    ----------
    model : fitted estimator
    path : str or path-like
    compress : int, default=3
        joblib (zlib) compression level, 0 for none.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmsent import load_model, save_model
    >>> model = DummyClassifier().fit([[0], [1]], ["neg", "pos"])
    >>> path = save_model(model, pathlib.Path(tempfile.mkdtemp()) / "model.joblib")
    >>> load_model(path).mmsent_metadata_["classes"]
    ['neg', 'pos']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    annotated = copy.copy(model)
    setattr(annotated, METADATA_ATTRIBUTE, _describe(model))
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        joblib.dump(annotated, temporary, compress=compress)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _version_mismatches(metadata):
    current = {"mmsent": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}
    saved = {
        "mmsent": metadata.get("mmsent_version"),
        "scikit-learn": metadata.get("sklearn_version"),
        "numpy": metadata.get("numpy_version"),
    }
    return [f"{name} {saved[name]} (now {current[name]})" for name in current if saved[name] != current[name]]


def load_model(path):
    """Load a model written by :func:`save_model` (or any joblib-pickled estimator).

    Warns with :class:`ModelVersionWarning` when the file was written with other
    versions of mmsent, scikit-learn or NumPy: predictions may then differ.
    Only load files you trust: unpickling runs code.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    model = joblib.load(path)
    if not hasattr(model, "predict"):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a fitted model")
    metadata = getattr(model, METADATA_ATTRIBUTE, None)
    if metadata is not None:
        mismatches = _version_mismatches(metadata)
        if mismatches:
            warnings.warn(
                f"{path} was saved with {', '.join(mismatches)}; predictions may differ. "
                "Re-fit and save the model with the current versions to be sure.",
                ModelVersionWarning,
                stacklevel=2,
            )
    return model


def model_metadata(model_or_path):
    """The metadata of a model or model file: saved metadata if any, else described now."""
    model = load_model(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else model_or_path
    return getattr(model, METADATA_ATTRIBUTE, None) or _describe(model)
