"""Folder-per-class image sets: ``<root>/<label>/<name>.jpg`` with ``<name>.txt`` beside each image."""

import warnings
from pathlib import Path

import pandas as pd

from .._validation import describe_rows
from ._checks import MissingFilesError, read_text_file, report_duplicates, warn_text_fallbacks

__all__ = ["load_image_folder"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def load_image_folder(path):
    """Load posts from one sub-folder per class, each image with a text file of the same name beside it.

    ``<root>/positive/17.jpg`` and ``<root>/positive/17.txt`` make one post
    labelled ``positive``. An image without its text, or a text without its
    image, is listed in one :class:`MissingFilesError` (all of them); other
    files are listed in a warning and ignored. Texts are decoded as UTF-8, then
    GBK, then latin-1 (the ``text_encoding`` column; a warning lists fallbacks);
    duplicate posts and posts filed under two classes are reported and kept.

    Returns
    -------
    DataFrame
        Columns ``id`` (``<label>/<name>``), ``text``, ``image`` (absolute path),
        ``label`` and ``text_encoding``, sorted by label then name.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np
    >>> from PIL import Image
    >>> from mmsent.datasets import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "negative").mkdir()
    >>> Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "negative" / "a.png")
    >>> _ = (root / "negative" / "a.txt").write_text("rainy again")
    >>> load_image_folder(root)[["id", "text", "label"]].to_dict("records")
    [{'id': 'negative/a', 'text': 'rainy again', 'label': 'negative'}]
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    rows, missing, ignored = [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        images, texts = {}, {}
        for file in sorted(class_dir.iterdir()):
            suffix = file.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                images[file.stem] = file
            elif suffix == ".txt":
                texts[file.stem] = file
            else:
                ignored.append((f"{class_dir.name}/{file.name}", "neither an image nor a .txt"))
        for stem in sorted(images.keys() | texts.keys()):
            post_id = f"{class_dir.name}/{stem}"
            if stem not in texts:
                missing.append((post_id, str(images[stem].with_suffix(".txt"))))
            elif stem not in images:
                missing.append((post_id, f"{texts[stem].with_suffix('')}.<image>"))
            else:
                rows.append((post_id, texts[stem], str(images[stem].resolve()), class_dir.name))
    if missing:
        raise MissingFilesError(root, missing)
    if ignored:
        warnings.warn(f"{root}: {len(ignored)} files ignored:\n{describe_rows(ignored)}", UserWarning, stacklevel=2)
    if not rows:
        raise ValueError(f"{root} holds no posts: expected <label>/<name>.<image> with <name>.txt beside it")
    ids, text_paths, images, labels = zip(*rows)
    texts, encodings = zip(*map(read_text_file, text_paths))
    posts = pd.DataFrame(
        {"id": ids, "text": texts, "image": images, "label": labels, "text_encoding": encodings}, dtype=object
    )
    warn_text_fallbacks(root, list(ids), encodings)
    report_duplicates(root, posts.set_index("id", drop=False))
    return posts
