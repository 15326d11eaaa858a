"""Helpers shared by the featurizers: what counts as missing, and naming the rows that hold bad input."""

import numpy as np
import pandas as pd

__all__ = ["BadRowsError", "as_value_list", "describe_rows", "is_missing", "missing_mask", "row_labels"]

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


def describe_rows(problems):
    """Format ``[(row, message), ...]`` as lines, at most ``_MAX_ROWS_SHOWN`` of them."""
    lines = [f"  row {row!r}: {message}" for row, message in problems[:_MAX_ROWS_SHOWN]]
    if len(problems) > _MAX_ROWS_SHOWN:
        lines.append(f"  ... and {len(problems) - _MAX_ROWS_SHOWN} more rows")
    return "\n".join(lines)
