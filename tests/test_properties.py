"""Property-based tests: the tokenizer, the image decoder and the manifest reader never fail in unplanned ways."""

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmsent.datasets import read_manifest
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
