"""Tests written for the survivors of mutation testing of mmsent/fusion.

Each fails with its mutant applied (docs/mutation.md names them) and passes on the code as it is.
"""

import re
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import StackingClassifier
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_valid_tag_types

from mmsent.fusion import (
    AuxiliaryTaskScores,
    CrossModalProjector,
    GatedFusionClassifier,
    ModalityClassifier,
    ModalityImputer,
    ModalityVotingClassifier,
    SharedSpaceFeatures,
    confidence_features,
    fusion_has,
    modality_contributions,
)
from mmsent.fusion._projection import _correlation, _Reducer

from .test_projection import STACK, sarcasm_posts


def _two_features(column):
    """Feature 0 is the value (it tells the classes apart here), feature 1 the row number modulo 3 (noise)."""
    values = np.asarray(list(column), dtype=float)
    return np.column_stack([values, np.arange(len(values)) % 3])


# -- ModalityImputer ------------------------------------------------------------------


def test_imputer_fit_passes_the_labels_of_present_posts_on():
    # A supervised transformer (SelectKBest needs y) learns from the labels of the posts that have the modality.
    imputer = ModalityImputer(make_pipeline(FunctionTransformer(_two_features), SelectKBest(f_classif, k=1)))
    X = pd.Series([0.0, 1.0, None, 0.1, 0.9, 0.2, 1.1], dtype=object)
    y = np.array([0, 1, 1, 0, 1, 0, 1])
    assert imputer.fit(X, y) is imputer
    assert imputer.transformer_[-1].get_support().tolist() == [True, False]
    assert imputer.transform([5.0, None]).tolist() == [[5.0, 0.0], [_mean_present(X), 1.0]]


def _mean_present(X):
    return float(np.mean([v for v in X if v is not None]))


def test_sparse_stand_ins_are_written_into_the_output_with_int32_indices():
    # One allocation of the output, with int32 column indices: float64 or int64 indices would cost 8 bytes an
    # entry more and a conversion (scipy keeps int32 where it can), the memory this function exists to save.
    rows, per_row = 50_000, 32
    present = np.ones(rows, dtype=bool)
    present[::100] = False
    n_present = int(present.sum())
    features = sp.csr_matrix(
        (
            np.ones(n_present * per_row, dtype=np.float32),
            np.tile(np.arange(per_row, dtype=np.int32), n_present),
            np.arange(0, n_present * per_row + 1, per_row, dtype=np.int32),
        ),
        shape=(n_present, per_row),
    )
    imputer = ModalityImputer(FunctionTransformer())
    imputer.fill_ = np.arange(per_row, dtype=float)
    tracemalloc.start()
    try:
        out = imputer._sparse_with_stand_ins(features, present, np.float32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.indices.dtype == out.indptr.dtype == np.int32 and out.data.dtype == np.float32
    output = out.data.nbytes + out.indices.nbytes + out.indptr.nbytes
    # The output, a boolean mask of its entries and a few arrays of one number per row.
    assert peak < output + out.nnz + 40 * rows
    assert out[1].toarray().ravel().tolist() == [1.0] * per_row + [0.0]
    assert out[0].toarray().ravel().tolist() == [*range(per_row), 1.0]  # the stand-in fill_ and the flag


def _branch(column, abstains=True):
    branch = make_pipeline(make_column_transformer(("passthrough", [column])), LogisticRegression())
    return ModalityClassifier(branch, column) if abstains else branch


# -- ModalityVotingClassifier ---------------------------------------------------------


def test_soft_voting_follows_the_mean_probability_not_the_ballots():
    X = pd.DataFrame({"text": [0.0, 1.0] * 10, "image": [0.0, 1.0] * 10})
    vote = ModalityVotingClassifier([("text", _branch("text")), ("image", _branch("image"))], voting="soft")
    vote.fit(X, [0, 1] * 10)
    # The text leans a little to class 0, the image is class 1 for sure.
    post = pd.DataFrame({"text": [0.45], "image": [5.0]})
    assert vote.estimators_[0].predict_proba(post)[0, 0] > 0.5 and vote.predict_proba(post)[0, 1] > 0.5
    assert vote.predict(post).tolist() == [1]
    assert vote.set_params(voting="hard").predict(post).tolist() == [0]  # one ballot each: the first class


def test_voting_renormalises_weights_below_one_and_divides_by_no_zero():
    X = pd.DataFrame({"text": [0.0, 1.0] * 10, "image": [0.0, 1.0] * 10})
    branches = [("text", _branch("text")), ("image", _branch("image"))]
    vote = ModalityVotingClassifier(branches, voting="soft", weights=[0.25, 0.75]).fit(X, [0, 1] * 10)
    posts = pd.DataFrame({"text": [0.3, None], "image": [None, None]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a post with no modality must not divide 0 by 0, even in a discarded branch
        proba = vote.predict_proba(posts)
    # Text alone: its own probabilities (weight 0.25 renormalised to 1), then the class prior.
    np.testing.assert_allclose(proba[0], vote.estimators_[0].predict_proba(posts.iloc[:1])[0], rtol=1e-12)
    assert proba[1].tolist() == vote.class_prior_.tolist() == [0.5, 0.5]


class _WeightedModality(ModalityClassifier):
    """Records the sample weights its fit is given."""

    def fit(self, X, y, sample_weight=None):
        self.sample_weight_ = sample_weight
        return super().fit(X, y)


def test_voting_passes_fit_parameters_on_to_its_estimators():
    X = pd.DataFrame({"text": [0.0, 1.0] * 5, "image": [0.0, 1.0] * 5})
    branches = [(name, _WeightedModality(_branch(name, abstains=False), name)) for name in ("text", "image")]
    weights = np.arange(1.0, 11.0)
    vote = ModalityVotingClassifier(branches).fit(X, [0, 1] * 5, sample_weight=weights)
    for estimator in vote.estimators_:
        np.testing.assert_array_equal(estimator.sample_weight_, weights)


# -- _builders ------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("abstains", [False, True])
def test_stacking_contributions_are_each_modalitys_share_of_the_meta_coefficients(n_classes, abstains):
    # The text scores tell the classes apart, the image's barely: the meta-learner leans on the text.
    rng = np.random.default_rng(0)
    y = np.arange(150) % n_classes
    X = pd.DataFrame({"text": y + rng.normal(0, 0.3, 150), "image": y + rng.normal(0, 3.0, 150)})
    meta_learner = LogisticRegression()
    if abstains:  # as make_fusion_model's missing="renormalize": the image's NaN scores imputed and flagged
        X.loc[X.index[::5], "image"] = None
        meta_learner = Pipeline([("impute", SimpleImputer(add_indicator=True)), ("logistic", meta_learner)])
    model = StackingClassifier(
        [("text", _branch("text", abstains)), ("image", _branch("image", abstains))], final_estimator=meta_learner, cv=3
    ).fit(X, y)
    coef = np.abs(np.atleast_2d(model.final_estimator_[-1].coef_ if abstains else model.final_estimator_.coef_))
    per_branch = 1 if n_classes == 2 else n_classes
    assert coef.shape[1] == (2 + abstains) * per_branch  # a flag per image score column: nobody's share
    text = coef[:, :per_branch].sum() / coef[:, : 2 * per_branch].sum()
    shares = modality_contributions(model, "stack", text_weight=1.0, image_weight=1.0)
    assert list(shares) == ["text", "image"]
    assert shares["text"] == pytest.approx(text) and shares["image"] == pytest.approx(1 - text)
    assert 0.5 < shares["text"] < 1


def test_stacking_contributions_name_the_branches_left_when_one_is_dropped():
    """A branch set to "drop" has no share, and the one left is reported under its own name."""
    rng = np.random.default_rng(1)
    y = np.arange(90) % 2
    X = pd.DataFrame({"text": y + rng.normal(0, 3.0, 90), "image": y + rng.normal(0, 0.3, 90)})
    model = StackingClassifier(
        [("text", "drop"), ("image", _branch("image", False))], final_estimator=LogisticRegression(), cv=3
    ).fit(X, y)
    assert modality_contributions(model, "stack", text_weight=1.0, image_weight=1.0) == {"image": 1.0}


def test_auxiliary_task_scores_name_their_columns_as_objects_and_type_their_tags():
    """Mutants: feature names left a fixed-width string array (scikit-learn's are object arrays, to take any name);
    the 2-D input tag set to None, which scikit-learn's tag check refuses."""
    X = pd.DataFrame({"brightness": [0.1, 0.9, 0.2, 0.8] * 6, "image_label": ["dark", "light", "dark", "light"] * 6})
    image = make_pipeline(make_column_transformer(("passthrough", ["brightness"])), LogisticRegression())
    task = AuxiliaryTaskScores(image, "image_label", cv=3).fit(X)
    names = task.get_feature_names_out()
    assert names.dtype == object and names.tolist() == ["image_label_light"]
    check_valid_tag_types("AuxiliaryTaskScores", task)
    # Mutants: each tag flipped. It reads posts (a frame of text, paths, labels with gaps), not a numeric matrix.
    tags = get_tags(task).input_tags
    assert (tags.two_d_array, tags.string, tags.allow_nan) == (False, True, True)


def test_shared_space_features_fitted_without_names_refuse_other_columns():
    """Mutants: transform's check of the columns skipped, or skipped whenever X is a frame (``and`` -> ``or``)."""
    X, _ = sarcasm_posts(n=30)
    array = X[["text", "image"]].to_numpy()
    features = SharedSpaceFeatures(
        STACK, STACK, text_column=0, image_column=1, projector=CrossModalProjector(n_components=2)
    ).fit(array)
    assert features.transform(array).shape[0] == 30
    extra = np.column_stack([array, array[:, :1]])
    for wider in (extra, pd.DataFrame(extra)):
        with pytest.raises(ValueError, match="X has 3 features, but SharedSpaceFeatures is expecting 2"):
            features.transform(wider)


def test_shared_space_features_fit_passes_the_labels_to_its_featurizers():
    """Mutants: ``fit`` calling ``fit_transform(X)`` without ``y``: a featurizer that learns from labels fails."""
    X, y = sarcasm_posts(n=40)
    select = make_pipeline(STACK, SelectKBest(f_classif, k=2))
    features = SharedSpaceFeatures(select, STACK, projector=CrossModalProjector(n_components=2)).fit(X, y)
    assert features.text_features_[-1].get_support().sum() == 2


def _brightness_posts():
    return pd.DataFrame({"brightness": [0.1, 0.9, 0.2, 0.8] * 6, "image_label": ["dark", "light", "dark", "light"] * 6})


def test_auxiliary_task_scores_read_an_array_s_labels_by_position():
    """Mutants: the label column always looked up by name (``hasattr(X, "columns") or True``): arrays fail; the
    message describing the other kind of input."""
    X = _brightness_posts().to_numpy()
    image = make_pipeline(make_column_transformer(("passthrough", [0])), LogisticRegression())
    scores = AuxiliaryTaskScores(image, 1, cv=3).fit_transform(X)
    assert scores.shape == (24, 1) and (scores[X[:, 0] > 0.5] > 0).all()
    with pytest.raises(ValueError, match=r"X has no column 2 of auxiliary labels \(X has shape \(24, 2\)\)"):
        AuxiliaryTaskScores(image, 2, cv=3).fit(X)
    # Mutants: a frame's message giving its shape rather than its columns.
    with pytest.raises(ValueError, match=r"no column 'label' of auxiliary labels \(its columns are \['brightness', "):
        AuxiliaryTaskScores(image, "label", cv=3).fit(_brightness_posts())


class _PredictOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_auxiliary_task_scores_fall_back_to_probabilities_and_name_what_is_missing():
    """Mutants: ``"predict_proba"`` misspelt in the automatic choice (an estimator without a decision function is
    then refused); the errors' messages name ``NoneType`` or nothing instead of the estimator's type."""
    X = _brightness_posts()
    bayes = make_pipeline(make_column_transformer(("passthrough", ["brightness"])), GaussianNB())
    task = AuxiliaryTaskScores(bayes, "image_label", cv=3).fit(X)
    assert task.method_ == "predict_proba" and task.transform(X).shape == (24, 2)
    with pytest.raises(ValueError, match="^method='decision_function', which Pipeline does not have$"):
        AuxiliaryTaskScores(bayes, "image_label", method="decision_function").fit(X)
    with pytest.raises(ValueError, match="^_PredictOnly has neither decision_function nor predict_proba$"):
        AuxiliaryTaskScores(_PredictOnly(), "image_label").fit(X)


@pytest.mark.parametrize("n_components", [2, 5])
def test_a_reducer_fitted_then_applied_gives_what_fit_transform_gives(n_components):
    """Mutant: ``fit`` calling ``fit_transform(None)`` (nothing in the package calls ``fit``; a clone in a pipeline
    may). Both paths: reduced by TruncatedSVD (4 columns to 2), and only standardised (4 columns, 5 asked)."""
    X = sp.random(30, 4, density=0.6, format="csr", random_state=0)
    reducer = _Reducer(n_components, random_state=0)
    np.testing.assert_allclose(reducer.fit(X).transform(X), _Reducer(n_components, random_state=0).fit_transform(X))
    assert reducer.transform(X).shape == (30, min(n_components, 4))


def test_confidence_margins_are_the_top_probability_minus_the_second_for_any_number_of_classes():
    """Mutants: the margin taken over the top three probabilities (it is then the second minus the third); the
    one-class case (no second probability: margin 0) sent down the general path or to ``hstack(None)``."""
    three = confidence_features([np.array([[0.5, 0.3, 0.2]]), np.array([[0.1, 0.1, 0.8]])])[0]
    np.testing.assert_allclose(three[[0, 3]], [0.2, 0.7])
    with np.errstate(invalid="ignore", divide="ignore"):  # one class: its entropy is 0 / log(1)
        one = confidence_features([np.array([[1.0], [1.0]]), np.array([[1.0], [np.nan]])])
    np.testing.assert_array_equal(one[:, [0, 2, 3, 5]], [[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])


def test_a_gate_given_is_the_gate_fitted():
    """Mutant: ``__init__`` storing ``gate=None`` whatever is given: the default logistic gate was used silently."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    X = pd.DataFrame({"text": y + rng.normal(0, 0.8, 120), "image": y + rng.normal(0, 0.8, 120)})
    branches = [(name, make_pipeline(make_column_transformer(("passthrough", [name])), LogisticRegression()))
                for name in ("text", "image")]
    gated = GatedFusionClassifier(branches, gate=DecisionTreeClassifier(max_depth=2, random_state=0), cv=3).fit(X, y)
    assert isinstance(gated.gate_, DecisionTreeClassifier) and gated.gate_.max_depth == 2


def test_the_cosine_of_a_post_projected_to_the_origin_is_zero():
    """Mutant: the cosine divided where the norms' product is 0 too (``>= 0``): 0 / 0 gave NaN and a warning."""

    class Projected:
        def transform(self, text, image):
            return np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [4.0, 3.0]])

    features = SharedSpaceFeatures(STACK, STACK)
    features.projector_ = Projected()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cosine = features._interactions(None, None)[:, -1]
    np.testing.assert_allclose(cosine, [0.0, 24 / 25])


def test_an_unknown_fusion_has_no_prediction_method():
    """Mutant: the last ``return False`` of ``fusion_has`` turned ``True`` (its docstring: other values have none)."""
    for method in ("predict_proba", "decision_function"):
        assert fusion_has(method, "average", classifier=LogisticRegression(), voting="soft", probability=True) is False


def test_a_projector_takes_sparse_image_features_as_it_takes_sparse_text():
    """Mutant: the image view checked with ``accept_sparse=None`` (a sparse image block refused)."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 5))
    Y[np.abs(Y) < 0.8] = 0.0
    dense = CrossModalProjector(n_components=2, svd_components=4).fit(X, Y)
    sparse = CrossModalProjector(n_components=2, svd_components=4).fit(sp.csr_matrix(X), sp.csr_matrix(Y))
    for got, expected in zip(sparse.transform(X, sp.csc_matrix(Y)), dense.transform(X, Y)):
        np.testing.assert_allclose(got, expected, atol=1e-8)


def test_shared_space_features_read_posts_not_a_numeric_matrix():
    """Mutants: the input tags flipped (``two_d_array`` True, ``string`` None)."""
    tags = get_tags(SharedSpaceFeatures(STACK, STACK)).input_tags
    assert (tags.two_d_array, tags.string, tags.allow_nan) == (False, True, True)


def test_correlation_is_pearsons_on_any_scale_and_zero_for_a_constant():
    """Mutants: ``b`` centred with ``+``; the zero-norm guard dropped (0 / 0) or raised to ``norm > 1`` (vectors of
    small spread read as uncorrelated). Compared with NumPy's ``corrcoef``."""
    rng = np.random.default_rng(0)
    a = 5.0 + rng.normal(size=50)
    b = -3.0 + 0.5 * a + rng.normal(size=50)
    for scale in (1.0, 1e-3):
        np.testing.assert_allclose(_correlation(scale * a, scale * b), np.corrcoef(a, b)[0, 1], rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _correlation(a, np.full(50, 2.0)) == 0.0


def test_a_reducer_computes_in_float64_whatever_its_input():
    """Mutant: the block not cast to float64 (float32 input then standardised and projected in float32)."""
    X = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    assert _Reducer(5, random_state=0).fit_transform(X).dtype == np.float64


def test_the_stand_in_row_is_float64_and_the_output_in_the_features_dtype():
    """Mutants: the mean of a dense (or non-CSR) block left in its own dtype (float32) instead of float64; the
    output not in the features' dtype (float64 for float32 features: twice the memory of the largest block)."""
    column = pd.Series([np.array([1.0, 2.0], dtype=np.float32), None, np.array([2.0, 5.0], dtype=np.float32)])
    imputer = ModalityImputer(FunctionTransformer(lambda cells: np.vstack(list(cells))), fill="mean").fit(column)
    assert imputer.fill_.dtype == np.float64 and imputer.fill_.tolist() == [1.5, 3.5]
    out = imputer.transform(column)
    assert out.dtype == np.float32 and out.tolist() == [[1.0, 2.0, 0.0], [1.5, 3.5, 1.0], [2.0, 5.0, 0.0]]


def test_an_imputer_passes_a_complete_block_through_without_a_copy():
    """Mutant: the pass-through taken only when there are no features (``is None``): every post present and no
    indicator then copied the block, the largest array of a fit."""
    block = np.arange(6.0).reshape(3, 2)
    imputer = ModalityImputer(FunctionTransformer(lambda cells: block), add_indicator=False)
    column = pd.Series([1, 2, 3])
    assert imputer.fit(column).transform(column) is block


def test_weight_shares_are_each_weight_over_their_sum_and_even_when_both_are_zero():
    """Mutants: the total taken as the difference; weights summing to 1 or less read as no weights (``<= 1``);
    both weights 0 divided by (``< 0``)."""
    for fusion in ("concat", "vote", "intermediate"):
        shares = modality_contributions(None, fusion, text_weight=0.25, image_weight=0.5)
        assert shares == pytest.approx({"text": 1 / 3, "image": 2 / 3}), fusion
        assert modality_contributions(None, fusion, text_weight=3, image_weight=1) == {"text": 0.75, "image": 0.25}
        assert modality_contributions(None, fusion, text_weight=0.0, image_weight=0.0) == {"text": 0.5, "image": 0.5}


@pytest.mark.parametrize("fusion", ["concat", "text", "vote"])
def test_calibration_splits_the_posts_into_the_folds_asked(fusion):
    """Mutant: ``CalibratedClassifierCV(..., cv=None)``: scikit-learn's 5 folds whatever ``cv`` says."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    from mmsent import MultimodalSentimentClassifier

    model = MultimodalSentimentClassifier(fusion, classifier=LinearSVC(), probability=True, cv=3)._build_model()
    calibrated = [step for step in model.get_params().values() if isinstance(step, CalibratedClassifierCV)]
    assert calibrated and all(step.cv == 3 for step in calibrated)


def test_intermediate_fusion_passes_its_weights_on():
    """Mutant: ``image_weight`` left out of the ``SharedSpaceFeatures`` it builds (its default 1.0 used instead)."""
    from mmsent import MultimodalSentimentClassifier

    clf = MultimodalSentimentClassifier("intermediate", text_weight=0.5, image_weight=2.0, shared_weight=3.0)
    shared = clf._build_model().named_steps["features"]
    assert (shared.text_weight, shared.image_weight, shared.shared_weight) == (0.5, 2.0, 3.0)


def test_multitask_without_label_columns_says_what_it_needs():
    """Mutant: the error's message replaced by None."""
    from mmsent import MultimodalSentimentClassifier

    with pytest.raises(ValueError, match=r"^fusion='multitask' learns each modality's own sentiment .* set "
                       r"text_label_column and/or image_label_column to the columns of X holding them"):
        MultimodalSentimentClassifier("multitask")._build_model()


def test_an_unknown_fusion_is_refused_naming_the_known_ones():
    """Mutant: ``make_fusion_model``'s error for an unknown fusion without a message (the estimator's own parameter
    check catches it first; this is for callers of the builder)."""
    from mmsent.fusion import FUSIONS, make_fusion_model

    with pytest.raises(ValueError, match=re.escape(f"fusion must be one of {FUSIONS}, got 'average'")):
        make_fusion_model(
            "average", text_features=STACK, image_features=STACK, classifier=LogisticRegression(),
            text_column="text", image_column="image", text_weight=1.0, image_weight=1.0, voting="soft",
            probability=False, cv=3, missing=None, projection="cca", n_components=2, shared_weight=1.0,
            text_label_column=None, image_label_column=None, task_weight=1.0,
        )
