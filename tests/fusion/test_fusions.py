"""The intermediate, gated and multitask fusions through the classifier: fitting, tuning, missing modalities, the
contract of multitask (which the scikit-learn checks cannot feed: it reads per-modality labels from X)."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline

from mmsent import MultimodalSentimentClassifier
from mmsent.fusion import AuxiliaryTaskScores, GatedFusionClassifier, SharedSpaceFeatures

from ..conftest import PALETTE, synthetic_posts


def sticker_posts(n=120, seed=0):
    """Posts whose image is a sticker of its own sentiment (the post's 60% of the time, else neutral or the
    opposite); the text holds one 70%-reliable word. ``image_label`` is the sticker's sentiment."""
    rng = np.random.default_rng(seed)
    X, y = synthetic_posts(n=n, seed=seed, cues=1)
    opposite = {"positive": "negative", "negative": "positive"}
    own = np.array([
        label if rng.random() < 0.6 else rng.choice(["neutral", opposite[label]]) for label in y
    ], dtype=object)
    colours = {**PALETTE, "neutral": (128, 128, 128)}
    X["image"] = [np.full((32, 32, 3), colours[sticker], np.uint8) + rng.integers(0, 20, (32, 32, 3), np.uint8)
                  for sticker in own]
    return X.assign(image_label=own), y


@pytest.mark.parametrize("fusion", ["intermediate", "gated", "multitask"])
def test_the_new_fusions_learn(fusion):
    X, y = synthetic_posts(n=120, seed=0)
    X_test, y_test = synthetic_posts(n=80, seed=1)
    flipped = np.random.default_rng(0).random(len(y)) < 0.2
    X["image_label"] = np.where(flipped, np.where(y == "positive", "negative", "positive"), y)  # a noisy own label
    clf = MultimodalSentimentClassifier(fusion=fusion, cv=3, n_components=4, image_label_column="image_label")
    assert clf.fit(X, y).classes_.tolist() == ["negative", "positive"]
    assert clf.score(X_test, y_test) > 0.65
    assert sum(clf.modality_weights_.values()) == pytest.approx(1.0)


def test_the_fitted_models_are_the_promised_compositions():
    X, y = sticker_posts()
    models = {
        fusion: MultimodalSentimentClassifier(fusion=fusion, cv=3, n_components=4,
                                              image_label_column="image_label").fit(X, y).model_
        for fusion in ("intermediate", "gated", "multitask")
    }
    assert isinstance(models["intermediate"], Pipeline)
    assert isinstance(models["intermediate"].named_steps["features"], SharedSpaceFeatures)
    assert models["intermediate"].named_steps["features"].projector_.n_components_ == 4
    assert isinstance(models["gated"], GatedFusionClassifier)
    union = models["multitask"].named_steps["features"]
    assert isinstance(union, FeatureUnion) and [name for name, _ in union.transformer_list] == ["posts", "image_task"]
    task = union.named_transformers["image_task"]
    assert isinstance(task, AuxiliaryTaskScores) and task.classes_.tolist() == ["negative", "neutral", "positive"]


def test_intermediate_parameters_are_tunable():
    X, y = sticker_posts()
    grid = GridSearchCV(
        MultimodalSentimentClassifier(fusion="intermediate"),
        {"projection": ["cca", "pls"], "n_components": [2, 4], "shared_weight": [0.5, 1.0]},
        cv=2,
    ).fit(X, y)
    assert set(grid.best_params_) == {"projection", "n_components", "shared_weight"}
    shared = grid.best_estimator_.model_.named_steps["features"]
    assert shared.projector.method == grid.best_params_["projection"]
    assert shared.shared_weight == grid.best_params_["shared_weight"]


def test_gated_weights_per_post_and_on_average():
    X, y = sticker_posts(n=200)
    clf = MultimodalSentimentClassifier(fusion="gated", cv=3).fit(X, y)
    weights = clf.modality_weights(X)
    assert weights.columns.tolist() == ["text", "image"] and weights.index.equals(X.index)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert clf.modality_weights_ == pytest.approx(dict(zip(["text", "image"], clf.model_.train_weights_.mean(0))))
    # A neutral sticker says nothing of the post's sentiment: those posts lean on their text.
    neutral = (X["image_label"] == "neutral").to_numpy()
    assert weights["text"][neutral].mean() > weights["text"][~neutral].mean() + 0.1
    assert not hasattr(MultimodalSentimentClassifier(fusion="stack"), "modality_weights")
    assert hasattr(clf, "predict_proba") and not hasattr(clf, "decision_function")


def test_gated_with_missing_modalities():
    X, y = sticker_posts(n=160)
    X_test = X.astype({"image": object}).copy()
    X_test.loc[X_test.index[:10], "image"] = None
    renormalized = MultimodalSentimentClassifier(fusion="gated", cv=3).fit(X, y)
    assert renormalized.model_.estimators_[0].__class__.__name__ == "ModalityClassifier"
    weights = renormalized.modality_weights(X_test)
    np.testing.assert_array_equal(weights["image"].to_numpy()[:10], 0.0)
    gated = renormalized.model_
    text_alone = gated.calibrators_[0].predict_proba(gated.estimators_[0].decision_function(X_test[:10]).reshape(-1, 1))
    np.testing.assert_allclose(renormalized.predict_proba(X_test[:10]),
                               gated.recalibrator_.predict_proba(np.log(text_alone + 1e-9)))
    imputed = MultimodalSentimentClassifier(fusion="gated", cv=3, missing="impute").fit(X, y)
    assert imputed.predict(X_test).shape == (len(X_test),)


def test_intermediate_and_multitask_impute_missing_modalities():
    X, y = sticker_posts(n=160)
    X = X.astype({"image": object})
    X.loc[X.index[::7], "image"] = None
    for fusion in ("intermediate", "multitask"):
        clf = MultimodalSentimentClassifier(fusion=fusion, cv=3, n_components=2, image_label_column="image_label")
        assert clf.fit(X, y).predict(X).shape == (len(X),)
        with pytest.raises(ValueError, match="missing='renormalize' .* fusion"):
            clone(clf).set_params(missing="renormalize").fit(X, y)


def test_multitask_refuses_without_per_modality_labels():
    X, y = sticker_posts()
    with pytest.raises(ValueError, match="needs per-modality labels.*sticker_sentiment"):
        MultimodalSentimentClassifier(fusion="multitask").fit(X, y)
    expected = r"text_label_column='own'.*no such column.*\['text', 'image', 'image_label'\]"
    with pytest.raises(ValueError, match=expected):
        MultimodalSentimentClassifier(fusion="multitask", text_label_column="own").fit(X, y)
    with pytest.raises(ValueError, match="0 auxiliary labels"):
        MultimodalSentimentClassifier(fusion="multitask", image_label_column="image_label").fit(
            X.assign(image_label=None), y)


def test_multitask_keeps_the_estimator_contract():
    X, y = sticker_posts(n=100)
    template = MultimodalSentimentClassifier(fusion="multitask", cv=3, image_label_column="image_label")
    with pytest.raises(NotFittedError):
        template.predict(X)
    clf = clone(template)
    params = joblib.hash(clf.get_params())
    assert clf.fit(X, y) is clf and joblib.hash(clf.get_params()) == params
    predicted = clf.predict(X)
    # Predicting needs no per-modality labels, and rows are predicted independently.
    unlabelled = X.drop(columns="image_label")
    np.testing.assert_array_equal(clf.predict(unlabelled), predicted)
    order = [5, 0, 17, 3]
    np.testing.assert_array_equal(clf.predict(unlabelled.iloc[order]), predicted[order])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(X), predicted)
    np.testing.assert_array_equal(clone(template).fit(X, y).predict(X), predicted)  # refitting changes nothing
    np.testing.assert_allclose(clf.decision_function(X), clf.model_.decision_function(X))
    grid = GridSearchCV(template, {"task_weight": [0.5, 2.0]}, cv=2).fit(X, y)
    assert grid.best_params_["task_weight"] in (0.5, 2.0)


def test_the_auxiliary_task_scores_are_weighted_beside_the_posts_features():
    X, y = sticker_posts()
    clf = MultimodalSentimentClassifier(fusion="multitask", cv=3, image_label_column="image_label",
                                        task_weight=3.0).fit(X, y)
    union = clf.model_.named_steps["features"]
    assert union.transformer_weights == {"posts": 1.0, "image_task": 3.0}
    features = union.transform(X)
    task_scores = union.named_transformers["image_task"].transform(X)
    np.testing.assert_allclose(np.asarray(features[:, -3:].todense() if hasattr(features, "todense")
                                          else features[:, -3:]), 3.0 * task_scores)


def test_text_and_image_label_columns_together():
    X, y = sticker_posts()
    X = X.assign(text_label=pd.Series(y, index=X.index).where(np.arange(len(X)) % 3 > 0))  # a third unlabelled
    clf = MultimodalSentimentClassifier(fusion="multitask", cv=3, text_label_column="text_label",
                                        image_label_column="image_label").fit(X, y)
    tasks = clf.model_.named_steps["features"].named_transformers
    assert tasks["text_task"].n_labelled_ == len(X) - len(X) // 3 and tasks["image_task"].n_labelled_ == len(X)
