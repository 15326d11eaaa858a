"""Posts that lack a modality: impute its features, or leave it out of the vote."""

import sys
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context, clone
from sklearn.ensemble import VotingClassifier
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _estimator_has, check_consistent_length, check_is_fitted, column_or_1d

from .._validation import as_frame, missing_mask
from ._columns import _SOLE_BLOCK, _join_csr, _sole_storage

__all__ = ["ModalityClassifier", "ModalityImputer", "ModalityVotingClassifier"]


def _rows(X, mask):
    """The rows of X where ``mask`` holds; pandas objects keep their index labels (error messages name them)."""
    return X if mask.all() else _safe_indexing(X, np.flatnonzero(mask), axis=0)


# Entries of a sparse block averaged at a time (see _column_means).
_MEAN_CHUNK = 2**18


def _column_means(features):
    """``np.asarray(features.mean(axis=0), dtype=float).ravel()``; a float CSR block's without copying it.

    SciPy's mean multiplies a copy of the whole block (its values, column indices and row
    pointers) by 1 / n_rows, then adds the products of each column in row order: here the
    same products, added in the same order and precision, a chunk of entries at a time.
    """
    if not (sp.issparse(features) and features.format == "csr" and features.dtype in (np.float32, np.float64)):
        return np.asarray(features.mean(axis=0), dtype=float).ravel()
    scale, sums = 1.0 / features.shape[0], np.zeros(features.shape[1], dtype=features.dtype)
    for start in range(0, features.nnz, _MEAN_CHUNK):
        stop = start + _MEAN_CHUNK
        np.add.at(sums, features.indices[start:stop], features.data[start:stop] * scale)
    return sums.astype(float)


class ModalityImputer(TransformerMixin, BaseEstimator):
    """Featurize one modality's column; posts that lack it get a learnt stand-in and a flag.

    The wrapped ``transformer`` only ever sees posts that have the modality (see
    :func:`mmsent._validation.is_missing`: ``None``, NaN, blank strings). A post
    without it gets the feature row ``fill_`` learnt in ``fit`` plus, with
    ``add_indicator``, a last column set to 1, so that a linear classifier can
    learn how much a missing image or text says. Used by ``concat`` fusion, by
    unimodal models and, with ``missing="impute"``, by every branch.

    Parameters
    ----------
    transformer : transformer
        Column → features (cloned).
    fill : {"auto", "mean", "zero"}, default="auto"
        Stand-in row: the mean feature row of the training posts that had the
        modality, or zeros. ``"auto"`` uses the mean for dense features and zeros
        for sparse ones (a mean TF-IDF row would be dense: a sparse zero row is
        what an empty post gives anyway).
    add_indicator : bool, default=True
        Append a "modality missing" column.

    Attributes
    ----------
    transformer_ : transformer
        Fitted on the posts that had the modality.
    fill_ : ndarray of shape (n_features,)
        The stand-in feature row.
    sparse_output_ : bool
        Whether ``transformer_`` gives sparse features (and so does this).
    n_missing_fit_ : int
        Posts without the modality seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from mmsent.fusion import ModalityImputer
    >>> double = FunctionTransformer(lambda column: 2 * np.asarray(column, float).reshape(-1, 1))
    >>> ModalityImputer(double).fit_transform([1.0, None, 3.0]).tolist()
    [[2.0, 0.0], [4.0, 1.0], [6.0, 0.0]]
    """

    _parameter_constraints = {
        "transformer": [HasMethods(["fit", "transform"])],
        "fill": [StrOptions({"auto", "mean", "zero"})],
        "add_indicator": ["boolean"],
    }

    def __init__(self, transformer, *, fill="auto", add_indicator=True):
        self.transformer = transformer
        self.fill = fill
        self.add_indicator = add_indicator

    def fit(self, X, y=None):
        """Fit the transformer on the posts that have the modality; learn the stand-in row.

        Parameters
        ----------
        X : array-like of shape (n_posts,)
            One modality's column.
        y : array-like of shape (n_posts,), default=None
            Passed on (its rows of the posts that have the modality).

        Returns
        -------
        self : ModalityImputer
        """
        self.fit_transform(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit, then return the features of every post (stand-ins for those lacking the modality).

        Parameters
        ----------
        X : array-like of shape (n_posts,)
            One modality's column.
        y : array-like of shape (n_posts,), default=None
            Passed on (its rows of the posts that have the modality).

        Returns
        -------
        features : ndarray or CSR matrix of shape (n_posts, n_features + add_indicator)
            As :meth:`transform`.
        """
        present = ~missing_mask(X)
        if not present.any():
            raise ValueError(
                f"all {len(present)} posts lack this modality: there is nothing to learn its features from"
            )
        self.transformer_ = clone(self.transformer)
        # In a list, not a local: _assemble can then tell whether anything else holds the block.
        blocks = [self.transformer_.fit_transform(_rows(X, present), None if y is None else _rows(y, present))]
        self.sparse_output_ = sp.issparse(blocks[0])
        mean = self.fill == "mean" or (self.fill == "auto" and not self.sparse_output_)
        self.fill_ = _column_means(blocks[0]) if mean else np.zeros(blocks[0].shape[1])
        self.n_missing_fit_ = int((~present).sum())
        return self._assemble(blocks, present)

    def transform(self, X):
        """Features of every post; posts lacking the modality get ``fill_`` (and the flag).

        Parameters
        ----------
        X : array-like of shape (n_posts,)
            One modality's column.

        Returns
        -------
        features : ndarray or CSR matrix of shape (n_posts, n_features + add_indicator)
            Sparse when ``transformer_`` gives sparse features; with
            ``add_indicator``, the last column is 1 for posts lacking the modality.
        """
        check_is_fitted(self)
        present = ~missing_mask(X)
        return self._assemble([self.transformer_.transform(_rows(X, present))] if present.any() else [], present)

    def _assemble(self, blocks, present):
        """Every post's feature row: ``blocks`` holds the transformer's block of the posts ``present`` (if any)."""
        n_missing = int((~present).sum())
        if self.sparse_output_ and n_missing and blocks and not self.fill_.any():
            return self._sparse_with_empty_stand_ins(blocks, present)
        features = blocks.pop() if blocks else None
        dtype = float if features is None else features.dtype
        if self.sparse_output_:
            if n_missing:
                return self._sparse_with_stand_ins(features, present, dtype)
            if not self.add_indicator:
                return features
            out = sp.csr_matrix(features)  # the flag column is all zeros: same arrays, one more column
            return sp.csr_matrix((out.data, out.indices, out.indptr), shape=(out.shape[0], out.shape[1] + 1))
        if features is not None and present.all() and not self.add_indicator:
            return features
        # One allocation for features, stand-ins and flag: the image block is the
        # largest array of a fit, and every extra copy of it counts at the peak.
        width = len(self.fill_)
        out = np.empty((len(present), width + self.add_indicator), dtype=dtype)
        out[~present, :width] = self.fill_
        if features is not None:
            out[present, :width] = features
        if self.add_indicator:
            out[:, width] = ~present
        return out

    def _sparse_with_empty_stand_ins(self, blocks, present):
        """CSR rows: ``blocks[0]``'s where ``present``, empty ones elsewhere (the zero stand-in), and the flag.

        The block's own entries with missing rows inserted as empty ones, joined to the flag
        column by :func:`~mmsent.fusion._columns._join_csr`: when nothing but ``blocks`` holds
        the block (a transformer's fresh result), its memory is given back as the output fills,
        so the two never both take the block's size (the text block of a batch with one post
        without text used to be copied whole).
        """
        block = blocks[0]
        fresh = sys.getrefcount(block) == _SOLE_BLOCK
        blocks.clear()
        if not (sp.issparse(block) and block.format == "csr"):
            block, fresh = sp.csr_matrix(block), True  # from another sparse format: new arrays, its own
        stores = _sole_storage(block) if fresh else None  # before `rows` refers to the same arrays
        per_row = np.zeros(len(present), dtype=np.int64)
        per_row[present] = np.diff(block.indptr)
        indptr = np.concatenate([[0], np.cumsum(per_row)])
        rows = sp.csr_matrix((block.data, block.indices, indptr), shape=(len(present), block.shape[1]))
        parts = [rows]
        if self.add_indicator:
            flagged = np.concatenate([[0], np.cumsum(~present)])
            ones = np.ones(flagged[-1], dtype=block.dtype)
            parts.append(sp.csr_matrix((ones, np.zeros(flagged[-1], dtype=np.int32), flagged), shape=(len(present), 1)))
        del block
        return _join_csr(parts, [stores, *[None] * self.add_indicator])

    def _sparse_with_stand_ins(self, features, present, dtype):
        """CSR rows: ``features`` where ``present``, the stand-in (and the flag) elsewhere, built in place.

        One allocation of the output: stacking, reordering and joining the flag column
        would each copy the whole block (three copies of the text block at the peak).
        """
        width = len(self.fill_)
        stand_in = np.flatnonzero(self.fill_)
        row_columns = np.append(stand_in, [width] * self.add_indicator)
        row_values = np.append(self.fill_[stand_in], [1] * self.add_indicator).astype(dtype)
        per_row = np.full(len(present), len(row_columns), dtype=np.int64)
        if features is not None:
            features = sp.csr_matrix(features)
            per_row[present] = np.diff(features.indptr)
        indptr = np.concatenate([[0], np.cumsum(per_row)])
        shape = (len(present), width + self.add_indicator)
        index = np.int32 if max(indptr[-1], shape[1]) <= np.iinfo(np.int32).max else np.int64
        indices, data = np.empty(indptr[-1], dtype=index), np.empty(indptr[-1], dtype=dtype)
        copied = np.repeat(present, per_row)  # the output entries that come from ``features``, in order
        if features is not None:
            indices[copied], data[copied] = features.indices, features.data
        np.logical_not(copied, out=copied)
        n_missing = len(present) - int(present.sum())
        indices[copied], data[copied] = np.tile(row_columns, n_missing), np.tile(row_values, n_missing)
        return sp.csr_matrix((data, indices, indptr.astype(index)), shape=shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class ModalityClassifier(ClassifierMixin, BaseEstimator):
    """One modality's classifier that abstains on posts lacking the modality.

    The wrapped ``estimator`` (a branch reading ``column`` from ``X``) is fitted
    on the posts that have the modality only, so absent images never teach it
    anything. On posts without it, ``predict_proba`` and ``decision_function``
    return NaN rows — :class:`ModalityVotingClassifier` leaves them out of the
    vote, and stacking's meta-learner imputes them — and ``predict`` returns the
    most frequent class seen in ``fit``.

    Parameters
    ----------
    estimator : classifier
        Reads ``X`` (a frame of posts) and classifies it.
    column : str or int
        Column of ``X`` holding the modality (by name, or position as in
        ``ColumnTransformer``).

    Attributes
    ----------
    estimator_ : classifier
        Fitted on the posts that had the modality.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    majority_class_index_ : int
        Index in ``classes_`` of the most frequent class in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmsent.fusion import ModalityClassifier
    >>> X = pd.DataFrame({"score": [0.0, 1.0, 0.1, 0.9, None]})
    >>> branch = make_pipeline(make_column_transformer(("passthrough", ["score"])), LogisticRegression())
    >>> clf = ModalityClassifier(branch, "score").fit(X, ["neg", "pos", "neg", "pos", "pos"])
    >>> clf.present(X).tolist()
    [True, True, True, True, False]
    >>> np.isnan(clf.predict_proba(X)[4]).all()
    np.True_
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "column": [str, Integral],
    }

    def __init__(self, estimator, column):
        self.estimator = estimator
        self.column = column

    def present(self, X):
        """Which posts have the modality.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        mask : ndarray of bool of shape (n_posts,)
            False where ``column`` holds a missing value.
        """
        X = as_frame(X)
        try:
            column = _safe_indexing(X, self.column, axis=1)
        except (IndexError, KeyError, ValueError):
            raise ValueError(
                f"X has {X.shape[1]} feature(s) (shape={X.shape}) and no column {self.column!r} to read the "
                f"modality from; its columns are {list(X.columns)}"
            ) from None
        return ~missing_mask(column)

    @property
    def n_features_in_(self):
        """Number of columns of ``X`` seen in ``fit`` (by ``estimator_``)."""
        return self.estimator_.n_features_in_

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit ``estimator`` on the posts that have the modality.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.
        y : array-like of shape (n_posts,)
            Labels; the posts with the modality must cover every class.

        Returns
        -------
        self : ModalityClassifier
        """
        X = as_frame(X)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        present = self.present(X)
        self.classes_, counts = np.unique(y, return_counts=True)
        if not present.any():
            raise ValueError(f"no post has a value in column {self.column!r}: this modality cannot be learnt")
        covered = np.unique(y[present])
        if len(covered) != len(self.classes_):
            raise ValueError(
                f"the posts with a value in column {self.column!r} cover classes {covered.tolist()} only, "
                f"of {self.classes_.tolist()}: too few posts have this modality to learn it"
            )
        self.estimator_ = clone(self.estimator).fit(_rows(X, present), y[present])
        self.majority_class_index_ = int(np.argmax(counts))
        return self

    def _scores(self, X, method):
        X = as_frame(X)
        present = self.present(X)
        if not present.any():
            n_columns = () if method == "decision_function" and len(self.classes_) == 2 else (len(self.classes_),)
            return np.full((len(present), *n_columns), np.nan)
        scores = getattr(self.estimator_, method)(_rows(X, present))
        out = np.full((len(present), *scores.shape[1:]), np.nan)
        out[present] = scores
        return out

    def predict(self, X):
        """Labels; posts lacking the modality get the most frequent class of ``fit``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        y_pred : ndarray of shape (n_posts,)
        """
        check_is_fitted(self)
        X = as_frame(X)
        present = self.present(X)
        out = np.repeat(self.classes_[[self.majority_class_index_]], len(present))
        if present.any():
            out[present] = self.estimator_.predict(_rows(X, present))
        return out

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities; NaN rows for posts lacking the modality.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        proba : ndarray of shape (n_posts, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self._scores(X, "predict_proba")

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Confidence scores; NaN for posts lacking the modality.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        scores : ndarray of shape (n_posts,) or (n_posts, n_classes)
            As the wrapped estimator's ``decision_function``.
        """
        check_is_fitted(self)
        return self._scores(X, "decision_function")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class ModalityVotingClassifier(VotingClassifier):
    """Voting in which a post's missing modalities abstain and the others' weights are renormalised.

    A ``VotingClassifier`` of :class:`ModalityClassifier` estimators. For each
    post, only the estimators whose modality it has vote, with their weights
    rescaled to sum to one: a post without an image is classified by its text
    alone. A post lacking every modality gets the class frequencies seen in
    ``fit``. Parameters are those of ``VotingClassifier``.

    Attributes
    ----------
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies in ``fit``: the answer for posts with no modality.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmsent.fusion import ModalityClassifier, ModalityVotingClassifier
    >>> def branch(column):
    ...     reader = make_column_transformer(("passthrough", [column]))
    ...     return ModalityClassifier(make_pipeline(reader, LogisticRegression()), column)
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 0.0, 1.0], "b": [1.0, 0.0, 1.0, None]})
    >>> vote = ModalityVotingClassifier([("a", branch("a")), ("b", branch("b"))], voting="soft")
    >>> vote.fit(X, [0, 1, 0, 1]).predict(X).tolist()
    [0, 1, 0, 1]
    """

    def fit(self, X, y, **fit_params):
        """Fit every estimator (each on the posts that have its modality).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.
        y : array-like of shape (n_posts,)
            Labels.
        **fit_params : dict
            Passed to the estimators, as in ``VotingClassifier``.

        Returns
        -------
        self : ModalityVotingClassifier
        """
        super().fit(X, y, **fit_params)
        codes = self.le_.transform(column_or_1d(y))
        self.class_prior_ = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        return self

    def _row_weights(self, X):
        """``(n_estimators, n_posts)``: each estimator's weight, zero where the post lacks its modality."""
        weights = np.ones(len(self.estimators_)) if self.weights is None else np.asarray(self._weights_not_none, float)
        return weights[:, None] * np.array([est.present(X) for est in self.estimators_], dtype=float)

    def _renormalised(self, votes, weights):
        """Weighted mean over the estimators present: ``votes`` is ``(n_estimators, n_posts, n_classes)``."""
        total = weights.sum(axis=0)
        mixed = np.einsum("mn,mnk->nk", weights, np.nan_to_num(votes))
        return np.where(total[:, None] > 0, mixed / np.where(total > 0, total, 1.0)[:, None], self.class_prior_)

    @available_if(VotingClassifier._check_voting)
    def predict_proba(self, X):
        """Average of the present modalities' probabilities, renormalised per post.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        proba : ndarray of shape (n_posts, n_classes)
            Weighted mean over the modalities each post has; ``class_prior_``
            for a post with none.
        """
        check_is_fitted(self)
        probas = np.asarray([est.predict_proba(X) for est in self.estimators_])
        return self._renormalised(probas, self._row_weights(X))

    def predict(self, X):
        """Labels: soft or hard vote of the modalities each post has.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            Posts.

        Returns
        -------
        y_pred : ndarray of shape (n_posts,)
        """
        check_is_fitted(self)
        if self.voting == "soft":
            winners = np.argmax(self.predict_proba(X), axis=1)
        else:
            labels = np.asarray([est.predict(X) for est in self.estimators_])  # encoded labels
            ballots = np.eye(len(self.classes_))[labels]  # (n_estimators, n_posts, n_classes)
            winners = np.argmax(self._renormalised(ballots, self._row_weights(X)), axis=1)
        return self.le_.inverse_transform(winners)
