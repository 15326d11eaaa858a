"""Measuring models: fusion comparisons, ablation reports with plots, hyper-parameter search."""

from ._ablation import AblationReport, ablation_report
from ._compare import DEFAULT_FUSIONS, compare_fusions, format_table, prediction_scores
from ._plots import plot_ablation, plot_confusion_matrix
from ._tune import default_param_grid, tune

__all__ = [
    "DEFAULT_FUSIONS",
    "AblationReport",
    "ablation_report",
    "compare_fusions",
    "default_param_grid",
    "format_table",
    "plot_ablation",
    "plot_confusion_matrix",
    "prediction_scores",
    "tune",
]
