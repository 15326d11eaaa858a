"""Plots of evaluation results, drawn on plain matplotlib Figures (no pyplot state, any backend)."""

import numpy as np

__all__ = ["plot_ablation", "plot_confusion_matrix"]

_METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1"}


def _new_figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'mmsent[plots]'") from None
    return Figure(layout="constrained", **kwargs)


def plot_confusion_matrix(matrices, classes, *, title="Confusion matrices"):
    """Draw one or more confusion matrices side by side, coloured by row share.

    Each cell shows the share of its true class (so the diagonal is per-class
    recall) and, in brackets, the count.

    Parameters
    ----------
    matrices : ndarray of shape (n_classes, n_classes) or dict of str to ndarray
        Counts, rows = true class, columns = predicted class; a dict names each panel.
    classes : list of str
        Class labels, in the matrices' order.
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.evaluation import plot_confusion_matrix
    >>> figure = plot_confusion_matrix(np.array([[8, 2], [1, 9]]), ["negative", "positive"])
    >>> [ax.get_xlabel() for ax in figure.axes[:1]]
    ['predicted class']
    """
    if not isinstance(matrices, dict):
        matrices = {"": np.asarray(matrices)}
    figure = _new_figure(figsize=(1.2 + 3.3 * len(matrices), 3.9))
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    ticks = np.arange(len(classes))
    for ax, (name, counts) in zip(axes, matrices.items()):
        counts = np.asarray(counts)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
        image = ax.imshow(shares, vmin=0, vmax=1, cmap="Blues")
        for i, j in np.ndindex(counts.shape):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, f"{shares[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", color=colour, fontsize=9)
        ax.set_xticks(ticks, labels=[str(c) for c in classes], rotation=20)
        ax.set_yticks(ticks, labels=[str(c) for c in classes])
        ax.set_xlabel("predicted class")
        ax.set_title(name)
    axes[0].set_ylabel("true class")
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class")
    figure.suptitle(title)
    return figure


def plot_ablation(mean, std=None, *, metrics=("accuracy", "macro_f1", "weighted_f1"), title="Ablation"):
    """Grouped bars of each fusion's scores, with ± std error bars.

    Parameters
    ----------
    mean : DataFrame
        One row per fusion, one column per metric (e.g. ``AblationReport.summary()``).
    std : DataFrame, default=None
        Standard deviations shaped like ``mean``; None draws no error bars.
    metrics : sequence of str
        Columns to draw.
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from mmsent.evaluation import plot_ablation
    >>> mean = pd.DataFrame({"accuracy": [0.7, 0.6], "macro_f1": [0.6, 0.4]}, index=["text", "image"])
    >>> figure = plot_ablation(mean, metrics=["accuracy", "macro_f1"])
    >>> [label.get_text() for label in figure.axes[0].get_xticklabels()]
    ['text', 'image']
    """
    figure = _new_figure(figsize=(1.5 + 1.6 * len(mean), 4.6))
    ax = figure.subplots()
    positions = np.arange(len(mean))
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        errors = None if std is None else std[metric].to_numpy()
        bars = ax.bar(
            positions + (k - (len(metrics) - 1) / 2) * width,
            mean[metric].to_numpy(),
            width,
            yerr=errors,
            capsize=3,
            label=_METRIC_NAMES.get(metric, metric),
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(positions, labels=[str(name) for name in mean.index])
    ax.set_xlabel("model (unimodal baseline or fusion)")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.2)  # headroom for the legend above the bars
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncols=len(metrics), fontsize=8)
    ax.set_title(title, fontsize=10)
    return figure
