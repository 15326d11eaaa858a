"""Model cards: what a saved model is, what it learnt from, how well it did, what it is for."""

import os
from pathlib import Path

from ._persistence import ModelIntegrityError, model_metadata

__all__ = ["model_card"]

_FUSION_SUMMARIES = {
    "concat": "feature level: text and image features side by side, one classifier",
    "vote": "decision level: one classifier per modality, their votes (or calibrated probabilities) averaged",
    "stack": "decision level: one classifier per modality, a logistic regression weighs their out-of-fold scores",
    "text": "text only; images are ignored",
    "image": "image only; text is ignored",
}

_FORMAT_NOTES = {
    "joblib": "a pickle: loading it runs code. Load it only from people you trust.",
    "skops": (
        "skops: loading builds only trusted types (`mmsent.TRUSTED_TYPES`); fit to share with people "
        "who do not know you."
    ),
}

_INTENDED_USE = (
    "Labelling the sentiment of posts that carry text (Chinese, English or mixed) and an image, such as "
    "reviews with photos or social-media posts with stickers, in the domain of the training data: counting "
    "opinions, triage, research. Not for decisions about individual people."
)

_FEATURE_SUMMARIES = {
    "pretrained": "text as TF-IDF word n-grams beside sentiment-lexicon scores, images as EfficientNet-Lite0 "
    "(ImageNet) embeddings",
    "handcrafted": "text as TF-IDF word n-grams, images as HOG gradients and HSV colour histograms",
}

# What the model cannot see, per feature set; featurizers passed in get the generic line.
_FEATURE_LIMITS = {
    "pretrained": (
        "The features are word n-grams (jieba tokens, TF-IDF), counts of lexicon words, and the embeddings of a "
        "network trained to name ImageNet's objects: the model does not read the written text in an image, and it "
        "reads sarcasm or long-range negation only as far as those features show them."
    ),
    "handcrafted": (
        "The features are word n-grams (jieba tokens, TF-IDF) and low-level image statistics (HOG gradients, HSV "
        "colour histograms): the model sees words and colours, not the objects, faces or written text in an image, "
        "and it reads sarcasm or long-range negation only as far as those features show them."
    ),
    None: (
        "The featurizers were given by whoever fitted the model: the card cannot say what they see. "
        "Check their parameters above."
    ),
}

_LIMITATIONS = [
    "Scores hold for posts like the training data. Posts from another site, topic, period or language "
    "variety will score differently: evaluate on a labelled sample of your own before relying on it.",
    "It predicts only the classes listed above, and always predicts one of them.",
]


def _limit(metadata):
    """What the model's features cannot see."""
    return _FEATURE_LIMITS.get(_feature_set(metadata.get("params", {})), _FEATURE_LIMITS[None])


def _feature_set(params):
    """The feature set the model's featurizers come from, or None when any was passed in."""
    if params.get("text_features") is not None or params.get("image_features") is not None:
        return None
    return params.get("features", "handcrafted")  # models saved before the switch used the handcrafted set


def _cell(value):
    return f"`{value!r}`".replace("|", "\\|")


def _number(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _description(value):
    """A data description entry as inline Markdown: mappings become ``key value`` lists."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {_number(item)}" for key, item in value.items())
    return _number(value)


def _model_lines(metadata):
    fusion = metadata.get("fusion")
    lines = ["## Model", "", f"- Estimator: `{metadata.get('estimator')}` (mmsent {metadata.get('mmsent_version')})"]
    if fusion is not None:
        lines.append(f"- Fusion: `{fusion}`, {_FUSION_SUMMARIES.get(fusion, 'custom')}")
    if "classes" in metadata:
        lines.append(f"- Classes: {', '.join(map(str, metadata['classes']))}")
    if fusion is not None and "params" in metadata:
        features = _feature_set(metadata["params"])
        summary = _FEATURE_SUMMARIES.get(features, "featurizers passed in (see the parameters below)")
        lines.append(f"- Features: `{features or 'custom'}`, {summary}")
    if "feature_sizes" in metadata:
        lines.append(f"- Features per modality: {_description(metadata['feature_sizes'])}")
    if "modality_weights" in metadata:
        lines.append(f"- Contribution of each modality: {_description(metadata['modality_weights'])}")
    if "params" in metadata:
        lines += ["", "| parameter | value |", "| --- | --- |"]
        lines += [f"| {name} | {_cell(value)} |" for name, value in metadata["params"].items()]
    return lines


def _data_lines(metadata):
    lines = ["## Data", ""]
    if "n_samples_fit" in metadata:
        lines.append(f"- Posts seen in `fit`: {metadata['n_samples_fit']}")
    for name, description in metadata.get("data", {}).items():
        if isinstance(description, dict):
            lines.append(f"- {name}: " + "; ".join(f"{key}: {_description(v)}" for key, v in description.items()))
        else:
            lines.append(f"- {name}: {_description(description)}")
    if len(lines) == 2:
        lines.append("- No description of the training data was recorded with the model.")
    return lines


def _metric_lines(metadata):
    metrics = metadata.get("metrics")
    if not metrics:
        return ["## Evaluation", "", "No scores were recorded with this model: evaluate it before relying on it."]
    where = "the `test` data above" if "test" in metadata.get("data", {}) else "data described by whoever saved it"
    return [
        "## Evaluation",
        "",
        f"Scores on {where}:",
        "",
        "| metric | value |",
        "| --- | --- |",
        *(f"| {name} | {_number(value)} |" for name, value in metrics.items()),
    ]


def _file_lines(metadata):
    versions = (
        f"scikit-learn {metadata.get('sklearn_version')}, NumPy {metadata.get('numpy_version')}, "
        f"Python {metadata.get('python_version')}"
    )
    lines = ["## File", ""]
    file = metadata.get("file")
    if file is not None:
        lines += [
            f"- Format: {file['format']} (mmsent model file format {metadata.get('format_version')}), "
            f"{_FORMAT_NOTES[file['format']]}",
            f"- SHA-256: `{file['sha256']}` ({file['integrity']}), of the metadata and the model together: "
            "`mmsent.load_model(path, sha256=...)` refuses the file unless it matches",
        ]
    lines.append(f"- Saved {metadata.get('saved_at')} with {versions}")
    return lines


def model_card(model_or_path):
    """A Markdown model card: parameters, data, metrics, intended use and limits.

    Written from the metadata :func:`mmsent.save_model` records, read from the
    file's header (nothing is unpickled) or from a model in memory. ``mmsent
    train`` writes one beside each model it saves.

    Parameters
    ----------
    model_or_path : estimator, str or path-like
        A model file written by :func:`mmsent.save_model`, or a fitted model.

    Returns
    -------
    str
        The card, in Markdown.

    Raises
    ------
    ModelIntegrityError
        The file failed its integrity check.
    ValueError
        Not a model file :func:`mmsent.save_model` wrote, or one of an earlier format.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmsent import model_card
    >>> card = model_card(DummyClassifier().fit([[0], [1]], ["neg", "pos"]))
    >>> print(card.splitlines()[0])
    # Model card: DummyClassifier
    >>> "- Classes: neg, pos" in card
    True
    """
    metadata = model_metadata(model_or_path)
    file = metadata.get("file")
    if file is not None and file["integrity"] != "verified":
        raise ModelIntegrityError(f"{model_or_path} failed its integrity check: {file['problem']}")
    if isinstance(model_or_path, (str, os.PathLike)):
        title = Path(model_or_path).name
    else:
        title = type(model_or_path).__name__
    estimator = str(metadata.get("estimator", "")).rpartition(".")[2]
    classes = ", ".join(map(str, metadata.get("classes", [])))
    sections = [
        [f"# Model card: {title}", "", f"A `{estimator}` that labels each input as one of: {classes}."],
        _model_lines(metadata),
        _data_lines(metadata),
        _metric_lines(metadata),
    ]
    if "fusion" in metadata:  # what follows is about mmsent's text + image models
        sections += [
            ["## Intended use", "", _INTENDED_USE],
            ["## Limitations", "", *(f"- {limit}" for limit in [_limit(metadata), *_LIMITATIONS])],
        ]
    sections.append(_file_lines(metadata))
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
