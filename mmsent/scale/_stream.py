"""Streaming: manifests in chunks, predictions written as they come, out-of-core training; one chunk in memory."""

import contextlib
import sys
import time
import warnings
from collections import Counter, namedtuple
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._files import atomic_write, check_output_path
from .._progress import progress_bar
from .._validation import check_labels
from ..datasets import iter_manifest
from ..image import clear_image_cache
from ..text import clear_token_cache

__all__ = ["PredictSummary", "count_labels", "fit_manifest", "prediction_frame", "predict_manifest"]

PredictSummary = namedtuple("PredictSummary", ["rows", "predicted", "errors", "seconds"])
PredictSummary.__doc__ = """What :func:`predict_manifest` did: posts read, posts predicted, bad inputs, seconds."""


def _modalities(model):
    """The modality columns a model's fusion reads, as ``iter_manifest``'s ``required``."""
    return {"text": ("text",), "image": ("image",)}.get(getattr(model, "fusion", "concat"), ("text", "image"))


def _manifest_columns(model):
    return {f"{role}_column": getattr(model, f"{role}_column", role) for role in ("text", "image")}


def _model_frame(frame, renames):
    """The chunk as the model reads it: the manifest's columns under the model's names.

    A manifest column that already bears one of the model's names gives way to the column mapped onto it.
    """
    shadowed = [new for new in renames.values() if new in frame.columns and new not in renames]
    return frame.drop(columns=shadowed).rename(columns=renames) if renames else frame


def _clear_caches():
    """Forget this process's cached tokens and decoded images: they would grow with the number of distinct posts."""
    clear_token_cache()
    clear_image_cache()



def prediction_frame(model, frame, on_error="raise"):
    """Predictions for a frame of posts: a ``prediction`` column and, when the model has them, ``proba_<class>``.

    One pass over the posts: a model with ``predict_proba`` predicts its most likely
    class. Under ``on_error="skip"`` or ``"impute"`` the model's ``predict_robust``
    (mmsent's classifiers) handles bad posts; skipped posts keep their row, with
    empty predictions. Otherwise ``predict`` / ``predict_proba`` run, and an error
    names the bad rows by ``frame``'s index.

    Parameters
    ----------
    model : fitted classifier
    frame : DataFrame
        Posts, as the model reads them.
    on_error : {"raise", "skip", "impute"}, default="raise"
        See :meth:`mmsent.MultimodalSentimentClassifier.predict_robust`.

    Returns
    -------
    predictions : DataFrame
        Indexed like ``frame``.
    errors : list of RowError
        The unusable cells.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent import MultimodalSentimentClassifier
    >>> from mmsent.scale import prediction_frame
    >>> X = pd.DataFrame({"text": ["很好", "太差了"] * 5, "image": [np.zeros((8, 8, 3), np.uint8)] * 10})
    >>> clf = MultimodalSentimentClassifier(fusion="text", probability=True, cv=2).fit(X, ["pos", "neg"] * 5)
    >>> prediction_frame(clf, X.head(2))[0].columns.tolist()
    ['prediction', 'proba_neg', 'proba_pos']
    """
    method = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    if on_error != "raise" and hasattr(model, "predict_robust"):
        scores, errors = model.predict_robust(frame, on_error=on_error, method=method)
    else:  # the plain method: its error names the bad rows by the frame's index, i.e. by manifest row
        scores, errors = getattr(model, method)(frame), []
        scores = (pd.Series if method == "predict" else pd.DataFrame)(scores, index=frame.index)
    if method == "predict":
        return pd.DataFrame({"prediction": scores}).reindex(frame.index), errors
    labels = model.classes_[np.argmax(scores.to_numpy(), axis=1)] if len(scores) else []
    out = pd.DataFrame({"prediction": labels}, index=scores.index).reindex(frame.index)
    for k, label in enumerate(model.classes_):
        out[f"proba_{label}"] = pd.Series(scores.to_numpy()[:, k], index=scores.index).round(6).reindex(frame.index)
    return out, errors


def _local_predictions(model, chunks, on_error):
    for frame in chunks:
        predictions, errors = prediction_frame(model, frame, on_error)
        _clear_caches()
        yield frame, (predictions, errors)


class _ChunkWriter:
    """Writes result chunks to an open text file as CSV (one header, the first chunk's columns) or JSONL."""

    def __init__(self, file, jsonl):
        self.file, self.jsonl, self.columns = file, jsonl, None

    def write(self, result):
        if self.jsonl:
            text = result.to_json(orient="records", lines=True, force_ascii=False)
            self.file.write(text if text.endswith("\n") or not text else text + "\n")
            return
        header = self.columns is None
        if header:
            self.columns = list(result.columns)
        else:
            dropped = [column for column in result.columns if column not in self.columns]
            if dropped and result[dropped].notna().to_numpy().any():
                warnings.warn(
                    f"columns {dropped} first appear after the CSV header was written: left out (write .jsonl "
                    "to keep every column)",
                    UserWarning,
                    stacklevel=4,
                )
            result = result.reindex(columns=self.columns)
        result.to_csv(self.file, index=False, header=header)


@contextlib.contextmanager
def _writer(out, inputs):
    """A :class:`_ChunkWriter` on ``out``: a path (written atomically, format by suffix), a text file, or stdout."""
    if out is None or hasattr(out, "write"):
        yield _ChunkWriter(sys.stdout if out is None else out, jsonl=False)
        return
    jsonl = Path(out).suffix.lower() in (".jsonl", ".json")
    with atomic_write(out, "w", encoding="utf-8", newline="", inputs=inputs) as file:
        yield _ChunkWriter(file, jsonl)


def _check_images(out, frame, image_column):
    """Refuse an output that is one of the chunk's image files (checked only if it exists: a new file is none)."""
    if isinstance(out, (str, Path)) and image_column in frame.columns and Path(out).exists():
        check_output_path(out, inputs=[path for path in frame[image_column] if isinstance(path, str)])


def predict_manifest(
    model,
    manifest,
    out=None,
    *,
    chunk_size=10_000,
    on_error="raise",
    text_column=None,
    image_column=None,
    inputs=(),
    client=None,
    verbose=1,
):
    """Predict every post of a CSV / JSONL manifest, one chunk in memory at a time, writing as it goes.

    The manifest is read ``chunk_size`` posts at a time (:func:`mmsent.datasets.iter_manifest`:
    image paths resolved against its folder); each chunk is predicted and appended to
    the output, the manifest's columns followed by ``prediction`` (and ``proba_<class>``
    when the model has probabilities), in the manifest's order. Written to a path, the
    output appears complete or not at all (:func:`mmsent._files.atomic_write`: a
    temporary file renamed at the end); an error leaves no partial file, and the output
    may not replace the manifest, one of ``inputs`` or an image file of the manifest.
    mmsent's token and decoded-image caches are cleared after each chunk, so memory does
    not grow with the number of posts. A progress bar counts posts and posts per second.

    Parameters
    ----------
    model : fitted classifier
        Reads the posts' columns by the names it was fitted with (``text_column``,
        ``image_column``); ``fusion`` says which it needs.
    manifest : str or path-like
        ``.csv`` or ``.jsonl`` manifest.
    out : str, path-like or text file, default=None
        ``.jsonl`` / ``.json`` (JSON lines) or any other name (CSV); an open text
        file gets CSV, written chunk by chunk; None writes CSV to standard output.
    chunk_size : int, default=10_000
        Posts per chunk (per partition with ``client``).
    on_error : {"raise", "skip", "impute"}, default="raise"
        A post whose image or text cannot be used: raise, naming every bad row of its
        chunk by its manifest row (with ``"raise"`` the image files of each chunk are
        checked before it is predicted), skip it (empty prediction) or predict it as
        if that modality were missing.
    text_column, image_column : str, default=None
        The manifest's columns holding the model's text and images, when they are not
        named as the model's (None: the model's own names).
    inputs : iterable of paths, default=()
        Other files of the run (the model's) that the output may not replace.
    client : distributed.Client, default=None
        Predict the chunks on a Dask cluster (:func:`mmsent.scale.dask_client`): the
        model is sent once, chunks are predicted on the workers, a few at a time,
        and written here in order. Workers must reach the image files at the
        manifest's resolved paths (shared storage).
    verbose : int, default=1
        0: no progress bar.

    Returns
    -------
    PredictSummary
        ``rows``, ``predicted``, ``errors`` (RowError list, by manifest row and column) and ``seconds``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, pandas as pd
    >>> from mmsent import MultimodalSentimentClassifier
    >>> from mmsent.scale import predict_manifest
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> X = pd.DataFrame({"text": ["很好", "太差了"] * 5, "image": [np.zeros((8, 8, 3), np.uint8)] * 10})
    >>> clf = MultimodalSentimentClassifier(fusion="text").fit(X, ["pos", "neg"] * 5)
    >>> _ = (folder / "posts.csv").write_text("review\\n好\\n太差了\\n很好\\n", encoding="utf-8")
    >>> predict_manifest(clf, folder / "posts.csv", folder / "out.csv", chunk_size=2, text_column="review",
    ...                  verbose=0).predicted
    3
    >>> pd.read_csv(folder / "out.csv").to_dict("list")
    {'review': ['好', '太差了', '很好'], 'prediction': ['pos', 'neg', 'pos']}
    """
    if on_error not in ("raise", "skip", "impute"):
        raise ValueError(f"on_error must be 'raise', 'skip' or 'impute', got {on_error!r}")
    start = time.perf_counter()
    model_columns = _manifest_columns(model)
    columns = {
        "text_column": model_columns["text_column"] if text_column is None else text_column,
        "image_column": model_columns["image_column"] if image_column is None else image_column,
    }
    renames = {columns[name]: model_columns[name] for name in columns if columns[name] != model_columns[name]}
    manifest_names = {new: old for old, new in renames.items()}
    # Under skip / impute a missing image file is one bad row, reported with the others.
    chunks = iter_manifest(
        manifest, chunk_size, **columns, required=_modalities(model), check_files=on_error == "raise"
    )
    frames = {}  # the chunks as read, by first row, while their predictions are made

    def model_frames():
        for frame in chunks:
            _check_images(out, frame, columns["image_column"])
            frames[frame.index[0] if len(frame) else None] = frame
            yield _model_frame(frame, renames)

    if client is None:
        results = _local_predictions(model, model_frames(), on_error)
    else:
        from ._dask import map_chunks

        results = map_chunks(client, prediction_frame, model, model_frames(), on_error)
    rows = predicted = 0
    errors = []
    with progress_bar(None, desc="predict", unit="posts", verbose=verbose) as bar, _writer(
        out, [manifest, *inputs]
    ) as writer:
        for X, (predictions, found) in results:
            frame = frames.pop(X.index[0] if len(X) else None)
            writer.write(pd.concat([frame, predictions], axis=1))
            rows += len(frame)
            predicted += int(predictions["prediction"].notna().sum())
            # Errors name the manifest's columns, not the model's.
            errors.extend(error._replace(column=manifest_names.get(error.column, error.column)) for error in found)
            bar.update(len(frame))
    return PredictSummary(rows, predicted, errors, time.perf_counter() - start)


def count_labels(manifest, *, label_column="label", chunk_size=10_000):
    """How many posts of a manifest carry each label: one pass over it, a chunk at a time.

    The labels are checked as :meth:`mmsent.MultimodalSentimentClassifier.fit` checks
    them, across the whole file: a :class:`~mmsent.LabelError` names the rows at fault.

    Parameters
    ----------
    manifest : str or path-like
        Labelled ``.csv`` or ``.jsonl`` manifest.
    label_column : str, default="label"
        Its label column.
    chunk_size : int, default=10_000
        Posts read at a time.

    Returns
    -------
    collections.Counter
        Label → number of posts.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.scale import count_labels
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "posts.csv"
    >>> _ = path.write_text("text,label\\n好,pos\\n差,neg\\n行,pos\\n", encoding="utf-8")
    >>> sorted(count_labels(path, chunk_size=2).items())
    [('neg', 1), ('pos', 2)]
    """
    counts, first_row = Counter(), {}
    for frame in iter_manifest(manifest, chunk_size, label_column=label_column, required=("label",), check_files=False):
        labels = frame[label_column]
        counts.update(labels.tolist())
        for row, label in labels.items():
            first_row.setdefault(label, row)
    # Each chunk's labels were checked as it was read; two spellings of a label in different chunks are found
    # here, each named by the row where it first appears.
    check_labels(pd.Series(list(first_row), index=list(first_row.values())), source=str(manifest))
    return counts


def fit_manifest(
    estimator, manifest, *, label_column="label", classes=None, chunk_size=10_000, n_epochs=1, client=None, verbose=1
):
    """Train an incremental model on a manifest that need not fit in memory, chunk by chunk.

    A clone of ``estimator`` learns from the manifest ``chunk_size`` posts at a time
    with ``partial_fit``, ``n_epochs`` times over; memory holds one chunk (mmsent's
    token and image caches are cleared after each). Chunks are learnt in the file's
    order: a manifest sorted by label trains badly, shuffle it once beforehand.

    Parameters
    ----------
    estimator : IncrementalSentimentClassifier
        The model to train (not modified); any classifier with
        ``partial_fit(X, y, classes=)`` without ``client``.
    manifest : str or path-like
        Labelled ``.csv`` or ``.jsonl`` manifest.
    label_column : str, default="label"
        Its label column.
    classes : array-like, default=None
        Every label; None reads them from the manifest first (one pass over it).
    chunk_size : int, default=10_000
        Posts per chunk.
    n_epochs : int, default=1
        Passes over the manifest (each one reads and featurizes it again).
    client : distributed.Client, default=None
        Featurize the chunks on a Dask cluster; this process learns from them in
        order as they arrive (the same model as without ``client``). Workers must
        reach the image files (shared storage).
    verbose : int, default=1
        0: no progress bar.

    Returns
    -------
    estimator
        The fitted clone.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.scale import IncrementalSentimentClassifier, fit_manifest
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows = "".join(f"{text},{label}\\n" for text, label in [("很好", "pos"), ("太差了", "neg")] * 10)
    >>> _ = (folder / "train.csv").write_text("text,label\\n" + rows, encoding="utf-8")
    >>> model = fit_manifest(IncrementalSentimentClassifier("text", random_state=0), folder / "train.csv",
    ...                      chunk_size=8, verbose=0)
    >>> model.n_samples_fit_, model.classes_.tolist()
    (20, ['neg', 'pos'])
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    model = clone(estimator)
    if classes is None:
        classes = sorted(count_labels(manifest, label_column=label_column, chunk_size=chunk_size), key=str)
    columns = {**_manifest_columns(model), "label_column": label_column}
    with progress_bar(None, desc="train", unit="posts", verbose=verbose) as bar:
        for _ in range(n_epochs):
            chunks = iter_manifest(manifest, chunk_size, **columns, required=(*_modalities(model), "label"))
            if client is None:
                for frame in chunks:
                    model.partial_fit(frame, frame[label_column].to_numpy(), classes=classes)
                    _clear_caches()
                    bar.update(len(frame))
            else:
                from ._dask import fit_chunks

                for frame in fit_chunks(client, model, chunks, label_column, classes):
                    bar.update(len(frame))
    return model
