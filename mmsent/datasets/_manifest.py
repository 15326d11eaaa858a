"""Manifests: CSV or JSONL files listing posts (text, image path, label)."""

import io
import json
import warnings
from pathlib import Path

import pandas as pd

from .._validation import check_labels
from ._checks import raise_if_missing, report_duplicates

__all__ = ["read_manifest"]


def _read_text(path):
    """The manifest's text: UTF-8 (a byte-order mark is dropped), else GBK with a warning, else an error.

    GBK is how spreadsheet programs on Chinese Windows save CSV files.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        not_utf8 = f"byte {exc.start}: {exc.reason}"
    try:
        text = data.decode("gbk")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is neither UTF-8 ({not_utf8}) nor GBK text: save it as UTF-8") from None
    warnings.warn(f"{path} is not UTF-8 ({not_utf8}): read as GBK", UserWarning, stacklevel=3)
    return text


def _read_jsonl(path, text):
    records = []
    # Lines end at "\n" only: str.splitlines would also cut at U+2028 and others, valid inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return pd.DataFrame.from_records(records)


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
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise ValueError(f"{path}: manifests are .csv or .jsonl files, not {suffix or 'extension-less'}")
    text = _read_text(path)
    if suffix == ".csv":
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    else:
        frame = _read_jsonl(path, text)
    names = {"text": text_column, "image": image_column, "label": label_column}
    missing = [role for role in required if names[role] not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(repr(names[role]) for role in missing)}; its columns are "
            f"{list(frame.columns)} (use {' / '.join(f'--{role}-col' for role in missing)} to name yours)"
        )
    if "label" in required:
        check_labels(frame[label_column], source=str(path))
    if image_column in frame.columns:
        resolved = [_resolve(value, path.parent) for value in frame[image_column]]
        frame[image_column] = pd.Series(resolved, index=frame.index, dtype=object)
        if check_files:
            raise_if_missing(path, zip(frame.index, resolved), what="image files")
    if label_column in frame.columns:
        report_duplicates(path, frame, text_column=text_column, image_column=image_column, label_column=label_column)
    return frame


def _resolve(value, folder):
    """An image cell → absolute path string, or None when the post has no image."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    image = Path(str(value))
    return str(image if image.is_absolute() else (folder / image).resolve())
