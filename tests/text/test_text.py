import pickle

import jieba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from mmsent.text import JiebaTokenizer, TextCleaner, clear_token_cache, make_text_features
from mmsent.text._segment import _segmenter, _words

pytestmark = pytest.mark.usefixtures("fresh_token_cache")


def test_one_character_chinese_words_survive():
    tokens = JiebaTokenizer()("服务差，菜很好")
    assert tokens == ["服务", "差", "，", "菜", "很", "好"]
    for word in ("很", "好", "差"):
        assert word in tokens


def test_sklearn_default_pattern_would_drop_them():
    # The trap this tokenizer avoids: the default token_pattern needs 2+ characters.
    with pytest.raises(ValueError, match="empty vocabulary"):
        TfidfVectorizer().fit(["好 差 很"])
    assert set(make_text_features().fit(["好 差 很"])[-1].vocabulary_) >= {"好", "差", "很"}


def test_mixed_text_lowercase_and_entities():
    tokens = JiebaTokenizer()("质量很好 Love IT! http://t.co/abc @Bob_1 #Happy #真好吃#")
    assert tokens == [
        "质量", "很", "好", "love", "it", "!", "<url>", "<user>", "<hashtag>", "happy", "<hashtag>", "真", "好吃",
    ]
    raw = JiebaTokenizer(lowercase=False, normalize_entities=False)("Love http://t.co/abc")
    assert "Love" in raw and "<url>" not in raw


def test_stop_words_and_whitespace_dropped():
    tokens = JiebaTokenizer(stop_words={"的", "!"})("好的  东西 !")
    assert tokens == ["好", "东西"]


def test_hmm_switch_changes_unknown_words():
    # jieba's documented example: the HMM joins the out-of-vocabulary word 杭研.
    text = "他来到了网易杭研大厦"
    assert "杭研" in JiebaTokenizer(hmm=True)(text)
    assert "杭研" not in JiebaTokenizer(hmm=False)(text)


def test_user_dictionary(tmp_path):
    text = "蓝莓冰淇淋味道不错"
    assert "蓝莓冰淇淋" not in JiebaTokenizer()(text)
    user_dict = tmp_path / "words.txt"
    user_dict.write_text("蓝莓冰淇淋 100 n\n", encoding="utf-8")
    assert "蓝莓冰淇淋" in JiebaTokenizer(user_dict=user_dict)(text)


def test_missing_user_dictionary_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        JiebaTokenizer(user_dict=tmp_path / "nowhere.txt")("好")


def test_tokenizer_pickles_and_compares_by_configuration():
    tokenizer = JiebaTokenizer(hmm=False, stop_words=["的"])
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone == tokenizer and hash(clone) == hash(tokenizer)
    assert clone("好的") == tokenizer("好的")
    assert JiebaTokenizer(hmm=True) != tokenizer
    assert repr(tokenizer) == "JiebaTokenizer(hmm=False, stop_words=['的'])"


def test_non_string_document_is_rejected():
    with pytest.raises(TypeError, match="expects str"):
        JiebaTokenizer()(42)
    # In a batch, every bad row is named, whether or not workers would segment it.
    docs = pd.Series(["好"] * 3 + [np.nan, 7], index=[10, 11, 12, 13, 14])
    for n_jobs in (1, 2):
        with pytest.raises(TypeError, match=r"2 rows are not:\n  row 13: got float nan\n  row 14: got int 7"):
            JiebaTokenizer(n_jobs=n_jobs).transform(docs)


def counting_segmenter(monkeypatch):
    calls = []
    original = jieba.dt.lcut

    def lcut(text, *args, **kwargs):
        calls.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(jieba.dt, "lcut", lcut)
    return calls


def test_each_document_is_segmented_once_across_cv_folds(monkeypatch):
    calls = counting_segmenter(monkeypatch)
    docs = [f"第{i}个，很好" if i % 2 else f"第{i}个，很差" for i in range(30)]  # one run each (see _words)
    labels = np.arange(30) % 2
    features = make_text_features(tokenizer=JiebaTokenizer(backend="jieba"))
    scores = cross_val_score(make_pipeline(features, LinearSVC()), pd.Series(docs), labels, cv=5)
    assert scores.mean() > 0.9
    # 5 folds each fit on 24 documents and predict 6: 150 tokenizations without a
    # cache. With it, one segmentation per distinct document.
    assert len(calls) == len(set(docs)) == 30


def test_batch_transform_equals_per_document_calls():
    docs = ["很好 great", "太差了", "很好 great", ""]
    tokenizer = JiebaTokenizer()
    tokens = tokenizer.fit_transform(pd.Series(docs))
    assert [list(document) for document in tokens] == [tokenizer(doc) for doc in docs]
    # The cached tuples themselves, not copies: a repeated document costs nothing more.
    assert all(type(document) is tuple for document in tokens)
    assert tokens[0] is tokens[2] and tokenizer.transform(docs[:1])[0] is tokens[0]


def test_parallel_workers_give_the_serial_tokens(monkeypatch):
    docs = [f"第{i}条评论：质量很好，物流太慢了 #好物# @user{i}" for i in range(200)]
    serial = JiebaTokenizer(backend="jieba").transform(docs)
    clear_token_cache()
    monkeypatch.setattr("mmsent.text._tokenizer._PARALLEL_MIN_CHARS", 0)
    parallel = JiebaTokenizer(backend="jieba", n_jobs=2).transform(docs)
    assert parallel == serial


def test_this_process_segments_the_chunks_no_worker_has_started(monkeypatch):
    from concurrent.futures import Future

    from mmsent.text import _segment, _tokenizer

    class IdleWorkers:  # never start a chunk: every future can still be cancelled
        def submit(self, function, *args):
            return Future()

    class FinishedWorkers:  # have done every chunk already
        def submit(self, function, *args):
            future = Future()
            future.set_result(_segment.tokenize_chunk(*args))
            return future

    docs = [f"第{i}条评论：质量很好" for i in range(12)]
    chunks = [docs[i : i + 3] for i in range(0, 12, 3)]
    config = JiebaTokenizer(backend="jieba")._config()
    expected = {doc: tuple(JiebaTokenizer(backend="jieba")(doc)) for doc in docs}
    for workers, done_here in ((IdleWorkers(), chunks[::-1]), (FinishedWorkers(), [])):
        here = []

        def executor(max_workers, workers=workers):
            return workers

        def tokenize_here(chunk, config, here=here):
            here.append(chunk)
            return _segment.tokenize_chunk(chunk, config)

        monkeypatch.setattr(_tokenizer, "get_reusable_executor", executor)
        monkeypatch.setattr(_tokenizer, "tokenize_chunk", tokenize_here)
        results = list(_tokenizer._segment_chunks(chunks, config, n_jobs=2))
        assert here == done_here  # from the back, while no worker has taken the chunk
        assert sorted(map(tuple, (chunk for chunk, _ in results))) == sorted(map(tuple, chunks))
        assert {doc: tokens for chunk, tokens in results for doc, tokens in zip(chunk, tokens)} == expected


def test_jieba_fast_backend_matches_jieba_on_plain_chinese():
    pytest.importorskip("jieba_fast")
    sentences = ["我来到北京清华大学", "他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所，后在日本京都大学深造"]
    for sentence in sentences:
        assert JiebaTokenizer(backend="jieba_fast")(sentence) == JiebaTokenizer(backend="jieba")(sentence)
    # The resolved backend is part of the cache key: tokens are never mixed.
    assert JiebaTokenizer(backend="jieba_fast") != JiebaTokenizer(backend="jieba")


# Whitespace of every kind (ASCII, no-break, ideographic, line separators) beside what is not (zero-width
# space, control characters), punctuation, digits, Latin and CJK letters (dictionary words), emoji.
_BLANKS = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u2028\u202f\u3000"
_CHARS = _BLANKS + "\u200b\x00\x7f.,!?-:;#@/%&+_()'\"…“”，。！？、0123456789aZxy好很差北京大学的了😀❤"
_TEXTS = st.one_of(
    st.text(alphabet=_BLANKS, max_size=6),
    st.text(alphabet=_CHARS, max_size=24),
    st.lists(
        st.sampled_from(["北京", "大学", "a.b", "ok", "很好", "\r\n", " ", "\u3000", "x-1"]), max_size=8
    ).map("".join),
)


@pytest.mark.parametrize("backend", ["jieba", "jieba_fast"])
@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_TEXTS, min_size=1, max_size=4), hmm=st.booleans())
def test_words_of_runs_between_whitespace_are_jiebas_words_of_the_text(backend, texts, hmm):
    # Each run between whitespace is segmented apart, once per memo, as jieba would in the whole text.
    pytest.importorskip(backend)
    segmenter = _segmenter(backend, None)
    memo = {}  # shared by the texts, as by the documents of a batch
    for text in texts * 2:
        assert _words(text, segmenter, hmm, memo) == [w for w in segmenter.lcut(text, HMM=hmm) if not w.isspace()]


def test_text_features_are_sparse_float32_with_bigrams():
    features = make_text_features(ngram_range=(1, 2))
    X = features.fit_transform(pd.Series(["很 好", "很 差", "好"]))
    assert sp.issparse(X) and X.dtype == np.float32
    assert features.get_params()["tokenize__hmm"] is True
    vocabulary = features.named_steps["tfidf"].vocabulary_
    assert {"很", "好", "差", "很 好", "很 差"} <= set(vocabulary)
    assert features.named_steps["tfidf"].token_pattern is None
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-6)


def test_text_cleaner_fallbacks_and_errors():
    column = pd.Series(["好", None, np.nan, b"ok", "   "], index=[5, 6, 7, 8, 9])
    assert TextCleaner().fit_transform(column) == ["好", "", "", "ok", "   "]
    bad = pd.Series(["好", 3.5, b"\xff\xfe", ["list"]], index=["a", "b", "c", "d"])
    with pytest.raises(ValueError) as info:
        TextCleaner().fit_transform(bad)
    message = str(info.value)
    assert message.startswith("3 rows have unusable text")
    assert "row 'b': text must be str, got float" in message
    assert "row 'c': text bytes" in message and "are not valid utf-8" in message
    assert "row 'd'" in message and "row 'a'" not in message
