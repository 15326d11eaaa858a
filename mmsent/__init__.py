"""mmsent: multimodal (text + image) sentiment classification, scikit-learn native."""

from ._lazy import lazy_exports

__version__ = "0.2.0"

# Public names, imported on first use: `import mmsent` stays cheap for the command
# line and for tokenizer worker processes, which need only `mmsent.text._segment`.
_EXPORTS = {
    "MultimodalSentimentClassifier": "._classifier",
    "RowError": "._classifier",
    "BadRowsError": "._validation",
    "LabelError": "._validation",
    "model_card": "._card",
    "TRUSTED_TYPES": "._persistence",
    "ModelIntegrityError": "._persistence",
    "ModelVersionWarning": "._persistence",
    "UntrustedTypesError": "._persistence",
    "load_model": "._persistence",
    "model_metadata": "._persistence",
    "save_model": "._persistence",
    "set_verbose": "._progress",
}
__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
