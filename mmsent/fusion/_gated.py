"""Gated fusion: per-post modality weights decided by how sure each branch is (a classical attention)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d, validate_data

__all__ = ["GatedFusionClassifier", "confidence_features"]

# Probabilities are clipped here before logarithms: a calibrated 0 would make a branch's vote infinitely wrong.
_EPS = 1e-9


def _entropy(proba):
    """Entropy of each row, divided by that of the uniform distribution (0: certain, 1: no idea)."""
    clipped = np.clip(proba, _EPS, 1.0)
    return -(proba * np.log(clipped)).sum(axis=1) / np.log(proba.shape[1])


def confidence_features(probas):
    """What a gate sees of each post: every branch's confidence and whether the branches agree.

    Parameters
    ----------
    probas : list of ndarray of shape (n_posts, n_classes)
        Each branch's class probabilities; a NaN row where the branch abstains
        (the post lacks its modality).

    Returns
    -------
    ndarray of shape (n_posts, 3 * n_branches + 2)
        Per branch: the margin (top probability minus the second), the normalised
        entropy and a "present" flag (an abstaining branch reads 0, 1, 0); then
        the mean total-variation distance between the present branches'
        distributions and the share of present pairs whose top classes agree
        (both 0 with fewer than two branches present).

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.fusion import confidence_features
    >>> sure, unsure = np.array([[0.9, 0.1]]), np.array([[0.4, 0.6]])
    >>> confidence_features([sure, unsure]).round(2).tolist()
    [[0.8, 0.47, 1.0, 0.2, 0.97, 1.0, 0.5, 0.0]]
    """
    columns, present = [], []
    for proba in probas:
        here = ~np.isnan(proba).any(axis=1)
        filled = np.where(here[:, None], proba, 1.0 / proba.shape[1])
        top_two = np.sort(filled, axis=1)[:, -2:] if filled.shape[1] > 1 else np.hstack([filled, filled])
        columns += [top_two[:, 1] - top_two[:, 0], _entropy(filled), here.astype(float)]
        present.append((here, filled))
    distance, agree, pairs = (np.zeros(len(probas[0])) for _ in range(3))
    for i in range(len(probas)):
        for j in range(i + 1, len(probas)):
            both = present[i][0] & present[j][0]
            (p, q) = present[i][1], present[j][1]
            distance += both * 0.5 * np.abs(p - q).sum(axis=1)
            agree += both * (p.argmax(axis=1) == q.argmax(axis=1))
            pairs += both
    with np.errstate(invalid="ignore", divide="ignore"):
        distance, agree = (np.where(pairs > 0, value / np.maximum(pairs, 1), 0.0) for value in (distance, agree))
    return np.column_stack([*columns, distance, agree])


def _response_method(estimator):
    return "decision_function" if hasattr(estimator, "decision_function") else "predict_proba"


class GatedFusionClassifier(ClassifierMixin, BaseEstimator):
    """Mixture of per-modality classifiers whose weights a small gate sets post by post.

    A fixed weight per modality (``vote``) or a meta-learner on the branches'
    scores (``stack``) trusts each modality as much for every post. Here a gate
    looks at each branch's out-of-fold confidence on the post (margin, entropy)
    and at whether the branches agree, and gives the post its own modality
    weights: a post whose image says nothing (a neutral sticker) leans on its
    text, and vice versa. It is the classical counterpart of attention over
    modalities.

    Fitting:

    1. every branch's out-of-fold scores (``cross_val_predict``), turned into
       probabilities by a per-branch logistic regression (Platt scaling on
       out-of-fold scores, so no nested cross-validation);
    2. the gate's inputs, :func:`confidence_features` of those probabilities,
       standardised;
    3. the gate, fitted by expectation-maximisation as a mixture of experts
       with fixed experts: each post's responsibility of a branch is how much of
       the mixture's probability of the true label it brings; the gate (a
       multinomial logistic regression over the branches) is refitted on those
       soft targets until the mixture's log-likelihood stops improving;
    4. with ``recalibrate``, a multinomial logistic regression on the log of the
       mixture's out-of-fold probabilities (a scale and a bias per class): a
       mixture of probabilities under-predicts a rare class that no branch is
       sure of on its own, as a stacking meta-learner would not;
    5. every branch refitted on all posts.

    ``predict_proba`` is the gate-weighted mixture of the branches' calibrated
    probabilities (recalibrated with ``recalibrate``). A branch abstaining on a
    post (a :class:`ModalityClassifier` on a post without its modality: NaN
    scores) gets weight 0 there, and the others are renormalised; a post with no
    branch present gets the training class frequencies.

    Parameters
    ----------
    estimators : list of (str, classifier)
        The branches, e.g. one pipeline per modality, each reading ``X``. Each
        needs ``decision_function`` or ``predict_proba``.
    gate : classifier, default=None
        Fitted on the standardised confidence features with the branches as
        classes and ``sample_weight``; None uses ``LogisticRegression(C=gate_C)``.
    gate_C : float, default=1.0
        Regularisation of the default gate.
    cv : int, cross-validation generator or iterable, default=5
        Folds of the out-of-fold scores.
    max_iter : int, default=50
        Expectation-maximisation rounds of the gate.
    tol : float, default=1e-4
        Stop when the mean log-likelihood improves by less than this.
    recalibrate : bool, default=True
        Recalibrate the mixture's probabilities (step 4).

    Attributes
    ----------
    estimators_ : list of classifier
        The branches, fitted on all posts.
    named_estimators_ : dict
        The same, by name.
    calibrators_ : list of LogisticRegression
        Per branch, scores to probabilities.
    gate_scaler_ : StandardScaler
        Standardises the gate's inputs.
    gate_ : classifier
        The fitted gate.
    recalibrator_ : LogisticRegression or None
        Log-mixture to probabilities (None without ``recalibrate``).
    classes_ : ndarray of shape (n_classes,)
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies in ``fit``: the answer for posts no branch can read.
    train_weights_ : ndarray of shape (n_posts, n_branches)
        The gate's weights of the training posts, from out-of-fold scores.
    mean_weights_ : dict of str to float
        Their mean per branch: how much each modality carried on average.
    n_iter_ : int
        Expectation-maximisation rounds run.
    n_features_in_ : int
        Columns of ``X`` in ``fit``.
    feature_names_in_ : ndarray of str
        Their names, when ``X`` is a frame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmsent.fusion import GatedFusionClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> informative = rng.random(300) < 0.5            # the image says something on half the posts only
    >>> X = np.column_stack([y + rng.normal(0, 0.8, 300), np.where(informative, 3 * y - 1.5, 0.0)])
    >>> X[:, 1] += rng.normal(0, 0.1, 300)
    >>> def branch(column):
    ...     return make_pipeline(make_column_transformer(("passthrough", [column])), LogisticRegression())
    >>> gated = GatedFusionClassifier([("text", branch(0)), ("image", branch(1))]).fit(X, y)
    >>> weights = gated.modality_weights(X)             # per post: text, image
    >>> bool(weights[informative, 1].mean() > weights[~informative, 1].mean())
    True
    """

    _parameter_constraints = {
        "estimators": [list],
        "gate": [HasMethods(["fit", "predict_proba"]), None],
        "gate_C": [Interval(Real, 0, None, closed="neither")],
        "cv": ["cv_object"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "recalibrate": ["boolean"],
    }

    def __init__(self, estimators, *, gate=None, gate_C=1.0, cv=5, max_iter=50, tol=1e-4, recalibrate=True):
        self.estimators = estimators
        self.gate = gate
        self.gate_C = gate_C
        self.cv = cv
        self.max_iter = max_iter
        self.tol = tol
        self.recalibrate = recalibrate

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the branches and the gate.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)
            What the branches read.
        y : array-like of shape (n_posts,)
            Labels.

        Returns
        -------
        self
        """
        if len(self.estimators) < 2:
            raise ValueError(f"a gated fusion weighs two branches or more, got {len(self.estimators)}")
        names = [name for name, _ in self.estimators]
        if len(set(names)) != len(names):
            raise ValueError(f"estimator names must be unique, got {names}")
        X, y = validate_data(self, X, y, skip_check_array=True)
        if _num_samples(X) == 0:
            raise ValueError("X holds 0 samples: a gated fusion needs posts to learn from")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_, encoded = encoder.classes_, encoder.transform(y)
        self.class_prior_ = np.bincount(encoded, minlength=len(self.classes_)) / len(encoded)
        cv = check_cv(self.cv, encoded, classifier=True)
        out_of_fold = [
            cross_val_predict(clone(est), X, encoded, cv=cv, method=_response_method(est))
            for _, est in self.estimators
        ]
        self.calibrators_ = [self._fit_calibrator(scores, encoded, name) for (name, _), scores in
                             zip(self.estimators, out_of_fold)]
        probas = [self._calibrated(k, scores) for k, scores in enumerate(out_of_fold)]
        # Standardised: margins and entropies vary over a small range, which an L2-penalised gate would
        # otherwise hardly use.
        self.gate_scaler_ = StandardScaler().fit(confidence_features(probas))
        features = self._gate_features(probas)
        self.gate_, self.n_iter_ = self._fit_gate(features, probas, encoded)
        self.train_weights_ = self._mixture_weights(features, probas)
        self.recalibrator_ = None
        if self.recalibrate:
            mixed, usable = self._mixture(self.train_weights_, probas)
            self.recalibrator_ = LogisticRegression(max_iter=1000).fit(np.log(mixed[usable] + _EPS), encoded[usable])
        self.mean_weights_ = dict(zip(names, (float(w) for w in self.train_weights_.mean(axis=0))))
        self.estimators_ = [clone(est).fit(X, encoded) for _, est in self.estimators]
        self.named_estimators_ = dict(zip(names, self.estimators_))
        return self

    def _fit_calibrator(self, scores, encoded, name):
        scores = scores.reshape(len(scores), -1)
        here = ~np.isnan(scores).any(axis=1)
        if len(np.unique(encoded[here])) < len(self.classes_):
            raise ValueError(
                f"branch {name!r} has out-of-fold scores for classes {np.unique(encoded[here]).tolist()} only, "
                f"of {len(self.classes_)}: too few posts have its modality"
            )
        return LogisticRegression().fit(scores[here], encoded[here])

    def _calibrated(self, k, scores):
        """Branch ``k``'s scores as probabilities over ``classes_``; NaN rows where it abstains."""
        scores = scores.reshape(len(scores), -1)
        here = ~np.isnan(scores).any(axis=1)
        proba = np.full((len(scores), len(self.classes_)), np.nan)
        if here.any():
            proba[here] = self.calibrators_[k].predict_proba(scores[here])
        return proba

    def _fit_gate(self, features, probas, encoded):
        """Expectation-maximisation of the mixture's log-likelihood over the gate (the branches stay fixed)."""
        n_branches = len(probas)
        # How much probability each branch gives the true label; 0 where it abstains.
        likelihood = np.column_stack([np.nan_to_num(p[np.arange(len(encoded)), encoded]) for p in probas])
        present = np.column_stack([~np.isnan(p).any(axis=1) for p in probas])
        usable = present.any(axis=1)
        weights = present / np.maximum(present.sum(axis=1, keepdims=True), 1)
        gate = LogisticRegression(C=self.gate_C) if self.gate is None else clone(self.gate)
        stacked = np.repeat(features[usable], n_branches, axis=0)
        targets = np.tile(np.arange(n_branches), int(usable.sum()))
        previous = -np.inf
        for iteration in range(1, self.max_iter + 1):  # noqa: B007 (returned: the number of iterations run)
            mixed = (weights * likelihood)[usable]
            responsibility = np.where(
                mixed.sum(axis=1, keepdims=True) > 0,
                mixed / np.maximum(mixed.sum(axis=1, keepdims=True), _EPS),
                weights[usable],
            )
            gate.fit(stacked, targets, sample_weight=responsibility.ravel())
            weights = self._masked(gate.predict_proba(features), present, gate)
            log_likelihood = np.log(np.maximum((weights * likelihood)[usable].sum(axis=1), _EPS)).mean()
            if log_likelihood - previous < self.tol:
                break
            previous = log_likelihood
        return gate, iteration

    @staticmethod
    def _masked(gate_proba, present, gate):
        """Gate probabilities over the branches, zero where a branch abstains, renormalised per post."""
        weights = np.zeros(present.shape)
        weights[:, gate.classes_] = gate_proba  # a branch the gate never saw keeps weight 0
        weights *= present
        total = weights.sum(axis=1, keepdims=True)
        return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)

    def _mixture_weights(self, features, probas):
        present = np.column_stack([~np.isnan(p).any(axis=1) for p in probas])
        return self._masked(self.gate_.predict_proba(features), present, self.gate_)

    def _gate_features(self, probas):
        return self.gate_scaler_.transform(confidence_features(probas))

    def _branch_probas(self, X):
        return [
            self._calibrated(k, getattr(est, _response_method(est))(X)) for k, est in enumerate(self.estimators_)
        ]

    def modality_weights(self, X):
        """The gate's weight of each branch, post by post.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)

        Returns
        -------
        ndarray of shape (n_posts, n_branches)
            Rows sum to 1 (0 for a post no branch can read); columns in the
            order of ``estimators``.
        """
        check_is_fitted(self)
        probas = self._branch_probas(X)
        return self._mixture_weights(self._gate_features(probas), probas)

    def predict_proba(self, X):
        """The gate-weighted mixture of the branches' probabilities (recalibrated with ``recalibrate``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)

        Returns
        -------
        ndarray of shape (n_posts, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        probas = self._branch_probas(X)
        mixed, usable = self._mixture(self._mixture_weights(self._gate_features(probas), probas), probas)
        if self.recalibrator_ is not None and usable.any():
            mixed[usable] = self.recalibrator_.predict_proba(np.log(mixed[usable] + _EPS))
        mixed[~usable] = self.class_prior_
        return mixed

    @staticmethod
    def _mixture(weights, probas):
        """The weighted mixture of the branches' probabilities, and which posts have a branch present."""
        return np.einsum("nm,mnk->nk", weights, np.nan_to_num(np.asarray(probas))), weights.sum(axis=1) > 0

    def predict(self, X):
        """The most probable class of each post.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_posts, n_columns)

        Returns
        -------
        ndarray of shape (n_posts,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
