"""Manifests: CSV or JSONL files listing posts (text, image path, label)."""

import json
from pathlib import Path

import pandas as pd

from .._validation import check_labels
from ._checks import raise_if_missing, report_duplicates

__all__ = ["read_manifest"]


def _read_jsonl(path):
    records = []
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
    stays the string "NA"); an empty image cell means the post has no image.
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
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    elif suffix in (".jsonl", ".json"):
        frame = _read_jsonl(path)
    else:
        raise ValueError(f"{path}: manifests are .csv or .jsonl files, not {suffix or 'extension-less'}")
    names = {"text": text_column, "image": image_column, "label": label_column}
    missing = [names[role] for role in required if names[role] not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns are {list(frame.columns)} "
            "(use --text-col / --image-col / --label-col to name yours)"
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
