"""Text-only review corpora such as ChineseNlpCorpus' ``online_shopping_9_cats`` and ``waimai_10k``."""

import warnings

from .._validation import describe_rows
from ._manifest import read_manifest

__all__ = ["load_reviews"]

BINARY_LABELS = {"1": "positive", "0": "negative"}


def load_reviews(path, *, text_column="review", label_column="label", label_names=BINARY_LABELS):
    """Load a CSV or JSONL file of text-only reviews as posts without images.

    Read with :func:`read_manifest` (so duplicates and label conflicts are
    reported the same way), labels mapped through ``label_names``, and an empty
    ``image`` column added: such posts suit ``fusion="text"``. Reviews with no text
    are kept and listed in a warning.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` or ``.jsonl`` file.
    text_column, label_column : str, default="review", "label"
        Columns of the file holding the review and its label.
    label_names : dict or None, default={"1": "positive", "0": "negative"}
        Maps the file's labels (as text) to label names; a label it does not
        name is an error that lists the rows. None keeps the labels as they are.

    Returns
    -------
    DataFrame
        Columns ``text``, ``image`` (all None), ``label``, then the file's other
        columns (e.g. ``cat``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.datasets import load_reviews
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
    >>> _ = path.write_text("cat,label,review\\n书籍,1,很好看\\n水果,0,不新鲜\\n", encoding="utf-8")
    >>> load_reviews(path).to_dict("records")[0]
    {'text': '很好看', 'image': None, 'label': 'positive', 'cat': '书籍'}
    """
    frame = read_manifest(path, text_column=text_column, label_column=label_column, required=("text", "label"))
    labels = frame[label_column].astype(str)
    if label_names is not None:
        unknown = [(row, f"label {value!r}") for row, value in labels.items() if value not in label_names]
        if unknown:
            raise ValueError(
                f"{path}: {len(unknown)} rows have a label outside {sorted(label_names)}:\n{describe_rows(unknown)}"
            )
        labels = labels.map(label_names)
    texts = frame[text_column].astype(object)
    empty = [(row, "no text") for row, text in texts.items() if not isinstance(text, str) or not text.strip()]
    if empty:
        warnings.warn(
            f"{path}: {len(empty)} reviews are empty (kept):\n{describe_rows(empty)}", UserWarning, stacklevel=2
        )
    rest = frame.drop(columns=[text_column, label_column])
    posts = rest.assign(text=texts, image=None, label=labels.astype(object))
    return posts[["text", "image", "label", *rest.columns]]
