"""Manifests: CSV or JSONL files listing posts (text, image path, label)."""

import codecs
import contextlib
import json
import warnings
from pathlib import Path

import pandas as pd

from .._validation import check_labels
from ._checks import raise_if_missing, report_duplicates

__all__ = ["iter_manifest", "read_manifest"]

_BLOCK_BYTES = 1 << 20  # the encoding check reads the file this much at a time


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


def _first_error(path, encoding):
    """Where the file stops being ``encoding`` ("byte N: reason"), or None; reads it in blocks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK_BYTES)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return f"byte {offset - pending + exc.start}: {exc.reason}"
            if not block:
                return None
            offset += len(block)


def _encoding(path):
    """The manifest's encoding: UTF-8 (a byte-order mark is dropped), else GBK with a warning, else an error.

    GBK is how spreadsheet programs on Chinese Windows save CSV files.
    """
    not_utf8 = _first_error(path, "utf-8-sig")
    if not_utf8 is None:
        return "utf-8-sig"
    if _first_error(path, "gbk") is not None:
        raise ValueError(f"{path} is neither UTF-8 ({not_utf8}) nor GBK text: save it as UTF-8")
    warnings.warn(f"{path} is not UTF-8 ({not_utf8}): read as GBK", UserWarning, stacklevel=3)
    return "gbk"


def _read_csv(path, encoding, **options):
    """The CSV file as one DataFrame, or as an iterator of them with ``chunksize``."""
    # Cells are text: "NA" stays the string "NA", an empty cell the empty string.
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding)
        _check_header(path, header)
        frames = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _unreadable(path, exc) from None
    if "chunksize" not in options:
        return _checked_fields(path, frames)
    return _checked_chunks(path, frames)


def _check_header(path, header):
    """Refuse a header that names a column twice: pandas would rename the second ``name.1`` silently."""
    names = header.iloc[0].tolist() if len(header) else []
    repeated = sorted({name for name in names if name and names.count(name) > 1})  # blank ones become "Unnamed: i"
    if repeated:
        where = "; ".join(
            f"{name!r} is columns {', '.join(str(i + 1) for i, other in enumerate(names) if other == name)}"
            for name in repeated
        )
        raise ValueError(f"{path}: the header names a column more than once ({where}): rename the repeats")


def _unreadable(path, exc):
    return ValueError(f"{path} is not a readable CSV file: {exc}")  # pandas' messages do not name the file


def _checked_chunks(path, chunks):
    with chunks:
        while True:
            try:
                frame = next(chunks)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:  # a later row with more fields than the first
                raise _unreadable(path, exc) from None
            yield _checked_fields(path, frame)


def _checked_fields(path, frame):
    """``frame``, unless pandas took its first columns for the index (its first row longer than the header)."""
    if not isinstance(frame.index, pd.RangeIndex):
        raise ValueError(
            f"{path}: row 0 has {frame.index.nlevels + frame.shape[1]} fields, more than the header's "
            f"{frame.shape[1]} {list(frame.columns)}: a comma in an unquoted cell? Quote it"
        )
    return frame


def _jsonl_records(path, encoding):
    """The JSON objects of a JSONL file, one per non-blank line; a bad line raises naming its number."""
    # Lines end at "\n" only (newline="\n"): U+2028 and others are valid inside JSON strings.
    with open(path, encoding=encoding, newline="\n") as handle:
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


def _check_columns(path, frame, names, required):
    missing = [role for role in required if names[role] not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(repr(names[role]) for role in missing)}; its columns are "
            f"{list(frame.columns)} (use {' / '.join(f'--{role}-col' for role in missing)} to name yours)"
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
    stays the string "NA"); an empty image cell means the post has no image. The file is read as
    UTF-8; one that is not but decodes as GBK is read as GBK, with a warning.
    When there is a label column, duplicate posts (same text and image content)
    and posts filed under two labels are reported in a warning and kept.

    When ``"label"`` is required, the labels follow the rules of
    :meth:`MultimodalSentimentClassifier.fit <mmsent.MultimodalSentimentClassifier.fit>`,
    checked here so that the error names the file: an empty label, a mixture of
    strings and numbers (JSONL), or labels that differ only by case, surrounding
    whitespace or number format (``positive`` / ``Positive ``, ``1`` / ``1.0``)
    raise a :class:`~mmsent.LabelError` naming the rows (0-based,
    header not counted). Nothing is stripped or renamed silently.

    Parameters
    ----------
    path : str or path-like
        ``.csv or ``.jsonl`` / ``.json`` (one object per line).
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
    kind, encoding = _manifest_kind(path), _encoding(path)
    if kind == "csv":
        frame = _read_csv(path, encoding)
    else:
        frame = pd.DataFrame.from_records(list(_jsonl_records(path, encoding)))
    names = {"text": text_column, "image": image_column, "label": label_column}
    _check_columns(path, frame, names, required)
    if "label" in required:
        check_labels(frame[label_column], source=str(path))
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
    across the whole file, so that errors name the same rows. The encoding is checked
    first, in one pass over the file in blocks (UTF-8, else GBK with a warning), and
    the required columns on the first chunk (a JSONL chunk in which no object has a
    column gets it empty). Labels are checked chunk by chunk (two spellings of a label
    in different chunks are :func:`mmsent.scale.count_labels`' to find). Duplicate
    posts are not reported: finding them needs the whole file.

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
    kind, encoding = _manifest_kind(path), _encoding(path)
    if kind == "csv":
        chunks = _read_csv(path, encoding, chunksize=chunk_size)  # pandas numbers the rows on across chunks
    else:
        chunks = _jsonl_chunks(path, encoding, chunk_size)
    columns = None
    with contextlib.closing(chunks):
        for frame in chunks:
            if columns is None:
                _check_columns(path, frame, names, required)
                columns = list(frame.columns)
            else:
                frame = frame.reindex(columns=list(dict.fromkeys([*columns, *frame.columns])))
            if "label" in required:
                check_labels(frame[label_column], source=str(path))
            _resolve_images(path, frame, image_column, check_files)
            yield frame


def _jsonl_chunks(path, encoding, chunk_size):
    records, start = [], 0
    for record in _jsonl_records(path, encoding):
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
