"""mmsent: multimodal (text + image) sentiment classification, scikit-learn native."""

__version__ = "0.1.0"

from ._classifier import MultimodalSentimentClassifier, RowError  # noqa: E402
from ._persistence import load_model, model_metadata, save_model  # noqa: E402

__all__ = ["MultimodalSentimentClassifier", "RowError", "__version__", "load_model", "model_metadata", "save_model"]
