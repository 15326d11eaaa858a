import inspect

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC, LinearSVC
from sklearn.utils import estimator_html_repr
from sklearn.utils._param_validation import InvalidParameterError

from mmsent import MultimodalSentimentClassifier
from mmsent.fusion import (
    DECISION_LEVEL,
    FUSIONS,
    ModalityVotingClassifier,
    fusion_folds,
    fusion_has,
    make_fusion_model,
)
from mmsent.image import ImageDecodeError, make_image_features
from mmsent.text import make_text_features

from .conftest import synthetic_posts

# -- behaviour on posts -------------------------------------------------------------


@pytest.mark.parametrize("fusion", ["concat", "vote", "stack", "text", "image"])
def test_every_fusion_learns(fusion):
    X, y = synthetic_posts(n=120, seed=0)
    X_test, y_test = synthetic_posts(n=80, seed=1)
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion=fusion, cv=3).fit(X, y)
    assert clf.classes_.tolist() == ["negative", "positive"]
    assert clf.n_samples_fit_ == 120 and clf.n_features_in_ == 2
    assert clf.feature_names_in_.tolist() == ["text", "image"]
    assert clf.score(X_test, y_test) > 0.65
    assert sum(clf.modality_weights_.values()) == pytest.approx(1.0)


def test_fusion_beats_each_modality_when_they_err_independently():
    # Each modality holds three independent 70%-reliable cues: about 78% alone,
    # about 84% for an ideal fusion of all six.
    X, y = synthetic_posts(n=600, seed=2)
    X_test, y_test = synthetic_posts(n=600, seed=3)
    scores = {
        fusion: MultimodalSentimentClassifier(features="handcrafted",
            fusion=fusion, cv=3).fit(X, y).score(X_test, y_test)
        for fusion in ("text", "image", "concat", "vote", "stack")
    }
    assert scores["text"] < 0.82 and scores["image"] < 0.82
    for fusion in ("concat", "vote", "stack"):
        assert scores[fusion] > max(scores["text"], scores["image"]) + 0.02, scores


def test_fitted_model_is_the_promised_sklearn_composition(posts):
    X, y = posts
    expected = {"concat": Pipeline, "vote": ModalityVotingClassifier, "stack": StackingClassifier, "text": Pipeline}
    for fusion, kind in expected.items():
        model = MultimodalSentimentClassifier(features="handcrafted", fusion=fusion, cv=3).fit(X, y).model_
        assert type(model) is kind
    assert issubclass(ModalityVotingClassifier, VotingClassifier)
    plain = MultimodalSentimentClassifier(features="handcrafted",
        fusion="vote", missing="impute", cv=3).fit(X, y).model_
    assert type(plain) is VotingClassifier
    concat = MultimodalSentimentClassifier(features="handcrafted", text_weight=2.0, image_weight=0.5).fit(X, y).model_
    columns = concat.named_steps["features"]
    assert columns.sparse_threshold == 0.5  # sparse unless dense is smaller
    # The toy vocabulary (about 200 n-grams) beside 1893 dense image columns leaves
    # the fused block more than half full, so dense is the smaller choice here.
    fused = columns.transform(X)
    assert not sp.issparse(fused) and np.count_nonzero(fused) / fused.size > 0.5
    assert columns.transformer_weights == {"text": 2.0, "image": 0.5}


def test_stacking_learns_modality_weights(posts):
    X, y = posts
    # Make the image useless: the meta-learner should lean on the text.
    X = X.assign(image=[np.full((32, 32, 3), 128, np.uint8)] * len(X))
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="stack", cv=3).fit(X, y)
    assert clf.modality_weights_["text"] > 0.9
    vote = MultimodalSentimentClassifier(features="handcrafted",
        fusion="vote", text_weight=3, image_weight=1, cv=3).fit(X, y)
    assert vote.modality_weights_ == {"text": 0.75, "image": 0.25}


@pytest.mark.parametrize(
    "params, has_proba, has_decision",
    [
        ({"fusion": "concat"}, False, True),
        ({"fusion": "concat", "probability": True}, True, False),  # calibrated: probabilities only
        ({"fusion": "vote"}, True, False),
        ({"fusion": "vote", "voting": "hard"}, False, False),
        ({"fusion": "stack"}, True, True),
        ({"fusion": "text", "classifier": LogisticRegression()}, True, True),
        ({"fusion": "image", "classifier": "svc"}, False, True),
        ({"fusion": "concat", "classifier": "logistic"}, True, True),  # probabilities without calibration
    ],
)
def test_methods_exist_only_where_meaningful(posts, params, has_proba, has_decision):
    clf = MultimodalSentimentClassifier(features="handcrafted", cv=3, **params)
    assert hasattr(clf, "predict_proba") is has_proba  # known before fitting too
    assert hasattr(clf, "decision_function") is has_decision
    X, y = posts
    clf.fit(X, y)
    assert hasattr(clf, "predict_proba") is has_proba
    if has_proba:
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    if has_decision:
        assert clf.decision_function(X).shape == (len(X),)


def test_classifier_by_name_gets_c_and_class_weight(posts):
    X, y = posts
    weights = {"positive": 1.0, "negative": 2.0}
    for name, kind in (("linear_svc", LinearSVC), ("svc", SVC), ("logistic", LogisticRegression)):
        clf = MultimodalSentimentClassifier(features="handcrafted", classifier=name, C=3.0, class_weight=weights)
        fitted = clf.fit(X, y).model_.named_steps["classifier"]
        assert type(fitted) is kind and fitted.C == 3.0 and fitted.class_weight == weights, name


def test_linear_svc_stops_at_liblinears_tolerance_and_a_given_one_is_kept(posts):
    """"linear_svc" is LinearSVC at tol=0.03 (results/solver.md); a LinearSVC passed in keeps its tolerance."""
    X, y = posts
    named = MultimodalSentimentClassifier(features="handcrafted").fit(X, y).model_.named_steps["classifier"]
    given = MultimodalSentimentClassifier(features="handcrafted", classifier=LinearSVC(tol=1e-4)).fit(X, y)
    assert named.tol == 0.03
    assert given.model_.named_steps["classifier"].tol == 1e-4
    # Same data, same features: the looser tolerance stops sooner and decides these posts alike.
    assert named.n_iter_ <= given.model_.named_steps["classifier"].n_iter_
    np.testing.assert_array_equal(named.predict(given.model_[:-1].transform(X)), given.predict(X))
    # Stopped early, the solution depends on the solver's order of the posts: it is seeded, so refits agree.
    refitted = MultimodalSentimentClassifier(features="handcrafted").fit(X, y).model_.named_steps["classifier"]
    np.testing.assert_array_equal(refitted.coef_, named.coef_)


CLASSIFIERS = [LinearSVC(), SVC(), SVC(probability=True), LogisticRegression(), GaussianNB(), KNeighborsClassifier()]


@settings(max_examples=60, deadline=None)
@given(
    fusion=st.sampled_from(FUSIONS),
    classifier=st.sampled_from(CLASSIFIERS),
    voting=st.sampled_from(["soft", "hard"]),
    probability=st.booleans(),
    missing=st.sampled_from(["impute", "renormalize", None]),
)
def test_method_availability_from_the_parameters_matches_the_built_model(
    fusion, classifier, voting, probability, missing
):
    if missing == "renormalize" and fusion not in DECISION_LEVEL:
        missing = "impute"
    model = make_fusion_model(
        fusion, text_features=FunctionTransformer(), image_features=FunctionTransformer(), classifier=classifier,
        text_column="text", image_column="image", text_weight=1.0, image_weight=1.0, voting=voting,
        probability=probability, cv=3, missing=missing, projection="cca", n_components=2, shared_weight=1.0,
        text_label_column="text_label", image_label_column=None, task_weight=1.0,
    )
    clf = MultimodalSentimentClassifier(fusion, classifier=classifier, voting=voting, probability=probability)
    for method in ("predict_proba", "decision_function"):
        options = {"classifier": classifier, "voting": voting, "probability": probability}
        assert fusion_has(method, fusion, **options) is hasattr(model, method), (method, model)
        assert hasattr(clf, method) is hasattr(model, method)
    # Folds of the posts' labels are announced exactly where a model cross-validates them: stacking, gating,
    # or a calibrated classifier (multitask's folds split its auxiliary labels).
    calibrated = "CalibratedClassifierCV" in repr(model)
    assert fusion_folds(fusion, **options) is (fusion in ("stack", "gated") or calibrated)


def test_fitted_methods_match_the_fitted_model(posts):
    X, y = posts
    for params in ({"fusion": "vote", "voting": "hard"}, {"fusion": "text", "classifier": KNeighborsClassifier(3)}):
        clf = MultimodalSentimentClassifier(features="handcrafted", cv=3, **params).fit(X, y)
        for method in ("predict_proba", "decision_function"):
            assert hasattr(clf, method) is hasattr(clf.model_, method)


def test_the_builder_restates_no_default():
    # Every default lives in the classifier's signature; the builder takes them all from there.
    builder = inspect.signature(make_fusion_model).parameters
    assert all(parameter.default is inspect.Parameter.empty for parameter in builder.values())
    classifier = inspect.signature(MultimodalSentimentClassifier).parameters
    assert set(builder) - {"text_features", "image_features", "classifier", "missing"} <= set(classifier)
    with pytest.raises(TypeError, match="cv"):
        make_fusion_model(
            "stack", text_features=None, image_features=None, classifier=LinearSVC(), text_column="text",
            image_column="image", text_weight=1.0, image_weight=1.0, voting="soft", probability=False, missing=None,
        )


@pytest.mark.parametrize(
    "params, expected",
    [({"fusion": "text", "text_column": "caption"}, ["caption"]), ({"fusion": "image"}, ["image"]),
     ({"fusion": "stack", "image_column": 3}, ["text", 3]), ({}, ["text", "image"])],
)
def test_required_columns_follow_the_parameters(params, expected):
    assert MultimodalSentimentClassifier(features="handcrafted", **params).required_columns() == expected


CALLS = []


def counted(column):
    CALLS.append(len(column))
    return np.asarray([len(str(value)) for value in column], dtype=float).reshape(-1, 1)


@pytest.mark.parametrize(
    "params, says",
    [
        ({"fusion": "stack"}, "stacking's out-of-fold scores"),
        ({"fusion": "vote"}, "calibrating"),
        ({"fusion": "concat", "probability": True}, "calibrating"),
    ],
)
def test_a_class_smaller_than_the_folds_is_refused_before_the_slow_work(posts, params, says):
    X, y = posts
    y = y.astype(object)
    y[:2] = "neutral"
    features = {"text_features": FunctionTransformer(counted), "image_features": FunctionTransformer(counted)}
    CALLS.clear()
    clf = MultimodalSentimentClassifier(features="handcrafted", cv=5, **features, **params)
    with pytest.raises(ValueError, match=r"class 'neutral' has 2 post\(s\)") as info:
        clf.fit(X, y)
    assert says in str(info.value) and "lower cv (cv=2" in str(info.value) and "fusion='concat'" in str(info.value)
    assert CALLS == []  # no featurizer ran
    clf.set_params(cv=2).fit(X, y)  # as advised
    # Fusions without folds accept the small class.
    MultimodalSentimentClassifier(features="handcrafted", fusion="vote", voting="hard", cv=5, **features).fit(X, y)
    MultimodalSentimentClassifier(features="handcrafted", fusion="concat", cv=5, **features).fit(X, y)


def test_a_class_of_one_post_cannot_be_split(posts):
    X, y = posts
    y = y.astype(object)
    y[0] = "neutral"
    with pytest.raises(ValueError, match="one post cannot be split into folds"):
        MultimodalSentimentClassifier(features="handcrafted", fusion="stack", cv=3).fit(X, y)


def test_three_classes_and_integer_labels(posts):
    X, y = posts
    y3 = np.where(np.arange(len(y)) % 5 == 0, "neutral", y)
    clf = MultimodalSentimentClassifier(features="handcrafted",
        fusion="stack", cv=3, class_weight="balanced").fit(X, y3)
    assert clf.classes_.tolist() == ["negative", "neutral", "positive"]
    assert clf.decision_function(X).shape == (len(X), 3)
    y_int = (y == "positive").astype(int)
    assert set(MultimodalSentimentClassifier(features="handcrafted").fit(X, y_int).predict(X)) <= {0, 1}


def test_grid_search_reaches_nested_parameters(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted",
        text_features=make_text_features(), image_features=make_image_features())
    params = clf.get_params(deep=True)
    assert params["text_features__tfidf__ngram_range"] == (1, 2)
    assert params["image_features__decode__size"] == (64, 64)
    search = GridSearchCV(
        clf,
        {"text_features__tfidf__ngram_range": [(1, 1), (1, 2)], "image_weight": [0.0, 1.0]},
        cv=3,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    best_ngrams = search.best_params_["text_features__tfidf__ngram_range"]
    assert best.text_features.named_steps["tfidf"].ngram_range == best_ngrams
    assert best.model_.named_steps["features"].transformer_weights["image"] == search.best_params_["image_weight"]


def test_user_objects_are_not_modified(posts):
    X, y = posts
    text_features = make_text_features()
    MultimodalSentimentClassifier(features="handcrafted", text_features=text_features).fit(X, y)
    assert not hasattr(text_features.named_steps["tfidf"], "vocabulary_")
    X_copy = X.copy()
    assert X.equals(X_copy)


def test_html_repr_shows_one_branch_per_modality():
    html = estimator_html_repr(MultimodalSentimentClassifier(features="handcrafted", fusion="vote"))
    for part in ("fusion=&#x27;vote&#x27;", "TfidfVectorizer", "HOGTransformer", "ColorHistogram"):
        assert part in html
    assert "VotingClassifier" in estimator_html_repr(MultimodalSentimentClassifier(features="handcrafted",
        fusion="vote", missing="impute"))
    assert html.count("ColumnTransformer") >= 2  # a column selector per modality branch


def test_n_jobs_parallelises_the_default_featurizers(posts):
    X, y = posts
    model = MultimodalSentimentClassifier(features="handcrafted", n_jobs=2).fit(X, y).model_
    params = model.get_params()
    assert params["features__text__transformer__tokenize__n_jobs"] == 2
    assert params["features__image__transformer__decode__n_jobs"] == 2
    assert params["features__image__transformer__features__hog__n_jobs"] == 2


def test_clone_keeps_parameters_and_drops_fit(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="vote", C=0.5).fit(X, y)
    copy = clone(clf)
    assert copy.get_params()["C"] == 0.5 and not hasattr(copy, "model_")


def test_unimodal_model_does_not_need_the_other_column(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="text").fit(X[["text"]], y)
    assert len(clf.predict(pd.DataFrame({"text": ["很好"]}))) == 1


# -- bad input ----------------------------------------------------------------------


def test_missing_column_is_named(posts):
    X, y = posts
    with pytest.raises(ValueError, match=r"X has no column 'image'.*its columns are \['text'\]"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X[["text"]], y)
    renamed = X.rename(columns={"text": "caption"})
    clf = MultimodalSentimentClassifier(features="handcrafted", text_column="caption").fit(renamed, y)
    with pytest.raises(ValueError, match="'caption'"):
        clf.predict(X)


def test_empty_frame_single_class_and_length_mismatch(posts):
    X, y = posts
    with pytest.raises(ValueError, match="empty"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X.iloc[:0], y[:0])
    with pytest.raises(ValueError, match="only one class"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X, ["positive"] * len(X))
    with pytest.raises(ValueError, match="rows but y has"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X, y[:-1])
    with pytest.raises(TypeError, match="DataFrame"):
        MultimodalSentimentClassifier(features="handcrafted").fit(42, y)


def test_bad_text_and_image_rows_are_named(posts, tmp_path):
    X, y = posts
    bad_text = X.astype({"text": object})
    bad_text.loc[7, "text"] = 12345
    with pytest.raises(ValueError, match=r"row 7: text must be str, got int"):
        MultimodalSentimentClassifier(features="handcrafted").fit(bad_text, y)
    bad_image = X.copy()
    bad_image["image"] = bad_image["image"].astype(object)
    bad_image.at[3, "image"] = str(tmp_path / "gone.jpg")
    with pytest.raises(ImageDecodeError, match=r"row 3: file '.*gone.jpg' does not exist"):
        MultimodalSentimentClassifier(features="handcrafted").fit(bad_image, y)


def test_missing_text_is_an_empty_post(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted").fit(X, y)
    blank = X.head(4).assign(text=[None, np.nan, "", "好"])
    assert len(clf.predict(blank)) == 4


def test_unseen_labels_at_score_time_are_reported(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted").fit(X, y)
    y_new = y.copy().astype(object)
    y_new[:10] = "sarcastic"
    expected = np.mean(clf.predict(X) == y_new)
    with pytest.warns(UserWarning, match=r"not seen during fit: 'sarcastic' \(10 rows\)"):
        assert clf.score(X, y_new) == pytest.approx(expected)


def test_predict_robust_options_are_validated_like_parameters(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="vote", voting="hard", cv=3).fit(X, y)
    with pytest.raises(InvalidParameterError, match="The 'on_error' parameter of predict_robust must be a str among"):
        clf.predict_robust(X, on_error="ignore")
    with pytest.raises(InvalidParameterError, match="The 'method' parameter of predict_robust"):
        clf.predict_robust(X, method="transform")
    with pytest.raises(ValueError, match="method='predict_proba' is not available on this model"):
        clf.predict_robust(X, method="predict_proba")
    with pytest.raises(ValueError, match="missing='error' refuses"):
        clf.set_params(missing="error").predict_robust(X, on_error="impute")


def test_predict_robust_leaves_the_frame_alone_and_copes_with_repeated_labels(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted",
        image_features=make_image_features(size=(16, 16))).fit(X, y)
    batch = X.head(4).astype({"text": object, "image": object})
    batch.index = ["a", "a", "b", "b"]  # repeated index labels
    batch.iloc[1, 1] = b"junk"
    batch.iloc[2, 0] = 42
    before = batch.copy()
    labels, errors = clf.predict_robust(batch, on_error="impute")
    assert batch.equals(before) and batch.iloc[1, 1] == b"junk"
    assert labels.index.tolist() == ["a", "a", "b", "b"]
    assert [(e.row, e.column) for e in errors] == [("a", "image"), ("b", "text")]
    cleaned = before.copy()
    cleaned.iloc[1, 1], cleaned.iloc[2, 0] = None, None
    assert labels.tolist() == clf.predict(cleaned).tolist()
    skipped, _ = clf.predict_robust(batch, on_error="skip")
    assert skipped.tolist() == clf.predict(before.iloc[[0, 3]]).tolist()


def test_invalid_parameters_are_rejected(posts):
    X, y = posts
    with pytest.raises(ValueError, match="fusion"):
        MultimodalSentimentClassifier(features="handcrafted", fusion="attention").fit(X, y)
    with pytest.raises(ValueError, match="C"):
        MultimodalSentimentClassifier(features="handcrafted", C=-1).fit(X, y)
    assert not hasattr(MultimodalSentimentClassifier(features="handcrafted", fusion="attention"), "predict_proba")
