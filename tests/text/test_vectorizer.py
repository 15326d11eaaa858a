"""TokenTfidfVectorizer counts n-grams its own way: everything must equal scikit-learn's TfidfVectorizer."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

from mmsent.text import TokenTfidfVectorizer, make_text_features, passthrough_tokens

TOKENS = dict(tokenizer=passthrough_tokens, preprocessor=passthrough_tokens, token_pattern=None, lowercase=False)
DOCS = [
    ["质量", "很", "好", "很", "好"],
    ["很", "差", "!", "<url>"],
    [],
    ("好", "好", "好"),  # a tuple, as the token cache holds them
    ["a b", "c"],  # a token with a space: its bigram "a b c" is also the bigram of the next document
    ["a", "b c"],
    ["a", "b", "c", "a", "b"],
]
NEW_DOCS = [["很", "好", "没见过"], [], ["a", "b c", "a b", "c"], ["好"] * 40]


def assert_same(ours, theirs, fit_docs=DOCS, new_docs=NEW_DOCS):
    X = ours.fit_transform(fit_docs)
    Y = theirs.fit_transform(fit_docs)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert ours.get_feature_names_out().tolist() == theirs.get_feature_names_out().tolist()
    if theirs.use_idf:
        np.testing.assert_array_equal(ours.idf_, theirs.idf_)
    for a, b in ((X, Y), (ours.transform(new_docs), theirs.transform(new_docs))):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
        # The same entries in the same order within each row: a row's norm sums them in that order.
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ngram_range": (1, 2)},
        {"ngram_range": (2, 2)},
        {"ngram_range": (1, 3), "sublinear_tf": True},
        {"ngram_range": (2, 3), "norm": "l1"},
        {"ngram_range": (1, 2), "stop_words": ["很", "b"]},
        {"ngram_range": (1, 2), "min_df": 2},
        {"ngram_range": (1, 2), "max_df": 0.3},
        {"ngram_range": (1, 2), "max_features": 6},
        {"ngram_range": (1, 2), "binary": True, "use_idf": False, "norm": None},
        {"ngram_range": (1, 2), "dtype": np.float32, "smooth_idf": False},
        {"vocabulary": ["好", "很 好", "a b c", "差"], "ngram_range": (1, 3)},
    ],
)
def test_equals_scikit_learn_on_token_lists(params):
    assert_same(TokenTfidfVectorizer(**TOKENS, **params), TfidfVectorizer(**TOKENS, **params))


@pytest.mark.parametrize("batch_tokens", [1, 3, 7])
@pytest.mark.parametrize("params", [{"ngram_range": (1, 2)}, {"ngram_range": (2, 3), "stop_words": ["好"]}])
def test_transform_in_batches_equals_one_pass(monkeypatch, batch_tokens, params):
    # transform counts a few tokens' documents at a time; the joined batches must be scikit-learn's matrix.
    monkeypatch.setattr("mmsent.text._vectorizer._BATCH_TOKENS", batch_tokens)
    ours, theirs = TokenTfidfVectorizer(**TOKENS, **params), TfidfVectorizer(**TOKENS, **params)
    assert_same(ours, theirs, new_docs=NEW_DOCS + DOCS)
    # A generator has no length to size the output from: it grows as batches come.
    grown, expected = ours.transform(iter(NEW_DOCS + DOCS)), theirs.transform(NEW_DOCS + DOCS)
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(grown, part), getattr(expected, part))
    a, b = ours.transform([[], []]), theirs.transform([[], []])
    assert a.shape == b.shape and a.nnz == b.nnz == 0 and a.indptr.tolist() == b.indptr.tolist()
    for vectorizer in (ours, theirs):
        with pytest.raises(ValueError, match="0 sample"):
            vectorizer.transform([])


def test_other_analyzers_are_scikit_learns_own():
    texts = ["很好 great", "太差了 awful", "great great"]
    for params in ({}, {"analyzer": "char", "ngram_range": (1, 2)}, {"token_pattern": r"\S+"}):
        assert_same(TokenTfidfVectorizer(**params), TfidfVectorizer(**params), texts, ["great 好"])


def test_the_default_text_branch_uses_it_and_matches_scikit_learn():
    branch = make_text_features()
    theirs = TfidfVectorizer(**branch.named_steps["tfidf"].get_params())
    assert type(branch.named_steps["tfidf"]) is TokenTfidfVectorizer
    assert_same(clone(branch.named_steps["tfidf"]), theirs)


def test_errors_are_scikit_learns():
    for vectorizer in (TokenTfidfVectorizer(**TOKENS), TfidfVectorizer(**TOKENS)):
        with pytest.raises(ValueError, match="empty vocabulary"):
            vectorizer.fit([[], []])
        with pytest.raises(ValueError, match="np.nan is an invalid document"):
            vectorizer.fit([["好"], np.nan])
        with pytest.raises(ValueError, match="After pruning, no terms remain"):
            vectorizer.set_params(min_df=2).fit([["好"], ["差"]])


def test_pickles_and_clones():
    vectorizer = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2)).fit(DOCS)
    loaded = pickle.loads(pickle.dumps(vectorizer))
    np.testing.assert_array_equal(loaded.transform(NEW_DOCS).toarray(), vectorizer.transform(NEW_DOCS).toarray())
    assert clone(vectorizer).get_params() == vectorizer.get_params()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(st.lists(st.sampled_from(["好", "很", "a", "b", "a b", "b a", " ", "ü"]), max_size=8), min_size=1),
    ngram_range=st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3), (3, 4)]),
)
def test_any_token_lists_give_scikit_learns_features(docs, ngram_range):
    ours = TokenTfidfVectorizer(**TOKENS, ngram_range=ngram_range)
    theirs = TfidfVectorizer(**TOKENS, ngram_range=ngram_range)
    try:
        expected = theirs.fit_transform(docs)
    except ValueError as error:  # no n-gram at all
        with pytest.raises(ValueError, match=str(error)):
            ours.fit_transform(docs)
        return
    ours_matrix = ours.fit_transform(docs)
    assert ours.vocabulary_ == theirs.vocabulary_
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours_matrix, part), getattr(expected, part))
