"""Fusion of the text and image branches: feature level (concat) and decision level (vote, stack)."""

from ._builders import FUSIONS, make_fusion_model, modality_contributions

__all__ = ["FUSIONS", "make_fusion_model", "modality_contributions"]
