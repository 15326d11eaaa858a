"""Helpers shared by the featurizers: what counts as missing, naming the rows that hold bad input, label rules."""

import warnings
from collections import Counter, defaultdict
from numbers import Real

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "BadRowsError",
    "LabelError",
    "as_frame",
    "as_value_list",
    "check_known_labels",
    "check_labels",
    "describe_rows",
    "is_missing",
    "label_key",
    "missing_mask",
    "row_labels",
]

_MAX_ROWS_SHOWN = 10


class BadRowsError(ValueError):
    """Some rows of one modality's column are unusable; ``problems`` lists them all.

    ``problems`` is a list of ``(row, message)`` pairs, ``row`` being the index
    label of the column the featurizer was given. ``modality`` ("text" or "image")
    says which column they come from.
    """

    modality = None

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)

    def __reduce__(self):  # keep ``problems`` when crossing process boundaries (n_jobs)
        return type(self), (str(self), self.problems)


def is_missing(value):
    """Does this cell mean "the post has no such modality"?

    The one definition used everywhere: ``None``, ``pd.NA``, a float NaN, or a
    string that is empty or only whitespace. Anything else is a value, usable or
    not (a 0-byte file or ``b""`` is a broken image, not a missing one).

    Examples
    --------
    >>> from mmsent._validation import is_missing
    >>> [is_missing(v) for v in (None, float("nan"), "", "  ", "好", b"", 0)]
    [True, True, True, True, False, False, False]
    """
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def missing_mask(column):
    """Boolean array, True where a cell of the 1-D column is missing (see :func:`is_missing`)."""
    return np.fromiter((is_missing(value) for value in as_value_list(column)), dtype=bool)


def row_labels(column):
    """Row labels of a column: the pandas index when there is one, else positions."""
    if hasattr(column, "iloc"):  # pandas Series or DataFrame
        return column.index.tolist()
    return list(range(len(column)))


def as_value_list(column):
    """The values of a 1-D column (Series, array, list) as a Python list."""
    if hasattr(column, "to_numpy"):
        column = column.to_numpy()
    if isinstance(column, np.ndarray):
        if column.ndim == 2 and column.shape[1] == 1:
            column = column[:, 0]
        if column.ndim != 1:
            raise ValueError(f"expected one column of values, got an array of shape {column.shape}")
        return column.tolist() if column.dtype != object else list(column)
    return list(column)


def as_frame(X):
    """``X`` as a DataFrame of posts (a row per post, a column per field), or a clear error.

    A DataFrame is used as it is; records, rows and 2-D arrays are converted.

    Examples
    --------
    >>> from mmsent._validation import as_frame
    >>> as_frame([{"text": "好", "image": None}]).columns.tolist()
    ['text', 'image']
    """
    if sp.issparse(X):
        raise TypeError("sparse input is not supported: X must be a DataFrame of posts (a column per modality)")
    if not isinstance(X, pd.DataFrame):
        if isinstance(X, (dict, list)):
            X = pd.DataFrame(X)
        elif hasattr(X, "__array__"):
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(
                    f"X must be 2-D (a row per post, a column per field), got an array of shape {array.shape}. "
                    "Reshape your data (array.reshape(-1, 1) for a single column) or pass a DataFrame."
                )
            X = pd.DataFrame(array)
        else:
            raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if any(dtype.kind == "c" for dtype in X.dtypes):
        raise ValueError("Complex data not supported: text and image columns hold posts, not numbers")
    return X


def describe_rows(problems):
    """Format ``[(row, message), ...]`` as lines, at most ``_MAX_ROWS_SHOWN`` of them."""
    lines = [f"  row {row!r}: {message}" for row, message in problems[:_MAX_ROWS_SHOWN]]
    if len(problems) > _MAX_ROWS_SHOWN:
        lines.append(f"  ... and {len(problems) - _MAX_ROWS_SHOWN} more rows")
    return "\n".join(lines)


class LabelError(BadRowsError):
    """Labels that would silently become wrong classes; ``problems`` names the rows at fault."""

    modality = "label"


def _label_kind(value):
    """``"str"``, ``"number"`` or ``"bool"`` for the label types mmsent accepts; else the type's name."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, Real):
        return "number"
    return type(value).__name__


def label_key(label):
    """What a string label means once case, surrounding whitespace and number format are set aside.

    Two labels with the same key are one class spelt two ways (``"positive"``,
    ``"Positive "``; ``"1"``, ``"1.0"``).

    Examples
    --------
    >>> from mmsent._validation import label_key
    >>> label_key(" Positive") == label_key("positive"), label_key("1") == label_key("1.0")
    (True, True)
    """
    text = label.strip().casefold()
    try:
        number = float(text)
    except ValueError:
        return text
    return number if np.isfinite(number) else text


def _count(n, noun):
    return f"{n} {noun}{'s' * (n != 1)}"


def _rows_text(rows, shown=5):
    listed = ", ".join(map(repr, rows[:shown])) + (", ..." if len(rows) > shown else "")
    return f"{_count(len(rows), 'row')}: {listed}"


def check_labels(y, *, source=None):
    """Refuse labels that scikit-learn would take silently as wrong classes, naming their rows.

    The rules, checked in this order (each raises :class:`LabelError`):

    1. Every post has a label: ``None``, NaN, ``pd.NA`` and blank strings are refused.
    2. Labels are all strings, all numbers or all booleans: a mixture (``"1"`` and
       ``1``), and any other type (a list, a dict), is refused.
    3. Numeric labels are whole numbers (a fraction means continuous values: a
       regression target, not classes).
    4. No two string labels differ only by case, surrounding whitespace or number
       format (``"positive"``, ``"positive "``, ``"Positive"``; ``"1"``, ``"1.0"``):
       each would become a class of its own.

    Nothing is changed: clean the labels at the source and fit again.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels; a pandas Series names its rows by index label, other inputs by position.
    source : str, default=None
        Where the labels come from (a file), put in front of the message.

    Raises
    ------
    LabelError
        With ``problems``: ``(row, message)`` for the offending rows.

    Examples
    --------
    >>> from mmsent._validation import check_labels
    >>> check_labels(["positive", "negative", "positive"])
    >>> check_labels(["positive", "Positive", None])
    Traceback (most recent call last):
    ...
    mmsent._validation.LabelError: 1 of 3 labels are empty (None, NaN or blank); label these posts or leave them out:
      row 2: empty label
    """
    values, rows = as_value_list(y), row_labels(y)
    where = f"{source}: " if source else ""
    empty = [(row, "empty label") for row, value in zip(rows, values) if is_missing(value)]
    if empty:
        raise LabelError(
            f"{where}{len(empty)} of {_count(len(values), 'label')} are empty (None, NaN or blank); "
            f"label these posts or leave them out:\n{describe_rows(empty)}",
            empty,
        )
    kinds = [_label_kind(value) for value in values]
    counts = Counter(kinds)
    # The rows at fault: a type no classifier takes, else the types of the minority.
    fits = {"str", "number", "bool"}
    if counts.keys() <= fits:
        fits = {counts.most_common(1)[0][0]}
    odd = [(row, f"{type(value).__name__} label {value!r:.40}") for row, value, kind in zip(rows, values, kinds)
           if kind not in fits]
    if odd:
        mixture = ", ".join(f"{count} {kind}" for kind, count in counts.most_common())
        raise LabelError(
            f"{where}labels must be all strings or all numbers, got {mixture}; the rows that differ:\n"
            f"{describe_rows(odd)}",
            odd,
        )
    if "number" in counts:
        fractions = [(row, f"label {value!r} is not a whole number") for row, value in zip(rows, values)
                     if not float(value).is_integer()]
        if fractions:
            raise LabelError(
                f"{where}{_count(len(fractions), 'label')} of {len(values)} are continuous values, not classes "
                f"(a regression target?):\n{describe_rows(fractions)}",
                fractions,
            )
    if "str" in counts:
        _refuse_twins(values, rows, where)


def _refuse_twins(labels, rows, where):
    """Rule 4 of :func:`check_labels`: one class spelt several ways."""
    rows_of = defaultdict(list)
    for row, label in zip(rows, labels):
        rows_of[label].append(row)
    spellings = defaultdict(list)
    for label in rows_of:
        spellings[label_key(label)].append(label)
    clashes = [sorted(group, key=lambda label: -len(rows_of[label])) for group in spellings.values() if len(group) > 1]
    if not clashes:
        return
    lines = [
        "  " + "; ".join(f"{label!r} ({_rows_text(rows_of[label])})" for label in group) for group in clashes
    ]
    problems = [
        (row, f"label {label!r} is also spelt {group[0]!r}") for group in clashes for label in group[1:]
        for row in rows_of[label]
    ]
    raise LabelError(
        f"{where}labels that differ only by case, surrounding whitespace or number format would become separate "
        f"classes; make each one label (e.g. strip and lowercase them):\n" + "\n".join(lines),
        problems,
    )


def check_known_labels(y, classes, *, what="y", known_as="the classes seen during fit", partial="warn"):
    """Labels of ``y`` that are not among ``classes``: an error when none is, a warning when some are not.

    A test set whose labels share nothing with the training labels scores 0 whatever
    the model does: a renamed label set (``"pos"`` for ``"positive"``) is the usual cause.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        True labels.
    classes : array-like of shape (n_classes,)
        The labels the model knows (its ``classes_``).
    what, known_as : str
        How the message names ``y`` and ``classes``.
    partial : {"warn", "ignore"}, default="warn"
        What to do when only some labels are unknown.

    Returns
    -------
    list
        The unknown labels, sorted; their rows count as errors.

    Raises
    ------
    ValueError
        When no label of ``y`` is among ``classes``.

    Warns
    -----
    UserWarning
        When some labels of ``y`` are not among ``classes`` (``partial="warn"``), with their counts.

    Examples
    --------
    >>> from mmsent._validation import check_known_labels
    >>> check_known_labels(["pos", "neg"], ["negative", "positive"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y and the classes seen during fit (['negative', 'positive']) have no label in common, so every ...
    """
    counts = Counter(as_value_list(y))
    known = set(as_value_list(classes))
    unseen = sorted((label for label in counts if label not in known), key=str)
    if not unseen:
        return unseen
    known_keys = {label_key(label): label for label in known if isinstance(label, str)}

    def describe(label):
        twin = known_keys.get(label_key(label)) if isinstance(label, str) else None
        return f"{label!r} ({_count(counts[label], 'row')}" + (f"; did you mean {twin!r}?)" if twin else ")")

    described = ", ".join(map(describe, unseen))
    known_list = sorted(known, key=str)
    if len(unseen) == len(counts):
        raise ValueError(
            f"{what} and {known_as} ({known_list}) have no label in common, so every score would be 0: "
            f"{described}. Were the labels renamed?"
        )
    if partial == "warn":
        warnings.warn(
            f"{what} holds labels not seen during fit: {described}; known classes: {known_list}. "
            "Their rows count as errors.",
            UserWarning,
            stacklevel=3,
        )
    return unseen
