"""Gated fusion: per-post modality weights from the branches' out-of-fold confidence."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mmsent.fusion import GatedFusionClassifier, ModalityClassifier, confidence_features


def branch(column):
    return make_pipeline(make_column_transformer(("passthrough", [column])), LogisticRegression())


def half_informative_images(n=600, seed=0):
    """A moderately informative text everywhere; an image that is sharp on some posts and says nothing on others
    (a neutral sticker)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    sharp = rng.random(n) < 0.5
    text = (2 * y - 1) * 0.8 + rng.normal(0, 1.0, n)
    image = np.where(sharp, (2 * y - 1) * 3.0, 0.0) + rng.normal(0, 0.3, n)
    return pd.DataFrame({"text": text, "image": image}), np.where(y == 1, "positive", "negative"), sharp


def test_confidence_features_by_hand():
    sure, unsure = np.array([[0.9, 0.1]]), np.array([[0.4, 0.6]])
    absent = np.array([[np.nan, np.nan]])
    entropy = -(0.4 * np.log(0.4) + 0.6 * np.log(0.6)) / np.log(2)
    features = confidence_features([sure, unsure])[0]
    np.testing.assert_allclose(features[3:6], [0.2, entropy, 1.0])
    np.testing.assert_allclose(features[6:], [0.5, 0.0])  # total variation 0.5; top classes differ
    # An abstaining branch reads "no margin, full entropy, absent", and there is no pair to compare.
    np.testing.assert_allclose(confidence_features([sure, absent])[0, 3:], [0.0, 1.0, 0.0, 0.0, 0.0])
    three = confidence_features([sure, sure, unsure])[0]
    np.testing.assert_allclose(three[-2:], [(0.0 + 0.5 + 0.5) / 3, 1 / 3])


def test_weights_follow_the_informative_modality():
    X, y, sharp = half_informative_images()
    gated = GatedFusionClassifier([("text", branch("text")), ("image", branch("image"))]).fit(X, y)
    weights = gated.modality_weights(X)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert weights[sharp, 1].mean() > 0.8  # a sharp image carries the post
    assert weights[~sharp, 0].mean() > 0.8  # a blank one leaves it to the text
    assert gated.train_weights_.shape == (len(X), 2)
    assert gated.mean_weights_ == pytest.approx(dict(zip(["text", "image"], gated.train_weights_.mean(axis=0))))


def test_gating_fuses_at_least_as_well_as_voting():
    # Calibrated soft voting already lets a blank image's 50/50 vote count for little; the gate must not lose
    # to it, and must beat either modality alone by far.
    X, y, _ = half_informative_images(seed=1)
    X_test, y_test, _ = half_informative_images(seed=2)
    branches = [("text", branch("text")), ("image", branch("image"))]
    gated = GatedFusionClassifier(branches).fit(X, y).score(X_test, y_test)
    vote = VotingClassifier(branches, voting="soft").fit(X, y).score(X_test, y_test)
    alone = max(est.fit(X, y).score(X_test, y_test) for _, est in branches)
    assert gated >= vote
    assert gated > alone + 0.05


def test_probabilities_are_the_weighted_mixture_of_calibrated_branches():
    X, y, _ = half_informative_images(n=200)
    branches = [("text", branch("text")), ("image", branch("image"))]
    gated = GatedFusionClassifier(branches, cv=3, recalibrate=False).fit(X, y)
    branch_probas = [
        calibrator.predict_proba(est.decision_function(X).reshape(-1, 1))
        for calibrator, est in zip(gated.calibrators_, gated.estimators_)
    ]
    weights = gated.modality_weights(X)
    expected = weights[:, :1] * branch_probas[0] + weights[:, 1:] * branch_probas[1]
    np.testing.assert_allclose(gated.predict_proba(X), expected)
    assert gated.predict(X).tolist() == gated.classes_[expected.argmax(axis=1)].tolist()
    assert gated.recalibrator_ is None
    # Recalibrated: a logistic regression on the log of that mixture, fitted on the out-of-fold mixtures.
    recalibrated = GatedFusionClassifier(branches, cv=3).fit(X, y)
    np.testing.assert_allclose(recalibrated.modality_weights(X), weights)
    np.testing.assert_allclose(
        recalibrated.predict_proba(X), recalibrated.recalibrator_.predict_proba(np.log(expected + 1e-9))
    )


def test_recalibration_brings_back_a_rare_class():
    # A rare class that each branch sees only faintly: the plain mixture never picks it, recalibration does.
    rng = np.random.default_rng(0)
    y = rng.choice(["negative", "neutral", "positive"], 900, p=[0.45, 0.1, 0.45])
    centre = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
    signal = np.array([centre[label] for label in y])
    X = pd.DataFrame({"text": signal + rng.normal(0, 0.6, 900), "image": signal + rng.normal(0, 0.6, 900)})
    branches = [("text", branch("text")), ("image", branch("image"))]
    plain = GatedFusionClassifier(branches, cv=3, recalibrate=False).fit(X, y).predict(X)
    recalibrated = GatedFusionClassifier(branches, cv=3).fit(X, y).predict(X)
    recall = {name: (predicted[y == "neutral"] == "neutral").mean() for name, predicted in
              (("plain", plain), ("recalibrated", recalibrated))}
    assert recall["recalibrated"] > recall["plain"] + 0.1, recall


def test_expectation_maximisation_improves_on_equal_weights():
    X, y, _ = half_informative_images(n=300)
    gated = GatedFusionClassifier([("text", branch("text")), ("image", branch("image"))], cv=3).fit(X, y)
    one_round = GatedFusionClassifier([("text", branch("text")), ("image", branch("image"))], cv=3, max_iter=1)
    one_round.fit(X, y)
    assert gated.n_iter_ > 1 and one_round.n_iter_ == 1

    def log_likelihood(model):
        proba = model.predict_proba(X)
        return np.log(proba[np.arange(len(y)), np.searchsorted(model.classes_, y)]).mean()

    assert log_likelihood(gated) > log_likelihood(one_round)


def test_an_absent_modality_gets_no_weight():
    X, y, _ = half_informative_images(n=300)
    X.loc[::4, "image"] = np.nan
    branches = [(name, ModalityClassifier(branch(name), name)) for name in ("text", "image")]
    gated = GatedFusionClassifier(branches, cv=3).fit(X, y)
    weights = gated.modality_weights(X)
    np.testing.assert_allclose(weights[::4], [[1.0, 0.0]] * len(weights[::4]))
    text_alone = gated.calibrators_[0].predict_proba(gated.estimators_[0].decision_function(X).reshape(-1, 1))
    recalibrated = gated.recalibrator_.predict_proba(np.log(text_alone[::4] + 1e-9))
    np.testing.assert_allclose(gated.predict_proba(X)[::4], recalibrated)
    nothing = pd.DataFrame({"text": [np.nan], "image": [np.nan]})
    np.testing.assert_allclose(gated.predict_proba(nothing), [gated.class_prior_])


def test_three_classes_and_bad_setups():
    rng = np.random.default_rng(0)
    y = np.repeat(["negative", "neutral", "positive"], 40)
    polarity = (y == "positive").astype(float) - (y == "negative")
    X = pd.DataFrame({"text": polarity + rng.normal(0, 0.5, 120), "image": (y == "neutral") + rng.normal(0, 0.5, 120)})
    gated = GatedFusionClassifier([("text", branch("text")), ("image", branch("image"))], cv=3).fit(X, y)
    assert gated.predict_proba(X).shape == (120, 3)
    assert gated.score(X, y) > 0.8
    with pytest.raises(ValueError, match="two branches or more"):
        GatedFusionClassifier([("text", branch("text"))]).fit(X, y)
    with pytest.raises(ValueError, match="unique"):
        GatedFusionClassifier([("text", branch("text")), ("text", branch("image"))]).fit(X, y)
