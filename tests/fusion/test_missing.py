"""Posts that lack their image or their text: impute, renormalise, or refuse."""

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mmsent import MultimodalSentimentClassifier
from mmsent._validation import is_missing, missing_mask
from mmsent.fusion import ModalityClassifier, ModalityImputer, ModalityVotingClassifier, make_fusion_model
from mmsent.image import decode_images, make_image_features
from mmsent.text import TextCleaner, make_text_features

from ..conftest import synthetic_posts
from .test_columns import fresh_block, status_mb

MISSING_VALUES = [None, np.nan, np.float32("nan"), pd.NA, "", "   \n"]


def without_images(X, fraction, seed=0):
    """X with the image of a random ``fraction`` of posts set to None."""
    X = X.astype({"image": object})
    n_missing = int(round(fraction * len(X)))
    gone = np.random.default_rng(seed).choice(len(X), n_missing, replace=False)
    X.loc[X.index[gone], "image"] = None
    return X


def strict(column):
    """A featurizer that fails on any missing value: proves the wrapper never passes one on."""
    values = list(column)
    assert not any(is_missing(v) for v in values), values
    return np.asarray(values, dtype=float).reshape(-1, 1)


# -- one definition of "missing" -----------------------------------------------------


def test_one_definition_of_missing_for_every_modality():
    assert [is_missing(v) for v in MISSING_VALUES] == [True] * len(MISSING_VALUES)
    assert not any(is_missing(v) for v in ["好", b"", 0, 0.0, np.zeros((2, 2), np.uint8)])
    assert missing_mask(pd.Series(["a", None, " "])).tolist() == [False, True, True]
    # The image decoder and the text cleaner agree with it.
    with pytest.raises(ValueError) as info:
        decode_images(pd.Series(MISSING_VALUES, dtype=object))
    assert str(info.value).count("no image (missing value)") == len(MISSING_VALUES)
    assert TextCleaner().fit_transform(pd.Series([None, np.nan, pd.NA], dtype=object)) == ["", "", ""]


# -- ModalityImputer ------------------------------------------------------------------


def test_imputer_fills_dense_features_with_the_learnt_mean_and_flags_them():
    imputer = ModalityImputer(FunctionTransformer(strict))
    out = imputer.fit_transform(pd.Series([1.0, None, 5.0, ""], dtype=object))
    assert out.tolist() == [[1.0, 0.0], [3.0, 1.0], [5.0, 0.0], [3.0, 1.0]]
    assert imputer.fill_.tolist() == [3.0] and imputer.n_missing_fit_ == 2
    # At predict time too, including a batch where every post lacks the modality.
    assert imputer.transform([None, None]).tolist() == [[3.0, 1.0], [3.0, 1.0]]
    assert ModalityImputer(FunctionTransformer(strict), add_indicator=False).fit_transform([2.0, None]).tolist() == [
        [2.0],
        [2.0],
    ]


@pytest.mark.parametrize("add_indicator", [True, False])
@pytest.mark.parametrize("present", [[1, 0, 1, 1, 0], [0, 0], [1, 1, 0]])
def test_sparse_stand_ins_equal_stacking_reordering_and_joining_the_flag(add_indicator, present):
    # The stand-ins are written in place; stacking them under the features, putting the rows back in
    # order and joining the flag column (the straightforward way, three copies) must give the same matrix.
    present = np.array(present, dtype=bool)
    rng = np.random.default_rng(0)
    features = sp.random(int(present.sum()), 6, density=0.5, format="csr", random_state=rng, dtype=np.float32)
    imputer = ModalityImputer(FunctionTransformer(), add_indicator=add_indicator)
    imputer.fill_ = np.array([0, 0.5, 0, 0, 2, 0])
    ours = imputer._sparse_with_stand_ins(features if present.any() else None, present, np.float32)
    stand_ins = sp.csr_matrix(np.tile(imputer.fill_.astype(np.float32), ((~present).sum(), 1)))
    order = np.argsort(np.concatenate([np.flatnonzero(present), np.flatnonzero(~present)]))
    expected = sp.vstack([features, stand_ins], format="csr")[order]
    if add_indicator:
        expected = sp.hstack([expected, sp.csr_matrix((~present).astype(np.float32).reshape(-1, 1))], format="csr")
    assert ours.shape == expected.shape and ours.dtype == expected.dtype == np.float32
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours, part), getattr(expected, part))


class KeepsItsBlock(FunctionTransformer):
    """Keeps the block it returns (``last_``): the imputer must leave it whole."""

    def transform(self, X):
        self.last_ = super().transform(X)
        return self.last_


@pytest.mark.parametrize("add_indicator", [True, False])
@pytest.mark.parametrize("present", [[1, 0, 1, 1, 0], [0, 1], [1, 1, 0], [0, 0, 1, 0, 1, 1, 1]])
@pytest.mark.parametrize("keeps", [False, True])
@pytest.mark.parametrize("method", ["fit_transform", "transform"])
@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_empty_stand_ins_of_a_sparse_block_equal_the_copying_path(add_indicator, present, keeps, method, layout):
    # A zero stand-in (sparse "auto") is joined without a copy of the block; the entries must be those of
    # _sparse_with_stand_ins, and a block its transformer keeps must come out of it unchanged.
    present = np.array(present, dtype=bool)
    rows = np.random.default_rng(1).choice(9, int(present.sum()))
    table = sp.random(9, 5, density=0.5, format="csr", random_state=0, dtype=np.float32)
    values = iter(rows.tolist())
    column = pd.Series([float(next(values)) if here else None for here in present])
    lookup = (KeepsItsBlock if keeps else FunctionTransformer)(
        lambda X: table[np.asarray(X, dtype=int)].asformat(layout), accept_sparse=True
    )
    imputer = ModalityImputer(lookup, add_indicator=add_indicator).fit(pd.Series([0.0, 1.0]))
    ours = getattr(imputer, method)(column)
    expected = imputer._sparse_with_stand_ins(table[rows], present, np.float32)
    assert ours.format == "csr" and ours.shape == expected.shape and ours.dtype == np.float32
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours, part), getattr(expected, part))
    if keeps:
        assert (imputer.transformer_.last_ != table[rows]).nnz == 0


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads the peak resident memory of Linux")
@pytest.mark.parametrize("method", ["fit_transform", "transform"])
def test_a_post_without_the_modality_does_not_copy_a_fresh_sparse_block(method):
    """The flag of one missing post used to cost a copy of the whole block (75 MB here): the block's own memory
    is now given back as the output fills. Mutant: the block not taken as fresh (+75 MB at the peak)."""
    X = pd.Series(np.zeros(150_001))
    X[70_000] = None
    imputer = ModalityImputer(FunctionTransformer(fresh_block, accept_sparse=True)).fit(X[:10])
    gc.collect()
    before = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak becomes the current resident memory
    output = getattr(imputer, method)(X)
    growth = status_mb("VmHWM") - before
    output_mb = (output.data.nbytes + output.indices.nbytes + output.indptr.nbytes) / 2**20
    # Measured: 95-98 MB for a 74 MB output (the join's chunks and pages); with the copy, 164-166 MB.
    assert growth < 1.6 * output_mb
    assert output.shape == (150_001, 641) and output[70_000].toarray().ravel().tolist() == [0.0] * 640 + [1.0]
    assert output[70_001].nnz == 64 and output[:, 640].nnz == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunk", [7, 2**18])
def test_the_mean_of_sparse_features_is_scipys_to_the_bit(dtype, chunk, monkeypatch):
    # Summed a chunk at a time instead of from a scaled copy of the block: the same products, in the same order.
    monkeypatch.setattr("mmsent.fusion._missing._MEAN_CHUNK", chunk)
    features = sp.random(500, 30, density=0.4, format="csr", random_state=0, dtype=dtype) * 1000
    imputer = ModalityImputer(FunctionTransformer(lambda column: features, accept_sparse=True), fill="mean")
    imputer.fit(pd.Series(np.ones(500)))
    expected = np.asarray(features.mean(axis=0), dtype=float).ravel()
    assert imputer.fill_.dtype == expected.dtype and imputer.fill_.tobytes() == expected.tobytes()


def test_imputer_keeps_text_sparse_with_an_empty_document_as_stand_in():
    imputer = ModalityImputer(make_text_features())
    texts = pd.Series(["很 好", None, "很 差", "  "], dtype=object)
    out = imputer.fit_transform(texts)
    assert sp.issparse(out) and out.shape == (4, 5 + 1)
    dense = out.toarray()
    assert dense[[1, 3], :-1].sum() == 0 and dense[:, -1].tolist() == [0, 1, 0, 1]
    assert np.allclose(dense[[0, 2], :-1], make_text_features().fit_transform(["很 好", "很 差"]).toarray())
    mean = ModalityImputer(make_text_features(), fill="mean").fit(texts)
    assert mean.transform([None]).toarray()[0, :-1] == pytest.approx(mean.fill_)


def test_imputer_refuses_to_learn_from_nothing():
    with pytest.raises(ValueError, match="all 2 posts lack this modality"):
        ModalityImputer(FunctionTransformer(strict)).fit([None, ""])


# -- decision level -------------------------------------------------------------------


def _branch(column):
    reader = make_column_transformer((FunctionTransformer(strict), column))
    return ModalityClassifier(make_pipeline(reader, LogisticRegression()), column)


def test_modality_classifier_learns_from_present_posts_and_abstains_on_the_others():
    X = pd.DataFrame({"a": [0.0, 1.0, 0.2, 0.8, None, None]})
    y = ["neg", "pos", "neg", "pos", "neg", "neg"]
    clf = _branch("a").fit(X, y)  # `strict` would fail if a missing post reached the branch
    assert clf.classes_.tolist() == ["neg", "pos"]
    proba = clf.predict_proba(X)
    assert np.isnan(proba[4:]).all() and not np.isnan(proba[:4]).any()
    assert np.isnan(clf.decision_function(X)[4:]).all()
    assert clf.predict(X).tolist()[:4] == ["neg", "pos", "neg", "pos"]
    assert clf.predict(X).tolist()[4:] == ["neg", "neg"]  # most frequent class in fit
    with pytest.raises(ValueError, match="cover classes \\['neg'\\] only"):
        _branch("a").fit(X, ["neg", "neg", "neg", "neg", "pos", "pos"])


@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_voting_renormalises_over_the_modalities_present(voting):
    X = pd.DataFrame({"a": [0.0, 1.0, 0.1, 0.9, 0.2, 0.8], "b": [1.0, 0.0, 0.9, 0.1, 0.7, 0.3]})
    y = [0, 1, 0, 1, 0, 1]
    vote = ModalityVotingClassifier([("a", _branch("a")), ("b", _branch("b"))], voting=voting, weights=[1, 3])
    vote.fit(X, y)
    posts = pd.DataFrame({"a": [0.0, None, None], "b": [None, 0.0, None]})
    a_alone = vote.named_estimators_["a"].predict(posts.iloc[:1])
    b_alone = vote.named_estimators_["b"].predict(posts.iloc[1:2])
    assert vote.predict(posts)[:2].tolist() == [a_alone[0], b_alone[0]] == [0, 1]
    if voting == "soft":
        proba = vote.predict_proba(posts)
        assert np.allclose(proba[0], vote.named_estimators_["a"].predict_proba(posts.iloc[:1])[0])
        assert np.allclose(proba[2], vote.class_prior_) and np.allclose(proba.sum(axis=1), 1)


def test_unequal_weights_on_complete_posts_move_the_vote_their_way():
    # Two branches that disagree on every post: the heavier one decides, whichever it is.
    X = pd.DataFrame({"a": [0.0, 1.0, 0.1, 0.9, 0.2, 0.8], "b": [1.0, 0.0, 0.9, 0.1, 0.8, 0.2]})
    y = [0, 1, 0, 1, 0, 1]
    for voting in ("soft", "hard"):
        a_wins = ModalityVotingClassifier([("a", _branch("a")), ("b", _branch("b"))], voting=voting, weights=[3, 1])
        b_wins = clone(a_wins).set_params(weights=[1, 3])
        # a learnt "high a: 1", b "low b: 1": on a == b they disagree on every post.
        same = pd.DataFrame({"a": [0.0, 0.2, 0.8, 1.0], "b": [0.0, 0.2, 0.8, 1.0]})
        a_wins.fit(X, y), b_wins.fit(X, y)
        assert a_wins.named_estimators_["a"].predict(same).tolist() == [0, 0, 1, 1]
        assert a_wins.predict(same).tolist() == [0, 0, 1, 1] and b_wins.predict(same).tolist() == [1, 1, 0, 0]
    # A dropped branch takes its weight with it (scikit-learn's filtering of the weights).
    alone = ModalityVotingClassifier([("a", _branch("a")), ("b", "drop")], voting="soft", weights=[2, 5]).fit(X, y)
    np.testing.assert_allclose(alone.predict_proba(X), alone.named_estimators_["a"].predict_proba(X))


def test_modality_classifier_says_what_is_wrong_with_its_input():
    clf = _branch("a")
    with pytest.raises(ValueError, match=r"X has 1 feature\(s\) .* and no column 'a'.*its columns are \['b'\]"):
        clf.fit(pd.DataFrame({"b": [0.0, 1.0]}), [0, 1])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(pd.DataFrame({"a": [0.0, 1.0, 0.5]}), [0, 1])
    with pytest.raises(TypeError, match="sparse input is not supported"):
        clf.fit(sp.csr_matrix(np.eye(2)), [0, 1])
    with pytest.raises(ValueError, match="Reshape your data"):
        ModalityClassifier(LogisticRegression(), 0).fit(np.arange(4.0), [0, 1, 0, 1])
    numbers = np.array([[0.0, 1], [1, 0], [0.2, 1], [0.9, 0]])
    fitted = ModalityClassifier(LogisticRegression(), 0).fit(numbers, [0, 1, 0, 1])
    assert fitted.n_features_in_ == 2


def test_renormalize_needs_decision_level_fusion(posts):
    X, y = posts
    with pytest.raises(ValueError, match="missing='renormalize' .* fusion='concat'"):
        MultimodalSentimentClassifier(features="handcrafted", fusion="concat", missing="renormalize").fit(X, y)
    with pytest.raises(ValueError, match="missing must be one of"):
        make_fusion_model(
            "vote", text_features=None, image_features=None, classifier=LogisticRegression(), text_column="text",
            image_column="image", text_weight=1.0, image_weight=1.0, voting="soft", probability=False, cv=3,
            missing="drop", projection="cca", n_components=2, shared_weight=1.0, text_label_column=None,
            image_label_column=None, task_weight=1.0,
        )


# -- the classifier -------------------------------------------------------------------


@pytest.fixture(scope="module")
def split():
    X, y = synthetic_posts(n=400, seed=4)
    X_test, y_test = synthetic_posts(n=400, seed=5)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def text_only_score(split):
    X, y, X_test, y_test = split
    return MultimodalSentimentClassifier(features="handcrafted", fusion="text").fit(X, y).score(X_test, y_test)


@pytest.mark.parametrize("fusion", ["concat", "vote", "stack"])
def test_accuracy_moves_smoothly_from_fused_to_text_only_as_images_go_missing(fusion, split, text_only_score):
    X, y, X_test, y_test = split
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion=fusion, cv=3).fit(X, y)
    curve = [clf.score(without_images(X_test, fraction), y_test) for fraction in (0.0, 0.1, 0.5, 1.0)]
    assert curve[0] == clf.score(X_test, y_test)
    assert curve[0] > text_only_score  # fusion helps here, so there is a slope to follow
    assert abs(curve[-1] - text_only_score) <= 0.05, (curve, text_only_score)
    for before, after in zip(curve, curve[1:]):  # no cliff, no jump up (a little sampling noise allowed)
        assert after <= before + 0.02 and before - after <= 0.6 * (curve[0] - text_only_score) + 0.04, curve


def test_vote_without_images_is_exactly_its_text_branch(split):
    X, y, X_test, _ = split
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="vote").fit(X, y)
    text_branch = clf.model_.named_estimators_["text"]
    no_images = without_images(X_test, 1.0)
    assert np.allclose(clf.predict_proba(no_images), text_branch.predict_proba(X_test))


@pytest.mark.parametrize(
    "fusion, missing",
    [("concat", "auto"), ("vote", "auto"), ("stack", "auto"), ("vote", "impute"), ("text", "auto"), ("image", "auto")],
)
def test_posts_lacking_a_modality_are_usable_in_fit_and_predict(fusion, missing, split):
    X, y, X_test, y_test = split
    X = without_images(X, 0.3, seed=1).astype({"text": object})
    X.loc[X.index[::5], "text"] = np.nan  # 20% without text, some without either
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion=fusion, missing=missing, cv=3).fit(X, y)
    assert clf.score(X_test, y_test) > 0.7
    both_gone = X_test.head(3).assign(text=[None, "", np.nan], image=[None, "", np.nan])
    assert len(clf.predict(both_gone)) == 3


def test_missing_error_names_every_row_that_lacks_a_modality(posts):
    X, y = posts
    X = X.astype({"text": object, "image": object})
    X.loc[3, "image"] = None
    X.loc[8, "text"] = "  "
    clf = MultimodalSentimentClassifier(features="handcrafted", missing="error")
    with pytest.raises(ValueError, match="missing='error' and 2 posts lack a modality") as info:
        clf.fit(X, y)
    assert "row 8: no text (column 'text'" in str(info.value)
    assert "row 3: no image (column 'image'" in str(info.value)
    clf.fit(X.drop(index=[3, 8]), np.delete(y, [3, 8]))
    with pytest.raises(ValueError, match="row 3: no image"):
        clf.predict(X)
    # Text-only models do not care about the image column.
    MultimodalSentimentClassifier(features="handcrafted",
        fusion="text", missing="error").fit(X.drop(index=[8]), np.delete(y, 8))


def test_image_features_of_the_default_branch_are_imputed_with_their_mean(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted",
        image_features=make_image_features(size=(32, 32))).fit(X, y)
    imputer = clf.model_.named_steps["features"].named_transformers_["image"]
    assert isinstance(imputer, ModalityImputer) and not imputer.sparse_output_
    expected = imputer.transformer_.transform(X["image"]).mean(axis=0)
    assert np.allclose(imputer.fill_, expected)
