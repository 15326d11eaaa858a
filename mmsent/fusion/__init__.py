"""Fusion of the text and image branches: feature level (concat), intermediate (a shared space), decision level
(vote, stack, gated) and multi-task."""

from ._builders import (
    DECISION_LEVEL,
    FEATURE_LEVEL,
    FUSIONS,
    MISSING,
    fusion_folds,
    fusion_has,
    make_fusion_model,
    modality_contributions,
)
from ._columns import LowMemoryColumnTransformer
from ._gated import GatedFusionClassifier, confidence_features
from ._missing import ModalityClassifier, ModalityImputer, ModalityVotingClassifier
from ._multitask import AuxiliaryTaskScores
from ._projection import CrossModalProjector, SharedSpaceFeatures

__all__ = [
    "DECISION_LEVEL",
    "FEATURE_LEVEL",
    "FUSIONS",
    "MISSING",
    "AuxiliaryTaskScores",
    "CrossModalProjector",
    "GatedFusionClassifier",
    "LowMemoryColumnTransformer",
    "ModalityClassifier",
    "ModalityImputer",
    "ModalityVotingClassifier",
    "SharedSpaceFeatures",
    "confidence_features",
    "fusion_folds",
    "fusion_has",
    "make_fusion_model",
    "modality_contributions",
]
