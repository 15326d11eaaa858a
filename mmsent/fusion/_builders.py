"""Feature-level, intermediate, decision-level and multi-task fusion, each a plain scikit-learn composition."""

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from ._columns import LowMemoryColumnTransformer
from ._gated import GatedFusionClassifier
from ._missing import ModalityClassifier, ModalityImputer, ModalityVotingClassifier
from ._multitask import AuxiliaryTaskScores
from ._projection import CrossModalProjector, SharedSpaceFeatures

__all__ = [
    "DECISION_LEVEL",
    "FEATURE_LEVEL",
    "FUSIONS",
    "MISSING",
    "fusion_folds",
    "fusion_has",
    "make_fusion_model",
    "modality_contributions",
]

# Above this density a CSR matrix (value + column index per entry) outgrows the dense one.
_DENSER_THAN_CSR = 0.5
FUSIONS = ("concat", "intermediate", "vote", "stack", "gated", "multitask", "text", "image")
MODALITIES = ("text", "image")
DECISION_LEVEL = ("vote", "stack", "gated")
# One classifier on features of both modalities, as concat.
FEATURE_LEVEL = ("concat", "intermediate", "multitask")
MISSING = ("impute", "renormalize")


def _calibrated(classifier, probabilities_wanted):
    """Whether the classifier is wrapped in ``CalibratedClassifierCV``: probabilities wanted, and it has none."""
    return probabilities_wanted and not hasattr(classifier, "predict_proba")


def _modality_pipeline(name, features, column, classifier):
    """One modality end to end: select its column, featurize, classify."""
    select = LowMemoryColumnTransformer([(name, clone(features), column)], sparse_threshold=_DENSER_THAN_CSR)
    return Pipeline([("features", select), ("classifier", classifier)])


def make_fusion_model(
    fusion,
    *,
    text_features,
    image_features,
    classifier,
    text_column,
    image_column,
    text_weight,
    image_weight,
    voting,
    probability,
    cv,
    missing,
    projection,
    n_components,
    shared_weight,
    text_label_column,
    image_label_column,
    task_weight,
):
    """Build the unfitted scikit-learn model for one fusion strategy.

    Every argument is required: the defaults live in one place,
    :class:`~mmsent.MultimodalSentimentClassifier`, which builds its model here.

    Parameters
    ----------
    fusion : {"concat", "intermediate", "vote", "stack", "gated", "multitask", "text", "image"}
        - ``"concat"``: feature level. A ``ColumnTransformer`` puts the weighted
          text and image features side by side, then one classifier. Its output
          is sparse unless dense is smaller (``sparse_threshold=0.5``: a CSR
          float32 entry costs 8 bytes, a dense one 4), decided once at ``fit``.
        - ``"intermediate"``: both modalities projected into a shared space
          (:class:`~mmsent.fusion.CrossModalProjector`: CCA or PLS), and their
          interactions there (element-wise product, absolute difference, cosine)
          classified beside the weighted raw blocks
          (:class:`~mmsent.fusion.SharedSpaceFeatures`), by one classifier.
        - ``"vote"``: decision level. One pipeline per modality in a
          ``VotingClassifier``; soft voting averages calibrated probabilities
          (weighted by ``text_weight`` / ``image_weight``), hard voting counts labels.
        - ``"stack"``: decision level. A ``StackingClassifier`` whose logistic
          regression meta-learner sees out-of-fold per-modality scores.
        - ``"gated"``: decision level, per post. A
          :class:`~mmsent.fusion.GatedFusionClassifier`: a gate fitted on the
          branches' out-of-fold confidence gives every post its own modality weights.
        - ``"multitask"``: ``"concat"`` plus each modality's own sentiment, learnt
          from per-modality labels by an auxiliary classifier per modality whose
          out-of-fold scores join the features
          (:class:`~mmsent.fusion.AuxiliaryTaskScores`).
        - ``"text"`` / ``"image"``: one modality only (the ablation baselines).
    text_features, image_features : estimator
        Transformers from a column to features (cloned, never modified).
    classifier : estimator
        The base classifier (cloned for every modality that needs one).
    text_column, image_column : str or int
        Column of X holding each modality.
    text_weight, image_weight : float
        Per-modality weights: ``transformer_weights`` of the raw blocks for
        ``"concat"``, ``"intermediate"`` and ``"multitask"``, voting weights for
        ``"vote"``; unused by ``"stack"`` and ``"gated"`` (they learn them).
    voting : {"soft", "hard"}
        Voting rule for ``"vote"``.
    probability : bool
        Calibrate the classifier (``CalibratedClassifierCV``) when it has no
        ``predict_proba``, so that the model offers probabilities.
    cv : int or cross-validation generator
        Folds for stacking, gating, the auxiliary tasks and calibration.
    missing : {"impute", "renormalize"} or None
        Posts lacking a modality (``None``, NaN or a blank string in its column):

        - ``"impute"``: every modality's features are wrapped in a
          :class:`~mmsent.fusion.ModalityImputer` (a learnt stand-in row plus a
          "missing" flag column).
        - ``"renormalize"`` (``"vote"``, ``"stack"`` and ``"gated"`` only): each
          branch is a :class:`~mmsent.fusion.ModalityClassifier` fitted on the
          posts that have its modality and abstaining on the others. Voting
          averages the present modalities with renormalised weights
          (:class:`~mmsent.fusion.ModalityVotingClassifier`); stacking's
          meta-learner replaces an abstaining branch's scores by their mean and
          sees a flag per branch (``SimpleImputer(add_indicator=True)``); the
          gate gives an abstaining branch weight 0.
        - None: the featurizers see the column as it is.
    projection : {"cca", "pls", "none"}
        The shared space of ``"intermediate"``: ``CrossModalProjector``'s ``method``.
    n_components : int
        Its dimensions.
    shared_weight : float
        Weight of the shared-space block of ``"intermediate"``.
    text_label_column, image_label_column : str, int or None
        Columns of X holding each modality's own label, for ``"multitask"``
        (at least one; needed in ``fit`` only).
    task_weight : float
        Weight of the auxiliary tasks' scores beside the raw blocks (``"multitask"``).

    The compositions run their branches and folds in this process on purpose:
    the featurizers parallelise inside (see their ``n_jobs``) and keep their
    token and image caches here, where every fold and branch can reuse them.

    Returns
    -------
    estimator
        A ``Pipeline``, ``VotingClassifier``, ``StackingClassifier`` or
        ``GatedFusionClassifier``.

    Examples
    --------
    >>> from sklearn.svm import LinearSVC
    >>> from mmsent.fusion import make_fusion_model
    >>> from mmsent.image import make_image_features
    >>> from mmsent.text import make_text_features
    >>> model = make_fusion_model(
    ...     "vote", text_features=make_text_features(), image_features=make_image_features(), classifier=LinearSVC(),
    ...     text_column="text", image_column="image", text_weight=1.0, image_weight=1.0, voting="soft",
    ...     probability=False, cv=5, missing=None, projection="cca", n_components=16, shared_weight=1.0,
    ...     text_label_column=None, image_label_column=None, task_weight=1.0)
    >>> [name for name, _ in model.estimators]
    ['text', 'image']
    """
    if missing not in (*MISSING, None):
        raise ValueError(f"missing must be one of {MISSING} or None, got {missing!r}")
    if missing == "renormalize" and fusion not in DECISION_LEVEL:
        raise ValueError(
            f"missing='renormalize' leaves absent modalities out of a decision-level fusion {DECISION_LEVEL}; "
            f"fusion={fusion!r} has no per-modality decisions: use missing='impute'"
        )
    if missing == "impute":
        # A missing text is what an empty post gives (all-zero TF-IDF); a missing
        # image stands in as the average image's features, dense or sparse.
        features = {
            "text": ModalityImputer(text_features, fill="zero"),
            "image": ModalityImputer(image_features, fill="mean"),
        }
    else:
        features = {"text": clone(text_features), "image": clone(image_features)}
    columns = {"text": text_column, "image": image_column}
    weights = {"text": text_weight, "image": image_weight}

    def branch_classifier(probabilities_wanted):
        if _calibrated(classifier, probabilities_wanted):
            # Platt scaling on out-of-fold decision values; replaces SVC(probability=True),
            # which scikit-learn deprecates.
            return CalibratedClassifierCV(clone(classifier), cv=cv, method="sigmoid")
        return clone(classifier)

    def decision_branch(name, branch_classifier):
        branch = _modality_pipeline(name, features[name], columns[name], branch_classifier)
        return (name, ModalityClassifier(branch, columns[name]) if missing == "renormalize" else branch)

    def side_by_side():
        return LowMemoryColumnTransformer(
            [(name, clone(features[name]), columns[name]) for name in MODALITIES],
            transformer_weights=weights,
            sparse_threshold=_DENSER_THAN_CSR,
        )

    if fusion in MODALITIES:
        return _modality_pipeline(fusion, features[fusion], columns[fusion], branch_classifier(probability))
    if fusion == "concat":
        return Pipeline([("features", side_by_side()), ("classifier", branch_classifier(probability))])
    if fusion == "intermediate":
        shared = SharedSpaceFeatures(
            features["text"],
            features["image"],
            text_column=text_column,
            image_column=image_column,
            projector=CrossModalProjector(projection, n_components=n_components),
            text_weight=text_weight,
            image_weight=image_weight,
            shared_weight=shared_weight,
        )
        return Pipeline([("features", shared), ("classifier", branch_classifier(probability))])
    if fusion == "multitask":
        label_columns = {"text": text_label_column, "image": image_label_column}
        tasks = [
            (f"{name}_task", AuxiliaryTaskScores(
                _modality_pipeline(name, features[name], columns[name], clone(classifier)), label_column, cv=cv
            ))
            for name, label_column in label_columns.items()
            if label_column is not None
        ]
        if not tasks:
            raise ValueError(
                "fusion='multitask' learns each modality's own sentiment beside the post's and needs per-modality "
                "labels: set text_label_column and/or image_label_column to the columns of X holding them (MVSA's "
                "original layout has text_label / image_label; the demo's sticker_sentiment is an image label)"
            )
        union = FeatureUnion(
            [("posts", side_by_side()), *tasks],
            transformer_weights={"posts": 1.0, **{name: task_weight for name, _ in tasks}},
        )
        return Pipeline([("features", union), ("classifier", branch_classifier(probability))])
    if fusion == "vote":
        soft = voting == "soft"
        branches = [decision_branch(name, branch_classifier(soft or probability)) for name in MODALITIES]
        vote = ModalityVotingClassifier if missing == "renormalize" else VotingClassifier
        return vote(branches, voting=voting, weights=[text_weight, image_weight])
    if fusion == "stack":
        branches = [decision_branch(name, clone(classifier)) for name in MODALITIES]
        meta_learner = LogisticRegression(max_iter=1000)
        if missing == "renormalize":
            # Abstaining branches give NaN scores: the meta-learner sees their mean and a flag.
            imputer = SimpleImputer(strategy="mean", add_indicator=True, keep_empty_features=True)
            meta_learner = Pipeline([("impute", imputer), ("logistic", meta_learner)])
        return StackingClassifier(branches, final_estimator=meta_learner, cv=cv)
    if fusion == "gated":
        return GatedFusionClassifier([decision_branch(name, clone(classifier)) for name in MODALITIES], cv=cv)
    raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")


def fusion_has(method, fusion, *, classifier, voting, probability):
    """Would the model :func:`make_fusion_model` builds have ``method``? Decided from the parameters alone.

    As ``VotingClassifier`` decides from ``voting`` whether it has ``predict_proba``,
    without fitting or building anything.

    Parameters
    ----------
    method : {"predict_proba", "decision_function"}
        The prediction method asked about.
    fusion : str
        One of :data:`FUSIONS`; any other value has no method (fitting will say why).
    classifier : estimator
        The base classifier.
    voting : {"soft", "hard"}
        Voting rule of ``"vote"``.
    probability : bool
        Whether a classifier without ``predict_proba`` is calibrated.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.svm import LinearSVC
    >>> from mmsent.fusion import fusion_has
    >>> fusion_has("predict_proba", "concat", classifier=LinearSVC(), voting="soft", probability=False)
    False
    >>> fusion_has("predict_proba", "concat", classifier=LinearSVC(), voting="soft", probability=True)
    True
    """
    if method not in ("predict_proba", "decision_function"):
        raise ValueError(f"method must be 'predict_proba' or 'decision_function', got {method!r}")
    if fusion == "vote":  # VotingClassifier: probabilities when soft, never a decision function
        return method == "predict_proba" and voting == "soft"
    if fusion == "stack":  # the logistic-regression meta-learner has both
        return True
    if fusion == "gated":  # a mixture of probabilities: no decision function
        return method == "predict_proba"
    if fusion in (*MODALITIES, *FEATURE_LEVEL):  # one classifier, calibrated when asked and needed
        if _calibrated(classifier, probability):
            return method == "predict_proba"
        return hasattr(classifier, method)
    return False


def fusion_folds(fusion, *, classifier, voting, probability):
    """Does fitting this fusion cross-validate its posts' labels (out-of-fold scores, or calibration)?

    ``"stack"`` and ``"gated"`` always do; ``"multitask"``'s folds split the
    auxiliary labels, not the posts' (it cross-validates them only to calibrate).

    Parameters
    ----------
    fusion : str
        One of :data:`FUSIONS`.
    classifier : estimator
        The base classifier.
    voting : {"soft", "hard"}
        Voting rule of ``"vote"`` (soft voting calibrates a classifier without ``predict_proba``).
    probability : bool
        Whether a classifier without ``predict_proba`` is calibrated.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.svm import LinearSVC
    >>> from mmsent.fusion import fusion_folds
    >>> [fusion_folds(f, classifier=LinearSVC(), voting="soft", probability=False) for f in ("concat", "vote", "stack")]
    [False, True, True]
    """
    if fusion in ("stack", "gated"):
        return True
    return _calibrated(classifier, probability or (fusion == "vote" and voting == "soft"))


def _stacking_contributions(model):
    """Share of the meta-learner's absolute coefficients that each modality carries."""
    meta_learner = model.final_estimator_
    # With a missing-value imputer in front, its flag columns come after the scores.
    n_meta = meta_learner.n_features_in_
    if isinstance(meta_learner, Pipeline):
        meta_learner = meta_learner[-1]
    coef = np.abs(np.atleast_2d(meta_learner.coef_))[:, :n_meta]
    names = [name for name, est in model.named_estimators_.items() if not (isinstance(est, str) and est == "drop")]
    # Every base estimator contributes the same number of meta-features, in order.
    per_estimator = n_meta // len(names)
    mass = {
        name: float(coef[:, i * per_estimator : (i + 1) * per_estimator].sum()) for i, name in enumerate(names)
    }
    total = sum(mass.values()) or 1.0
    return {name: value / total for name, value in mass.items()}


def modality_contributions(model, fusion, *, text_weight, image_weight):
    """Per-modality contribution of a fitted fusion model, summing to 1.

    ``"stack"``: the share of the meta-learner's absolute coefficients on each
    modality's out-of-fold scores (learnt). ``"gated"``: the mean of the gate's
    per-post weights over the training posts (learnt). ``"vote"``, ``"concat"``,
    ``"intermediate"`` and ``"multitask"``: the normalised weights the model was
    given (the raw blocks' weights; the shared space and the auxiliary tasks'
    scores are left out). Unimodal models: 1 for their modality.

    Parameters
    ----------
    model : estimator or None
        The fitted model of :func:`make_fusion_model` (read for ``"stack"`` and ``"gated"`` only).
    fusion : str
        Its fusion strategy.
    text_weight, image_weight : float
        The weights it was built with.

    Returns
    -------
    dict
        ``{"text": share, "image": share}``.

    Examples
    --------
    >>> from mmsent.fusion import modality_contributions
    >>> modality_contributions(None, "vote", text_weight=3, image_weight=1)
    {'text': 0.75, 'image': 0.25}
    """
    if fusion in MODALITIES:
        return {name: float(name == fusion) for name in MODALITIES}
    if fusion == "stack":
        return _stacking_contributions(model)
    if fusion == "gated":
        return dict(model.mean_weights_)
    total = text_weight + image_weight
    if total <= 0:
        return {"text": 0.5, "image": 0.5}
    return {"text": text_weight / total, "image": image_weight / total}
