"""The estimator users fit: text + image posts in, sentiment labels out."""

from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, LinearSVC
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._validation import BadRowsError, as_frame, check_known_labels, check_labels, describe_rows, missing_mask
from .fusion import (
    DECISION_LEVEL,
    FEATURE_LEVEL,
    FUSIONS,
    fusion_folds,
    fusion_has,
    make_fusion_model,
    modality_contributions,
)
from .fusion._projection import METHODS as PROJECTIONS
from .image import make_image_features
from .text import make_text_features

try:  # private scikit-learn helper for the HTML diagram; its module moved in 1.7
    from sklearn.utils._repr_html.estimator import _VisualBlock
except ImportError:  # pragma: no cover - scikit-learn < 1.7
    from sklearn.utils._estimator_html_repr import _VisualBlock

__all__ = ["FEATURE_SETS", "MultimodalSentimentClassifier", "RowError"]

# The values of MultimodalSentimentClassifier(features=...), the default first.
FEATURE_SETS = ("pretrained", "handcrafted")

# LinearSVC's stopping tolerance (scikit-learn's is 1e-4): the loosest of benchmarks/eval_solver.py's whose
# cross-validated scores stay those of 1e-4 on every data set there. liblinear's own default, 0.1, stops dense
# image blocks after a few passes (HOG + colour alone: macro-F1 26 against 33, near the majority class).
_LINEAR_SVC_TOL = 0.03

RowError = namedtuple("RowError", ["row", "column", "message"])
RowError.__doc__ = """A post that could not be used as given: its index label, the column at fault, why."""


_ROBUST_OPTIONS = {
    "on_error": [StrOptions({"raise", "skip", "impute"})],
    "method": [StrOptions({"predict", "predict_proba", "decision_function"})],
}


def _available(method):
    """``available_if`` check decided from the parameters, as ``VotingClassifier`` decides from ``voting``."""
    return lambda self: self._has_method(method)


class MultimodalSentimentClassifier(ClassifierMixin, BaseEstimator):
    """Sentiment of posts that carry text and an image, as one scikit-learn classifier.

    ``X`` is a pandas DataFrame with a text column (Chinese, English or mixed) and
    an image column (file paths, bytes, PIL images or uint8 arrays). By default
    (``features="pretrained"``) text goes through jieba + TF-IDF beside
    sentiment-lexicon scores, images through a pretrained CNN (EfficientNet-Lite0
    embeddings); ``features="handcrafted"`` uses TF-IDF alone and HOG + an HSV
    colour histogram. The two are fused at the feature level (``"concat"``), in a
    shared space (``"intermediate"``), at the decision level (``"vote"``,
    ``"stack"``, and ``"gated"`` with per-post weights) or beside each modality's
    own sentiment (``"multitask"``), into a linear SVM by default. The fitted model
    is the plain scikit-learn object in ``model_``.

    Parameters
    ----------
    fusion : {"concat", "intermediate", "vote", "stack", "gated", "multitask", "text", "image"}, default="concat"
        How the modalities are combined; ``"text"`` and ``"image"`` use one modality
        only (ablation baselines). See :func:`mmsent.fusion.make_fusion_model`.
    features : {"pretrained", "handcrafted"}, default="pretrained"
        The feature set of the featurizers left as None:

        - ``"pretrained"``: text as word n-gram TF-IDF beside sentiment-lexicon
          scores (HowNet, DUTIR, VADER, emoji; :func:`mmsent.text.make_text_features`
          with ``lexicon=True``), images as EfficientNet-Lite0 ImageNet embeddings
          (:class:`mmsent.image.CNNEmbedder`, run by onnxruntime, built from the
          installed weights, cached per image on disk). The more accurate set
          (``benchmarks/results/presets.md``); the CNN embeds about 130 images/s
          on two cores (``benchmarks/results/cnn.md``).
        - ``"handcrafted"``: TF-IDF alone, and HOG + HSV colour histograms
          (:func:`mmsent.image.make_image_features`): no pretrained resource,
          and over ten times faster on images.

        Featurizers passed as ``text_features`` / ``image_features`` win over it.
    text_column, image_column : str or int, default="text", "image"
        Columns of ``X`` holding each modality.
    text_features : transformer, default=None
        Text column → features. None: those of ``features``. Pass one explicitly
        (or let :func:`mmsent.evaluation.tune` do it) to tune its parameters, e.g.
        ``text_features__tfidf__tfidf__ngram_range`` in ``GridSearchCV``.
    image_features : transformer, default=None
        Image column → features. None: those of ``features``.
    classifier : {"linear_svc", "svc", "logistic"} or classifier, default="linear_svc"
        ``"linear_svc"``: ``LinearSVC`` (scales to 100k posts), stopping at
        ``tol=0.03`` (scikit-learn's default is 1e-4; pass ``LinearSVC(tol=1e-4)``
        for that), its coordinate order seeded so that
        refitting gives the same model; ``"svc"``: kernel
        ``SVC`` (RBF); ``"logistic"``: multinomial ``LogisticRegression`` (lbfgs),
        which also gives ``predict_proba`` without calibration. Any scikit-learn
        classifier may be passed instead; ``C`` and ``class_weight`` then do not apply.
    C : float, default=1.0
        Regularisation of the SVM or logistic regression (larger = less regularised).
    class_weight : dict, "balanced" or None, default=None
        Class weights of the classifier; "balanced" helps with a rare neutral class.
    text_weight, image_weight : float, default=1.0
        Modality weights: feature scaling of the raw blocks for ``"concat"``,
        ``"intermediate"`` and ``"multitask"`` (0 for both: the shared space
        alone), voting weights for ``"vote"``.
    voting : {"soft", "hard"}, default="soft"
        ``"soft"`` averages calibrated probabilities, ``"hard"`` counts labels.
    probability : bool, default=False
        Calibrate the classifier with ``CalibratedClassifierCV`` so that
        ``predict_proba`` is available for every fusion.
    cv : int or cross-validation generator, default=5
        Folds for the out-of-fold scores of stacking, gating and the auxiliary
        tasks, and for calibration.
    n_jobs : int, default=None
        Parallelism of the default featurizers: tokenizer worker processes for
        large text batches, image decoding and HOG threads (``-1``: all cores).
        Featurizers passed in keep their own settings. Branches and folds run in
        this process, so every fold reuses the token and image caches.
    verbose : int, default=0
        Progress bars (tqdm, on stderr) of the default featurizers, as their
        ``n_jobs``: 0 shows none (library calls are quiet); 1 shows one for each
        batch large enough to take about a second (5,000 documents to segment,
        5,000 images through HOG and colour, 128 images to embed with the CNN), so a
        10-post ``predict`` stays quiet; 2 shows one for
        every batch. Featurizers passed in keep their own settings. It is read at
        ``fit``, when the featurizers are built: on a fitted (or loaded) model use
        :func:`mmsent.set_verbose`, which reaches the fitted copies.
    missing : {"auto", "impute", "renormalize", "error"}, default="auto"
        What to do with a post that lacks its image or its text (``None``, NaN,
        ``pd.NA`` or a blank string in the column), in ``fit`` and in ``predict``:

        - ``"impute"``: the modality's features are replaced by a stand-in learnt
          in ``fit`` (the mean image-feature row of the posts that had an image;
          the empty document for text) plus a "missing" flag column, so the
          classifier can learn what a missing image means.
        - ``"renormalize"`` (``"vote"``, ``"stack"``, ``"gated"``): the missing
          modality abstains. Each branch is fitted on the posts that have its
          modality; voting averages the modalities present with renormalised
          weights; stacking's meta-learner sees the abstaining branch's mean score
          and a flag; the gate gives it weight 0. A post with neither modality
          gets the training class frequencies (vote, gated).
        - ``"error"``: refuse, naming every row that lacks a modality.
        - ``"auto"``: ``"renormalize"`` for ``"vote"`` / ``"stack"`` /
          ``"gated"``, ``"impute"`` otherwise.
    projection : {"cca", "pls", "none"}, default="cca"
        The shared space of ``"intermediate"``: CCA, PLS, or the unaligned
        baseline (see :class:`~mmsent.fusion.CrossModalProjector`).
    n_components : int, default=16
        Dimensions of that space.
    shared_weight : float, default=1.0
        Weight of the shared-space block (projections and their interactions)
        beside the raw blocks, for ``"intermediate"``.
    text_label_column, image_label_column : str, int or None, default=None
        Columns of ``X`` holding each modality's own label (e.g. the sentiment
        of the image alone), for ``"multitask"``, which needs at least one of
        them in ``fit`` (not to predict). A missing cell means "not labelled".
    task_weight : float, default=1.0
        Weight of the auxiliary tasks' scores beside the raw blocks, for
        ``"multitask"``.

    Attributes
    ----------
    model_ : estimator
        The fitted scikit-learn composition (``Pipeline``, ``VotingClassifier`` or
        ``StackingClassifier``); plain sklearn, picklable.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    modality_weights_ : dict
        Contribution of each modality, summing to 1: learnt by the stacking
        meta-learner (share of its absolute coefficients), the mean of the
        gate's per-post weights for ``"gated"`` (per post:
        :meth:`modality_weights`), otherwise the normalised weights given.
    n_samples_fit_ : int
        Number of posts seen in ``fit``.
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent import MultimodalSentimentClassifier
    >>> bright, dark = np.full((32, 32, 3), 230, np.uint8), np.full((32, 32, 3), 20, np.uint8)
    >>> X = pd.DataFrame({"text": ["很好 great", "太差了 awful", "好 love it", "差 hate it"] * 5,
    ...                   "image": [bright, dark, bright, dark] * 5})
    >>> y = ["positive", "negative", "positive", "negative"] * 5
    >>> clf = MultimodalSentimentClassifier(fusion="concat").fit(X, y)
    >>> clf.predict(pd.DataFrame({"text": ["非常好"], "image": [bright]})).tolist()
    ['positive']
    """

    _reports_progress = True  # its verbose drives progress bars: see mmsent.set_verbose

    _parameter_constraints = {
        "fusion": [StrOptions(set(FUSIONS))],
        "features": [StrOptions(set(FEATURE_SETS))],
        "text_column": [str, Integral],
        "image_column": [str, Integral],
        "text_features": [HasMethods(["fit", "transform"]), None],
        "image_features": [HasMethods(["fit", "transform"]), None],
        "classifier": [StrOptions({"linear_svc", "svc", "logistic"}), HasMethods(["fit", "predict"])],
        "C": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "text_weight": [Interval(Real, 0, None, closed="left")],
        "image_weight": [Interval(Real, 0, None, closed="left")],
        "voting": [StrOptions({"soft", "hard"})],
        "probability": ["boolean"],
        "cv": ["cv_object"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "missing": [StrOptions({"auto", "impute", "renormalize", "error"})],
        "projection": [StrOptions(set(PROJECTIONS))],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "shared_weight": [Interval(Real, 0, None, closed="left")],
        "text_label_column": [str, Integral, None],
        "image_label_column": [str, Integral, None],
        "task_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        fusion="concat",
        *,
        features="pretrained",
        text_column="text",
        image_column="image",
        text_features=None,
        image_features=None,
        classifier="linear_svc",
        C=1.0,
        class_weight=None,
        text_weight=1.0,
        image_weight=1.0,
        voting="soft",
        probability=False,
        cv=5,
        n_jobs=None,
        verbose=0,
        missing="auto",
        projection="cca",
        n_components=16,
        shared_weight=1.0,
        text_label_column=None,
        image_label_column=None,
        task_weight=1.0,
    ):
        self.fusion = fusion
        self.features = features
        self.text_column = text_column
        self.image_column = image_column
        self.text_features = text_features
        self.image_features = image_features
        self.classifier = classifier
        self.C = C
        self.class_weight = class_weight
        self.text_weight = text_weight
        self.image_weight = image_weight
        self.voting = voting
        self.probability = probability
        self.cv = cv
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.missing = missing
        self.projection = projection
        self.n_components = n_components
        self.shared_weight = shared_weight
        self.text_label_column = text_label_column
        self.image_label_column = image_label_column
        self.task_weight = task_weight

    def __setstate__(self, state):
        # A model saved before ``features`` existed was built from the handcrafted set.
        super().__setstate__({"features": "handcrafted", **state})

    # -- building -----------------------------------------------------------------

    def _has_method(self, method):
        """Whether the model these parameters describe has ``method``, known without building it."""
        try:
            classifier = self._make_classifier()
        except TypeError:  # not an estimator: fit will say why
            return False
        return fusion_has(method, self.fusion, classifier=classifier, voting=self.voting, probability=self.probability)

    def _make_classifier(self):
        if self.classifier == "linear_svc":
            # A looser tolerance than scikit-learn's 1e-4: 1.6-2.0x less solver time with the same cross-validated
            # scores (benchmarks/eval_solver.py). Stopping that early, the solution depends on the order the solver
            # visits the posts, so the order is seeded: the same fit twice is the same model.
            return LinearSVC(C=self.C, class_weight=self.class_weight, tol=_LINEAR_SVC_TOL, random_state=0)
        if self.classifier == "svc":
            return SVC(C=self.C, class_weight=self.class_weight)
        if self.classifier == "logistic":
            # lbfgs on TF-IDF + embeddings of a few thousand posts needs more than the default 100 iterations
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=2000)
        return clone(self.classifier)

    def _featurizers(self):
        """The text and image featurizers: those given, else those of ``features`` with this model's n_jobs, verbose."""
        options = {"n_jobs": self.n_jobs, "verbose": self.verbose}
        pretrained = self.features == "pretrained"
        text = make_text_features(**options, lexicon=pretrained) if self.text_features is None else self.text_features
        if self.image_features is not None:
            image = self.image_features
        elif pretrained:
            image = make_image_features(**options, cnn=True, handcrafted=False)
        else:
            # these join the image block to sparse TF-IDF: sparse from the start is the cheap way there
            image = make_image_features(**options, sparse_output=self.fusion in FEATURE_LEVEL)
        return text, image

    def _build_model(self):
        text_features, image_features = self._featurizers()
        return make_fusion_model(
            self.fusion,
            text_features=text_features,
            image_features=image_features,
            classifier=self._make_classifier(),
            text_column=self.text_column,
            image_column=self.image_column,
            text_weight=self.text_weight,
            image_weight=self.image_weight,
            voting=self.voting,
            probability=self.probability,
            cv=self.cv,
            missing=self._missing_strategy(),
            projection=self.projection,
            n_components=self.n_components,
            shared_weight=self.shared_weight,
            text_label_column=self.text_label_column,
            image_label_column=self.image_label_column,
            task_weight=self.task_weight,
        )

    def _missing_strategy(self):
        """The fusion builder's ``missing``: None when missing posts are refused up front."""
        if self.missing == "auto":
            return "renormalize" if self.fusion in DECISION_LEVEL else "impute"
        return None if self.missing == "error" else self.missing

    def required_columns(self):
        """The columns of ``X`` this model reads, as its parameters say (``fusion``, ``text_column``, ``image_column``).

        Known before fitting: use it to check or select a frame's columns.

        Returns
        -------
        list of str or int
            The text column, the image column, or both, in that order.

        Examples
        --------
        >>> from mmsent import MultimodalSentimentClassifier
        >>> MultimodalSentimentClassifier(fusion="text", text_column="caption").required_columns()
        ['caption']
        >>> MultimodalSentimentClassifier().required_columns()
        ['text', 'image']
        """
        return [column for name, column in self._modality_columns().items()]

    def _modality_columns(self):
        """``{modality: column}`` of the modalities this fusion reads."""
        names = {"text": ("text",), "image": ("image",)}.get(self.fusion, ("text", "image"))
        columns = {"text": self.text_column, "image": self.image_column}
        return {name: columns[name] for name in names}

    def _check_frame(self, X):
        """Return X as a DataFrame holding the columns this model reads, or say what is wrong."""
        X = as_frame(X)
        required = self.required_columns()
        missing = [column for column in required if column not in X.columns]
        if missing:
            raise ValueError(
                f"X has no column {', '.join(map(repr, missing))} (fusion={self.fusion!r} reads "
                f"{required}); its columns are {list(X.columns)}. "
                "Set text_column / image_column to match your data."
            )
        if len(X) == 0:
            raise ValueError("X is empty: at least one post is needed")
        if self.missing == "error":
            problems = [
                (row, f"no {name} (column {column!r} is empty)")
                for name, column in self._modality_columns().items()
                for row in X.index[missing_mask(X[column])]
            ]
            if problems:
                raise ValueError(
                    f"missing='error' and {len(problems)} posts lack a modality "
                    f"(set missing='auto' to use them):\n{describe_rows(problems)}"
                )
        return X

    def _check_folds(self, y):
        """Refuse, before any slow work, a class with fewer posts than the (stratified) folds this fusion fits on.

        Only for an integer ``cv`` (or None: scikit-learn's 5 folds); a splitter passed in is the caller's choice.
        """
        if not (self.cv is None or isinstance(self.cv, Integral)) or not fusion_folds(
            self.fusion, classifier=self._make_classifier(), voting=self.voting, probability=self.probability
        ):
            return
        n_folds = 5 if self.cv is None else self.cv
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() >= n_folds:
            return
        scarce = ", ".join(f"{label!r} has {count}" for label, count in zip(classes, counts) if count < n_folds)
        uses = {"stack": "stacking's out-of-fold scores", "gated": "the gate's out-of-fold confidences"}.get(
            self.fusion, "calibrating the classifier's probabilities (probability=True or soft voting)"
        )
        advice = (
            f"lower cv (cv={counts.min()} is the most these labels allow)" if counts.min() >= 2
            else "add posts to that class (one post cannot be split into folds)"
        )
        raise ValueError(
            f"fusion={self.fusion!r} fits on cv={n_folds} folds ({uses}) and needs at least {n_folds} posts of "
            f"each class, but class {scarce} post(s). Either {advice}, or use a fusion that needs no folds "
            "(fusion='concat', 'text' or 'image' with probability=False)."
        )

    def _check_targets(self, X, y):
        """``y`` as a 1-D array and its classes, refused as :meth:`fit` says (a :class:`~mmsent.LabelError`)."""
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        check_labels(pd.Series(y, index=X.index))
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"y has only one class ({classes[0]!r}); a classifier needs at least two")
        return y, classes

    def _check_task_columns(self, X):
        """``"multitask"``: refuse, before any featurizing, a model or a frame without per-modality labels."""
        if self.fusion != "multitask":
            return
        given = {"text_label_column": self.text_label_column, "image_label_column": self.image_label_column}
        hint = (
            "MVSA's original layout has text_label / image_label; the demo's sticker_sentiment is an image label"
        )
        if all(column is None for column in given.values()):
            raise ValueError(
                "fusion='multitask' learns each modality's own sentiment beside the post's and needs per-modality "
                f"labels: set text_label_column and/or image_label_column to the columns holding them ({hint})"
            )
        absent = {name: column for name, column in given.items() if column is not None and column not in X.columns}
        if absent:
            named = ", ".join(f"{name}={column!r}" for name, column in absent.items())
            raise ValueError(
                f"fusion='multitask' reads per-modality labels from {named}, but X has no such column; its columns "
                f"are {list(X.columns)} ({hint}). Without per-modality labels, use another fusion."
            )

    # -- fitting --------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the fusion model on posts ``X`` and labels ``y``.

        Labels are checked first and refused, with a :class:`~mmsent.LabelError`
        naming the rows at fault, rather than turned silently into wrong classes:

        - empty labels (``None``, NaN, ``pd.NA``, blank strings);
        - a mixture of types (strings and numbers), or labels that are neither;
        - numbers with a fraction (a regression target);
        - labels that differ only by case, surrounding whitespace or number
          format (``"positive"`` / ``"positive "`` / ``"Positive"``, ``"1"`` /
          ``"1.0"``), which would each become a class.

        Nothing is stripped or renamed: clean the labels and fit again. Fusions
        that fit on ``cv`` folds (``"stack"``; calibration, with ``probability=True``
        or soft voting of a classifier without ``predict_proba``) refuse an integer
        ``cv`` larger than the smallest class, saying which class has how many posts.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Must hold the columns the fusion reads (:meth:`required_columns`);
            other columns are ignored.
        y : array-like of shape (n_posts,)
            Labels: all strings or all whole numbers, at least two distinct ones.

        Returns
        -------
        self : MultimodalSentimentClassifier
            The fitted classifier.
        """
        X = self._check_frame(X)
        X, y = validate_data(self, X, y, skip_check_array=True)
        y, _ = self._check_targets(X, y)
        self._check_folds(y)
        self._check_task_columns(X)
        model = self._build_model()
        model.fit(X, y)
        self.model_ = model
        self.classes_ = model.classes_
        self.n_samples_fit_ = len(X)
        self.modality_weights_ = modality_contributions(
            model, self.fusion, text_weight=self.text_weight, image_weight=self.image_weight
        )
        return self

    # -- prediction -----------------------------------------------------------------

    def predict(self, X):
        """Predict the label of each post.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).

        Returns
        -------
        y_pred : ndarray of shape (n_posts,)
            One label of ``classes_`` per post.
        """
        check_is_fitted(self)
        return self.model_.predict(self._check_frame(X))

    @available_if(_available("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of each post.

        Available for soft voting, stacking, classifiers with ``predict_proba``,
        and any fusion when ``probability=True``; out of core, for a ``loss``
        that gives probabilities.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).

        Returns
        -------
        proba : ndarray of shape (n_posts, n_classes)
            Probabilities summing to 1 per row, columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self.model_.predict_proba(self._check_frame(X))

    @available_if(_available("decision_function"))
    def decision_function(self, X):
        """Confidence scores of each post; not available for voting or calibrated classifiers.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).

        Returns
        -------
        scores : ndarray of shape (n_posts,) or (n_posts, n_classes)
            For two classes, one score per post, positive for ``classes_[1]``;
            otherwise one column per class, ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self.model_.decision_function(self._check_frame(X))

    @available_if(lambda self: self.fusion == "gated")
    def modality_weights(self, X):
        """The gate's weight of each modality, post by post (``fusion="gated"``).

        A post whose image says little leans on its text, and vice versa;
        ``modality_weights_`` holds their mean over the training posts.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).

        Returns
        -------
        weights : DataFrame of shape (n_posts, 2)
            Columns ``text`` and ``image``, summing to 1 per post (0 and 1 for a
            post lacking a modality; 0 for a post lacking both), indexed as ``X``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mmsent import MultimodalSentimentClassifier
        >>> bright, dark = np.full((32, 32, 3), 230, np.uint8), np.full((32, 32, 3), 20, np.uint8)
        >>> X = pd.DataFrame({"text": ["很好 great", "太差了 awful", "好 love it", "差 hate it"] * 5,
        ...                   "image": [bright, dark, bright, dark] * 5})
        >>> clf = MultimodalSentimentClassifier(fusion="gated", cv=2).fit(X, ["positive", "negative"] * 10)
        >>> weights = clf.modality_weights(pd.DataFrame({"text": ["很好", "差"], "image": [bright, None]}))
        >>> weights.columns.tolist(), weights["image"].iloc[1]
        (['text', 'image'], np.float64(0.0))
        """
        check_is_fitted(self)
        X = self._check_frame(X)
        return pd.DataFrame(self.model_.modality_weights(X), index=X.index, columns=["text", "image"])

    def predict_robust(self, X, *, on_error="skip", method="predict"):
        """Predict a batch in which some posts may be unusable, without losing the others.

        ``predict`` stays the plain scikit-learn method (one bad post raises); this
        one finds the bad posts, reports them and predicts every other one. The
        featurizers already collect every bad row of a modality in one pass, so a
        batch is featurized at most once per modality that has bad rows, plus once.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).
        on_error : {"raise", "skip", "impute"}, default="skip"
            What to do with a post whose text or image cannot be used (a missing,
            corrupt, truncated or oversized image file, text bytes that do not
            decode, a number where text should be):

            - ``"raise"``: raise the error naming the bad rows, as ``predict`` does.
            - ``"skip"``: leave the bad posts out; every other post is predicted.
            - ``"impute"``: treat the bad cell as missing (see ``missing``) and
              predict every post, e.g. from its text alone.

            A problem with the frame itself (a missing column) always raises.
        method : {"predict", "predict_proba", "decision_function"}, default="predict"
            Which prediction to return; it must be available on this model.

        Returns
        -------
        predictions : Series or DataFrame
            Indexed by the labels of the predicted posts (all of them unless
            ``on_error="skip"``). Labels for ``"predict"``; one column per class
            for ``"predict_proba"`` (and a multiclass ``"decision_function"``).
        errors : list of RowError
            ``(row, column, message)`` for every unusable cell, in row order.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mmsent import MultimodalSentimentClassifier
        >>> bright, dark = np.full((32, 32, 3), 230, np.uint8), np.full((32, 32, 3), 20, np.uint8)
        >>> X = pd.DataFrame({"text": ["很好 great", "太差了 awful"] * 5, "image": [bright, dark] * 5})
        >>> clf = MultimodalSentimentClassifier().fit(X, ["positive", "negative"] * 5)
        >>> new = pd.DataFrame({"text": ["很好", "太差了"], "image": [bright, b"not an image"]}, index=["a", "b"])
        >>> labels, errors = clf.predict_robust(new, on_error="skip")
        >>> labels.to_dict(), [(e.row, e.column) for e in errors]
        ({'a': 'positive'}, [('b', 'image')])
        >>> clf.predict_robust(new, on_error="impute")[0].to_dict()
        {'a': 'positive', 'b': 'negative'}
        """
        check_is_fitted(self)
        self._check_robust_options(on_error, method)
        X = self._check_frame(X)
        # Positions name the rows while retrying: index labels may repeat.
        scores, kept, bad_cells = self._predict_around_bad_cells(X.reset_index(drop=True), on_error, method)
        in_row_order = sorted(bad_cells.items(), key=lambda cell: cell[0][0])  # stable: a row's cells as found
        errors = [RowError(X.index[position], column, message) for (position, column), message in in_row_order]
        return self._scores_frame(scores, X.index[kept], method), errors

    def _check_robust_options(self, on_error, method):
        """``predict_robust``'s options, checked as the estimator's parameters are."""
        validate_parameter_constraints(
            _ROBUST_OPTIONS, {"on_error": on_error, "method": method}, caller_name="predict_robust"
        )
        if not hasattr(self, method):
            raise ValueError(f"method={method!r} is not available on this model (fusion={self.fusion!r})")
        if on_error == "impute" and self.missing == "error":
            raise ValueError("on_error='impute' treats bad cells as missing, which missing='error' refuses")

    def _predict_around_bad_cells(self, posts, on_error, method):
        """Predict ``posts``, setting aside the cells the featurizers refuse until none is left.

        Returns the scores, the positions they belong to, and ``{(position, column): message}``.
        """
        columns = self._modality_columns()
        kept, bad_cells = np.arange(len(posts)), {}
        while True:
            try:
                return self._predict_rows(posts.iloc[kept], method), kept, bad_cells
            except BadRowsError as error:
                new = _new_bad_cells(error, columns, bad_cells) if on_error != "raise" else None
                if not new:  # raising, or no progress: the cells are not the problem
                    raise
            bad_cells.update(new)
            if on_error == "skip":
                kept = np.setdiff1d(kept, [position for position, _ in new])
            else:
                posts = _blanked(posts, new)

    def _predict_rows(self, posts, method):
        """``method`` of the fitted model on ``posts``; an empty result of the right shape for no posts."""
        if len(posts):
            return getattr(self.model_, method)(posts)
        one_column = method == "predict" or (method == "decision_function" and len(self.classes_) == 2)
        return np.empty((0,) if one_column else (0, len(self.classes_)))

    def _scores_frame(self, scores, index, method):
        """Scores as a Series (one per post) or a DataFrame (a column per class), indexed by the posts' labels."""
        if scores.ndim == 1:
            return pd.Series(scores, index=index, name="prediction" if method == "predict" else method)
        return pd.DataFrame(scores, index=index, columns=self.classes_)

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against ``y``.

        Labels never seen in ``fit`` count as errors, with a warning that names
        them; when no label of ``y`` was seen in ``fit`` (a renamed label set),
        the score would be 0 whatever the model: that raises.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts, with the columns the model reads (:meth:`required_columns`).
        y : array-like of shape (n_posts,)
            True labels.
        sample_weight : array-like of shape (n_posts,), default=None
            Weights of the posts.

        Returns
        -------
        score : float
            Fraction of posts (weighted) whose predicted label equals ``y``.
        """
        check_is_fitted(self)
        check_known_labels(y, self.classes_)
        return super().score(X, y, sample_weight=sample_weight)

    # -- scikit-learn protocol --------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.classifier_tags.poor_score = True
        return tags

    def _sk_visual_block_(self):
        """HTML diagram: the fusion model, one branch per modality."""
        model = getattr(self, "model_", None)
        if model is None:
            model = self._build_model()
        return _VisualBlock("serial", [model], names=[f"fusion={self.fusion!r}"], name_details=[str(self.fusion)])


def _new_bad_cells(error, columns, known):
    """``{(position, column): message}`` of the cells ``error`` names that are not in ``known`` yet."""
    column = columns.get(error.modality)
    if column is None:  # not a modality column's error (a label, a user featurizer's)
        return {}
    return {(row, column): message for row, message in error.problems if (row, column) not in known}


def _blanked(posts, cells):
    """A copy of ``posts`` in which ``cells`` are missing (``None``): the model imputes or ignores them."""
    blanked = posts.copy()
    for column in {column for _, column in cells}:
        values = blanked[column].to_numpy(dtype=object, copy=True)
        values[[position for position, cell_column in cells if cell_column == column]] = None
        blanked[column] = values
    return blanked
