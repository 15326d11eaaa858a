"""Cross-modal retrieval: find the images that match a text and the texts that match an image."""

from ._index import MODALITIES, CrossModalIndex
from ._metrics import DIRECTIONS, pair_ranks, plot_recall_at_k, recall_at_k, retrieval_scores

__all__ = [
    "DIRECTIONS",
    "MODALITIES",
    "CrossModalIndex",
    "pair_ranks",
    "plot_recall_at_k",
    "recall_at_k",
    "retrieval_scores",
]
