"""Side-by-side comparison of unimodal baselines and fusion strategies."""

import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from .._classifier import MultimodalSentimentClassifier
from .._validation import check_known_labels

__all__ = ["compare_fusions", "format_table", "prediction_scores"]

# Every fusion that needs nothing but posts and labels; "multitask" also needs per-modality labels (add it to
# ``fusions`` with an estimator that names their columns).
DEFAULT_FUSIONS = ("text", "image", "concat", "intermediate", "vote", "stack", "gated")


def prediction_scores(y_true, y_pred, *, classes=None):
    """Accuracy, macro-F1 and weighted-F1 of predicted labels, as a dict of floats.

    True labels that share nothing with the model's labels would score 0 whatever
    the model does (a renamed label set, ``"pos"`` for ``"positive"``): that raises.

    Parameters
    ----------
    y_true : array-like of shape (n_posts,)
        True labels.
    y_pred : array-like of shape (n_posts,)
        Predicted labels.
    classes : array-like of shape (n_classes,), default=None
        The model's labels (``classes_``). Given, true labels outside them are
        reported (a warning, or an error when none is known); None: an error only
        when the true labels share none of the predicted ones.

    Returns
    -------
    dict
        ``{"accuracy": ..., "macro_f1": ..., "weighted_f1": ...}``.

    Raises
    ------
    ValueError
        When no true label is among the model's labels.

    Examples
    --------
    >>> from mmsent.evaluation import prediction_scores
    >>> prediction_scores(["pos", "neg", "pos", "neg"], ["pos", "neg", "neg", "neg"])["accuracy"]
    0.75
    """
    if classes is None:  # the predicted labels are all we know of the model's
        check_known_labels(
            y_true, np.unique(np.asarray(y_pred)), what="the true labels", known_as="the predicted labels",
            partial="ignore",
        )
    else:
        check_known_labels(y_true, classes, what="the true labels", known_as="the model's classes")
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted")),
    }


def compare_fusions(
    X_train, y_train, X_test, y_test, *, fusions=DEFAULT_FUSIONS, features=None, estimator=None, return_models=False
):
    """Fit each fusion strategy on the same split and score it on the test part.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : DataFrame, array-like
        A train / test split of posts and labels.
    fusions : sequence of str, default=DEFAULT_FUSIONS
        Strategies to compare; the unimodal ones are the ablation baselines. The
        default is every fusion but ``"multitask"``, which needs an ``estimator``
        naming the per-modality label columns.
    features : sequence of str, default=None
        Feature sets to compare side by side (values of the classifier's
        ``features``, e.g. ``("handcrafted", "pretrained")``): every fusion is
        fit with each. None: the template's own, and the table is indexed by
        fusion alone.
    estimator : MultimodalSentimentClassifier, default=None
        Template whose parameters every run shares (its ``fusion``, and with
        ``features`` given its ``features``, are replaced).
    return_models : bool, default=False
        Also return the fitted models, keyed as the table's rows.

    Returns
    -------
    DataFrame
        One row per fusion (per ``(features, fusion)`` pair when ``features``
        is given): accuracy, macro-F1, weighted-F1, fit and predict seconds,
        and the per-modality contributions (``text_share``, ``image_share``).
        With ``return_models``, a ``(table, models)`` pair.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent.evaluation import compare_fusions
    >>> X = pd.DataFrame({"text": ["good", "bad"] * 6, "image": [np.zeros((8, 8, 3), np.uint8)] * 12})
    >>> y = ["pos", "neg"] * 6
    >>> table = compare_fusions(X, y, X, y, fusions=["text"], features=["handcrafted"])
    >>> table.index.tolist(), float(table.at[("handcrafted", "text"), "accuracy"])
    ([('handcrafted', 'text')], 1.0)
    """
    template = MultimodalSentimentClassifier() if estimator is None else estimator
    if features is None:
        runs = [(fusion, fusion, template) for fusion in fusions]
    else:
        runs = [
            ((name, fusion), fusion, clone(template).set_params(features=name))
            for name in features
            for fusion in fusions
        ]
    rows, models = [], {}
    for key, fusion, model in runs:
        row, _, models[key] = fit_and_score(model, fusion, X_train, y_train, X_test, y_test)
        rows.append(row if features is None else {"features": key[0], **row})
    table = pd.DataFrame(rows).set_index("fusion" if features is None else ["features", "fusion"])
    return (table, models) if return_models else table


def fit_and_score(template, fusion, X_train, y_train, X_test, y_test):
    """Fit a clone of ``template`` with ``fusion`` and score it: ``(row of scores, predictions, model)``."""
    model = clone(template).set_params(fusion=fusion)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fitted = time.perf_counter()
    predicted = model.predict(X_test)
    done = time.perf_counter()
    row = {
        "fusion": fusion,
        **prediction_scores(y_test, predicted, classes=model.classes_),
        "fit_s": fitted - start,
        "predict_s": done - fitted,
        "text_share": model.modality_weights_["text"],
        "image_share": model.modality_weights_["image"],
    }
    return row, predicted, model


def format_table(table, digits=3, std=None):
    """Render a table of scores (e.g. from :func:`compare_fusions`) as Markdown.

    Parameters
    ----------
    table : DataFrame
        One row per index entry; a MultiIndex gives one column per level.
    digits : int, default=3
        Decimals of float cells.
    std : DataFrame, default=None
        Standard deviations shaped like ``table``: float cells read ``mean ± std``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmsent.evaluation import format_table
    >>> table = pd.DataFrame({"accuracy": [0.8125]}, index=pd.Index(["text"], name="fusion"))
    >>> print(format_table(table, std=table / 10))
    | fusion | accuracy |
    |---|---|
    | text | 0.812 ± 0.081 |
    """
    names = [name or "fusion" for name in table.index.names]
    header = [*names, *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # itertuples keeps each column's dtype (iterrows would turn integer counts into floats).
    for key, row in zip(table.index, table.itertuples(index=False, name=None)):
        keys = key if isinstance(key, tuple) else (key,)
        cells = []
        for column, value in zip(table.columns, row):
            if not isinstance(value, float):
                cells.append(str(value))
            elif std is None:
                cells.append(f"{value:.{digits}f}")
            else:
                cells.append(f"{value:.{digits}f} ± {std.at[key, column]:.{digits}f}")
        lines.append("| " + " | ".join([*map(str, keys), *cells]) + " |")
    return "\n".join(lines)
