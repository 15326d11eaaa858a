"""Fusion of the text and image branches: feature level (concat) and decision level (vote, stack)."""

from ._builders import FUSIONS, MISSING, fusion_folds, fusion_has, make_fusion_model, modality_contributions
from ._missing import ModalityClassifier, ModalityImputer, ModalityVotingClassifier

__all__ = [
    "FUSIONS",
    "MISSING",
    "ModalityClassifier",
    "ModalityImputer",
    "ModalityVotingClassifier",
    "fusion_folds",
    "fusion_has",
    "make_fusion_model",
    "modality_contributions",
]
