"""Checks every loader runs: text decoding with fallbacks, missing files, duplicates and label conflicts."""

import hashlib
import os
import stat
import warnings
from pathlib import Path

from .._files import file_kind
from .._validation import describe_rows

__all__ = ["MissingFilesError", "deduplicate", "find_duplicates", "read_text_file"]

# Tried in order; latin-1 maps every byte, so decoding never fails.
TEXT_ENCODINGS = ("utf-8", "gbk", "latin-1")


class MissingFilesError(FileNotFoundError):
    """Files a dataset refers to do not exist; ``missing`` lists every one as ``(row, path)``.

    The message shows the first few; the ``missing`` attribute holds all of them.
    """

    def __init__(self, source, missing, what="files"):
        self.missing = list(missing)
        reasons = [(row, _why_unusable(path)) for row, path in self.missing]
        verb = "do not exist" if reasons == self.missing else "do not exist or are not regular files"
        super().__init__(f"{source}: {len(self.missing)} {what} {verb}:\n{describe_rows(reasons)}")


def _why_unusable(path):
    """``path`` itself when it does not exist; else what it is instead of a regular file (a FIFO, a directory...)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path
    return path if stat.S_ISREG(mode) else f"{path} is not a regular file ({file_kind(mode)})"


def raise_if_missing(source, paths, what="files"):
    """Raise one :class:`MissingFilesError` naming every ``(row, path)`` whose path is not a file."""
    missing = [(row, str(path)) for row, path in paths if path is not None and not Path(path).is_file()]
    if missing:
        raise MissingFilesError(source, missing, what)


def read_text_file(path):
    """Read a text file as UTF-8, falling back to GBK, then latin-1.

    A UTF-8 byte-order mark is removed; surrounding whitespace is stripped.

    Returns
    -------
    text : str
    encoding : {"utf-8", "gbk", "latin-1"}
        The encoding that decoded the file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from mmsent.datasets import read_text_file
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "post.txt"
    >>> _ = path.write_bytes("好 …\\n".encode("gbk"))
    >>> read_text_file(path)
    ('好 …', 'gbk')
    """
    data = Path(path).read_bytes()
    for encoding in TEXT_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text.removeprefix("\ufeff").strip(), encoding
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def warn_text_fallbacks(source, rows, encodings):
    """Say which rows were not UTF-8 and which encoding read them."""
    fell_back = [(row, f"read as {encoding}") for row, encoding in zip(rows, encodings) if encoding != "utf-8"]
    if fell_back:
        warnings.warn(
            f"{source}: {len(fell_back)} of {len(rows)} texts are not UTF-8 (see the text_encoding column):\n"
            f"{describe_rows(fell_back)}",
            UserWarning,
            stacklevel=3,
        )


def _file_digest(path, cache):
    if path not in cache:
        cache[path] = hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
    return cache[path]


def _post_keys(frame, text_column, image_column):
    """One hashable key per post: its text, and the content (not the path) of its image file."""
    texts = frame[text_column].tolist() if text_column in frame.columns else [None] * len(frame)
    if image_column not in frame.columns:
        return texts
    cache = {}
    images = [
        _file_digest(value, cache) if isinstance(value, (str, Path)) and Path(value).is_file() else None
        for value in frame[image_column]
    ]
    return list(zip(texts, images))


def find_duplicates(frame, *, text_column="text", image_column="image", label_column="label"):
    """Find posts that repeat an earlier one, and repeated posts whose labels disagree.

    Two posts are the same when their texts are equal and their images have the same
    file content (paths may differ); a frame without an image column compares texts.

    Returns
    -------
    duplicates : Index
        Rows that repeat an earlier post with the same label.
    conflicts : Index
        Rows of every post that appears under more than one label (all copies).

    Examples
    --------
    >>> import pandas as pd
    >>> from mmsent.datasets import find_duplicates
    >>> posts = pd.DataFrame({"text": ["好", "好", "差", "差"], "label": ["pos", "pos", "neg", "pos"]})
    >>> duplicates, conflicts = find_duplicates(posts)
    >>> duplicates.tolist(), conflicts.tolist()
    ([1], [2, 3])
    """
    keys = _post_keys(frame, text_column, image_column)
    # NaN != NaN: missing labels must compare equal to each other.
    labels = [None if isinstance(label, float) and label != label else label for label in frame[label_column]]
    labels_of = {}
    for key, label in zip(keys, labels):
        labels_of.setdefault(key, set()).add(label)
    conflicting = [len(labels_of[key]) > 1 for key in keys]
    seen, repeated = set(), []
    for key, label in zip(keys, labels):
        repeated.append((key, label) in seen)
        seen.add((key, label))
    repeated = [copy and not conflict for copy, conflict in zip(repeated, conflicting)]
    return frame.index[repeated], frame.index[conflicting]


def report_duplicates(source, frame, **columns):
    """Warn about duplicate posts and label conflicts; the frame is left as it is."""
    duplicates, conflicts = find_duplicates(frame, **columns)
    if len(duplicates):
        listed = describe_rows([(row, "repeats an earlier post with the same label") for row in duplicates])
        warnings.warn(f"{source}: {len(duplicates)} duplicate posts (kept):\n{listed}", UserWarning, stacklevel=3)
    if len(conflicts):
        label = columns.get("label_column", "label")
        listed = describe_rows([(row, f"label {frame.at[row, label]!r}") for row in conflicts])
        warnings.warn(
            f"{source}: {len(conflicts)} posts appear under more than one label (kept; "
            f"mmsent.datasets.deduplicate drops them):\n{listed}",
            UserWarning,
            stacklevel=3,
        )


def deduplicate(frame, *, text_column="text", image_column="image", label_column="label"):
    """Drop repeated posts: keep the first copy, and drop every copy of a post whose labels disagree.

    Do this before splitting, or copies of one post land on both sides. A warning
    says how many rows went for each reason.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> from mmsent.datasets import deduplicate
    >>> posts = pd.DataFrame({"text": ["好", "好", "差", "差", "行"], "label": ["p", "p", "n", "p", "p"]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     deduplicate(posts)["text"].tolist()
    ['好', '行']
    """
    duplicates, conflicts = find_duplicates(
        frame, text_column=text_column, image_column=image_column, label_column=label_column
    )
    if len(duplicates) or len(conflicts):
        warnings.warn(
            f"deduplicate: dropped {len(duplicates)} repeated posts and {len(conflicts)} posts with "
            f"conflicting labels; {len(frame) - len(duplicates) - len(conflicts)} of {len(frame)} remain",
            UserWarning,
            stacklevel=2,
        )
    return frame.drop(index=duplicates.union(conflicts))
