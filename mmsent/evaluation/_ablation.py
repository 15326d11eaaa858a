"""Ablation reports: every modality and fusion through the same pipeline, on a split or repeated K-fold CV."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.parallel import Parallel, delayed

from .._classifier import MultimodalSentimentClassifier
from .._files import atomic_write
from .._progress import progress_bar
from ._compare import DEFAULT_FUSIONS, fit_and_score, format_table
from ._plots import plot_ablation, plot_confusion_matrix

__all__ = ["AblationReport", "ablation_report"]

METRICS = ("accuracy", "macro_f1", "weighted_f1", "fit_s", "predict_s", "text_share", "image_share")
CLASS_METRICS = ("precision", "recall", "f1", "support")


class AblationReport:
    """Scores of each fusion strategy, fold by fold, as :func:`ablation_report` measured them.

    Attributes
    ----------
    scores : DataFrame
        One row per fusion and fold: ``fusion``, ``fold`` and accuracy, macro-F1,
        weighted-F1, fit and predict seconds, and the per-modality contributions
        (``text_share``, ``image_share``: ``modality_weights_``).
    per_class : DataFrame
        One row per fusion, fold and class: precision, recall, F1 and support.
    confusion_matrices : dict of str to ndarray of shape (n_classes, n_classes)
        Per fusion, the confusion matrix summed over folds (rows: true class).
    classes : list
        Class labels, in the order of the matrices.
    settings : dict
        How the scores were measured (split or CV, folds, repeats, seed, sizes).
    """

    def __init__(self, scores, per_class, confusion_matrices, classes, settings):
        self.scores = scores
        self.per_class = per_class
        self.confusion_matrices = confusion_matrices
        self.classes = classes
        self.settings = settings

    @property
    def n_folds(self):
        return self.scores["fold"].nunique()

    def _by_fusion(self, frame, keys, how):
        grouped = frame.groupby(keys, sort=False).agg(how).drop(columns="fold")
        # One fold has no spread: report 0 rather than NaN.
        return grouped.fillna(0.0) if how == "std" else grouped

    def summary(self, how="mean"):
        """Mean (or ``how="std"``) of each metric over folds, one row per fusion."""
        return self._by_fusion(self.scores, "fusion", how)

    def class_summary(self, how="mean"):
        """Mean (or ``how="std"``) per-class precision / recall / F1 / support, one row per fusion and class."""
        return self._by_fusion(self.per_class, ["fusion", "class"], how)

    def describe(self):
        """One line saying how the scores were measured."""
        s = self.settings
        if s["split"] == "holdout":
            return f"Fit on {s['n_train']} posts, scored on {s['n_test']} held-out posts."
        return (
            f"Stratified {s['n_splits']}-fold CV × {s['n_repeats']} repeat(s), seed {s['random_state']}, "
            f"{s['n_samples']} posts: mean ± std over {self.n_folds} folds."
        )

    def to_markdown(self, digits=3):
        """The summary table and the per-class table as Markdown (``mean ± std`` across folds)."""
        spread = self.n_folds > 1
        summary = format_table(self.summary(), digits, std=self.summary("std") if spread else None)
        # Support is a count: shown as posts per fold, without a spread.
        per_class = self.class_summary().astype({"support": float}).round({"support": 0}).astype({"support": int})
        per_class = format_table(per_class, digits, std=self.class_summary("std") if spread else None)
        return f"{self.describe()}\n\n{summary}\n\nPer class (support: posts per fold):\n\n{per_class}"

    def to_dict(self):
        """Everything as plain JSON-ready Python objects."""

        def mean_std(table, key):
            return {
                metric: {"mean": float(table[0].at[key, metric]), "std": float(table[1].at[key, metric])}
                for metric in table[0].columns
            }

        overall = (self.summary(), self.summary("std"))
        classes = (self.class_summary(), self.class_summary("std"))
        fusions = self.scores["fusion"].unique().tolist()
        return {
            "settings": self.settings,
            "classes": [str(label) for label in self.classes],
            "summary": {fusion: mean_std(overall, fusion) for fusion in fusions},
            "per_class": {
                fusion: {str(label): mean_std(classes, (fusion, label)) for label in self.classes}
                for fusion in fusions
            },
            "confusion_matrices": {fusion: matrix.tolist() for fusion, matrix in self.confusion_matrices.items()},
            "folds": json.loads(self.scores.to_json(orient="records")),
        }

    def save_plots(self, directory, *, inputs=()):
        """Write ``ablation.png`` (scores with error bars) and ``confusion_matrices.png``; return their paths.

        ``inputs``: files the caller read, which a plot may not replace (see :func:`mmsent._files.atomic_write`).
        """
        directory = Path(directory)
        std = self.summary("std") if self.n_folds > 1 else None  # no error bars for a single split
        where = "held-out split" if self.settings["split"] == "holdout" else f"summed over {self.n_folds} folds"
        figures = {
            "ablation.png": plot_ablation(
                self.summary(), std, title=f"Ablation: text, image and fusions\n{self.describe()}"
            ),
            "confusion_matrices.png": plot_confusion_matrix(
                self.confusion_matrices, self.classes, title=f"Confusion matrices ({where})"
            ),
        }
        for name, figure in figures.items():
            with atomic_write(directory / name, "wb", inputs=inputs) as file:
                figure.savefig(file, format="png", dpi=120)
        return [directory / name for name in figures]


def ablation_report(
    X,
    y,
    *,
    X_test=None,
    y_test=None,
    cv=5,
    n_repeats=1,
    fusions=DEFAULT_FUSIONS,
    estimator=None,
    random_state=0,
    progress=True,
    n_jobs=None,
):
    """Fit text-only, image-only and every fusion through the same pipeline, and score them.

    With ``X_test`` / ``y_test``, each strategy is fit on ``(X, y)`` and scored on
    the test split. Without, scores come from repeated stratified K-fold
    cross-validation of ``(X, y)`` (seeded, so every strategy sees the same folds).

    Parameters
    ----------
    X, y : DataFrame, array-like
        Posts and labels to fit on (and to cross-validate without a test split).
    X_test, y_test : DataFrame, array-like, default=None
        A held-out split to score on.
    cv : int, default=5
        Folds of the stratified K-fold, when there is no test split.
    n_repeats : int, default=1
        Repeats of the K-fold, each with other folds.
    fusions : sequence of str, default=DEFAULT_FUSIONS
        Every fusion but ``"multitask"`` (add it with an ``estimator`` naming the
        per-modality label columns).
    estimator : MultimodalSentimentClassifier, default=None
        Template whose parameters every run shares (its ``fusion`` is replaced).
    random_state : int, default=0
        Seed of the folds.
    progress : bool, default=True
        Show a progress bar (tqdm) over the fits.
    n_jobs : int, default=None
        Fits run at the same time by joblib (None: one, in this process, where the
        token and image caches serve every fold). Under
        ``joblib.parallel_config(backend="dask")`` they run on a Dask cluster (see
        :func:`mmsent.scale.dask_client`).

    Returns
    -------
    AblationReport

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent.evaluation import ablation_report
    >>> bright, dark = np.full((16, 16, 3), 230, np.uint8), np.full((16, 16, 3), 20, np.uint8)
    >>> X = pd.DataFrame({"text": ["good", "bad", "fine", "awful"] * 5, "image": [bright, dark] * 10})
    >>> y = ["positive", "negative"] * 10
    >>> report = ablation_report(X, y, cv=2, fusions=["text", "image"], progress=False)
    >>> report.summary()["macro_f1"].to_dict()
    {'text': 1.0, 'image': 1.0}
    >>> report.confusion_matrices["text"].tolist()
    [[10, 0], [0, 10]]
    """
    template = MultimodalSentimentClassifier() if estimator is None else estimator
    X, y = _as_frame(X), np.asarray(y)
    if X_test is not None:
        X_test, y_test = _as_frame(X_test), np.asarray(y_test)
        classes = np.unique(np.concatenate([y, y_test])).tolist()
        splits = [(X, y, X_test, y_test)]
        settings = {"split": "holdout", "n_train": len(X), "n_test": len(X_test)}
    else:
        classes = np.unique(y).tolist()
        folds = RepeatedStratifiedKFold(n_splits=cv, n_repeats=n_repeats, random_state=random_state)
        splits = (
            (X.iloc[train], y[train], X.iloc[test], y[test]) for train, test in folds.split(np.zeros(len(y)), y)
        )
        settings = {
            "split": "cv",
            "n_splits": cv,
            "n_repeats": n_repeats,
            "random_state": random_state,
            "n_samples": len(X),
        }
    settings["estimator"] = {key: repr(value) for key, value in template.get_params(deep=False).items()}
    n_fits = len(fusions) * (1 if X_test is not None else cv * n_repeats)

    fits = [(fold, fusion, split) for fold, split in enumerate(splits) for fusion in fusions]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_and_predict)(template, fusion, *split) for _, fusion, split in fits
    )
    rows, class_rows = [], []
    matrices = {fusion: np.zeros((len(classes), len(classes)), dtype=int) for fusion in fusions}
    with progress_bar(n_fits, desc="ablation", unit="fit", verbose=progress) as bar:
        for (fold, fusion, (*_, y_eval)), (row, predicted) in zip(fits, results):
            bar.set_postfix_str(f"fold {fold}, {fusion}")
            rows.append({"fold": fold, **row})
            matrices[fusion] += confusion_matrix(y_eval, predicted, labels=classes)
            per_class = precision_recall_fscore_support(y_eval, predicted, labels=classes, zero_division=0)
            for k, label in enumerate(classes):
                values = dict(zip(CLASS_METRICS, (float(column[k]) for column in per_class)))
                class_rows.append({"fusion": fusion, "fold": fold, "class": label, **values})
            bar.update()
    scores = pd.DataFrame(rows)[["fusion", "fold", *METRICS]]
    return AblationReport(scores, pd.DataFrame(class_rows), matrices, classes, settings)


def _fit_and_predict(template, fusion, X_train, y_train, X_eval, y_eval):
    """One fit's scores and predictions, without the model (what a parallel fit sends back)."""
    row, predicted, _ = fit_and_score(template, fusion, X_train, y_train, X_eval, y_eval)
    return row, predicted


def _as_frame(X):
    return X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
