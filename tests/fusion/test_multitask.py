"""Multi-task fusion's building block: an auxiliary task's out-of-fold scores as features."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from mmsent.fusion import AuxiliaryTaskScores


def image_branch(classifier=None):
    return make_pipeline(make_column_transformer(("passthrough", ["r", "g"])), classifier or LogisticRegression())


def sticker_posts(n=90, seed=0):
    """Posts whose image (two colour numbers) has its own label, positive / neutral / negative."""
    rng = np.random.default_rng(seed)
    image_label = np.array(["positive", "neutral", "negative"] * (n // 3), dtype=object)
    centre = {"positive": (1.0, 0.0), "neutral": (0.0, 0.0), "negative": (0.0, 1.0)}
    r, g = np.array([centre[label] for label in image_label]).T + rng.normal(0, 0.3, (2, n))
    return pd.DataFrame({"r": r, "g": g, "image_label": image_label})


def test_fit_transform_gives_out_of_fold_scores_and_transform_the_full_fit():
    X = sticker_posts()
    cv = StratifiedKFold(3)
    task = AuxiliaryTaskScores(image_branch(), "image_label", cv=cv)
    scores = task.fit_transform(X)
    twin = cross_val_predict(image_branch(), X, X["image_label"], cv=cv, method="decision_function")
    np.testing.assert_allclose(scores, twin)
    np.testing.assert_allclose(task.transform(X), task.estimator_.decision_function(X))
    assert not np.allclose(task.transform(X), scores)  # in-sample scores are not out-of-fold ones
    assert task.method_ == "decision_function" and task.classes_.tolist() == ["negative", "neutral", "positive"]
    assert task.get_feature_names_out().tolist() == [
        "image_label_negative", "image_label_neutral", "image_label_positive"
    ]


def test_predicting_needs_no_label_column():
    X = sticker_posts()
    task = AuxiliaryTaskScores(image_branch(), "image_label", cv=3).fit(X)
    assert task.transform(X.drop(columns="image_label")).shape == (len(X), 3)


def test_unlabelled_posts_get_the_full_fit_scores():
    X = sticker_posts()
    X.loc[X.index[::5], "image_label"] = None
    task = AuxiliaryTaskScores(image_branch(), "image_label", cv=3)
    scores = task.fit_transform(X)
    assert task.n_labelled_ == len(X) - len(X.index[::5])
    labelled = X["image_label"].notna().to_numpy()
    task_only = X[labelled]
    np.testing.assert_allclose(task.estimator_.decision_function(task_only), image_branch().fit(
        task_only, task_only["image_label"]).decision_function(task_only))
    np.testing.assert_allclose(scores[~labelled], task.estimator_.decision_function(X[~labelled]))


def test_binary_tasks_and_probabilities():
    X = sticker_posts()
    X = X[X["image_label"] != "neutral"]
    binary = AuxiliaryTaskScores(image_branch(LinearSVC()), "image_label", cv=3).fit(X)
    assert binary.transform(X).shape == (len(X), 1)
    assert binary.get_feature_names_out().tolist() == ["image_label_positive"]
    proba = AuxiliaryTaskScores(image_branch(), "image_label", cv=3, method="predict_proba")
    np.testing.assert_allclose(proba.fit_transform(X).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="does not have"):
        AuxiliaryTaskScores(image_branch(LinearSVC()), "image_label", method="predict_proba").fit(X)


def test_refuses_without_per_modality_labels():
    X = sticker_posts()
    with pytest.raises(ValueError, match=r"no column 'text_label' of auxiliary labels.*sticker_sentiment"):
        AuxiliaryTaskScores(image_branch(), "text_label").fit(X)
    X["image_label"] = None
    with pytest.raises(ValueError, match="0 auxiliary labels of 0 class"):
        AuxiliaryTaskScores(image_branch(), "image_label").fit(X)
    X["image_label"] = "neutral"
    with pytest.raises(ValueError, match="of 1 class"):
        AuxiliaryTaskScores(image_branch(), "image_label").fit(X)
