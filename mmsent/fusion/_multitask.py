"""Multi-task fusion: each modality's own sentiment learnt beside the post's, as out-of-fold features."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._validation import as_value_list, missing_mask

__all__ = ["AuxiliaryTaskScores"]

_HINT = (
    "a multi-task fusion learns each modality's own sentiment from per-modality labels: MVSA's original "
    "layout (labelResult.txt) has them as text_label / image_label; the demo's sticker_sentiment is an image label"
)


class AuxiliaryTaskScores(TransformerMixin, BaseEstimator):
    """An auxiliary classifier's scores as features: a related task learnt beside the main one.

    The auxiliary task is read from ``X`` itself: the column ``label_column``
    holds each post's label for it (say, the sentiment of its image alone, which
    is not the post's). ``fit_transform`` fits ``estimator`` on the posts that
    have such a label and returns *out-of-fold* scores (``cross_val_predict``),
    so that the model downstream learns how far to trust them on posts the
    auxiliary classifier has not seen; ``transform`` returns the scores of the
    classifier fitted on all of them, and needs no label column. Posts without
    an auxiliary label get the scores of that classifier in ``fit`` too (it has
    not seen them either).

    In a ``FeatureUnion`` beside the post's own features and before a
    classifier, this is multi-task learning in the stacking manner: the post
    classifier learns from the modality-level tasks' predictions.

    Parameters
    ----------
    estimator : classifier
        Reads ``X`` (e.g. a pipeline selecting and featurizing one modality's
        column) and predicts the auxiliary label.
    label_column : str or int
        Column of ``X`` holding the auxiliary labels (a missing cell, see
        :func:`mmsent._validation.is_missing`, means "not labelled").
    cv : int, cross-validation generator or iterable, default=5
        Folds of the out-of-fold scores.
    method : {"auto", "decision_function", "predict_proba"}, default="auto"
        Scores to return; ``"auto"``: ``decision_function`` when the estimator
        has one, else ``predict_proba``.

    Attributes
    ----------
    estimator_ : classifier
        Fitted on every post with an auxiliary label.
    classes_ : ndarray of shape (n_task_classes,)
        The auxiliary labels.
    method_ : str
        The scoring method used.
    n_labelled_ : int
        Posts with an auxiliary label in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmsent.fusion import AuxiliaryTaskScores
    >>> X = pd.DataFrame({"brightness": [0.1, 0.9, 0.2, 0.8, 0.15, 0.85] * 5,
    ...                   "image_label": ["dark", "light", "dark", "light", None, "light"] * 5})
    >>> image = make_pipeline(make_column_transformer(("passthrough", ["brightness"])), LogisticRegression())
    >>> task = AuxiliaryTaskScores(image, "image_label", cv=3)
    >>> scores = task.fit_transform(X)
    >>> scores.shape, task.classes_.tolist(), task.n_labelled_
    ((30, 1), ['dark', 'light'], 25)
    >>> bool((scores[X["brightness"] > 0.5] > 0).all())   # positive: "light"
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "label_column": [str, Integral],
        "cv": ["cv_object"],
        "method": [StrOptions({"auto", "decision_function", "predict_proba"})],
    }

    def __init__(self, estimator, label_column, *, cv=5, method="auto"):
        self.estimator = estimator
        self.label_column = label_column
        self.cv = cv
        self.method = method

    def _labels(self, X):
        columns = list(X.columns) if hasattr(X, "columns") else None
        present = self.label_column in columns if columns is not None else (
            isinstance(self.label_column, Integral) and np.ndim(X) == 2 and self.label_column < np.shape(X)[1]
        )
        if not present:
            where = f"its columns are {columns}" if columns is not None else f"X has shape {np.shape(X)}"
            raise ValueError(f"X has no column {self.label_column!r} of auxiliary labels ({where}); {_HINT}")
        return np.asarray(as_value_list(_safe_indexing(X, self.label_column, axis=1)), dtype=object)

    def fit(self, X, y=None):
        """Fit the auxiliary classifier on the posts of ``X`` that have an auxiliary label.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            What ``estimator`` reads, and the column ``label_column``.
        y : None
            Ignored: the labels come from ``X``.

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit, and return out-of-fold scores of every post of ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
        y : None
            Ignored: the labels come from ``X``.

        Returns
        -------
        ndarray of shape (n_posts, n_scores)
            One column per auxiliary class (one for two classes with
            ``decision_function``).
        """
        labels = self._labels(X)
        labelled = ~missing_mask(labels)
        self.n_labelled_ = int(labelled.sum())
        task = labels[labelled]
        if len(np.unique(task.astype(str))) < 2:
            raise ValueError(
                f"column {self.label_column!r} holds {self.n_labelled_} auxiliary labels of "
                f"{len(np.unique(task.astype(str)))} class(es): a task needs two classes or more; {_HINT}"
            )
        check_classification_targets(task)
        self.classes_ = np.unique(task)
        self.method_ = self._method()
        rows = np.flatnonzero(labelled)
        posts = _safe_indexing(X, rows, axis=0)
        cv = check_cv(self.cv, task, classifier=True)
        out_of_fold = cross_val_predict(clone(self.estimator), posts, task, cv=cv, method=self.method_)
        self.estimator_ = clone(self.estimator).fit(posts, task)
        scores = np.empty((len(labels), *out_of_fold.shape[1:]))
        scores[rows] = out_of_fold
        if not labelled.all():
            scores[~labelled] = getattr(self.estimator_, self.method_)(_safe_indexing(X, np.flatnonzero(~labelled)))
        return scores.reshape(len(labels), -1)

    def _method(self):
        if self.method != "auto":
            if not hasattr(self.estimator, self.method):
                raise ValueError(f"method={self.method!r}, which {type(self.estimator).__name__} does not have")
            return self.method
        for method in ("decision_function", "predict_proba"):
            if hasattr(self.estimator, method):
                return method
        raise ValueError(f"{type(self.estimator).__name__} has neither decision_function nor predict_proba")

    def transform(self, X):
        """Scores of the auxiliary classifier fitted on every labelled post; no label column needed.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)

        Returns
        -------
        ndarray of shape (n_posts, n_scores)
        """
        check_is_fitted(self)
        scores = getattr(self.estimator_, self.method_)(X)
        return np.asarray(scores, dtype=float).reshape(len(scores), -1)

    def get_feature_names_out(self, input_features=None):
        """``<label_column>_<class>`` per score column (one, the last class, for a binary decision function).

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        binary = self.method_ == "decision_function" and len(self.classes_) == 2
        classes = self.classes_[1:] if binary else self.classes_
        return np.asarray([f"{self.label_column}_{label}" for label in classes], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A frame with a column of labels, not a numeric matrix: scikit-learn's checks have no such input.
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
