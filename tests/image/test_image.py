import io
import os
import pickle
import sys
import types

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from PIL import Image
from skimage.color import rgb2hsv
from skimage.feature import hog as skimage_hog

from mmsent.image import (
    BatchedPipeline,
    ColorHistogram,
    HOGTransformer,
    ImageDecodeError,
    ImageDecoder,
    _decode,
    _io,
    clear_image_cache,
    decode_image,
    decode_images,
    hog_batch,
    make_image_features,
    rgb_to_hsv,
)
from mmsent.image._cache import DecodedImages, EmbeddingCache, content_digest


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_image_cache()
    yield
    clear_image_cache()


def random_batch(n=6, size=64, seed=0):
    rng = np.random.default_rng(seed)
    batch = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    batch[0] = 0  # flat image: all-zero gradients
    batch[1] = np.linspace(0, 255, size, dtype=np.uint8)[None, :, None]  # pure horizontal ramp
    return batch


# -- decoding -----------------------------------------------------------------------


def encode(image, fmt="PNG", **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_every_input_kind_decodes_to_the_same_rgb(tmp_path):
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[:, :4] = (255, 0, 0)
    path = tmp_path / "red.png"
    Image.fromarray(pixels).save(path)
    inputs = [str(path), path, path.read_bytes(), Image.fromarray(pixels), pixels]
    for value in inputs:
        np.testing.assert_array_equal(decode_image(value, size=None), pixels)


def test_modes_become_rgb_uint8():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    np.testing.assert_array_equal(decode_image(gray, size=None), np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(decode_image(gray[..., None], size=None)[..., 0], gray)
    # Transparent pixels are shown over white; opaque ones keep their colour.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    np.testing.assert_array_equal(decode_image(rgba, size=None)[0, 0], (10, 20, 30))
    np.testing.assert_array_equal(decode_image(rgba, size=None)[1, 1], (255, 255, 255))
    # 16-bit greyscale keeps its top byte instead of saturating at 255.
    sixteen = Image.fromarray(np.full((4, 4), 0x8040, np.uint16))
    assert sixteen.mode.startswith("I;16")
    assert decode_image(encode(sixteen), size=None)[0, 0].tolist() == [0x80] * 3
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    assert decode_image(encode(cmyk, "JPEG"), size=None)[0, 0].tolist() == pytest.approx([254, 0, 0], abs=2)
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.info["transparency"] = 0
    assert decode_image(encode(palette), size=None)[0, 0].tolist() == [0, 255, 0]


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, "JPEG", exif=exif), size=None)
    assert decoded.shape == (40, 20, 3)


def test_resize_and_decoder_output():
    batch = ImageDecoder(size=(24, 16)).fit_transform([np.zeros((50, 70, 3), np.uint8), np.zeros((5, 5), np.uint8)])
    assert batch.shape == (2, 16, 24, 3) and batch.dtype == np.uint8


def test_bad_rows_are_all_named_and_good_rows_are_not(tmp_path, image_files):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg at all")
    column = pd.Series(
        [image_files[0], tmp_path / "missing.png", corrupt, None, np.zeros((4, 4), np.float32), image_files[1]],
        index=[100, 101, 102, 103, 104, 105],
    )
    with pytest.raises(ImageDecodeError) as info:
        decode_images(column)
    message = str(info.value)
    assert message.startswith("4 of 6 images could not be read")
    assert "row 101: file" in message and "missing.png' does not exist" in message
    assert "row 102: file" in message and "corrupt.jpg" in message
    assert "row 103: no image (missing value)" in message
    assert "row 104" in message and "uint8" in message
    assert "row 100" not in message and "row 105" not in message


def test_files_are_read_whole_however_the_reads_are_cut_and_a_changed_size_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "a.jpg"
    path.write_bytes(encode(Image.fromarray(random_batch()[2]), "JPEG"))
    read, fstat = os.read, os.fstat
    monkeypatch.setattr(os, "read", lambda descriptor, n: read(descriptor, min(n, 7)))  # short reads, as allowed
    assert _io.read_file(path) == path.read_bytes()
    size = path.stat().st_size
    for declared in (size - 10, size + 10):  # the file grew, or shrank, between fstat and read
        monkeypatch.setattr(os, "fstat", lambda d, n=declared: os.stat_result((*fstat(d)[:6], n, *fstat(d)[7:10])))
        with pytest.raises(ValueError, match=f"changed size while being read \\({declared:,} bytes, then"):
            _io.read_file(path)


def test_rows_load_in_this_thread_unless_threads_are_asked_for(monkeypatch):
    cells = [1, None, "x", 4]
    load = lambda cell: 10 // cell  # noqa: E731 - "x" and None fail, each row on its own
    threaded = _io.load_rows(cells, load, n_jobs=2)
    assert threaded[0] == (10, None) and threaded[1].error == "no image (missing value)" and threaded[2].value is None
    monkeypatch.setattr(_io, "Parallel", None)  # one thread: joblib is not involved
    assert _io.load_rows(cells, load) == _io.load_rows(cells, load, n_jobs=1) == threaded
    with parallel_config(n_jobs=2), pytest.raises(TypeError):  # the configured default counts, as in joblib
        _io.load_rows(cells, load)


def test_decoded_files_are_cached_until_they_change(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    calls = []
    original = _decode._decode
    monkeypatch.setattr(_decode, "_decode", lambda *a, **k: calls.append(a[0]) or original(*a, **k))
    first = decode_images([path, path, path], size=(8, 8))
    assert len(calls) == 1
    Image.new("RGB", (8, 8), (0, 0, 255)).save(path)
    os.utime(path, ns=(1, 1))  # a new mtime, even on coarse file-system clocks
    second = decode_images([path], size=(8, 8))
    assert len(calls) == 2
    assert first[0, 0, 0].tolist() == [255, 0, 0] and second[0, 0, 0].tolist() == [0, 0, 255]


def test_decoded_image_cache_drops_the_least_recently_used_beyond_its_size():
    cache = DecodedImages(max_bytes=250)
    for name in "abc":
        cache.put(name, np.zeros(100, np.uint8))
    assert cache.get("a") is None and cache.get("b") is not None  # "a" dropped; "b" now the most recent
    cache.put("d", np.zeros(100, np.uint8))
    assert cache.get("c") is None and cache.get("b") is not None and cache.get("d") is not None
    cache.put("d", np.zeros(160, np.uint8))  # replacing an entry counts its new size only
    assert cache.get("b") is None and cache.get("d").nbytes == 160
    cache.clear()
    assert cache.get("d") is None


def test_embedding_cache_round_trips_writes_whole_files_and_ignores_foreign_ones(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path, shape=(4,))
    key = content_digest(b"some image bytes")
    assert key == content_digest(bytearray(b"some image bytes")[:]) and cache.get(key) is None
    cache.put(key, np.arange(4))
    np.testing.assert_array_equal(cache.get(key), np.arange(4, dtype=np.float32))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [f"{key[:2]}/{key}.npy"]
    np.save(tmp_path / key[:2] / f"{key}.npy", np.zeros(5, np.float32))  # another shape: recomputed
    assert cache.get(key) is None
    (tmp_path / key[:2] / f"{key}.npy").write_bytes(b"\x93NUMPY cut")  # truncated
    assert cache.get(key) is None

    def fail(*args, **kwargs):
        raise OSError("disk full")

    cache.put(key, np.ones(4))
    monkeypatch.setattr(np, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, np.zeros(4))
    np.testing.assert_array_equal(cache.get(key), np.ones(4, np.float32))  # the old entry, whole
    assert len(list(tmp_path.rglob("*"))) == 2  # the folder and the one file: no partial file left


def test_the_content_digest_of_an_image_is_its_pixels_not_its_name(tmp_path):
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert content_digest(Image.fromarray(pixels)) == content_digest(Image.fromarray(pixels.copy()))
    assert content_digest(Image.fromarray(pixels)) != content_digest(Image.fromarray(pixels[::-1].copy()))


def test_decoders_pickled_before_the_file_size_limit_get_its_default():
    old = ImageDecoder().fit([np.zeros((4, 4), np.uint8)])
    del old.max_file_bytes
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.max_file_bytes == 64 * 2**20
    assert loaded.transform([np.zeros((4, 4), np.uint8)]).shape == (1, 64, 64, 3)


# -- HOG ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "geometry",
    [
        {},  # the default geometry
        {"orientations": 8, "pixels_per_cell": (6, 7), "cells_per_block": (3, 2)},
        {"orientations": 12, "pixels_per_cell": (16, 16), "cells_per_block": (1, 1)},
        {"block_norm": "L1"},
        {"block_norm": "L1-sqrt"},
        {"block_norm": "L2"},
    ],
)
def test_hog_equals_skimage(geometry):
    batch = random_batch()
    params = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
    params.update(geometry)
    ours = hog_batch(batch, **params)
    reference = np.stack([skimage_hog(image, channel_axis=-1, **params) for image in batch])
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)


def test_hog_on_real_photo_and_grayscale_batch():
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((128, 96)))
    np.testing.assert_allclose(
        hog_batch(photo[None])[0],
        skimage_hog(photo, pixels_per_cell=(8, 8), cells_per_block=(2, 2), channel_axis=-1),
        atol=1e-4,
    )
    gray = photo[..., 1]
    np.testing.assert_allclose(
        hog_batch(gray[None])[0], skimage_hog(gray, pixels_per_cell=(8, 8), cells_per_block=(2, 2)), atol=1e-4
    )


def test_hog_transformer_inputs_and_errors(image_files):
    transformer = HOGTransformer().fit(random_batch())
    assert transformer.n_features_out_ == 1764
    assert transformer.get_feature_names_out()[:2].tolist() == ["hogtransformer0", "hogtransformer1"]
    raw = transformer.transform(image_files)  # a raw column is decoded at 64x64
    decoded = transformer.transform(decode_images(image_files, size=(64, 64)))
    np.testing.assert_array_equal(raw, decoded)
    with pytest.raises(ValueError, match="changed size"):
        transformer.transform(random_batch(size=48))
    resized = HOGTransformer(size=(64, 64)).fit(random_batch(size=48))
    assert resized.n_features_out_ == 1764
    with pytest.raises(ValueError, match="too small"):
        hog_batch(np.zeros((1, 12, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        hog_batch(np.zeros((1, 64, 64, 3), np.float32))
    assert hog_batch(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 1764)


def test_hog_chunks_and_threads_do_not_change_results(monkeypatch):
    batch = random_batch(n=7)
    whole = hog_batch(batch)
    monkeypatch.setattr("mmsent.image._hog._CHUNK_PIXELS", 3 * 64 * 64)  # chunks of 3 images
    np.testing.assert_array_equal(hog_batch(batch), whole)
    np.testing.assert_array_equal(hog_batch(batch, n_jobs=2), whole)


def opencv_with_hog():
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "HOGDescriptor"):
        pytest.skip("this OpenCV has no HOGDescriptor (OpenCV 5's main wheel)")
    return cv2


def photos(size=64):
    from skimage import data

    names = ("astronaut", "chelsea", "coffee", "rocket")
    return np.stack([np.asarray(Image.fromarray(getattr(data, name)()).resize((size, size))) for name in names])


@pytest.mark.parametrize(
    ("shape", "geometry", "n_jobs"),
    [
        ((64, 64), {}, None),
        ((64, 64), {}, 2),
        ((66, 63), {"orientations": 8, "pixels_per_cell": (6, 7), "cells_per_block": (3, 2)}, 2),
        ((64, 64), {"orientations": 12, "pixels_per_cell": (16, 16), "cells_per_block": (1, 1)}, None),
    ],
)
def test_opencv_backend_equals_hogdescriptor(shape, geometry, n_jobs):
    cv2 = opencv_with_hog()
    batch = np.concatenate([random_batch(n=5, size=70), photos(70)])[:, : shape[0], : shape[1]]
    params = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2)} | geometry
    (cell_rows, cell_cols), (block_rows, block_cols) = params["pixels_per_cell"], params["cells_per_block"]
    descriptor = cv2.HOGDescriptor(
        (shape[1], shape[0]), (block_cols * cell_cols, block_rows * cell_rows), (cell_cols, cell_rows),
        (cell_cols, cell_rows), params["orientations"],
    )
    reference = np.stack([descriptor.compute(image) for image in batch])
    features = HOGTransformer(backend="opencv", n_jobs=n_jobs, **params).fit_transform(batch)
    assert features.dtype == np.float32 and features.shape == reference.shape == hog_batch(batch, **params).shape
    np.testing.assert_array_equal(features, reference)


def test_opencv_backend_ignores_pixels_beyond_the_last_whole_cell_like_numpy():
    cv2 = opencv_with_hog()
    batch = random_batch(n=3, size=70)  # 8 whole cells of 8 px, 6 px left over
    descriptor = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9)
    reference = np.stack([descriptor.compute(image, locations=[(0, 0)]) for image in batch])
    features = hog_batch(batch, backend="opencv")
    assert features.shape == hog_batch(batch).shape == (3, 1764)
    np.testing.assert_array_equal(features, reference)


def test_opencv_backend_is_numpy_hog_in_another_order_and_weighting():
    opencv_with_hog()
    batch = photos()
    numpy_features = hog_batch(batch)
    opencv_features = hog_batch(batch, backend="opencv")
    # OpenCV lists blocks, and the cells in a block, column by column: (block col,
    # block row, cell col, cell row, bin); skimage row by row.
    reordered = opencv_features.reshape(4, 7, 7, 2, 2, 9).transpose(0, 2, 1, 4, 3, 5).reshape(4, -1)
    correlations = [np.corrcoef(ours, theirs)[0, 1] for ours, theirs in zip(numpy_features, reordered)]
    # Measured 0.78 to 0.88 on these photos, 0.04 to 0.38 in OpenCV's order: the
    # Gaussian window and the spread votes change the values, not what they describe.
    assert min(correlations) > 0.7
    unordered = [np.corrcoef(ours, theirs)[0, 1] for ours, theirs in zip(numpy_features, opencv_features)]
    assert max(unordered) < 0.5


def test_hog_backend_is_chosen_at_fit_and_never_swapped(monkeypatch):
    opencv_with_hog()
    batch = random_batch()
    assert HOGTransformer().fit(batch).backend_ == "numpy"  # "auto": NumPy even where OpenCV is installed
    fitted = pickle.loads(pickle.dumps(HOGTransformer(backend="opencv").fit(batch)))
    assert fitted.backend_ == "opencv"
    np.testing.assert_array_equal(fitted.transform(batch), hog_batch(batch, backend="opencv"))
    for missing in (None, types.ModuleType("cv2")):  # not installed; OpenCV 5 without HOGDescriptor
        monkeypatch.setitem(sys.modules, "cv2", missing)
        with pytest.raises(ImportError, match=r"HOGDescriptor.*pip install 'opencv-python-headless<5'"):
            fitted.transform(batch)
        with pytest.raises(ImportError, match="HOGDescriptor"):
            HOGTransformer(backend="opencv").fit(batch)
        assert HOGTransformer().fit(batch).backend_ == "numpy"


def test_models_pickled_before_hog_backends_keep_numpy_hog():
    batch = random_batch()
    old = HOGTransformer().fit(batch)
    del old.backend, old.backend_  # as pickled by mmsent before the backend parameter
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.backend_ == "numpy" and loaded.get_params()["backend"] == "auto"
    np.testing.assert_array_equal(loaded.transform(batch), hog_batch(batch))


def test_opencv_backend_refuses_options_opencv_cannot_compute():
    batch = random_batch()
    for block_norm in ("L1", "L1-sqrt", "L2"):
        with pytest.raises(ValueError, match=f"block_norm='{block_norm}' is not available with backend='opencv'"):
            HOGTransformer(backend="opencv", block_norm=block_norm).fit(batch)
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'opencv'"):
        hog_batch(batch, backend="skimage")


# -- colour -------------------------------------------------------------------------


def test_hsv_matches_skimage():
    batch = random_batch(n=3, size=16)
    np.testing.assert_allclose(rgb_to_hsv(batch), rgb2hsv(batch.reshape(-1, 16, 3)).reshape(batch.shape), atol=1e-6)


def test_color_histogram_bins_and_normalisation():
    batch = np.zeros((2, 4, 4, 3), np.uint8)
    batch[0] = (255, 0, 0)  # red: hue 0, saturated, bright
    batch[1, :2] = (0, 0, 255)  # half blue (hue 2/3) ...
    batch[1, 2:] = (0, 0, 0)  # ... half black
    histogram = ColorHistogram(bins=(3, 2, 2)).fit(batch)
    features = histogram.transform(batch)
    assert features.shape == (2, 12) and features.dtype == np.float32
    np.testing.assert_allclose(features.sum(axis=1), 1.0)
    # flat index = (h * 2 + s) * 2 + v
    assert features[0, (0 * 2 + 1) * 2 + 1] == 1.0
    assert features[1, (2 * 2 + 1) * 2 + 1] == 0.5
    assert features[1, 0] == 0.5
    with pytest.raises(ValueError, match="three positive integers"):
        ColorHistogram(bins=(8, 0, 4)).fit(batch)


def test_default_image_branch_decodes_once_and_normalises(image_files, monkeypatch):
    calls = []
    original = _decode.decode_images
    monkeypatch.setattr(_decode, "decode_images", lambda *a, **k: calls.append(1) or original(*a, **k))
    features = make_image_features().fit_transform(pd.Series([str(p) for p in image_files]))
    assert len(calls) == 1  # HOG and the histogram share one decoded batch
    assert features.shape == (4, 1764 + 128)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)


# -- batches ----------------------------------------------------------------------------


def test_batches_give_the_unbatched_features_and_never_exceed_batch_size(monkeypatch):
    images = list(random_batch(n=11, size=32, seed=3))
    seen = []
    original = _decode.decode_images
    monkeypatch.setattr(_decode, "decode_images", lambda X, **k: seen.append(len(X)) or original(X, **k))
    batched = make_image_features(size=(32, 32), batch_size=4)
    features = batched.fit_transform(images)
    assert seen == [4, 4, 3]
    whole = make_image_features(size=(32, 32), batch_size=11).fit_transform(images)
    assert features.dtype == np.float32 and features.shape == whole.shape == (11, 324 + 128)
    np.testing.assert_array_equal(features, whole)
    seen.clear()
    np.testing.assert_array_equal(batched.transform(images[::-1]), whole[::-1])
    assert seen == [4, 4, 3]


def test_bad_rows_of_every_batch_are_listed_together(tmp_path, image_files):
    good = [str(p) for p in image_files]
    column = pd.Series([good[0], str(tmp_path / "gone.png"), *good, b"junk", good[1]], index=list("abcdefgh"))
    with pytest.raises(ImageDecodeError) as info:
        make_image_features(batch_size=3).fit_transform(column)
    assert str(info.value).startswith("2 of 8 images could not be read")
    assert [row for row, _ in info.value.problems] == ["b", "g"]
    fitted = make_image_features(batch_size=3).fit(column.drop(["b", "g"]))
    with pytest.raises(ImageDecodeError) as info:
        fitted.transform(column)
    assert [row for row, _ in info.value.problems] == ["b", "g"]



def test_bad_batches_leave_no_frames_behind(tmp_path, image_files):
    """The errors kept while later batches run hold no traceback: freed as soon as the merged error is.

    Kept with theirs, each error's frames (the batch loop's, which holds the list) formed a cycle that held the
    batches' arrays until a full garbage collection; streaming predict grew by ~60 MB a chunk.
    """
    import gc

    good = [str(p) for p in image_files]
    column = pd.Series([str(tmp_path / "gone.png"), *good, str(tmp_path / "gone-too.png")])
    fitted = make_image_features(batch_size=2).fit(good)
    gc.collect()
    gc.disable()
    try:
        try:
            fitted.transform(column)
        except ImageDecodeError:
            pass
        left = [o for o in gc.get_objects() if isinstance(o, types.FrameType) and o.f_code.co_name == "_run_batches"]
    finally:
        gc.enable()
    assert not left

def test_steps_that_learn_from_rows_are_fitted_on_all_of_them():
    from sklearn.preprocessing import StandardScaler

    images = random_batch(n=9, size=16, seed=4)
    batched = BatchedPipeline([("color", ColorHistogram()), ("scale", StandardScaler())], batch_size=2)
    features = batched.fit_transform(images)
    expected = StandardScaler().fit(ColorHistogram().fit_transform(images))
    np.testing.assert_allclose(batched.named_steps["scale"].mean_, expected.mean_)
    np.testing.assert_allclose(features, batched.transform(images), atol=1e-6)


def test_progress_bar_counts_images_batch_by_batch(capsys):
    from mmsent import set_verbose

    images = list(random_batch(n=7, size=16, seed=6))
    quiet = make_image_features(size=(16, 16), batch_size=3)
    features = quiet.fit_transform(images)
    assert capsys.readouterr().err == ""
    loud = set_verbose(quiet, 2)
    assert loud.verbose == 2
    np.testing.assert_array_equal(loud.transform(images), features)
    err = capsys.readouterr().err
    assert "image features: 100%" in err and "7/7" in err and "images/s" in err
    assert "[Pipeline]" not in err  # no per-step timing lines, batch after batch


def test_sparse_steps_are_stacked_and_batch_size_is_a_parameter():
    from scipy import sparse
    from sklearn.base import clone
    from sklearn.preprocessing import FunctionTransformer

    images = random_batch(n=5, size=16, seed=5)
    steps = [("color", ColorHistogram()), ("sparse", FunctionTransformer(sparse.csr_array))]
    batched = BatchedPipeline(steps, batch_size=2)
    features = batched.fit_transform(images)
    assert sparse.issparse(features) and features.shape == (5, 128)
    np.testing.assert_array_equal(features.toarray(), ColorHistogram().fit_transform(images))
    # Flat first images, busy later ones: the buffers sized from the first batch must grow.
    mixed = np.concatenate([np.zeros((4, 16, 16, 3), np.uint8), random_batch(n=6, size=16, seed=7)])
    grown = BatchedPipeline([("color", ColorHistogram())], batch_size=2, sparse_output=True).fit_transform(mixed)
    assert sparse.issparse(grown) and grown.has_canonical_format and grown.indices.dtype == np.int32
    np.testing.assert_array_equal(grown.toarray(), ColorHistogram().fit_transform(mixed))
    column = list(random_batch(n=7, size=32, seed=8))
    as_csr = make_image_features(size=(32, 32), batch_size=3, sparse_output=True).fit_transform(column)
    np.testing.assert_array_equal(as_csr.toarray(), make_image_features(size=(32, 32)).fit_transform(column))
    assert clone(batched).set_params(batch_size=3).get_params()["batch_size"] == 3
    with pytest.raises(ValueError, match="batch_size"):
        BatchedPipeline([("color", ColorHistogram())], batch_size=0).fit(images)


@pytest.mark.parametrize(
    "dense",
    [
        np.array([[0, 1.5, 0, -0.0], [np.nan, 0, 0, 2], [0, 0, 0, 0]], dtype=np.float32),
        np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2] % 3,  # not contiguous
        np.zeros((3, 0), np.float32),
        np.zeros((0, 5), np.float32),
        np.array([[0, 7], [3, 0]], dtype=np.int64),
    ],
)
def test_dense_batches_become_scipys_csr(dense):
    from scipy import sparse

    from mmsent.image._batched import _csr

    ours, theirs = _csr(dense), sparse.csr_matrix(dense)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype and ours.has_canonical_format
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours, part), getattr(theirs, part))


# -- decoding backends and threads ----------------------------------------------------


def photo_like(width=300, height=200):
    """A smooth colour image: JPEG artefacts stay small, so decoders can be compared."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2).astype(np.uint8)


def test_opencv_backend_decodes_jpegs_like_pil(tmp_path):
    pytest.importorskip("cv2")
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo_like()).save(path, quality=95)
    via_pil = decode_image(path, size=(64, 64), backend="pil")
    via_opencv = decode_image(path, size=(64, 64), backend="opencv")
    assert via_opencv.shape == (64, 64, 3) and via_opencv.dtype == np.uint8
    assert np.abs(via_opencv.astype(int) - via_pil).mean() < 3
    # EXIF orientation is honoured on the OpenCV path too.
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "rotated.jpg"
    Image.fromarray(photo_like()).save(rotated, quality=95, exif=exif)
    assert decode_image(rotated, size=None, backend="opencv").shape == (300, 200, 3)
    # Anything but a JPEG goes through PIL unchanged.
    png = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(png)
    np.testing.assert_array_equal(decode_image(png, backend="opencv"), decode_image(png, backend="pil"))


def test_decoder_keeps_the_backend_chosen_at_fit(monkeypatch):
    decoder = ImageDecoder(backend="pil").fit([np.zeros((4, 4), np.uint8)])
    assert decoder.backend_ == "pil"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # as if OpenCV were absent
    assert ImageDecoder().fit([]).backend_ == "pil"


def test_threads_duplicates_and_cache_give_the_serial_batch(tmp_path, image_files):
    column = pd.Series([*image_files, image_files[0], image_files[2]] * 3)
    serial = decode_images(column, size=(32, 32))
    clear_image_cache()
    threaded = decode_images(column, size=(32, 32), n_jobs=2)
    np.testing.assert_array_equal(threaded, serial)
    np.testing.assert_array_equal(threaded[4], threaded[0])
