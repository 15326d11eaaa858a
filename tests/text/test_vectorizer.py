"""TokenTfidfVectorizer counts n-grams its own way: everything must equal scikit-learn's TfidfVectorizer."""

import pickle
import tracemalloc

import joblib
import numpy as np
import pytest
import sklearn
import skops.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from mmsent._persistence import TRUSTED_TYPES
from mmsent.text import NgramVocabulary, TokenTfidfVectorizer, make_text_features, passthrough_tokens

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


def test_transform_errors_are_scikit_learns():
    for vectorizer in (TokenTfidfVectorizer(**TOKENS), TfidfVectorizer(**TOKENS)):
        with pytest.raises(NotFittedError, match="The TF-IDF vectorizer is not fitted"):
            vectorizer.transform(DOCS)
        with pytest.raises(ValueError, match="string object received"):
            vectorizer.fit(DOCS).transform("好")


@pytest.mark.skipif("sparse_interface" not in sklearn.get_config(), reason="scikit-learn >= 1.9 configures it")
def test_the_configured_sparse_interface_is_scikit_learns():
    with sklearn.config_context(sparse_interface="sparray"):
        assert_same(TokenTfidfVectorizer(**TOKENS), TfidfVectorizer(**TOKENS), COMPACT_DOCS, COMPACT_NEW)


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


# -- the learnt vocabulary: NgramVocabulary ---------------------------------------------------------

# No token holds a character at or below the space: the vocabulary is an NgramVocabulary. Words that are
# prefixes of others ("a", "ab", "a!"), the empty token, ties in frequency, n-grams seen once.
WORDS = ["好", "很", "a", "ab", "a!", "b", "ü", "", "z", "好的", "很好", "~"]
_rng = np.random.default_rng(0)
COMPACT_DOCS = [[WORDS[i] for i in _rng.integers(0, len(WORDS), _rng.integers(0, 9))] for _ in range(120)]
COMPACT_NEW = [[WORDS[i] for i in _rng.integers(0, len(WORDS), _rng.integers(0, 9))] + ["没见过"] for _ in range(30)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ngram_range": (1, 2)},
        {"ngram_range": (2, 2)},
        {"ngram_range": (1, 3)},
        {"ngram_range": (2, 4), "sublinear_tf": True},
        {"ngram_range": (1, 2), "stop_words": ["a", "很"]},
        {"ngram_range": (1, 2), "min_df": 3},
        {"ngram_range": (1, 3), "max_df": 0.1},
        {"ngram_range": (1, 2), "max_features": 25},  # ties at the cut
        {"ngram_range": (1, 3), "max_features": 40, "min_df": 2, "max_df": 0.5},
        {"ngram_range": (1, 2), "dtype": np.float32},
    ],
)
def test_the_learnt_vocabulary_is_compact_and_equal(params):
    ours = TokenTfidfVectorizer(**TOKENS, **params)
    assert_same(ours, TfidfVectorizer(**TOKENS, **params), COMPACT_DOCS, COMPACT_NEW)
    assert isinstance(ours.vocabulary_, NgramVocabulary)
    theirs = TfidfVectorizer(**TOKENS, **params).fit(COMPACT_DOCS).vocabulary_
    assert dict(ours.vocabulary_) == theirs and ours.vocabulary_ == theirs and theirs == ours.vocabulary_
    # Iterated in column order, as the feature names are.
    assert list(ours.vocabulary_) == ours.get_feature_names_out().tolist()
    assert list(ours.vocabulary_.items()) == sorted(theirs.items(), key=lambda item: item[1])
    assert list(ours.vocabulary_.values()) == list(range(len(theirs)))


@pytest.mark.parametrize("token", ["a b", " ", "a\tb", "\x00", "x\n"])
def test_a_token_holding_a_space_or_below_keeps_a_dict(token):
    docs = [*COMPACT_DOCS, ["好", token, "很"]]
    ours = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2))
    assert_same(ours, TfidfVectorizer(**TOKENS, ngram_range=(1, 2)), docs, COMPACT_NEW + [[token, "好"]])
    assert type(ours.vocabulary_) is dict


def test_the_vocabulary_reads_like_a_dict():
    vocabulary = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2)).fit([["很", "好"], ["好", "ab"]]).vocabulary_
    assert dict(vocabulary) == {"ab": 0, "好": 1, "好 ab": 2, "很": 3, "很 好": 4}
    assert vocabulary["很 好"] == 4 and type(vocabulary["很 好"]) is int and len(vocabulary) == 5
    for absent in ("好 很", "很 好 ab", "没有", "好 没有", "", "好  ab", "好\tab", 3, None, ("很", "好")):
        assert absent not in vocabulary and vocabulary.get(absent, -1) == -1
        with pytest.raises(KeyError):
            vocabulary[absent]
    assert vocabulary != {"ab": 0} and vocabulary != ["ab"]
    assert repr(vocabulary) == "NgramVocabulary(5 n-grams of 1/2 words)"


def test_the_ngram_range_changed_after_fit_counts_what_the_vocabulary_has():
    ours, theirs = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2)), TfidfVectorizer(**TOKENS, ngram_range=(1, 2))
    ours.fit(COMPACT_DOCS), theirs.fit(COMPACT_DOCS)
    for ngram_range in ((1, 3), (2, 5), (1, 1), (3, 3)):
        a = ours.set_params(ngram_range=ngram_range).transform(COMPACT_NEW)
        b = theirs.set_params(ngram_range=ngram_range).transform(COMPACT_NEW)
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))


@pytest.mark.parametrize("batch_tokens", [1, 5])
def test_compact_transform_in_batches_equals_one_pass(monkeypatch, batch_tokens):
    monkeypatch.setattr("mmsent.text._vectorizer._BATCH_TOKENS", batch_tokens)
    ours = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 3), min_df=2)
    assert_same(ours, TfidfVectorizer(**TOKENS, ngram_range=(1, 3), min_df=2), COMPACT_DOCS, COMPACT_NEW)
    assert isinstance(ours.vocabulary_, NgramVocabulary)


def test_a_dict_vocabulary_of_an_older_model_still_transforms():
    fitted = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2)).fit(COMPACT_DOCS)
    expected = fitted.transform(COMPACT_NEW)
    fitted.vocabulary_ = dict(fitted.vocabulary_)  # as a model saved before NgramVocabulary holds it
    assert (fitted.transform(COMPACT_NEW) != expected).nnz == 0
    assert fitted.get_feature_names_out().tolist() == list(fitted.vocabulary_)


def test_the_vocabulary_saves_and_loads(tmp_path):
    fitted = TokenTfidfVectorizer(**TOKENS, ngram_range=(1, 2)).fit(COMPACT_DOCS)
    expected = fitted.transform(COMPACT_NEW)
    assert vars(pickle.loads(pickle.dumps(fitted.vocabulary_))).keys() == {"words", "sizes", "codes", "columns"}
    joblib.dump(fitted, tmp_path / "v.joblib")
    skops.io.dump(fitted, tmp_path / "v.skops")
    untrusted = skops.io.get_untrusted_types(file=tmp_path / "v.skops")
    assert set(untrusted) <= set(TRUSTED_TYPES)
    for loaded in (joblib.load(tmp_path / "v.joblib"), skops.io.load(tmp_path / "v.skops", trusted=untrusted)):
        assert isinstance(loaded.vocabulary_, NgramVocabulary) and loaded.vocabulary_ == fitted.vocabulary_
        assert (loaded.transform(COMPACT_NEW) != expected).nnz == 0


def test_the_vocabulary_is_a_fraction_of_the_dict():
    rng = np.random.default_rng(1)
    words = [f"词{i}" for i in range(3000)]
    docs = [[words[i] for i in rng.integers(0, len(words), 30)] for _ in range(700)]
    held = {}
    for cls in (TokenTfidfVectorizer, TfidfVectorizer):
        vectorizer = cls(**TOKENS, ngram_range=(1, 2))
        tracemalloc.start()
        vectorizer.fit(docs)
        held[cls] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    n_features = len(vectorizer.vocabulary_)
    assert n_features > 20_000
    # The dict: a string and an entry per n-gram (over 100 bytes); here a key and a column (12 bytes), the words.
    assert held[TfidfVectorizer] / n_features > 100
    assert held[TokenTfidfVectorizer] / n_features < 25


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(st.lists(st.sampled_from(["好", "很", "a", "ab", "b", "", "ü", "a!"]), max_size=8), min_size=1),
    ngram_range=st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3), (3, 4)]),
    pruning=st.sampled_from([{}, {"min_df": 2}, {"max_df": 0.6}, {"max_features": 5}]),
)
def test_any_compact_token_lists_give_scikit_learns_features(docs, ngram_range, pruning):
    ours = TokenTfidfVectorizer(**TOKENS, ngram_range=ngram_range, **pruning)
    theirs = TfidfVectorizer(**TOKENS, ngram_range=ngram_range, **pruning)
    try:
        expected = theirs.fit_transform(docs)
    except ValueError as error:  # no n-gram at all, or none left
        with pytest.raises(ValueError, match=str(error).split(";")[0].split(".")[0]):
            ours.fit_transform(docs)
        return
    ours_matrix = ours.fit_transform(docs)
    assert ours.vocabulary_ == theirs.vocabulary_
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours_matrix, part), getattr(expected, part))
