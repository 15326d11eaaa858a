import numpy as np
import pytest
from sklearn.base import clone

from mmsent import MultimodalSentimentClassifier, set_verbose
from mmsent._progress import progress_bar
from mmsent.image import make_image_features
from mmsent.text import JiebaTokenizer, clear_token_cache, make_text_features

TOKENIZER = "mmsent.text._tokenizer"


pytestmark = pytest.mark.usefixtures("fresh_token_cache")


@pytest.mark.parametrize(
    ("total", "verbose", "shown"),
    [(10, 0, False), (10, 1, False), (100, 1, True), (10, 2, True), (0, 2, False), (None, 1, True), (100, True, True)],
)
def test_bar_levels(total, verbose, shown):
    with progress_bar(total, desc="work", unit="items", verbose=verbose, min_total=100) as bar:
        assert bar.disable is not shown


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_tokenizer_bar_counts_documents_and_changes_no_token(monkeypatch, capfd, n_jobs):
    monkeypatch.setattr(f"{TOKENIZER}._PARALLEL_MIN_CHARS", 0)  # n_jobs=2: worker processes
    monkeypatch.setattr(f"{TOKENIZER}._SERIAL_CHUNK_DOCUMENTS", 50)  # n_jobs=1: three steps
    docs = [f"第{i}条评论：质量很好 #好物#" for i in range(120)] * 2  # repeats are segmented, and counted, once
    quiet = JiebaTokenizer(backend="jieba", n_jobs=n_jobs).transform(docs)
    assert capfd.readouterr().err == ""  # workers included
    clear_token_cache()
    shown = JiebaTokenizer(backend="jieba", n_jobs=n_jobs, verbose=2).transform(docs)
    err = capfd.readouterr().err
    assert shown == quiet
    assert "tokenize: 100%" in err and "120/120" in err and "documents/s" in err


def test_verbose_one_shows_bars_only_for_large_batches(monkeypatch, capsys):
    monkeypatch.setattr(f"{TOKENIZER}._PROGRESS_MIN_DOCUMENTS", 100)
    tokenizer = JiebaTokenizer(verbose=1)
    tokenizer.transform([f"小批量{i}" for i in range(99)])
    assert capsys.readouterr().err == ""
    tokenizer.transform([f"大批量{i}" for i in range(100)])
    assert "100/100" in capsys.readouterr().err
    tokenizer.transform([f"大批量{i}" for i in range(100)])  # all cached: nothing to report
    assert capsys.readouterr().err == ""


def test_classifier_passes_verbose_to_the_featurizers_it_builds(posts):
    X, y = posts
    params = MultimodalSentimentClassifier(features="handcrafted",
        fusion="text", verbose=2).fit(X, y).model_.get_params()
    assert params["features__text__transformer__tokenize__verbose"] == 2
    own = make_text_features()
    params = MultimodalSentimentClassifier(features="handcrafted",
        fusion="text", verbose=2, text_features=own).fit(X, y).model_.get_params()
    assert params["features__text__transformer__tokenize__verbose"] == 0  # a featurizer passed in keeps its own
    assert make_image_features(cnn=True, verbose=2).get_params()["cnn__embed__verbose"] == 2
    assert clone(MultimodalSentimentClassifier(features="handcrafted", verbose=1)).get_params()["verbose"] == 1


def test_verbose_changes_no_feature_and_zero_is_silent(posts, capsys):
    X, y = posts
    loud = MultimodalSentimentClassifier(features="handcrafted", verbose=2).fit(X, y)
    n_docs = X["text"].nunique()
    assert f"tokenize: 100%|██████████| {n_docs}/{n_docs}" in capsys.readouterr().err
    clear_token_cache()
    quiet = MultimodalSentimentClassifier(features="handcrafted").fit(X, y)
    assert capsys.readouterr().err == ""
    # Exact features (LinearSVC's own shuffling makes its coefficients differ in the last digits).
    np.testing.assert_array_equal(loud.model_[:-1].transform(X), quiet.model_[:-1].transform(X))
    assert (loud.predict(X) == quiet.predict(X)).all()


def test_set_verbose_reaches_the_fitted_featurizers_and_nothing_else(posts, capsys):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="vote").fit(X, y)
    new = X.assign(text=[f"新的 {text}" for text in X["text"]])
    assert set_verbose(clf, 2) is clf
    clf.predict(new)
    assert "tokenize: 100%" in capsys.readouterr().err
    assert clf.verbose == 2 and clf.get_params()["verbose"] == 2
    # scikit-learn's verbose (VotingClassifier's messages, liblinear's log) is another thing: untouched.
    others = {name: value for name, value in clf.model_.get_params().items() if name.endswith("verbose")}
    assert {name for name, value in others.items() if value} == {
        "text__estimator__features__text__tokenize__verbose",
        "image__estimator__features__image__verbose",  # the batched image branch's bar
    }
    assert {"verbose", "text__estimator__classifier__estimator__verbose"} <= set(others)
    set_verbose(clf, 0).predict(new.assign(text=[f"再 {text}" for text in X["text"]]))
    assert capsys.readouterr().err == ""
