"""MVSA (Niu et al., MMM 2016): tweets of a text and an image, in the layouts users have."""

import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from .._validation import describe_rows
from ._checks import raise_if_missing, read_text_file, report_duplicates, warn_text_fallbacks

__all__ = ["load_mvsa", "mvsa_post_label"]

POLARITIES = ("positive", "neutral", "negative")
_COLUMNS = ["id", "text", "image", "label", "split", "text_label", "image_label", "text_encoding"]


def mvsa_post_label(text_label, image_label):
    """The post label from its two modality labels, by the usual MVSA rule.

    Equal labels are kept; a neutral label paired with a polar one gives the polar
    label; positive against negative is a conflict (None), and so is a modality
    without a label (None).

    Examples
    --------
    >>> from mmsent.datasets import mvsa_post_label
    >>> mvsa_post_label("neutral", "negative"), mvsa_post_label("positive", "negative")
    ('negative', None)
    """
    if text_label is None or image_label is None:
        return None
    if text_label == image_label:
        return text_label
    if "neutral" in (text_label, image_label):
        return image_label if text_label == "neutral" else text_label
    return None


def _majority(labels):
    """The label most annotators gave, or None when no label has a majority."""
    label, votes = Counter(labels).most_common(1)[0]
    return label if votes > len(labels) / 2 else None


def _read_label_result(path):
    """``labelResult.txt``: ``ID`` then one ``text,image`` pair per annotator (1 for Single, 3 for Multiple)."""
    rows, problems = [], []
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        pairs = [field.split(",") for field in fields[1:]]
        bad = [field for field, pair in zip(fields[1:], pairs) if len(pair) != 2 or set(pair) - set(POLARITIES)]
        if not pairs or bad:
            problems.append((f"line {number}", f"expected ID and text,image label pairs, got {line.strip()!r}"))
            continue
        text_label = _majority([text for text, _ in pairs])
        image_label = _majority([image for _, image in pairs])
        rows.append((fields[0], text_label, image_label, mvsa_post_label(text_label, image_label)))
    if problems:
        raise ValueError(f"{path}: {len(problems)} lines are not MVSA labels:\n{describe_rows(problems)}")
    return rows


def _original_layout(root):
    """``labelResult.txt`` + ``data/<id>.txt|jpg``: modality labels fused into post labels."""
    rows = _read_label_result(root / "labelResult.txt")
    dropped = [
        (post_id, f"text {text or 'no majority'}, image {image or 'no majority'}")
        for post_id, text, image, label in rows
        if label is None
    ]
    if dropped:
        warnings.warn(
            f"{root / 'labelResult.txt'}: {len(dropped)} of {len(rows)} posts have no post label "
            f"(positive/negative conflict or no majority) and are left out:\n{describe_rows(dropped)}",
            UserWarning,
            stacklevel=3,
        )
    kept = [row for row in rows if row[-1] is not None]
    labels = pd.DataFrame(kept, columns=["id", "text_label", "image_label", "label"], dtype=object)
    return labels.assign(split=None), root / "data", root / "data"


def _flat_layout(root):
    """``labels.csv`` (id, label, split) + ``texts/<id>.txt`` + ``images/<id>.jpg``."""
    labels = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    missing = {"id", "label"} - set(labels.columns)
    if missing:
        raise ValueError(
            f"{root / 'labels.csv'} has no column {sorted(missing)}; its columns are {list(labels.columns)}"
        )
    if "split" not in labels.columns:
        labels["split"] = None
    return labels.assign(text_label=None, image_label=None), root / "texts", root / "images"


def load_mvsa(path):
    """Load MVSA-Single or MVSA-Multiple from a folder, in either layout.

    - The original download: ``labelResult.txt`` and ``data/<id>.txt``,
      ``data/<id>.jpg``. MVSA-Single's ``labelResult.txt`` has one annotator's
      ``text,image`` labels per id, MVSA-Multiple's three. Each modality's label
      is the majority of its annotators; the post label follows
      :func:`mvsa_post_label`. Posts without one (positive/negative conflict, or
      no majority) are left out with a warning that lists them.
    - The flat layout: ``labels.csv`` (``id``, ``label``, optional ``split``),
      ``texts/<id>.txt`` and ``images/<id>.jpg``.

    Texts are decoded as UTF-8, then GBK, then latin-1 (about a quarter of MVSA
    texts are GBK); a warning lists the rows that fell back and the
    ``text_encoding`` column records it. Missing files are all listed in one
    :class:`MissingFilesError`; duplicate posts (same text and image content)
    and posts filed under two labels are reported in a warning and kept.

    Parameters
    ----------
    path : str or path-like
        The folder holding ``labels.csv`` or ``labelResult.txt``.

    Returns
    -------
    DataFrame
        Columns ``id``, ``text``, ``image`` (absolute path), ``label``, ``split``
        (None when the layout has none), ``text_label`` and ``image_label`` (the
        modality labels, None when the layout has none) and ``text_encoding``.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np
    >>> from PIL import Image
    >>> from mmsent.datasets import load_mvsa
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "data").mkdir()
    >>> _ = (root / "labelResult.txt").write_text("ID\\ttext,image\\n7\\tneutral,positive\\n")
    >>> _ = (root / "data" / "7.txt").write_text("sunny day #beach\\n")
    >>> Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "data" / "7.jpg")
    >>> load_mvsa(root)[["id", "text", "label", "text_label", "image_label"]].to_dict("records")
    [{'id': '7', 'text': 'sunny day #beach', 'label': 'positive', 'text_label': 'neutral', 'image_label': 'positive'}]
    """
    root = Path(path)
    if (root / "labels.csv").is_file():
        labels, text_dir, image_dir = _flat_layout(root)
    elif (root / "labelResult.txt").is_file():
        labels, text_dir, image_dir = _original_layout(root)
    else:
        raise FileNotFoundError(f"{root} is not an MVSA folder: it holds neither labels.csv nor labelResult.txt")
    labels = labels.reset_index(drop=True)
    text_paths = [text_dir / f"{post_id}.txt" for post_id in labels["id"]]
    image_paths = [(image_dir / f"{post_id}.jpg").resolve() for post_id in labels["id"]]
    files = [(post_id, path) for post_id, *both in zip(labels["id"], text_paths, image_paths) for path in both]
    raise_if_missing(root, files)
    texts, encodings = zip(*map(read_text_file, text_paths)) if len(labels) else ((), ())
    posts = labels.assign(text=list(texts), image=[str(p) for p in image_paths], text_encoding=list(encodings))
    posts = posts.astype({"text_label": object, "image_label": object, "split": object})[_COLUMNS]
    warn_text_fallbacks(root, posts["id"].tolist(), encodings)
    report_duplicates(root, posts.set_index("id", drop=False))
    return posts
