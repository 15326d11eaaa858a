"""Property-based tests: the tokenizer, the image decoder and the manifest reader never fail in unplanned ways."""

import io
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from mmsent.datasets import iter_manifest, read_manifest
from mmsent.image import ImageDecodeError, decode_images
from mmsent.text import JiebaTokenizer

FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_tokenizer_takes_any_unicode_string(text):
    tokens = JiebaTokenizer()(text)
    assert isinstance(tokens, list) and all(isinstance(t, str) and t and not t.isspace() for t in tokens)
    assert JiebaTokenizer()(text) == tokens  # cached or not, the same answer


def _valid_images():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))
    out = []
    for fmt, mode in (("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("PNG", "LA"), ("TIFF", "CMYK")):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


VALID = _valid_images()


@st.composite
def damaged_images(draw):
    """A valid file of some format, cut short and/or with a few bytes overwritten."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@FEW
@given(st.one_of(st.binary(max_size=2048), damaged_images()))
def test_image_decoder_takes_any_bytes(data):
    try:
        batch = decode_images([b"\x89 keep me company", data], size=(8, 8))
    except ImageDecodeError as error:
        rows = [row for row, _ in error.problems]
        assert rows in ([0], [0, 1])  # the first row is never an image; the second may be
        assert str(error).startswith(f"{len(rows)} of 2 images could not be read")
    else:
        raise AssertionError(f"decoded {batch.shape} from a non-image")


@FEW
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=3))
def test_image_decoder_decodes_valid_files_of_every_format(files):
    batch = decode_images(files, size=(8, 8))
    assert batch.shape == (len(files), 8, 8, 3) and batch.dtype == np.uint8


def _truncation_sources():
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    out = {}
    for name, fmt, options in (
        ("jpeg", "JPEG", {}),
        ("progressive-jpeg", "JPEG", {"progressive": True}),
        ("png", "PNG", {}),
        ("gif", "GIF", {}),
        ("bmp", "BMP", {}),
        ("tiff", "TIFF", {}),
        ("webp", "WEBP", {"lossless": True}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        out[name] = buffer.getvalue()
    return out


TRUNCATION_SOURCES = _truncation_sources()


@settings(FEW, max_examples=300)
@given(
    st.sampled_from(sorted(TRUNCATION_SOURCES)),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from(["pil", "opencv"]),
    st.booleans(),
)
def test_a_cut_image_is_refused_or_exact_never_filled_in(name, where, backend, lenient_pillow):
    """Cut anywhere, a file decodes to exactly the pixels of the whole file or is a bad row: never part grey.

    For JPEG and PNG, mmsent's own checks hold even when a user has made Pillow
    fill in truncated images (``ImageFile.LOAD_TRUNCATED_IMAGES``).
    """
    from mmsent.image import decode_image

    if backend == "opencv":
        pytest.importorskip("cv2")
    assume(not lenient_pillow or name in ("jpeg", "progressive-jpeg", "png"))
    data = TRUNCATION_SOURCES[name]
    whole = decode_image(data, size=None, backend=backend)
    cut = data[: int(where * len(data))]
    with mock.patch.object(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient_pillow):
        try:
            batch = decode_images([cut], size=whole.shape[1::-1], backend=backend)
        except ImageDecodeError as error:
            assert error.problems[0][1].startswith(f"{len(cut)} bytes ")
        else:
            np.testing.assert_array_equal(batch[0], whole)


MANIFEST_ERRORS = (
    "is neither UTF-8",
    "is not a readable CSV file",
    "not valid JSON",
    "expected a JSON object",
    "has no column 'text'",
)
CELLS = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=True), st.none(), st.booleans())


@FEW
@given(
    suffix=st.sampled_from([".csv", ".jsonl"]),
    content=st.one_of(
        st.binary(max_size=300),
        st.lists(st.dictionaries(st.sampled_from(["text", "image", "label", "x"]), CELLS, max_size=4), max_size=5),
    ),
)
def test_read_manifest_reads_or_says_what_is_wrong(suffix, content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"posts{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif suffix == ".csv":
            pd.DataFrame.from_records(content).to_csv(path, index=False)
        else:
            pd.DataFrame.from_records(content).to_json(path, orient="records", lines=True)
        try:
            frame = read_manifest(path, required=("text",), check_files=False)
        except ValueError as error:
            # One of the errors read_manifest means to raise, naming the file: never pandas' or
            # the codec's own message alone.
            assert type(error) is ValueError and str(path) in str(error), repr(error)
            assert any(reason in str(error) for reason in MANIFEST_ERRORS), str(error)
        else:
            assert isinstance(frame, pd.DataFrame) and "text" in frame.columns



@FEW
@given(
    widths=st.lists(st.integers(1, 5), min_size=1, max_size=6),
    chunk_size=st.sampled_from([None, 1, 2, 100]),
)
def test_a_row_with_more_fields_than_the_header_is_refused_never_shifted(widths, chunk_size):
    """Rows of 1 to 5 fields under a 3-name header: read exactly as written, or refused naming the file.

    pandas takes the first column for the index when the first row is one field longer than the header,
    shifting every cell of the file one column to the right; a later long row is its own parse error.
    """
    header = ["text", "tag", "note"]
    rows = [[f"r{row}c{column}" for column in range(width)] for row, width in enumerate(widths)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.csv"
        path.write_text("\n".join(",".join(fields) for fields in [header, *rows]) + "\n", encoding="utf-8")

        def read():
            if chunk_size is None:
                return read_manifest(path, required=("text",), check_files=False)
            return pd.concat(list(iter_manifest(path, chunk_size, required=("text",), check_files=False)))

        if max(widths) > len(header):
            with pytest.raises(ValueError, match="more than the header|not a readable CSV") as error:
                read()
            assert str(path) in str(error.value)
        else:
            frame = read()
            assert frame.index.tolist() == list(range(len(rows)))
            cells = [[frame.at[row, name] for name in header[: len(fields)]] for row, fields in enumerate(rows)]
            assert cells == rows  # every cell under its own name; a short row's missing cells are empty


@FEW
@given(
    header=st.lists(st.sampled_from(["text", "label", "note", ""]), min_size=1, max_size=5),
    chunk_size=st.sampled_from([None, 2]),
)
def test_a_header_naming_a_column_twice_is_refused(header, chunk_size):
    """A repeated column name is refused naming the file and the name; pandas would rename it ``name.1``.

    Blank names are not repeats: pandas names each ``Unnamed: i``, and nothing reads them.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.csv"
        cells = [f"c{column}" for column in range(len(header))]
        path.write_text(",".join(header) + "\n" + ",".join(cells) + "\n", encoding="utf-8")

        def read():
            if chunk_size is None:
                return read_manifest(path, required=(), check_files=False)
            return pd.concat(list(iter_manifest(path, chunk_size, required=(), check_files=False)))

        repeated = sorted({name for name in header if name and header.count(name) > 1})
        if repeated:
            with pytest.raises(ValueError, match="names a column more than once") as error:
                read()
            assert str(path) in str(error.value)
            assert all(repr(name) in str(error.value) for name in repeated)
        else:
            frame = read()
            named = [(name, cell) for name, cell in zip(header, cells) if name]
            assert [frame.at[0, name] for name, _ in named] == [cell for _, cell in named]


# -- HOG equals scikit-image on every input ------------------------------------------------------


def _hypot_ties():
    """Pairs of uint8-image gradients with equal squared magnitudes whose ``np.hypot`` values differ."""
    g = np.arange(-255, 256)
    rows, cols = (grid.ravel() for grid in np.meshgrid(g, g, indexing="ij"))
    squared = rows * rows + cols * cols
    hypot = np.hypot(rows.astype(np.float64), cols.astype(np.float64))
    ties = []
    for value in np.unique(squared[np.nonzero(hypot != np.sqrt(squared.astype(np.float64)))]):
        members = np.flatnonzero(squared == value)
        for a in members:
            ties.extend(((rows[a], cols[a]), (rows[b], cols[b])) for b in members if hypot[a] != hypot[b])
    return ties


HYPOT_TIES = _hypot_ties()


def test_hypot_orders_different_squared_magnitudes_exactly():
    """What HOG's tie-break relies on: only equal squared magnitudes can have ``hypot`` out of order."""
    g = np.arange(-255, 256, dtype=np.float64)
    hypot = np.hypot(g[:, None], g[None, :]).ravel()
    squared = (g[:, None] ** 2 + g[None, :] ** 2).ravel()
    order = np.argsort(squared, kind="stable")
    values, starts = np.unique(squared[order], return_index=True)
    assert np.all(np.maximum.reduceat(hypot[order], starts)[:-1] < np.minimum.reduceat(hypot[order], starts)[1:])
    assert HYPOT_TIES  # this libm's hypot does have such ties: the test below plants them


def _plant(image, row, col, channel, gradient):
    """Set the pixels around (row, col) of one channel so that its central differences are ``gradient``."""
    for axis, step in enumerate(gradient):
        low = max(0, -step)
        before, after = ((row - 1, col), (row + 1, col)) if axis == 0 else ((row, col - 1), (row, col + 1))
        image[(*before, channel)] = low
        image[(*after, channel)] = low + step


@st.composite
def hog_images(draw):
    """Small RGB images: noise, constant or duplicated channels, few grey levels, and planted channel ties."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    height, width = draw(st.integers(16, 26)), draw(st.integers(16, 26))
    kind = draw(st.sampled_from(["noise", "constant-channel", "duplicated-channels", "few-levels"]))
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "constant-channel":
        image[..., draw(st.integers(0, 2))] = draw(st.integers(0, 255))
    elif kind == "duplicated-channels":
        image[..., 1] = image[..., 0]
    elif kind == "few-levels":
        image = rng.choice(np.array([0, 128, 255], np.uint8), (height, width, 3))
    for _ in range(draw(st.integers(0, 6))):
        first, second = draw(st.sampled_from(HYPOT_TIES))
        row, col = draw(st.integers(1, height - 2)), draw(st.integers(1, width - 2))
        channels = draw(st.permutations([0, 1, 2]))
        _plant(image, row, col, channels[0], first)
        _plant(image, row, col, channels[1], second)
    return image


@FEW
@given(hog_images(), st.sampled_from(["L1", "L1-sqrt", "L2", "L2-Hys"]), st.sampled_from([(8, 8), (5, 7)]))
def test_hog_equals_skimage_on_any_image(image, block_norm, cell):
    from skimage.feature import hog

    from mmsent.image import hog_batch

    params = {"orientations": 9, "pixels_per_cell": cell, "cells_per_block": (2, 2), "block_norm": block_norm}
    expected = hog(image, channel_axis=-1, **params)
    np.testing.assert_allclose(hog_batch(image[None], **params)[0], expected, rtol=0, atol=1e-6)
