"""An out-of-core classifier: stateless featurizers and an incremental linear model, fitted chunk by chunk."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import _fit_context, clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from .._classifier import MultimodalSentimentClassifier
from .._validation import check_labels
from ..fusion import ModalityImputer, modality_contributions
from ..image import make_image_features
from ..image._batched import _is_row_wise
from ..text import JiebaTokenizer, TextCleaner, passthrough_tokens

__all__ = ["IncrementalSentimentClassifier"]


class IncrementalSentimentClassifier(MultimodalSentimentClassifier):
    """Sentiment of text + image posts, learnt one chunk at a time (out of core).

    The out-of-core twin of :class:`~mmsent.MultimodalSentimentClassifier`: the same
    input (a DataFrame with a text and an image column), the same ``predict``,
    ``predict_robust`` and ``score``, but every featurizer is *stateless*, so that
    chunks of posts can be featurized independently (on other machines too) and fed
    to an incremental linear model by :meth:`partial_fit`:

    - text: jieba tokens → word n-grams hashed into ``n_features`` columns
      (``HashingVectorizer``, L2-normalised): no vocabulary, no IDF;
    - image: HOG + HSV colour histogram (or any row-wise block, e.g. CNN
      embeddings), as in :func:`mmsent.image.make_image_features`;
    - fusion at the feature level (``"concat"``) or one modality alone;
    - an ``SGDClassifier`` (hinge loss: a linear SVM; ``"log_loss"``: logistic
      regression, with ``predict_proba``).

    A post lacking a modality gets zero features for it and a "missing" flag (no
    mean row can be learnt without a pass over all posts). Memory is that of one
    chunk, whatever the number of posts; use :func:`mmsent.scale.fit_manifest` to
    train on a manifest that does not fit in memory. The price is some accuracy
    against the in-memory TF-IDF + ``LinearSVC`` model (no IDF, hash collisions,
    a stochastic optimiser); see ``benchmarks/results/scale.md``.

    Parameters
    ----------
    fusion : {"concat", "text", "image"}, default="concat"
        Both modalities side by side, or one of them.
    text_column, image_column : str or int, default="text", "image"
        Columns of ``X`` holding each modality.
    n_features : int, default=2**20
        Hashed text columns; fewer means more collisions between n-grams.
    ngram_range : tuple of int, default=(1, 2)
        Word n-gram range of the text block.
    image_features : transformer, default=None
        Image column → features; it must be row-wise (learn nothing from the rows'
        values), since it is fitted on the first chunk only. None uses
        ``make_image_features(sparse_output=True)`` with this model's ``n_jobs`` and
        ``verbose``.
    loss : {"hinge", "log_loss", "modified_huber"}, default="hinge"
        ``SGDClassifier`` loss; the last two give ``predict_proba``.
    alpha : float, default=1e-5
        L2 regularisation strength (for ``n`` posts, ``alpha = 1 / (C n)`` matches
        a ``LinearSVC(C)``).
    average : bool or int, default=True
        Averaged SGD (see ``SGDClassifier``): much more stable over one pass.
    text_weight, image_weight : float, default=1.0
        Scale of each modality's block.
    class_weight : dict or None, default=None
        Weights per class (``"balanced"`` needs every label up front: compute it
        once and pass the dict).
    max_iter : int, default=5
        Passes over the data in :meth:`fit` (each one featurizes every post again,
        to keep one chunk in memory, unless all of them make one chunk).
        :meth:`partial_fit` makes one pass.
    chunk_size : int, default=10_000
        Posts featurized and learnt at a time in :meth:`fit`.
    random_state : int, RandomState or None, default=None
        Seeds the order of the posts in each pass of :meth:`fit` and ``SGDClassifier``.
    n_jobs : int, default=None
        Tokenizer processes and image threads of the default featurizers.
    verbose : int, default=0
        Progress bars of the default featurizers (see
        :class:`~mmsent.MultimodalSentimentClassifier`).
    missing : {"auto", "impute", "error"}, default="auto"
        A post lacking a modality: ``"impute"`` (and ``"auto"``) gives it zero
        features and a flag; ``"error"`` refuses it.

    Attributes
    ----------
    model_ : Pipeline
        Steps ``features`` (a ``ColumnTransformer``) and ``classifier``
        (the ``SGDClassifier``).
    classes_ : ndarray of shape (n_classes,)
        Class labels, fixed by the first :meth:`partial_fit`.
    modality_weights_ : dict
        The normalised weights given.
    n_samples_fit_ : int
        Posts learnt from, counted once per pass.
    n_iter_ : int
        Passes over the data of the last :meth:`fit` (1 after :meth:`partial_fit`).
    n_features_in_ : int
        Number of columns of ``X`` seen in the first :meth:`partial_fit`.
    feature_names_in_ : ndarray of str
        Their names.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent.scale import IncrementalSentimentClassifier
    >>> bright, dark = np.full((32, 32, 3), 230, np.uint8), np.full((32, 32, 3), 20, np.uint8)
    >>> X = pd.DataFrame({"text": ["很好 great", "太差了 awful", "好 love it", "差 hate it"] * 5,
    ...                   "image": [bright, dark, bright, dark] * 5})
    >>> y = np.array(["positive", "negative", "positive", "negative"] * 5)
    >>> clf = IncrementalSentimentClassifier(random_state=0)
    >>> for start in range(0, 20, 8):   # chunks as they come
    ...     _ = clf.partial_fit(X[start:start + 8], y[start:start + 8], classes=["negative", "positive"])
    >>> clf.predict(pd.DataFrame({"text": ["非常好"], "image": [bright]})).tolist()
    ['positive']
    """

    _parameter_constraints = {
        "fusion": [StrOptions({"concat", "text", "image"})],
        "text_column": [str, Integral],
        "image_column": [str, Integral],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "ngram_range": [tuple],
        "image_features": [HasMethods(["fit", "transform"]), None],
        "loss": [StrOptions({"hinge", "log_loss", "modified_huber"})],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
        "text_weight": [Interval(Real, 0, None, closed="left")],
        "image_weight": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "missing": [StrOptions({"auto", "impute", "error"})],
    }

    def __init__(
        self,
        fusion="concat",
        *,
        text_column="text",
        image_column="image",
        n_features=2**20,
        ngram_range=(1, 2),
        image_features=None,
        loss="hinge",
        alpha=1e-5,
        average=True,
        text_weight=1.0,
        image_weight=1.0,
        class_weight=None,
        max_iter=5,
        chunk_size=10_000,
        random_state=None,
        n_jobs=None,
        verbose=0,
        missing="auto",
    ):
        self.fusion = fusion
        self.text_column = text_column
        self.image_column = image_column
        self.n_features = n_features
        self.ngram_range = ngram_range
        self.image_features = image_features
        self.loss = loss
        self.alpha = alpha
        self.average = average
        self.text_weight = text_weight
        self.image_weight = image_weight
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.missing = missing

    # -- building -----------------------------------------------------------------

    def _build_model(self):
        """The unfitted pipeline: stateless features per modality, then the SGD classifier."""
        hashing = HashingVectorizer(
            tokenizer=passthrough_tokens,
            preprocessor=passthrough_tokens,
            token_pattern=None,
            lowercase=False,  # the tokenizer lowercases Latin text itself
            ngram_range=self.ngram_range,
            n_features=self.n_features,
            alternate_sign=False,
            dtype=np.float32,
        )
        tokenize = JiebaTokenizer(n_jobs=self.n_jobs, verbose=self.verbose)
        text = Pipeline([("clean", TextCleaner()), ("tokenize", tokenize), ("hash", hashing)])
        if self.image_features is None:
            image = make_image_features(n_jobs=self.n_jobs, verbose=self.verbose, sparse_output=True)
        elif _is_row_wise(self.image_features):
            image = clone(self.image_features)
        else:
            raise ValueError(
                f"image_features must be row-wise (learn nothing from the rows' values) to be fitted on one "
                f"chunk: {self.image_features!r} is not"
            )
        blocks = {
            "text": (text, self.text_column, self.text_weight),
            "image": (image, self.image_column, self.image_weight),
        }
        names = list(blocks) if self.fusion == "concat" else [self.fusion]
        # A missing cell gets zeros and a flag: the one stand-in that needs no pass over the data.
        features = ColumnTransformer(
            [(name, ModalityImputer(blocks[name][0], fill="zero"), blocks[name][1]) for name in names],
            transformer_weights={name: blocks[name][2] for name in names},
            sparse_threshold=1.0,
        )
        return Pipeline([("features", features), ("classifier", self._make_classifier())])

    def _has_method(self, method):
        # SGDClassifier decides from its loss alone: predict_proba for "log_loss" and "modified_huber".
        return hasattr(self._make_classifier(), method)

    def _make_classifier(self):
        return SGDClassifier(
            loss=self.loss,
            alpha=self.alpha,
            average=self.average,
            class_weight=self.class_weight,
            random_state=self.random_state,
        )

    # -- fitting --------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Learn from posts ``X`` and labels ``y`` in ``max_iter`` passes of ``chunk_size`` posts.

        Starts afresh (forgets earlier fits). Each pass visits the posts in a new
        random order and featurizes them again, so memory holds one chunk's features.
        Labels are checked as :meth:`mmsent.MultimodalSentimentClassifier.fit` checks them.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
        y : array-like of shape (n_posts,)

        Returns
        -------
        self
        """
        for attribute in ("model_", "classes_", "n_samples_fit_", "n_iter_"):
            self.__dict__.pop(attribute, None)
        X = self._check_frame(X)
        y, classes = self._check_targets(X, y)
        rng = check_random_state(self.random_state)
        features = None  # all the posts' features, when they make a single chunk: every pass reuses them
        for _ in range(self.max_iter):
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.chunk_size):
                rows = order[start : start + self.chunk_size]
                self._partial_fit(X.iloc[rows], y[rows], classes, None if features is None else features[rows])
            if features is None and len(X) <= self.chunk_size and self.max_iter > 1:
                features = self.model_.named_steps["features"].transform(X)
        self.n_iter_ = self.max_iter
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, classes=None):
        """Learn from one chunk of posts (one SGD pass over it); its labels are checked as ``fit`` does.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
        y : array-like of shape (n_posts,)
        classes : array-like of shape (n_classes,), default=None
            Every label there will be. Required on the first call, ignored later.

        Returns
        -------
        self
        """
        return self._partial_fit(self._check_frame(X), column_or_1d(y, warn=True), classes)

    def _partial_fit(self, X, y, classes, features=None):
        """One SGD pass over a chunk; ``features``: the chunk's, computed elsewhere (a Dask worker)."""
        first = not hasattr(self, "model_")
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit (every label there will be)")
            classes = np.unique(np.asarray(classes))
            check_classification_targets(classes)
            if len(classes) < 2:
                raise ValueError(f"classes holds only {classes.tolist()}; a classifier needs at least two")
        X, y = validate_data(self, X, y, skip_check_array=True, reset=first)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        check_labels(pd.Series(y, index=X.index))
        if first:
            model = self._build_model()
            features = model.named_steps["features"].fit_transform(X, y)
        else:
            model, classes = self.model_, self.classes_
            if features is None:
                features = model.named_steps["features"].transform(X)
        unknown = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
        if unknown:
            raise ValueError(f"y holds labels {unknown} that are not in classes {classes.tolist()}")
        model.named_steps["classifier"].partial_fit(features, y, classes=classes)
        self.model_ = model
        self.classes_ = model.named_steps["classifier"].classes_
        self.n_samples_fit_ = getattr(self, "n_samples_fit_", 0) + len(y)
        self.n_iter_ = 1
        self.modality_weights_ = modality_contributions(
            model, self.fusion, text_weight=self.text_weight, image_weight=self.image_weight
        )
        return self
