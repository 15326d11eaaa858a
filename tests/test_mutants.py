"""Tests written for mutants that survived `make mutation` (docs/mutation.md names each one)."""

import codecs
import datetime
import gzip
import io
import json
import pickle
import platform
import re
import struct
import sys
import threading
import warnings
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from PIL import Image
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_valid_tag_types

from mmsent import ModelIntegrityError, ModelVersionWarning, UntrustedTypesError, load_model, model_metadata, save_model
from mmsent.image import ColorHistogram, HOGTransformer, _hog, decode_images, hog_batch, rgb_to_hsv
from mmsent.text import JiebaTokenizer, LexiconFeatures, _lexicon, _tokenizer

# -- mmsent/image/_color.py ----------------------------------------------------------------------------

# Colours whose hue, saturation and value all lie well inside a (8, 4, 4) cell.
INSIDE = np.array([(200, 40, 40), (40, 160, 60), (50, 60, 190), (230, 210, 90), (90, 90, 90), (20, 10, 30)], np.uint8)


def exact_cell(rgb, bins=(8, 4, 4)):
    """The histogram cell of one colour, in exact fractions (hue in sixths of the circle, as HSV defines it)."""
    r, g, b = (int(channel) for channel in rgb)
    value, chroma = max(r, g, b), max(r, g, b) - min(r, g, b)
    if chroma == 0:
        sixths = Fraction(0)
    elif value == r:
        sixths = Fraction(g - b, chroma) % 6
    elif value == g:
        sixths = Fraction(b - r, chroma) + 2
    else:
        sixths = Fraction(r - g, chroma) + 4
    saturation = Fraction(chroma, value) if value else Fraction(0)
    h, s, v = (min(int(x * n), n - 1) for x, n in zip((sixths / 6, saturation, Fraction(value, 255)), bins))
    return (h * bins[1] + s) * bins[2] + v


def test_hsv_is_float32_and_greys_divide_by_nothing():
    """Mutants: the result cast to float64; the zero-chroma guard ``chroma > 0`` weakened to ``>= 0``."""
    greys = np.array([[(0, 0, 0), (128, 128, 128), (255, 255, 255)]], np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 on a grey pixel would warn, and be thrown away
        hsv = rgb_to_hsv(greys)
    assert hsv.dtype == np.float32 and rgb_to_hsv(INSIDE).dtype == np.float32
    np.testing.assert_array_equal(hsv[..., :2], 0)


def test_histograms_of_odd_and_non_square_images_count_every_pixel_once():
    """Mutants: the pixel count taken as width x width (square images hide it) or at least 2 (1 x 1
    images); green dropped from the packed colour (``g >> 8`` for ``g << 8``)."""
    histogram = ColorHistogram().fit(None)
    cell = np.array([exact_cell(colour) for colour in INSIDE])
    assert len(set(cell)) == len(INSIDE)
    rng = np.random.default_rng(0)
    for height, width in [(3, 7), (7, 3), (1, 5), (5, 1), (9, 9), (1, 1)]:
        picks = rng.integers(0, len(INSIDE), (4, height, width))
        batch = INSIDE[picks]
        expected = np.zeros((4, 128), np.float32)
        for image, chosen in enumerate(picks):
            np.add.at(expected[image], cell[chosen.ravel()], 1 / (height * width))
        np.testing.assert_allclose(histogram.transform(batch), expected, rtol=1e-6, atol=1e-7)


def test_raw_images_are_decoded_at_size_before_counting():
    """Mutants: ``size`` not passed on to the decoder (raw columns then decoded at 64 x 64, blending colours)."""
    checkerboard = np.zeros((5, 5, 3), np.uint8)
    checkerboard[::2, ::2] = checkerboard[1::2, 1::2] = (220, 30, 30)
    checkerboard[::2, 1::2] = checkerboard[1::2, ::2] = (30, 30, 220)
    exact = ColorHistogram(size=(5, 5)).fit(None).transform([checkerboard])
    np.testing.assert_allclose(sorted(exact[exact > 0]), [12 / 25, 13 / 25], rtol=1e-6)  # nothing blended
    path_column = [Image.fromarray(checkerboard)]
    np.testing.assert_array_equal(
        ColorHistogram(size=(5, 5)).fit(None).transform(path_column),
        ColorHistogram().fit(None).transform(decode_images(path_column, size=(5, 5))),
    )


def test_feature_names_are_one_per_cell_and_numbered():
    """Mutants of ``get_feature_names_out`` (no test called it)."""
    names = ColorHistogram(bins=(2, 3, 2)).fit(None).get_feature_names_out()
    assert names.dtype == object and len(names) == 12 and len(set(names)) == 12
    prefixes = {name[: -len(str(i))] for i, name in enumerate(names) if name.endswith(str(i))}
    assert len(prefixes) == 1 and "" not in prefixes, names  # one prefix, then the cell's number


def test_an_unfitted_histogram_says_so():
    """Mutants: ``requires_fit`` tag False or None (``check_is_fitted`` then lets an unfitted transform through)."""
    with pytest.raises(NotFittedError):
        ColorHistogram().transform(INSIDE.reshape(1, 2, 3, 3))


def test_hsv_of_pure_hues_is_in_exact_sixths():
    """Mutant: the grey test ``chroma == 0`` as ``chroma == 1``, which gives every colour spanning 0 to 255 hue 0.
    Random colours hardly ever hold both 0 and 255."""
    pure = np.array([[(255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255)]], np.uint8)
    hsv = rgb_to_hsv(pure)
    np.testing.assert_allclose(hsv[0, :, 0], np.arange(6) / 6, atol=1e-7)
    np.testing.assert_array_equal(hsv[0, :, 1:], 1)


def test_histograms_of_batches_larger_than_a_chunk_are_each_counted(monkeypatch):
    """Mutant: ``range(0, chunk)`` for ``range(0, n, chunk)``: images past the first chunks were left uncounted.
    Real batches of 64 x 64 images need 128 of them for a second chunk."""
    monkeypatch.setattr("mmsent.image._color._CHUNK_PIXELS", 3 * 2 * 2)  # chunks of 3 images of 2 x 2
    picks = np.random.default_rng(2).integers(0, len(INSIDE), (10, 2, 2))
    expected = np.zeros((10, 128), np.float32)
    for image, chosen in enumerate(picks):
        np.add.at(expected[image], [exact_cell(INSIDE[i]) for i in chosen.ravel()], 1 / 4)
    np.testing.assert_allclose(ColorHistogram().fit(None).transform(INSIDE[picks]), expected, rtol=1e-6)


@pytest.mark.parametrize("estimator", [ColorHistogram(), HOGTransformer()], ids=["colour", "hog"])
def test_image_transformers_declare_image_batches_not_tables(estimator):
    """Mutants: the input tags ``two_d_array`` / ``three_d_array`` set to None or flipped. Tools read them to
    know what to feed the transformer (scikit-learn's checks give a 2-D table only where ``two_d_array``)."""
    check_valid_tag_types(type(estimator).__name__, estimator)
    tags = get_tags(estimator).input_tags
    assert tags.three_d_array is True and tags.two_d_array is False


# -- mmsent/text/_tokenizer.py -------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_token_cache")
def test_each_configuration_has_its_own_cached_tokens():
    """Mutant: ``transform`` reading the cache of no configuration (``_cache(None)``), shared by all of them."""
    assert JiebaTokenizer().transform(["Love IT"]) == [("love", "it")]
    assert JiebaTokenizer(lowercase=False).transform(["Love IT"]) == [("Love", "IT")]


@pytest.mark.usefixtures("fresh_token_cache")
def test_workers_only_for_large_batches_of_several_new_documents(monkeypatch):
    """Mutants: ``n_jobs`` ignored, ``parallel`` never set or set by ``n_jobs > 1`` alone (``and`` → ``or``), and
    one new document handed to two processes (``max(len(missing), 2)``). The tokens are the same either way."""
    calls = []
    segment = _tokenizer._segment_chunks

    def segment_here(chunks, config, n_jobs):  # records what transform asks for, then segments in this process
        calls.append((n_jobs, [len(chunk) for chunk in chunks]))
        return segment(chunks, config, 1)

    monkeypatch.setattr(_tokenizer, "_segment_chunks", segment_here)
    monkeypatch.setattr(_tokenizer, "_PARALLEL_MIN_CHARS", 700)
    JiebaTokenizer(n_jobs=2).transform([f"评论{i:03d}很好" for i in range(100)])  # 700 characters
    assert calls.pop() == (2, [2] * 50)  # 2 processes x 32 chunks of at most ceil(100 / 64) documents
    monkeypatch.setattr(_tokenizer, "_PARALLEL_MIN_CHARS", 701)
    JiebaTokenizer(n_jobs=2).transform([f"帖子{i:03d}很好" for i in range(100)])
    assert calls.pop() == (1, [100])  # too few characters: one chunk, here
    monkeypatch.setattr(_tokenizer, "_PARALLEL_MIN_CHARS", 0)
    JiebaTokenizer(n_jobs=2).transform(["只有一条"] * 3)
    assert calls.pop() == (1, [1])  # one new document: one process
    JiebaTokenizer(n_jobs=1).transform(["又一条", "再一条"])
    assert calls.pop() == (1, [2])


def test_distinct_configurations_hash_apart():
    """Mutant: ``__hash__`` constant (``hash(None)``): legal, but every tokenizer in a set or dict would collide."""
    tokenizers = [JiebaTokenizer(hmm=hmm, lowercase=lowercase) for hmm in (False, True) for lowercase in (False, True)]
    assert len(set(map(hash, tokenizers))) == 4


def test_workers_are_one_fewer_than_jobs_and_their_results_taken_as_they_come(monkeypatch):
    """Mutants: the executor started with ``max_workers`` None or ``n_jobs + 1``; a finished worker's future
    removed as ``None`` (raises once a worker finishes a chunk while this process still takes others)."""
    from concurrent.futures import Future

    from mmsent.text import _segment

    class FirstChunkDone:  # a worker has done the first chunk; the others are still queued, so cancellable
        def __init__(self):
            self.submitted = 0

        def submit(self, function, *args):
            future = Future()
            if not self.submitted:
                future.set_result(function(*args))
            self.submitted += 1
            return future

    started = []

    def executor(max_workers):
        started.append(max_workers)
        return FirstChunkDone()

    monkeypatch.setattr(_tokenizer, "get_reusable_executor", executor)
    docs = [f"第{i}条评论：质量很好" for i in range(8)]
    chunks = [docs[i : i + 2] for i in range(0, 8, 2)]
    config = JiebaTokenizer(backend="jieba")._config()
    results = list(_tokenizer._segment_chunks(chunks, config, n_jobs=3))
    assert started == [2]  # this process is the third
    assert [chunk for chunk, _ in results] == [chunks[3], chunks[0], chunks[2], chunks[1]]
    assert [tokens for _, tokens in results] == [_segment.tokenize_chunk(chunk, config) for chunk, _ in results]

@pytest.mark.usefixtures("fresh_token_cache")
def test_a_full_token_cache_is_emptied_before_it_grows(monkeypatch):
    """Mutant: the cache emptied only once it holds more than the maximum (``>`` for ``>=``)."""
    monkeypatch.setattr(_tokenizer, "_MAX_CACHED_DOCUMENTS", 3)
    tokenizer = JiebaTokenizer()
    tokenizer.transform(["一", "二", "三"])
    assert len(_tokenizer._TOKEN_CACHE[tokenizer._config()]) == 3
    assert tokenizer("四") == ["四"]
    assert list(_tokenizer._TOKEN_CACHE[tokenizer._config()]) == ["四"]

@pytest.mark.parametrize("estimator", [JiebaTokenizer(), LexiconFeatures(("vader",))], ids=["tokenizer", "lexicon"])
def test_tags_are_of_scikit_learns_types(estimator):
    """Mutants: a tag set to None rather than True / False. scikit-learn reads a None ``requires_fit`` as False,
    so ``check_is_fitted`` alone cannot tell; its own tag check can (its other checks skip string-input estimators)."""
    check_valid_tag_types(type(estimator).__name__, estimator)


# -- mmsent/text/_lexicon.py ---------------------------------------------------------------------------


class _Evaluated:
    def __reduce__(self):
        return eval, ("['unpickled', 'by', 'eval']",)


def test_word_lists_unpickle_only_lists_sets_and_strings():
    """Mutants: ``module == "builtins" or name in (...)``, which lets every builtin (``eval``) through;
    ``frozenset`` misspelt (refused); the error without its message."""
    for words in ({"好", "差"}, frozenset({"好", "差"}), ["好", "差"]):  # protocol 3 names set and frozenset
        loaded = _lexicon._WordListUnpickler(io.BytesIO(pickle.dumps(words, protocol=3))).load()
        assert loaded == words and type(loaded) is type(words)
    for hostile in (pickle.dumps(_Evaluated()), pickle.dumps(complex(1, 2))):
        with pytest.raises(pickle.UnpicklingError, match="unexpected type builtins"):
            _lexicon._WordListUnpickler(io.BytesIO(hostile)).load()


def test_lexicon_feature_names_are_an_object_array():
    """Mutants: ``dtype=object`` dropped (a fixed-width str array, unlike every scikit-learn transformer's)."""
    names = LexiconFeatures(lexicons=("vader",)).fit().get_feature_names_out()
    assert names.dtype == object
    assert names.tolist() == ["vader_pos_count", "vader_neg_count", "vader_pos_score", "vader_neg_score", "negations"]


def test_chinese_lexicon_words_weigh_one_either_way():
    """Mutants of ``_signed``: negative words weighing -2 (only signs and positive weights were checked: the cached
    lexicon hides the tests that read it from mutmut, so these were rerun by hand against tests/text/)."""
    lexicon = LexiconFeatures(lexicons=("hownet", "dutir")).fit()
    column_of = {name: index for index, name in enumerate(lexicon.get_feature_names_out())}
    X = lexicon.transform([["失望"], ["满意"]])
    for name in ("hownet", "dutir"):
        assert X[0, column_of[f"{name}_neg_score"]] == 1.0 and X[0, column_of[f"{name}_neg_count"]] == 1.0
        assert X[1, column_of[f"{name}_pos_score"]] == 1.0 and X[1, column_of[f"{name}_pos_count"]] == 1.0


def test_default_window_is_three_tokens():
    """Mutant: ``window=4`` as the default (the docstring says 3; every test set its own or read 1 token back)."""
    lexicon = LexiconFeatures(lexicons=("vader",)).fit()
    X = lexicon.transform([["not", "x", "y", "good"], ["not", "x", "y", "z", "good"]])
    assert X[0, 3] > 0 and X[0, 2] == 0  # 3 tokens back: flipped
    assert X[1, 2] > 0 and X[1, 3] == 0  # 4 back: out of reach


def test_vader_source_is_read_as_utf8_whatever_the_locale(monkeypatch):
    """Mutant: ``encoding=None`` (the locale's: vaderSentiment.py has non-ASCII lines, misread under Latin-1)."""
    import pathlib

    encodings = []
    read_text = pathlib.Path.read_text

    def spy(path, *args, **kwargs):
        encodings.append(kwargs.get("encoding", args[0] if args else None))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", spy)
    assert _lexicon._vader_constants()["NEGATE"]
    assert encodings and all(encoding and codecs.lookup(encoding).name == "utf-8" for encoding in encodings)


def test_documents_may_be_any_iterable_of_tokens():
    """Mutants: documents other than lists and tuples used as given (a generator has no length) or ``list(None)``."""
    lexicon = LexiconFeatures(lexicons=("vader",)).fit()
    expected = lexicon.transform([["not", "good"], ["very", "bad"]])
    documents = (iter(document) for document in (["not", "good"], ["very", "bad"]))
    np.testing.assert_array_equal(lexicon.transform(documents), expected)
    np.testing.assert_array_equal(lexicon.transform([np.array(["not", "good"]), ("very", "bad")]), expected)


def test_lexicon_features_are_float32():
    """Mutant: the result left in float64 (``astype(None)``); the docstring and the other featurizers say float32."""
    assert LexiconFeatures(lexicons=("vader",)).fit().transform([["good"], []]).dtype == np.float32


# -- mmsent/image/_hog.py ------------------------------------------------------------------------------


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
def test_faint_gradients_are_normalised_with_skimages_epsilon(block_norm):
    """Mutants: the epsilon of block normalisation subtracted (L1, L1-sqrt), or ``_EPS * 2`` / ``_EPS ** 3`` for
    ``_EPS ** 2`` (L2). On photos blocks are large beside it and the 1e-4 tolerance hides it; single
    steps of one grey level in cells of 32 x 32 make blocks of a few thousandths."""
    from skimage.feature import hog as skimage_hog

    images = np.zeros((3, 64, 64, 3), np.uint8)
    images[0, 10, 10] = 1  # one faint dot
    images[1, 40, 20:23, 1] = 2  # a faint dash in one channel
    images[2, 5:60:9, 7:60:11] = (3, 1, 2)  # a faint grid of dots
    params = {"orientations": 9, "pixels_per_cell": (32, 32), "cells_per_block": (1, 1), "block_norm": block_norm}
    reference = np.stack([skimage_hog(image, channel_axis=-1, **params) for image in images])
    assert np.count_nonzero(reference) > 10
    np.testing.assert_allclose(hog_batch(images, **params), reference, rtol=1e-6, atol=0)


def tied_gradients_image(n_channels):
    """Pixels whose channels have gradients of the same squared magnitude, the weaker by ``np.hypot`` first.

    Of the 64 squared magnitudes shared by gradients of different ``np.hypot`` values, each pairs its weakest
    gradient (in channel 0) with its strongest of another orientation (channel 1); the last pair puts a gradient
    of orientation bin 0 first. skimage takes the strongest channel by ``np.hypot``, so channel 1 must win.
    """
    g = np.arange(-255, 256)
    by_square = {}
    for row in g:
        for col in g:
            by_square.setdefault(row * row + col * col, []).append((int(row), int(col)))
    bin_of = {}  # bins of 9 orientations over [0, 180) degrees, as a fraction of 180
    pairs = []
    for gradients in by_square.values():
        hypot = {gradient: np.hypot(*map(float, gradient)) for gradient in gradients}
        if len(set(hypot.values())) > 1:
            bin_of.update({gradient: int(np.rad2deg(np.arctan2(*gradient)) % 180 // 20) for gradient in gradients})
            weak = min(gradients, key=hypot.get)
            strong = [gradient for gradient in gradients if hypot[gradient] > hypot[weak]]
            pairs.append((weak, next(s for s in strong if bin_of[s] != bin_of[weak])))
    pairs.append(((-39, -248), (-180, -175)))  # bin 0 (its table entry is exactly the flag), then bin 2
    assert len(pairs) == 65 and bin_of[(-39, -248)] == 0 and bin_of[(-180, -175)] == 2
    image = np.zeros((64, 64, n_channels), np.uint8)
    targets = [(i, j) for i in range(2, 62, 4) for j in range(2, 62, 4)]
    for (i, j), pair in zip(targets, pairs):
        for channel, (row, col) in enumerate(pair):
            # Central differences: row gradient p[i + 1] - p[i - 1], column gradient p[j + 1] - p[j - 1].
            image[i + 1 if row > 0 else i - 1, j, channel] = abs(row)
            image[i, j + 1 if col > 0 else j - 1, channel] = abs(col)
    return image


@pytest.mark.parametrize("n_channels", [2, 3])
def test_channels_tied_in_squared_magnitude_are_ranked_as_skimage_ranks_them(n_channels):
    """Mutants of the tie-break: never asked (``flatnonzero(None)``, or only for more than 2 channels), bin 0's
    flagged entries missed (``>`` for ``>=``), the gradient decoded one off (``- 256`` for ``- 255``). No test
    image had two channels with gradients of equal squared magnitude at one pixel."""
    from skimage.feature import hog as skimage_hog

    image = tied_gradients_image(n_channels)
    reference = skimage_hog(image, pixels_per_cell=(8, 8), cells_per_block=(2, 2), channel_axis=-1)
    np.testing.assert_allclose(hog_batch(image[None])[0], reference, atol=1e-6)


def test_hog_refusals_name_the_size_and_what_to_do(monkeypatch):
    """Mutants: the size check with ``and`` (one short side let through), or the rows compared with the block's
    columns; the message's width and height read from other axes; the messages' texts changed."""
    for shape, blocks in [((1, 12, 64, 3), (2, 2)), ((1, 64, 12, 3), (2, 2)), ((1, 16, 64), (3, 1))]:
        height, width = shape[1:3]
        message = f"images of {width}x{height} px are too small for blocks of {blocks} cells of (8, 8) px"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            hog_batch(np.zeros(shape, np.uint8), cells_per_block=blocks)
    batch = np.zeros((2, 64, 64, 3), np.uint8)
    message = (
        "block_norm='L1' is not available with backend='opencv': OpenCV's HOGDescriptor only normalises blocks "
        "by 'L2-Hys'; use backend='numpy' for the others"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        hog_batch(batch, block_norm="L1", backend="opencv")
    fitted = HOGTransformer().fit(batch)
    message = "HOG produced 576 features but was fitted with 1764: the images changed size between fit and transform"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fitted.transform(batch[:, :40, :40])
    monkeypatch.setitem(sys.modules, "cv2", None)
    message = (
        "the 'opencv' HOG backend needs OpenCV's HOGDescriptor, which is not installed here (OpenCV 5's main "
        "wheel lacks it): pip install 'opencv-python-headless<5' (or 'mmsent[fast]')"
    )
    with pytest.raises(ImportError, match=f"^{re.escape(message)}$"):
        hog_batch(batch, backend="opencv")


def test_an_empty_batch_has_the_width_and_type_of_a_full_one():
    """Mutants: the empty result's width from the block's columns twice; its dtype float64."""
    params = {"orientations": 7, "cells_per_block": (3, 2)}
    empty = hog_batch(np.zeros((0, 40, 64, 3), np.uint8), **params)
    one = hog_batch(np.zeros((1, 40, 64, 3), np.uint8), **params)
    assert empty.shape == (0, one.shape[1]) == (0, 3 * 7 * 3 * 2 * 7) and empty.dtype == one.dtype == np.float32


def record_chunks(monkeypatch, name):
    """Replace ``_hog.<name>`` by a wrapper that records each call's (on the main thread?, number of images)."""
    calls = []
    real = getattr(_hog, name)

    def recording(*args):
        images = args[1] if name == "_opencv_hog_chunk" else args[0]
        calls.append((threading.current_thread() is threading.main_thread(), len(images)))
        return real(*args)

    monkeypatch.setattr(_hog, name, recording)
    return calls


def test_hog_chunks_fit_the_pixel_budget_whatever_the_shape(monkeypatch):
    """Mutants: the chunk's length from width x width or height x channels (tall images made chunks 4 times
    the budget); at least 2 images a chunk (images over the budget came 2 at a time)."""
    calls = record_chunks(monkeypatch, "_hog_chunk")
    monkeypatch.setattr(_hog, "_CHUNK_PIXELS", 2 * 128 * 32)
    rng = np.random.default_rng(0)
    for shape, lengths in [((6, 128, 32, 3), [2, 2, 2]), ((6, 32, 128, 3), [2, 2, 2]), ((2, 96, 96, 3), [1, 1])]:
        calls.clear()
        hog_batch(rng.integers(0, 256, shape, dtype=np.uint8))
        assert [n for _, n in calls] == lengths, shape


def test_hog_threads_share_the_batch_whatever_joblib_backend_is_configured(monkeypatch):
    """Mutants: ``n_jobs`` not passed on (by ``HOGTransformer`` or to ``Parallel``): everything ran serially;
    ``require="sharedmem"`` dropped: under a caller's ``loky`` configuration the chunks went to other
    processes (copies of the batch), out of this one."""
    calls = record_chunks(monkeypatch, "_hog_chunk")
    monkeypatch.setattr(_hog, "_CHUNK_PIXELS", 2 * 64 * 64)
    batch = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    serial = hog_batch(batch)
    assert calls == [(True, 2)] * 3
    calls.clear()
    with joblib.parallel_config(backend="loky"):
        threaded = HOGTransformer(n_jobs=2).fit_transform(batch)
    np.testing.assert_array_equal(threaded, serial)
    assert sorted(n for _, n in calls) == [2, 2, 2] and not any(main for main, _ in calls)


def test_opencv_hog_gives_each_thread_one_chunk(monkeypatch):
    """Mutants: chunks of ``n * n_jobs`` images, or of ``n / effective_n_jobs(None)``: one chunk, one thread;
    at least 2 images a chunk (3 images on 4 threads came as 2 + 1)."""
    opencv = pytest.importorskip("cv2")
    if not hasattr(opencv, "HOGDescriptor"):
        pytest.skip("this OpenCV has no HOGDescriptor")
    calls = record_chunks(monkeypatch, "_opencv_hog_chunk")
    batch = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    for n, n_jobs, lengths in [(6, 2, [3, 3]), (3, 4, [1, 1, 1]), (6, None, [6])]:
        calls.clear()
        hog_batch(batch[:n], backend="opencv", n_jobs=n_jobs)
        assert sorted(length for _, length in calls) == lengths, (n, n_jobs)


# -- mmsent/_persistence.py ----------------------------------------------------------------------------


def tiny_model():
    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


def with_header(data, header):
    """A joblib model file's bytes with its header JSON replaced (the framing's lengths to match)."""
    (length,) = struct.unpack_from("<H", data, 14)
    extra = b"MS" + struct.pack("<H", len(header)) + header
    return data[:10] + struct.pack("<H", len(extra)) + extra + data[16 + length :]


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_headers_over_32_kib_round_trip(tmp_path, suffix):
    """Mutants: the framing's lengths packed as signed 16-bit (``<h``): headers of 32 KiB to 64 KiB, which
    the format allows, could not be saved."""
    notes = "x" * 40_000
    path = save_model(tiny_model(), tmp_path / f"m.{suffix}", data={"notes": notes})
    assert model_metadata(path)["file"]["integrity"] == "verified"
    assert load_model(path).mmsent_metadata_["data"]["notes"] == notes


def test_a_header_of_the_wrong_shape_is_called_damaged(tmp_path):
    """Mutant: ``or`` → ``and`` in the header's type check: a list as metadata crashed (``AttributeError``),
    a number as digest was compared as one."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    data = path.read_bytes()
    for header in ({"metadata": [], "sha256": "0" * 64}, {"metadata": {"format_version": 3}, "sha256": 5}):
        path.write_bytes(with_header(data, json.dumps(header).encode()))
        info = model_metadata(path)["file"]
        assert info["integrity"] == "mismatch"
        assert info["problem"] == "its header is not the JSON save_model writes (damaged or cut short)"
        with pytest.raises(ModelIntegrityError, match="header is not the JSON save_model writes"):
            load_model(path)


def test_model_file_refusals_say_what_to_do_in_full(tmp_path, monkeypatch):
    """Mutants of the messages: earlier format, no header, failed digest, skops missing."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    data = path.read_bytes()
    (length,) = struct.unpack_from("<H", data, 14)
    metadata = json.loads(data[16 : 16 + length])["metadata"]
    older = {"metadata": {**metadata, "format_version": 2}, "sha256": ""}
    path.write_bytes(with_header(data, json.dumps(older).encode()))
    message = (
        f"{path} is a model file of mmsent's format 2; this mmsent reads format 3 only. Re-fit the model and save it "
        "with this version (or, if you trust the file, load it with joblib.load or skops.io.load and save it again "
        "with save_model)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_model(path)
    path.write_bytes(data[:-20] + bytes(b ^ 1 for b in data[-20:]))
    problem = r"its metadata and model hash to [0-9a-f]{64}, its header records [0-9a-f]{64}"
    with pytest.raises(
        ModelIntegrityError,
        match=f"^{re.escape(str(path))} failed its integrity check: {problem}\\. The file is corrupted or was "
        r"altered; it was not loaded\.$",
    ):
        load_model(path)
    plain = tmp_path / "plain.joblib"
    joblib.dump(tiny_model(), plain)
    message = (
        f"{plain} has no mmsent header, so it is not a model file save_model wrote (joblib.dump, skops.io.dump and "
        "mmsent's format 1 write none: re-fit or re-save such a model with this version). Nothing vouches for its "
        "content, so it was not loaded. If you trust its source, pass the SHA-256 its author published (as "
        "sha256sum prints it) as sha256=..., or require_hash=False."
    )
    with pytest.raises(ModelIntegrityError, match=f"^{re.escape(message)}$"):
        load_model(plain)
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(ImportError, match=r"^the skops format needs the skops package: pip install skops$"):
        save_model(tiny_model(), tmp_path / "m.skops")


class _Unknown:
    """A type that mmsent does not trust."""


def test_untrusted_types_are_refused_with_the_way_to_trust_them(tmp_path):
    """Mutants of the refusal's message."""
    model = tiny_model()
    model.note_ = _Unknown()
    path = save_model(model, tmp_path / "m.skops")
    name = "tests.test_mutants._Unknown"
    message = (
        f"{path} holds types outside mmsent's trusted list: ['{name}'] (skops.io.get_untrusted_types). Building "
        "them could run their code, so the file was not loaded. If you trust them, name them: "
        f"load_model(path, trusted=['{name}'])."
    )
    with pytest.raises(UntrustedTypesError, match=f"^{re.escape(message)}$"):
        load_model(path)


def test_version_warnings_name_each_mismatch_and_point_at_the_caller(tmp_path, monkeypatch):
    """Mutants: scikit-learn's or NumPy's saved version read under another key (every file then warned); the
    message's separator and advice changed; ``stacklevel`` other than the caller's line."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        load_model(path)  # saved with these very versions: nothing to say
    saved_numpy = np.__version__
    monkeypatch.setattr("mmsent._persistence.__version__", "99.0")
    monkeypatch.setattr(np, "__version__", "0.0")
    with pytest.warns(ModelVersionWarning) as caught:
        load_model(path)
    from mmsent import __version__

    assert str(caught[0].message) == (
        f"{path} was saved with mmsent {__version__} (now 99.0), numpy {saved_numpy} (now 0.0); predictions may "
        "differ. Re-fit and save the model with the current versions to be sure."
    )
    if "mutants" not in Path(__file__).parts:  # mutmut's trampolines add frames between the test and the warning
        assert caught[0].filename == __file__


def test_joblib_files_hold_a_protocol_5_pickle(tmp_path):
    """Mutants: the payload pickled with Python's default protocol (4 before Python 3.14) rather than the protocol 5
    that the format documents."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    stream = gzip.decompress(path.read_bytes())
    assert stream[:2] == b"\x80\x05"  # PROTO 5
    assert model_metadata(path)["pickler"] == "pickle"


def test_skops_files_are_deflated_at_the_level_asked(tmp_path):
    """Mutants: skops' compression dropped, always or never on, or its level ignored."""
    model = LogisticRegression().fit(np.tile(np.arange(40.0), (4, 1)).T, np.arange(40) % 2)
    model.table_ = np.tile(np.arange(256, dtype=np.uint8), 4000)  # compressible, and more so at level 9
    sizes = {}
    for level in (0, 1, 9):
        path = save_model(model, tmp_path / f"m{level}.skops", compress=level)
        with zipfile.ZipFile(path) as archive:
            types = {info.compress_type for info in archive.infolist()}
        assert types == {zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED}, level
        sizes[level] = path.stat().st_size
    # Measured 1,033,793 / 9,940 / 6,122 bytes; two files at one level can differ by a few bytes.
    assert sizes[0] > sizes[1] > 1.3 * sizes[9]


def test_metadata_of_a_loaded_model_is_the_one_saved(tmp_path):
    """Mutant: ``model_metadata(model)`` always describing the model anew, losing the saved metrics and data."""
    path = save_model(tiny_model(), tmp_path / "m.joblib", metrics={"accuracy": 0.5}, data={"train": "posts.csv"})
    metadata = model_metadata(load_model(path))
    assert metadata["metrics"] == {"accuracy": 0.5} and metadata["data"] == {"train": "posts.csv"}
    assert metadata == {key: value for key, value in model_metadata(path).items() if key != "file"}


def test_pickles_refuse_a_trusted_list_and_say_why(tmp_path):
    """Mutants of the refusal's message."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    message = (
        f"{path} is a pickle (joblib): its types cannot be checked before it runs, so `trusted` does not apply. "
        "Load it only if you trust its source, or ask for a skops file."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_model(path, trusted=["builtins.eval"])


def test_a_headerless_model_warns_from_the_metadata_it_carries(tmp_path):
    """Mutants: the metadata of a file without a header (``joblib.dump`` of a model ``save_model`` annotated)
    not read from the model, so no version warning."""
    model = tiny_model()
    model.mmsent_metadata_ = {
        "mmsent_version": "0.0.1",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
    }
    joblib.dump(model, tmp_path / "old.joblib")
    with pytest.warns(ModelVersionWarning, match=r"old.joblib was saved with mmsent 0\.0\.1 \(now "):
        load_model(tmp_path / "old.joblib", require_hash=False)


def test_only_gzip_files_with_mmsent_s_subfield_are_read_as_model_files(tmp_path):
    """Mutant: gzip's magic ``or`` mmsent's subfield (for ``and``): a plain gzip pickle (``joblib.dump`` to
    ``.gz``) was taken for a damaged model file, refused even with ``require_hash=False``."""
    plain = tmp_path / "plain.gz"
    joblib.dump(tiny_model(), plain)
    assert plain.read_bytes()[:3] == b"\x1f\x8b\x08"
    with pytest.raises(ValueError, match="plain.gz has no mmsent header"):
        model_metadata(plain)
    assert load_model(plain, require_hash=False).predict([[1.0]]) == [1]


def test_a_file_cut_to_its_framing_is_damaged(tmp_path):
    """Mutant: ``len(data) > 16`` for ``>= 16``: a joblib file cut right after its 16 bytes of framing was
    called a file without a header rather than a damaged model file."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    path.write_bytes(path.read_bytes()[:16])
    info = model_metadata(path)["file"]
    assert info["problem"] == "its header is not the JSON save_model writes (damaged or cut short)"


def test_the_zip_end_record_is_the_last_one_and_within_a_comments_reach(tmp_path):
    """Mutants: ``find`` for ``rfind`` (a model holding the end record's signature in its data was split there);
    the search not bounded to the last 22 + 65,535 bytes (a zip file followed by more data was read as a damaged
    model file, after a scan of the whole file)."""
    model = tiny_model()
    model.blob_ = np.frombuffer(b"PK\x05\x06" * 64, np.uint8)  # stored as is with compress=0
    path = save_model(model, tmp_path / "m.skops", compress=0)
    assert b"PK\x05\x06" * 2 in path.read_bytes()
    assert model_metadata(path)["file"]["integrity"] == "verified"
    assert load_model(path).blob_.tobytes() == b"PK\x05\x06" * 64
    padded = tmp_path / "padded.skops"
    padded.write_bytes(path.read_bytes() + bytes(70_000))
    with pytest.raises(ValueError, match="padded.skops has no mmsent header"):
        model_metadata(padded)


def test_metadata_that_is_not_json_is_refused_naming_its_type(tmp_path):
    """Mutant: the refusal naming ``NoneType`` rather than the type of the value that is not JSON."""
    # The value's repr is cut to 60 characters.
    message = (
        "model metadata must be JSON-serializable; got set {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        save_model(tiny_model(), tmp_path / "m.joblib", data={"tags": set(range(100))})
    assert not (tmp_path / "m.joblib").exists()


def test_parameters_are_json_or_their_repr():
    """Mutants: NumPy scalars among the parameters not made builtins (their repr kept instead); the repr of a
    parameter that is not JSON replaced by ``"None"``; the nested estimators' parameters (``deep=True``) added."""
    state = np.random.RandomState(0)
    model = LogisticRegression(C=np.int64(2), random_state=state).fit([[0.0], [1.0]], [0, 1])
    params = model_metadata(model)["params"]
    assert params["C"] == 2 and type(params["C"]) is int
    assert params["random_state"] == repr(state)
    wrapper = OneVsRestClassifier(LogisticRegression(C=2.0))  # its own parameters only, not its estimator's
    expected = {**wrapper.get_params(deep=False), "estimator": "LogisticRegression(C=2.0)"}
    assert model_metadata(wrapper)["params"] == expected


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_fields_around_the_header_unlike_save_models_are_called_altered(tmp_path, suffix):
    """Mutants of the problem's text when the framing is not the one save_model writes (the digest still matching)."""
    path = save_model(tiny_model(), tmp_path / f"m.{suffix}")
    digest = model_metadata(path)["file"]["sha256"]
    data = path.read_bytes()
    # joblib: gzip's OS byte changed; skops: a space after the header's JSON, beyond the comment's length.
    path.write_bytes(data[:9] + b"\x03" + data[10:] if suffix == "joblib" else data + b" ")
    problem = "the fields around its header are not those save_model writes (cut short or altered)"
    assert model_metadata(path)["file"] == {
        "format": suffix,
        "sha256": digest,
        "integrity": "mismatch",
        "problem": problem,
    }
    message = f"{path} failed its integrity check: {problem}. The file is corrupted or was altered; it was not loaded."
    with pytest.raises(ModelIntegrityError, match=f"^{re.escape(message)}$"):
        load_model(path)


def test_the_zip_end_record_is_found_up_to_a_full_comment_from_the_end(tmp_path):
    """Mutants: the search for the end record started 44 bytes too late (a skops file with a header of the largest
    size, 65,531 bytes, was taken for one without a header), or one byte too early (a zip file followed by 65,536
    bytes, more than a comment holds, was taken for a damaged model file)."""
    path = save_model(tiny_model(), tmp_path / "m.skops", data={"notes": ""})
    with zipfile.ZipFile(path) as archive:
        notes = "x" * (65_531 - len(archive.comment))
    path = save_model(tiny_model(), path, data={"notes": notes})
    with zipfile.ZipFile(path) as archive:
        assert len(archive.comment) == 65_531
    assert load_model(path).mmsent_metadata_["data"]["notes"] == notes
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a", "b")
    padded = tmp_path / "padded.zip"
    padded.write_bytes(archive.getvalue() + bytes(65_535))  # the end record a full comment from the end
    assert model_metadata(padded)["file"]["problem"] == (
        "its header is not the JSON save_model writes (damaged or cut short)"
    )
    padded.write_bytes(archive.getvalue() + bytes(65_536))
    with pytest.raises(ValueError, match="padded.zip has no mmsent header"):
        model_metadata(padded)


def test_model_files_are_read_up_to_the_limit_and_no_further(tmp_path, monkeypatch):
    """Mutants: a file of exactly ``_MAX_FILE_BYTES`` refused, or read one byte short; the read not bounded, so a
    file that grew past the limit after its size was checked was read whole before being refused."""
    path = save_model(tiny_model(), tmp_path / "m.joblib")
    size = path.stat().st_size
    monkeypatch.setattr("mmsent._persistence._MAX_FILE_BYTES", size)
    assert load_model(path).predict([[1.0]]) == [1]
    monkeypatch.setattr("mmsent._persistence._MAX_FILE_BYTES", size - 1)
    message = f"{path} holds over {size - 1:,} bytes, far more than a model file: refused"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_model(path)
    monkeypatch.setattr("mmsent._persistence._MAX_FILE_BYTES", size)
    reads = []

    class CountingReader(io.BufferedReader):
        def read(self, n=-1):
            data = super().read(n)
            reads.append(len(data))
            return data

    open_path = Path.open

    def open_grown(self, *args, **kwargs):
        if self != path:
            return open_path(self, *args, **kwargs)
        with open_path(self, "ab") as file:  # the file grows by 1 MiB between its stat and its read
            file.write(bytes(2**20))
        return CountingReader(io.FileIO(self, "rb"))

    monkeypatch.setattr(Path, "open", open_grown)
    message = f"{path} holds over {size:,} bytes, far more than a model file: refused"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model_metadata(path)
    assert 0 < sum(reads) < 2**20


def test_a_models_description_in_full():
    """Mutants: Python's version, the time of saving or the modalities' weights recorded under another key (or the
    weights read from another attribute); the time local, not UTC."""
    model = tiny_model()
    model.modality_weights_ = {"text": 0.75, "image": 0.25}  # as a fitted MultimodalSentimentClassifier holds them
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    metadata = model_metadata(model)
    saved_at = datetime.datetime.fromisoformat(metadata.pop("saved_at"))
    assert saved_at.utcoffset() == datetime.timedelta(0)
    assert before <= saved_at <= datetime.datetime.now(datetime.timezone.utc)
    from mmsent import __version__

    assert metadata == {
        "format_version": 3,
        "mmsent_version": __version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "estimator": "sklearn.linear_model._logistic.LogisticRegression",
        "classes": [0, 1],
        "n_features_in": 1,
        "modality_weights": {"text": 0.75, "image": 0.25},
        "params": model.get_params(deep=False),
    }


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_metadata_beyond_ascii_is_saved_as_escaped_ascii(tmp_path, suffix):
    """Mutants: the digest's canonical JSON, or the header, not escaped to ASCII (saving metadata beyond ASCII
    failed, or wrote a header that is not the ASCII JSON the format documents)."""
    path = save_model(tiny_model(), tmp_path / f"m.{suffix}", data={"source": "微博"})
    if suffix == "skops":
        with zipfile.ZipFile(path) as archive:
            header = archive.comment
    else:
        (length,) = struct.unpack_from("<H", path.read_bytes(), 14)
        header = path.read_bytes()[16 : 16 + length]
    assert header.isascii() and b'"data": {"source": "\\u5fae\\u535a"}' in header
    metadata = model_metadata(path)
    assert metadata["data"] == {"source": "微博"} and metadata["file"]["integrity"] == "verified"


def test_metadata_one_byte_over_the_header_is_refused_in_full(tmp_path):
    """Mutants: a header of exactly 65,531 bytes refused (``>=``); the advice of the refusal changed."""
    path = save_model(tiny_model(), tmp_path / "m.joblib", data={"notes": ""})
    (length,) = struct.unpack_from("<H", path.read_bytes(), 14)
    notes = "x" * (65_531 - length)
    path = save_model(tiny_model(), path, data={"notes": notes})
    assert struct.unpack_from("<H", path.read_bytes(), 14) == (65_531,)
    message = (
        "the model's metadata takes 65,532 bytes; at most 65,531 fit in the file's header. Pass smaller metrics / "
        "data descriptions."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        save_model(tiny_model(), path, data={"notes": notes + "x"})
    assert model_metadata(path)["data"]["notes"] == notes  # the file saved before is left as it was


def test_joblib_files_are_deflated_at_level_3_by_default(tmp_path):
    """Mutant: ``compress`` defaulting to another level than the documented 3."""
    model = tiny_model()
    model.table_ = np.tile(np.arange(256, dtype=np.uint8), 4000)  # levels 3 and 4 deflate it differently
    data = save_model(model, tmp_path / "m.joblib").read_bytes()
    (length,) = struct.unpack_from("<H", data, 14)
    raw = gzip.decompress(data)
    streams = {}
    for level in (3, 4):
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        streams[level] = deflate.compress(raw) + deflate.flush()
    assert streams[3] != streams[4]
    assert data[16 + length : -8] == streams[3]  # the member's deflated stream, before its CRC and length
