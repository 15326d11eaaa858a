"""Measuring models: fusion strategies side by side."""

from ._compare import DEFAULT_FUSIONS, compare_fusions, format_table, prediction_scores

__all__ = ["DEFAULT_FUSIONS", "compare_fusions", "format_table", "prediction_scores"]
