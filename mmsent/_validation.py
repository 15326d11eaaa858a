"""Helpers shared by the featurizers: naming the rows that hold bad input."""

import numpy as np

__all__ = ["row_labels", "describe_rows"]

_MAX_ROWS_SHOWN = 10


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
