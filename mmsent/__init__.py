"""mmsent: multimodal (text + image) sentiment classification, scikit-learn native."""

__version__ = "0.1.0"

from ._classifier import MultimodalSentimentClassifier  # noqa: E402
from ._card import model_card  # noqa: E402
from ._persistence import (  # noqa: E402
    TRUSTED_TYPES,
    ModelIntegrityError,
    ModelVersionWarning,
    UntrustedTypesError,
    load_model,
    model_metadata,
    save_model,
)

__all__ = [
    "TRUSTED_TYPES",
    "ModelIntegrityError",
    "ModelVersionWarning",
    "MultimodalSentimentClassifier",
    "UntrustedTypesError",
    "__version__",
    "load_model",
    "model_card",
    "model_metadata",
    "save_model",
]
