"""Manifests: CSV or JSONL files listing posts (text, image path, label)."""

import contextlib
import json
from pathlib import Path

import pandas as pd

from ._checks import raise_if_missing, report_duplicates

__all__ = ["iter_manifest", "read_manifest"]


def _jsonl_records(path):
    """The JSON objects of a JSONL file, one per non-blank line; a bad line raises naming its number."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
            yield record


def _manifest_kind(path):
    """``"csv"`` or ``"jsonl"``, once the file is known to exist."""
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise ValueError(f"{path}: manifests are .csv or .jsonl files, not {suffix or 'extension-less'}")


def _read_csv(path, **options):
    # Cells are text: "NA" stays the string "NA", an empty cell the empty string.
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", **options)


def _check_columns(path, frame, names, required):
    missing = [names[role] for role in required if names[role] not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns are {list(frame.columns)} "
            "(use --text-col / --image-col / --label-col to name yours)"
        )


def _resolve_images(path, frame, image_column, check_files):
    """Image cells → absolute path strings (None: no image), in place; one error lists the missing files."""
    if image_column in frame.columns:
        resolved = [_resolve(value, path.parent) for value in frame[image_column]]
        frame[image_column] = pd.Series(resolved, index=frame.index, dtype=object)
        if check_files:
            raise_if_missing(path, zip(frame.index, resolved), what="image files")


def read_manifest(
    path,
    *,
    text_column="text",
    image_column="image",
    label_column="label",
    required=("text", "image"),
    check_files=True,
):
    """Read a CSV or JSONL manifest of posts into a DataFrame.

    Image paths are resolved relative to the manifest's folder (absolute paths are
    kept). Every referenced image file is checked (unless ``check_files=False``):
    if any are missing, one :class:`MissingFilesError` lists them all. CSV cells are read as text (``"NA"``
    stays the string "NA"); an empty image cell means the post has no image.
    When there is a label column, duplicate posts (same text and image content)
    and posts filed under two labels are reported in a warning and kept.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` or ``.jsonl`` / ``.json`` (one object per line).
    text_column, image_column, label_column : str
        Column names in the file.
    required : collection of {"text", "image", "label"}
        Which of the three columns must be present.
    check_files : bool, default=True
        Check that every image file exists. ``False`` leaves that to the decoder,
        e.g. to skip the posts whose file is gone (``predict_robust``).

    Returns
    -------
    DataFrame
        The file's columns, with the image column holding absolute paths.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.datasets import read_manifest
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "posts.csv").write_text("text,label\\n好,positive\\n", encoding="utf-8")
    >>> read_manifest(folder / "posts.csv", required=("text", "label")).to_dict("records")
    [{'text': '好', 'label': 'positive'}]
    """
    path = Path(path)
    if _manifest_kind(path) == "csv":
        frame = _read_csv(path)
    else:
        frame = pd.DataFrame.from_records(list(_jsonl_records(path)))
    names = {"text": text_column, "image": image_column, "label": label_column}
    _check_columns(path, frame, names, required)
    _resolve_images(path, frame, image_column, check_files)
    if label_column in frame.columns:
        report_duplicates(path, frame, text_column=text_column, image_column=image_column, label_column=label_column)
    return frame


def iter_manifest(
    path,
    chunk_size=10_000,
    *,
    text_column="text",
    image_column="image",
    label_column="label",
    required=("text", "image"),
    check_files=True,
):
    """Read a CSV or JSONL manifest in chunks of ``chunk_size`` posts, holding one chunk at a time.

    Each chunk is what :func:`read_manifest` gives for those rows: cells read as text,
    image paths resolved against the manifest's folder, missing image files listed in
    one :class:`MissingFilesError` per chunk, and the index numbering the posts from 0
    across the whole file, so that errors name the same rows. The required columns are
    checked on the first chunk (a JSONL chunk in which no object has a column gets it
    empty). Duplicate posts are not reported: finding them needs the whole file.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` or ``.jsonl`` / ``.json`` (one object per line).
    chunk_size : int, default=10_000
        Posts per chunk.
    text_column, image_column, label_column, required, check_files
        As for :func:`read_manifest`.

    Yields
    ------
    DataFrame
        At most ``chunk_size`` posts.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.datasets import iter_manifest
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "posts.csv").write_text("text,label\\n好,pos\\n差,neg\\n行,pos\\n", encoding="utf-8")
    >>> [chunk.index.tolist() for chunk in iter_manifest(folder / "posts.csv", 2, required=("text", "label"))]
    [[0, 1], [2]]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    path = Path(path)
    names = {"text": text_column, "image": image_column, "label": label_column}
    if _manifest_kind(path) == "csv":
        chunks = _read_csv(path, chunksize=chunk_size)  # pandas numbers the rows on across chunks
    else:
        chunks = _jsonl_chunks(path, chunk_size)
    columns = None
    with contextlib.closing(chunks):
        for frame in chunks:
            if columns is None:
                _check_columns(path, frame, names, required)
                columns = list(frame.columns)
            else:
                frame = frame.reindex(columns=list(dict.fromkeys([*columns, *frame.columns])))
            _resolve_images(path, frame, image_column, check_files)
            yield frame


def _jsonl_chunks(path, chunk_size):
    records, start = [], 0
    for record in _jsonl_records(path):
        records.append(record)
        if len(records) == chunk_size:
            yield _records_frame(records, start)
            records, start = [], start + chunk_size
    if records or not start:
        yield _records_frame(records, start)


def _records_frame(records, start):
    return pd.DataFrame.from_records(records, index=pd.RangeIndex(start, start + len(records)))


def _resolve(value, folder):
    """An image cell → absolute path string, or None when the post has no image."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    image = Path(str(value))
    return str(image if image.is_absolute() else (folder / image).resolve())
