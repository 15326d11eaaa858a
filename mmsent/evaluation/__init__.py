"""Measuring models: fusion comparisons, ablation reports with plots, hyper-parameter search."""

from ._ablation import AblationReport, ablation_report
from ._compare import DEFAULT_FUSIONS, compare_fusions, format_table
from ._plots import plot_ablation, plot_confusion_matrix

__all__ = [
    "DEFAULT_FUSIONS",
    "AblationReport",
    "ablation_report",
    "compare_fusions",
    "format_table",
    "plot_ablation",
    "plot_confusion_matrix",
]
