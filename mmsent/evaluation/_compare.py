"""Side-by-side comparison of unimodal baselines and fusion strategies."""

import time

import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from .._classifier import MultimodalSentimentClassifier

__all__ = ["compare_fusions", "format_table", "prediction_scores"]

DEFAULT_FUSIONS = ("text", "image", "concat", "vote", "stack")


def prediction_scores(y_true, y_pred):
    """Accuracy, macro-F1 and weighted-F1 of predicted labels, as a dict of floats.

    Examples
    --------
    >>> from mmsent.evaluation import prediction_scores
    >>> prediction_scores(["pos", "neg", "pos", "neg"], ["pos", "neg", "neg", "neg"])["accuracy"]
    0.75
    """
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted")),
    }


def compare_fusions(X_train, y_train, X_test, y_test, *, fusions=DEFAULT_FUSIONS, estimator=None, return_models=False):
    """Fit each fusion strategy on the same split and score it on the test part.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : DataFrame, array-like
        A train / test split of posts and labels.
    fusions : sequence of str, default=("text", "image", "concat", "vote", "stack")
        Strategies to compare; the unimodal ones are the ablation baselines.
    estimator : MultimodalSentimentClassifier, default=None
        Template whose parameters every run shares (its ``fusion`` is replaced).
    return_models : bool, default=False
        Also return the fitted models, keyed by fusion.

    Returns
    -------
    DataFrame
        One row per fusion: accuracy, macro-F1, weighted-F1, fit and predict
        seconds, and the per-modality contributions (``text_share``,
        ``image_share``). With ``return_models``, a ``(table, models)`` pair.
    """
    template = MultimodalSentimentClassifier() if estimator is None else estimator
    rows, models = [], {}
    for fusion in fusions:
        model = clone(template).set_params(fusion=fusion)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fitted = time.perf_counter()
        predicted = model.predict(X_test)
        done = time.perf_counter()
        rows.append(
            {
                "fusion": fusion,
                **prediction_scores(y_test, predicted),
                "fit_s": fitted - start,
                "predict_s": done - fitted,
                "text_share": model.modality_weights_["text"],
                "image_share": model.modality_weights_["image"],
            }
        )
        models[fusion] = model
    table = pd.DataFrame(rows).set_index("fusion")
    return (table, models) if return_models else table


def format_table(table, digits=3):
    """Render a :func:`compare_fusions` table as Markdown."""
    header = ["fusion", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for fusion, row in table.iterrows():
        cells = [f"{value:.{digits}f}" if isinstance(value, float) else str(value) for value in row]
        lines.append("| " + " | ".join([str(fusion), *cells]) + " |")
    return "\n".join(lines)
