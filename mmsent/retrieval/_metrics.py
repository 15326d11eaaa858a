"""Scoring cross-modal retrieval on held-out pairs: Recall@K and median rank, and their plot."""

import numpy as np
import pandas as pd
from sklearn.utils import _safe_indexing

from .._validation import missing_mask

__all__ = ["DIRECTIONS", "pair_ranks", "plot_recall_at_k", "recall_at_k", "retrieval_scores"]

DIRECTIONS = ("text_to_image", "image_to_text")


def _true_pair_ranks(similarity):
    """Rank (1 = first) of each row's own column among all columns; a tie counts against it."""
    own = np.diag(similarity)[:, None]
    return (similarity >= own).sum(axis=1)


def pair_ranks(index, X):
    """Where each held-out post's own image (text) ranks when its text (image) is the query.

    Every text of the paired posts of ``X`` queries all their images, and every
    image all their texts, in ``index``'s fitted shared space (``X`` need not be
    the indexed collection: this is how the space is scored on held-out pairs).

    Parameters
    ----------
    index : CrossModalIndex
        Fitted.
    X : DataFrame of shape (n_posts, n_columns)
        Held-out posts; those lacking a text or an image are left out.

    Returns
    -------
    dict of str to ndarray of shape (n_pairs,)
        ``"text_to_image"`` and ``"image_to_text"``: 1-based ranks of the true
        partner among the ``n_pairs`` candidates (ties count against it).
    """
    texts = _safe_indexing(X, index.text_column, axis=1)
    images = _safe_indexing(X, index.image_column, axis=1)
    paired = np.flatnonzero(~missing_mask(texts) & ~missing_mask(images))
    if len(paired) < 2:
        raise ValueError(f"{len(paired)} posts have both a text and an image: retrieval needs 2 pairs or more")
    t = index.embed(_safe_indexing(texts, paired), modality="text")
    v = index.embed(_safe_indexing(images, paired), modality="image")
    similarity = t @ v.T
    return {"text_to_image": _true_pair_ranks(similarity), "image_to_text": _true_pair_ranks(similarity.T)}


def recall_at_k(ranks, k):
    """Share of queries whose true partner is among the first ``k`` results.

    Examples
    --------
    >>> from mmsent.retrieval import recall_at_k
    >>> recall_at_k([1, 3, 12, 2], 2)
    0.5
    """
    return float(np.mean(np.asarray(ranks) <= k))


def retrieval_scores(ranks, ks=(1, 5, 10)):
    """Recall@K and median rank per direction, with the random-ranking Recall@K beside them.

    Parameters
    ----------
    ranks : dict of str to array-like
        Per direction, the ranks of :func:`pair_ranks`.
    ks : sequence of int, default=(1, 5, 10)

    Returns
    -------
    DataFrame
        One row per direction: ``recall@K`` for each K, ``median_rank``,
        ``n_candidates`` and ``random_recall@K`` (K / n_candidates: what a random
        ranking scores).

    Examples
    --------
    >>> from mmsent.retrieval import retrieval_scores
    >>> retrieval_scores({"text_to_image": [1, 2, 7, 30]}, ks=(1, 5)).loc["text_to_image"].tolist()
    [0.25, 0.5, 4.5, 4.0, 0.25, 1.0]
    """
    rows = {}
    for direction, found in ranks.items():
        found = np.asarray(found)
        rows[direction] = {
            **{f"recall@{k}": recall_at_k(found, k) for k in ks},
            "median_rank": float(np.median(found)),
            "n_candidates": len(found),
            **{f"random_recall@{k}": min(k / len(found), 1.0) for k in ks},
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("direction")


def plot_recall_at_k(ranks, *, max_k=50, title="Cross-modal retrieval"):
    """Recall@K curves, one panel per direction, one line per model; the random ranking dashed.

    Parameters
    ----------
    ranks : dict of str to dict of str to array-like
        Model name → :func:`pair_ranks` result.
    max_k : int, default=50
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from mmsent.retrieval import plot_recall_at_k
    >>> figure = plot_recall_at_k({"cca": {"text_to_image": [1, 4, 9], "image_to_text": [2, 2, 30]}}, max_k=5)
    >>> [ax.get_title() for ax in figure.axes]
    ['text → image', 'image → text']
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'mmsent[plots]'") from None
    figure = Figure(layout="constrained", figsize=(9, 3.8))
    axes = figure.subplots(1, len(DIRECTIONS), sharey=True)
    ks = np.arange(1, max_k + 1)
    for ax, direction in zip(axes, DIRECTIONS):
        n_candidates = None
        for name, by_direction in ranks.items():
            found = np.asarray(by_direction[direction])
            n_candidates = len(found)
            ax.plot(ks, [(found <= k).mean() for k in ks], label=name)
        if n_candidates:
            ax.plot(ks, np.minimum(ks / n_candidates, 1), linestyle="--", color="grey", label="random")
        ax.set_title(direction.replace("_to_", " → "))
        ax.set_xlabel("K")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Recall@K")
    axes[-1].legend(loc="lower right")
    figure.suptitle(title)
    return figure
