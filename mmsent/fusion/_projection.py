"""A shared text-image space (CCA or PLS) and the intermediate-fusion features built on it."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.cross_decomposition import CCA, PLSCanonical
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

__all__ = ["METHODS", "CrossModalProjector", "SharedSpaceFeatures"]

_MODELS = {"cca": CCA, "pls": PLSCanonical}
METHODS = (*_MODELS, "none")
_PAIRS_PER_DIMENSION = 10


class _Reducer(TransformerMixin, BaseEstimator):
    """One block to at most ``n_components`` dense, standardised columns (``TruncatedSVD`` when wider)."""

    def __init__(self, n_components, random_state):
        self.n_components = n_components
        self.random_state = random_state

    def fit_transform(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        # TruncatedSVD needs fewer components than columns; a block that narrow needs no reduction.
        self.svd_ = (
            TruncatedSVD(self.n_components, random_state=self.random_state)
            if self.n_features_in_ > self.n_components
            else None
        )
        reduced = self._dense(X if self.svd_ is None else self.svd_.fit_transform(X))
        self.scaler_ = StandardScaler().fit(reduced)
        return self.scaler_.transform(reduced)

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def transform(self, X):
        check_is_fitted(self)
        return self.scaler_.transform(self._dense(X if self.svd_ is None else self.svd_.transform(X)))

    @staticmethod
    def _dense(X):
        return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=float)


class CrossModalProjector(TransformerMixin, BaseEstimator):
    """Map text features and image features into one shared space, learnt from text-image pairs.

    Each block is first reduced to ``svd_components`` dimensions by
    ``TruncatedSVD`` (sparse TF-IDF as well as dense HOG or CNN features), then
    ``CCA`` (maximal correlation between the projected text and image of a post)
    or ``PLSCanonical`` (maximal covariance) finds ``n_components`` paired
    directions. A post's text and its image land near each other, so the space
    serves intermediate fusion (interaction features of the two projections)
    and cross-modal retrieval (a text's nearest images).

    As scikit-learn's ``CCA``, it is fitted on two views: ``fit(X, Y)`` with ``X``
    the text features and ``Y`` the image features of the same posts.

    Parameters
    ----------
    method : {"cca", "pls", "none"}, default="cca"
        ``"cca"``: :class:`sklearn.cross_decomposition.CCA`; ``"pls"``:
        :class:`sklearn.cross_decomposition.PLSCanonical`; ``"none"``: no
        alignment, each block's own first ``n_components`` SVD directions (the
        baseline that shows what the alignment brings: its text and image
        dimensions have nothing to do with each other).
    n_components : int, default=16
        Dimensions of the shared space. At most the narrower reduced block's
        width; a narrower block (e.g. a one-column feature) lowers it, see
        ``n_components_``.
    svd_components : int, default=128
        Width of each block after ``TruncatedSVD``, at most a tenth of the
        number of pairs (CCA on about as many dimensions as pairs finds
        perfect correlations that mean nothing); a block this narrow or
        narrower is used as it is.
    max_iter : int, default=500
        Iterations of the CCA / PLS power method per component.
    random_state : int, RandomState instance or None, default=0
        Seed of ``TruncatedSVD``'s randomized solver.

    Attributes
    ----------
    text_reducer_, image_reducer_ : transformer
        Each block's fitted reduction.
    model_ : CCA, PLSCanonical or None
        The fitted cross-decomposition (None for ``method="none"``).
    n_components_ : int
        Dimensions of the shared space actually used.
    n_iter_ : ndarray of shape ``(n_components_,)``
        Power-method iterations per component (zeros for ``method="none"``).
    correlations_ : ndarray of shape ``(n_components_,)``
        Correlation of the text and image projections of the training pairs,
        per dimension (what CCA maximises).

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.fusion import CrossModalProjector
    >>> rng = np.random.default_rng(0)
    >>> topic = rng.normal(size=(200, 2))                     # what a post is about
    >>> text = topic @ rng.normal(size=(2, 30)) + 0.1 * rng.normal(size=(200, 30))
    >>> image = topic @ rng.normal(size=(2, 20)) + 0.1 * rng.normal(size=(200, 20))
    >>> projector = CrossModalProjector(n_components=2, svd_components=10).fit(text, image)
    >>> bool(projector.correlations_.min() > 0.9)
    True
    >>> text_scores, image_scores = projector.transform(text, image)
    >>> text_scores.shape, projector.transform_image(image).shape
    ((200, 2), (200, 2))
    """

    _parameter_constraints = {
        "method": [StrOptions(set(METHODS))],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "svd_components": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, method="cca", *, n_components=16, svd_components=128, max_iter=500, random_state=0):
        self.method = method
        self.n_components = n_components
        self.svd_components = svd_components
        self.max_iter = max_iter
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y):
        """Learn the shared space from paired features.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_pairs, n_text_features)
            Text features.
        Y : {array-like, sparse matrix} of shape (n_pairs, n_image_features)
            Image features of the same posts, in the same order.

        Returns
        -------
        self
        """
        if Y is None:
            raise ValueError(
                "CrossModalProjector requires y to be passed, but the target y is None: "
                "fit(X, Y) takes the text features as X and the image features of the same posts as Y"
            )
        X, Y = self._check_views(X, Y, reset=True)
        # CCA (and PLS) on about as many dimensions as pairs find perfect correlations that mean nothing: each
        # view keeps at most a tenth of the pairs' number of dimensions.
        width = min(self.n_components if self.method == "none" else self.svd_components,
                    max(1, X.shape[0] // _PAIRS_PER_DIMENSION))
        self.text_reducer_ = _Reducer(width, self.random_state)
        self.image_reducer_ = _Reducer(width, self.random_state)
        text = self.text_reducer_.fit_transform(X)
        image = self.image_reducer_.fit_transform(Y)
        self.n_components_ = min(self.n_components, text.shape[1], image.shape[1], X.shape[0] - 1)
        if self.method == "none":
            self.model_, self.n_iter_ = None, np.zeros(self.n_components_, dtype=int)
        else:
            # The reducers standardise: the model's own centring and scaling have nothing left to do.
            self.model_ = _MODELS[self.method](n_components=self.n_components_, scale=False, max_iter=self.max_iter)
            # The power method's products are matrix-vector ones, too small for BLAS threads to pay: on a
            # busy 2-core machine two threads made CCA's fit 11 times slower than one (207 s against 18 s).
            with threadpool_limits(limits=1, user_api="blas"):
                self.n_iter_ = np.asarray(self.model_.fit(text, image).n_iter_)
        text_scores, image_scores = self.transform(X, Y)
        self.correlations_ = np.array(
            [_correlation(text_scores[:, k], image_scores[:, k]) for k in range(self.n_components_)]
        )
        return self

    def transform(self, X, Y=None):
        """Project text features, and image features when given (as ``CCA.transform``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_text_features)
            Text features.
        Y : {array-like, sparse matrix} of shape (n_samples, n_image_features), default=None
            Image features.

        Returns
        -------
        ndarray of shape ``(n_samples, n_components_)``, or a pair of them
            The text projections; with ``Y``, ``(text projections, image projections)``.
        """
        check_is_fitted(self)
        if Y is None:
            return self.transform_text(X)
        return self.transform_text(X), self.transform_image(Y)

    def transform_text(self, X):
        """Project text features alone into the shared space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_text_features)

        Returns
        -------
        ndarray of shape ``(n_samples, n_components_)``
        """
        check_is_fitted(self)
        text = self.text_reducer_.transform(self._check_views(X, None)[0])
        if self.model_ is None:
            return text[:, : self.n_components_]
        return self.model_.transform(text)

    def transform_image(self, Y):
        """Project image features alone into the shared space.

        Parameters
        ----------
        Y : {array-like, sparse matrix} of shape (n_samples, n_image_features)

        Returns
        -------
        ndarray of shape ``(n_samples, n_components_)``
        """
        check_is_fitted(self)
        # CCA.transform projects Y only beside an X. On standardised inputs its image side is the rotation
        # alone (the mean it subtracts is that of standardised columns: zero up to rounding).
        image = self.image_reducer_.transform(self._check_views(None, Y)[1])
        if self.model_ is None:
            return image[:, : self.n_components_]
        return image @ self.model_.y_rotations_

    def _check_views(self, X, Y, reset=False):
        """Each given view as a 2-D float array or sparse matrix; paired views must have as many rows."""
        if X is not None:
            X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=FLOAT_DTYPES, reset=reset)
        if Y is not None:
            Y = check_array(Y, accept_sparse=("csr", "csc"), dtype=FLOAT_DTYPES, ensure_2d=False)
            Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if reset:
            if X.shape[0] != Y.shape[0]:
                raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}: the views must be paired")
            if X.shape[0] < 2:
                raise ValueError(f"a shared space needs at least 2 pairs, got n_samples = {X.shape[0]}")
            self.n_image_features_in_ = Y.shape[1]
        elif Y is not None and Y.shape[1] != self.n_image_features_in_:
            raise ValueError(f"Y has {Y.shape[1]} image features, but the space was fitted on "
                             f"{self.n_image_features_in_}")
        return X, Y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # the image view, passed as Y
        tags.input_tags.sparse = True
        return tags


def _correlation(a, b):
    """Pearson correlation; 0 when either side is constant."""
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / norm) if norm > 0 else 0.0


class SharedSpaceFeatures(TransformerMixin, BaseEstimator):
    """Intermediate fusion's features: each modality projected into a shared space, and how the two meet.

    Reads a frame of posts, featurizes each modality once, learns a
    :class:`CrossModalProjector` on the posts' text and image, and returns, per
    post, the projected text ``t`` and image ``v`` (standardised), their
    element-wise product ``t * v`` and absolute difference ``|t - v|``, and their
    cosine: the interactions a linear classifier cannot form from the two raw
    blocks side by side. With ``raw=True`` the raw text and image features come
    first, weighted, as in ``concat`` fusion.

    Parameters
    ----------
    text_features, image_features : transformer
        Column → features (cloned).
    text_column, image_column : str or int, default="text", "image"
        Columns of ``X`` holding each modality.
    projector : CrossModalProjector, default=None
        The shared space (cloned); None uses ``CrossModalProjector()``. Tune it
        through ``projector__n_components``, ``projector__method``.
    raw : bool, default=True
        Put the raw text and image features beside the shared-space ones
        (``False``: the shared space alone).
    text_weight, image_weight : float, default=1.0
        Weights of the raw blocks (as ``concat``'s).
    shared_weight : float, default=1.0
        Weight of the shared-space block. Its columns are standardised and
        divided by the square root of their number, so that its rows have a norm
        near ``shared_weight``, as the raw blocks' L2-normalised rows have near 1.

    Attributes
    ----------
    text_features_, image_features_ : transformer
        The fitted featurizers.
    projector_ : CrossModalProjector
        The fitted shared space.
    scaler_ : StandardScaler
        Standardises the shared-space block.
    n_features_in_ : int
        Columns of ``X`` in ``fit``.
    feature_names_in_ : ndarray of str
        Their names, when ``X`` is a frame with string column names.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from mmsent.fusion import CrossModalProjector, SharedSpaceFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"text": list(rng.normal(size=(50, 4))), "image": list(rng.normal(size=(50, 3)))})
    >>> stack = FunctionTransformer(lambda column: np.vstack(column))
    >>> features = SharedSpaceFeatures(stack, stack, projector=CrossModalProjector(n_components=2))
    >>> features.fit_transform(X).shape      # 4 + 3 raw, then t, v, t * v, |t - v| (2 each) and the cosine
    (50, 16)
    """

    _parameter_constraints = {
        "text_features": [HasMethods(["fit", "transform"])],
        "image_features": [HasMethods(["fit", "transform"])],
        "text_column": [str, Integral],
        "image_column": [str, Integral],
        "projector": [HasMethods(["fit", "transform_text", "transform_image"]), None],
        "raw": ["boolean"],
        "text_weight": [Interval(Real, 0, None, closed="left")],
        "image_weight": [Interval(Real, 0, None, closed="left")],
        "shared_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        text_features,
        image_features,
        *,
        text_column="text",
        image_column="image",
        projector=None,
        raw=True,
        text_weight=1.0,
        image_weight=1.0,
        shared_weight=1.0,
    ):
        self.text_features = text_features
        self.image_features = image_features
        self.text_column = text_column
        self.image_column = image_column
        self.projector = projector
        self.raw = raw
        self.text_weight = text_weight
        self.image_weight = image_weight
        self.shared_weight = shared_weight

    def fit(self, X, y=None):
        """Fit the featurizers and the shared space on the posts ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Holds the text and image columns.
        y : array-like of shape (n_posts,), default=None
            Passed to the featurizers.

        Returns
        -------
        self
        """
        self.fit_transform(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit on the posts ``X`` and return their features (see :meth:`transform`)."""
        validate_data(self, X, skip_check_array=True)
        self.text_features_ = clone(self.text_features)
        self.image_features_ = clone(self.image_features)
        text = self.text_features_.fit_transform(_safe_indexing(X, self.text_column, axis=1), y)
        image = self.image_features_.fit_transform(_safe_indexing(X, self.image_column, axis=1), y)
        self.projector_ = clone(CrossModalProjector() if self.projector is None else self.projector)
        self.projector_.fit(text, image)
        shared = self._interactions(text, image)
        self.scaler_ = StandardScaler().fit(shared)
        return self._assemble(text, image, shared)

    def transform(self, X):
        """Features of the posts ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)

        Returns
        -------
        ndarray or sparse matrix of shape (n_posts, n_features)
            ``[text_weight * text, image_weight * image]`` when ``raw``, then the
            shared-space block ``[t, v, t * v, |t - v|, cos(t, v)]``. Sparse when
            the raw text block is.
        """
        check_is_fitted(self)
        # As ColumnTransformer: a frame fitted and read by column names may have extra columns; anything else
        # (an array, a frame without string names) must have the columns of fit.
        if not (hasattr(self, "feature_names_in_") and hasattr(X, "columns")):
            validate_data(self, X, skip_check_array=True, reset=False)
        text = self.text_features_.transform(_safe_indexing(X, self.text_column, axis=1))
        image = self.image_features_.transform(_safe_indexing(X, self.image_column, axis=1))
        return self._assemble(text, image, self._interactions(text, image))

    def _interactions(self, text, image):
        t, v = self.projector_.transform(text, image)
        norms = np.linalg.norm(t, axis=1) * np.linalg.norm(v, axis=1)
        cosine = np.divide((t * v).sum(axis=1), norms, out=np.zeros(len(t)), where=norms > 0)
        return np.hstack([t, v, t * v, np.abs(t - v), cosine[:, None]])

    def _assemble(self, text, image, shared):
        shared = self.scaler_.transform(shared) * (self.shared_weight / np.sqrt(shared.shape[1]))
        if not self.raw:
            return shared
        blocks = [self.text_weight * text, self.image_weight * image, shared]
        if any(sp.issparse(block) for block in blocks):
            return sp.hstack([sp.csr_matrix(block) for block in blocks], format="csr")
        return np.hstack([np.asarray(block, dtype=float) for block in blocks])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
