"""Hostile and broken input, made here: each gets a clear error naming the row and file, or a documented fallback."""

import io
import os
import resource
import socket
import struct
import threading
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from mmsent import MultimodalSentimentClassifier
from mmsent.cli import main
from mmsent.datasets import MissingFilesError, read_manifest
from mmsent.image import ImageDecodeError, ImageDecoder, decode_image, decode_images, make_image_features
from mmsent.image._cnn import cnn_input
from mmsent.text import TextCleaner, TextDecodeError

from .conftest import synthetic_posts


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header(width, height):
    """A valid PNG that declares a ``width`` x ``height`` canvas in a few dozen bytes: a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8))
JPEG, PNG = encoded(NOISE, "JPEG"), encoded(NOISE, "PNG")


def write(folder, name, content):
    path = folder / name
    path.write_bytes(content)
    return path


# Each broken file: how to make it, and what the error says about it.
BROKEN_FILES = {
    "truncated-jpeg": (lambda d: write(d, "half.jpg", JPEG[: len(JPEG) // 2]), "is a truncated JPEG"),
    "truncated-png": (lambda d: write(d, "half.png", PNG[: len(PNG) // 2]), "is a truncated PNG"),
    "corrupt-jpeg": (lambda d: write(d, "scrambled.jpg", JPEG[:20] + bytes(200) + JPEG[220:]), "is a corrupt JPEG"),
    "corrupt-png": (lambda d: write(d, "scrambled.png", PNG[:40] + bytes(50) + PNG[90:]), "is not an image"),
    "zero-byte-file": (lambda d: write(d, "empty.jpg", b""), "is not an image"),
    "text-named-jpg": (lambda d: write(d, "notes.jpg", b"shopping list: eggs\n"), "is not an image"),
    "directory": (lambda d: (d / "folder.jpg").mkdir() or d / "folder.jpg", "is not a regular file (a directory)"),
    "missing-path": (lambda d: d / "gone.jpg", "does not exist"),
    "symlink-loop": (
        lambda d: os.symlink(d / "loop_b.jpg", d / "loop_a.jpg") or os.symlink(d / "loop_a.jpg", d / "loop_b.jpg")
        or d / "loop_a.jpg",
        "symbolic links",
    ),
    "decompression-bomb": (lambda d: write(d, "bomb.png", png_header(10_000, 6_000)), "max_pixels=50,000,000"),
    "huge-bomb": (lambda d: write(d, "huge.png", png_header(100_000, 100_000)), "decompression bomb"),
}


@pytest.mark.parametrize("kind", BROKEN_FILES)
def test_broken_image_file_is_named_with_its_row(kind, tmp_path):
    make, says = BROKEN_FILES[kind]
    path = make(tmp_path)
    good = write(tmp_path, "good.png", PNG)
    with pytest.raises(ImageDecodeError) as info:
        decode_images(pd.Series([good, str(path)], index=["ok", "bad"]))
    message = str(info.value)
    assert message.startswith("1 of 2 images could not be read")
    assert f"row 'bad': file {str(path)!r}" in message and says in message, message
    assert "row 'ok'" not in message
    assert info.value.problems[0][0] == "bad"


def test_pixel_limit_is_a_parameter(tmp_path):
    big = write(tmp_path, "big.png", encoded(Image.new("RGB", (200, 100)), "PNG"))
    assert decode_image(big, max_pixels=20_000).shape == (64, 64, 3)
    with pytest.raises(ValueError, match=r"big.png' is 200x100 = 20,000 pixels, more than max_pixels=19,999"):
        decode_image(big, max_pixels=19_999)
    with pytest.raises(OSError, match="truncated"):  # no limit: Pillow reads on, and finds no pixel data
        decode_image(png_header(10_000, 6_000), max_pixels=None)


def within(seconds, function, *args, **kwargs):
    """``function(*args, **kwargs)``, or a test failure if it has not returned within ``seconds`` (never a hang)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{function.__name__} still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def bad_rows(column, **options):
    """The ``{row: message}`` of an :class:`ImageDecodeError`, decoding with a time limit."""
    with pytest.raises(ImageDecodeError) as info:
        within(20, decode_images, column, **options)
    return dict(info.value.problems)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
def test_special_files_are_refused_unopened_never_read(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket.jpg"))
    good = write(tmp_path, "good.png", PNG)
    cells = [good, fifo, "/dev/zero", "/dev/urandom", tmp_path / "socket.jpg", tmp_path]
    column = pd.Series(cells, index=list("gfzusd"))
    for backend in ("pil", "opencv"):
        problems = bad_rows(column, backend=backend)
        assert list(problems) == list("fzusd")
        assert problems["f"] == f"file {str(fifo)!r} is not a regular file (a FIFO): not read"
        assert problems["z"] == "file '/dev/zero' is not a regular file (a character device): not read"
        assert "(a character device)" in problems["u"] and "(a socket)" in problems["s"]
        assert "(a directory)" in problems["d"]
    server.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_manifest_naming_special_files_says_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "posts.csv").write_text("text,image\na,pipe.jpg\nb,folder.jpg\nc,gone.jpg\n")
    with pytest.raises(MissingFilesError) as info:
        within(20, read_manifest, tmp_path / "posts.csv")
    message = str(info.value)
    assert "3 image files do not exist or are not regular files" in message
    assert f"row 0: {tmp_path / 'pipe.jpg'} is not a regular file (a FIFO)" in message
    assert f"row 1: {tmp_path / 'folder.jpg'} is not a regular file (a directory)" in message
    assert f"row 2: {tmp_path / 'gone.jpg'}\n" in message + "\n"


def test_files_over_max_file_bytes_are_refused_from_their_size(tmp_path):
    sparse_gigabyte = tmp_path / "huge.jpg"
    with open(sparse_gigabyte, "wb") as file:
        file.truncate(2**30)  # 1 GB of nothing, stored in no blocks: reading it would take 1 GB of memory
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    problems = bad_rows([write(tmp_path, "good.png", PNG), sparse_gigabyte])
    assert problems == {1: f"file {str(sparse_gigabyte)!r} is 1,073,741,824 bytes, more than "
                           "max_file_bytes=67,108,864: not read"}
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100_000  # KiB: not read
    # The limit is a parameter, of the decoder and of the CNN branch; None lifts it.
    small = write(tmp_path, "small.png", PNG)
    assert decode_images([small], max_file_bytes=len(PNG)).shape == (1, 64, 64, 3)
    assert "more than max_file_bytes=100" in bad_rows([small], max_file_bytes=100)[0]
    assert decode_images([small], max_file_bytes=None).shape == (1, 64, 64, 3)
    decoder = ImageDecoder(max_file_bytes=100).fit([small])
    with pytest.raises(ImageDecodeError, match="more than max_file_bytes=100"):
        decoder.transform([small])
    with pytest.raises(ValueError, match="more than max_file_bytes=100"):
        cnn_input(small, max_file_bytes=100)


def test_a_file_that_changes_size_while_read_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path, "good.png", PNG)
    real_fstat = os.fstat

    def fstat_then_grow(descriptor):  # the file grows between the check and the read
        info = real_fstat(descriptor)
        path.write_bytes(PNG * 3)
        return info

    monkeypatch.setattr("mmsent.image._io.os.fstat", fstat_then_grow)
    message = bad_rows([path], max_file_bytes=2 * len(PNG))[0]
    assert message.endswith(f"changed size while being read ({len(PNG):,} bytes, then {len(PNG) + 1:,}): not read")


def jpeg_declaring(width, height, data=JPEG):
    """``data`` with the size in its frame header replaced: the image data stays that of the real size."""
    position = 2
    while data[position + 1] not in (0xC0, 0xC1, 0xC2):
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return data[: position + 5] + struct.pack(">HH", height, width) + data[position + 9 :]


@pytest.mark.parametrize("backend", ["pil", "opencv"])
def test_jpeg_data_too_short_for_its_header_is_refused_not_grey(backend, tmp_path):
    if backend == "opencv":
        pytest.importorskip("cv2")
    small = encoded(NOISE.resize((8, 8)), "JPEG")
    claims_more = write(tmp_path, "claims.jpg", jpeg_declaring(7000, 7000, small))
    # Both decoders would fill the missing 49 million pixels with grey, and say so at most on stderr.
    assert Image.open(claims_more).size == (7000, 7000)
    message = bad_rows([write(tmp_path, "good.jpg", JPEG), claims_more], backend=backend)[1]
    assert message.startswith(f"file {str(claims_more)!r} is a corrupt JPEG: its header declares 7000x7000 pixels")
    assert "bytes of image data, fewer than the 143,665 any JPEG of that size needs" in message
    with pytest.raises(ValueError, match="is a corrupt JPEG"):
        cnn_input(claims_more)
    grey = jpeg_declaring(7000, 7000, encoded(NOISE.convert("L").resize((8, 8)), "JPEG"))  # one component
    assert "fewer than the 95,704 any JPEG" in bad_rows([grey], backend=backend)[0]


@pytest.mark.parametrize(
    "data", [JPEG, PNG, encoded(NOISE, "JPEG", progressive=True)], ids=["jpeg", "png", "progressive-jpeg"]
)
def test_truncated_data_is_refused_even_with_pillows_leniency_on(data, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # a user's global choice must not reach mmsent
    for cut in (len(data) // 3, 2 * len(data) // 3):
        assert Image.open(io.BytesIO(data[:cut])).load() is not None  # Pillow alone would decode it, part grey
        with pytest.raises(ValueError, match="is a truncated"):
            decode_image(data[:cut])
    np.testing.assert_array_equal(decode_image(data, size=None), np.asarray(Image.open(io.BytesIO(data))))


def solid(mode, value, size=(8, 8)):
    return Image.new(mode, size, value)


# Odd but valid images, and the RGB colour each should decode to.
ODD_IMAGES = {
    "cmyk-jpeg": (encoded(solid("CMYK", (0, 255, 255, 0)), "JPEG", quality=100), (255, 0, 0)),
    "16-bit-png": (encoded(Image.fromarray(np.full((8, 8), 65535, np.uint16)), "PNG"), (255, 255, 255)),
    "palette-png": (encoded(solid("RGB", (0, 0, 255)).convert("P"), "PNG"), (0, 0, 255)),
    "1-bit-png": (encoded(solid("1", 1), "PNG"), (255, 255, 255)),
    "alpha-png": (encoded(solid("RGBA", (0, 0, 0, 0)), "PNG"), (255, 255, 255)),  # transparent: over white
    "1x1-png": (encoded(solid("RGB", (0, 255, 0), (1, 1)), "PNG"), (0, 255, 0)),
    "20000x5-png": (encoded(solid("RGB", (0, 255, 0), (20_000, 5)), "PNG"), (0, 255, 0)),
}


@pytest.mark.parametrize("kind", ODD_IMAGES)
def test_odd_valid_images_decode_to_rgb(kind):
    data, colour = ODD_IMAGES[kind]
    pixels = decode_images([data]).reshape(-1, 3)
    assert np.abs(pixels.astype(int) - colour).max() <= 3, pixels[:2]


def test_animated_gif_uses_its_first_frame():
    frames = [solid("RGB", (255, 0, 0)), solid("RGB", (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert decode_images([data])[0, 0, 0].tolist() == [255, 0, 0]


# -- text ---------------------------------------------------------------------------------

GBK = "好评，质量很好".encode("gbk")
MIXED = "好".encode() + "差".encode("gbk")


@pytest.mark.parametrize("kind, value", [("gbk-bytes", GBK), ("mixed-encoding", MIXED), ("binary", b"\xff\xfe\x00")])
def test_text_bytes_that_are_not_utf8_are_named_or_decoded_by_the_fallback_chain(kind, value):
    with pytest.raises(TextDecodeError, match=r"row 'p': text bytes .* are not valid utf-8"):
        TextCleaner().fit_transform(pd.Series(["ok", value], index=["o", "p"]))
    decoded = TextCleaner(encodings=("utf-8", "gbk", "latin-1")).fit_transform([value])[0]
    assert isinstance(decoded, str) and decoded
    if kind == "gbk-bytes":
        assert decoded == "好评，质量很好"


def test_megabyte_text_is_cut_to_max_chars():
    huge = "很好 great " * 110_000
    assert len(huge.encode("utf-8")) > 1_000_000
    assert TextCleaner().fit_transform([huge]) == [huge[:20_000]]
    assert TextCleaner(max_chars=None).fit_transform([huge]) == [huge]


# -- the classifier: bad cells, bad columns -------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_posts(n=80, seed=0)
    return MultimodalSentimentClassifier(image_features=make_image_features(size=(16, 16))).fit(X, y), X


def test_empty_and_whitespace_text_is_a_post_without_text(fitted):
    clf, X = fitted
    posts = X.head(3).assign(text=["", "  \t\n", None])
    assert clf.predict(posts).tolist() == [clf.predict(X.head(3).assign(text=None)).tolist()[i] for i in range(3)]


def test_numbers_in_the_text_column_are_named(fitted):
    clf, X = fitted
    posts = X.head(4).astype({"text": object})
    posts.loc[1, "text"] = 42
    posts.loc[2, "text"] = np.nan  # missing, not an error
    with pytest.raises(TextDecodeError, match=r"1 rows have unusable text:\n  row 1: text must be str, got int 42"):
        clf.predict(posts)


def test_wrong_or_missing_columns_are_named(fitted):
    clf, X = fitted
    with pytest.raises(ValueError, match=r"X has no column 'image' .* its columns are \['text', 'photo'\]"):
        clf.predict(X.rename(columns={"image": "photo"}))
    with pytest.raises(ValueError, match="on_error"):
        clf.predict_robust(X, on_error="ignore")


def test_one_percent_bad_rows_in_ten_thousand_lose_no_good_row(fitted, tmp_path):
    clf, X = fitted
    n = 10_000
    posts = X.sample(n, replace=True, random_state=0).reset_index(drop=True).astype(object)
    posts.index = [f"post{i}" for i in range(n)]
    bad = np.random.default_rng(1).choice(n, 100, replace=False)
    kinds = [b"not an image", str(tmp_path / "gone.jpg"), PNG[:100], 42, GBK]
    for k, position in enumerate(bad):
        column = "text" if isinstance(kinds[k % 5], int) or kinds[k % 5] is GBK else "image"
        posts.iloc[position, posts.columns.get_loc(column)] = kinds[k % 5]
    good = np.setdiff1d(np.arange(n), bad)

    labels, errors = clf.predict_robust(posts, on_error="skip")
    assert labels.index.tolist() == posts.index[good].tolist()
    assert labels.tolist() == clf.predict(posts.iloc[good]).tolist()
    assert [e.row for e in errors] == posts.index[np.sort(bad)].tolist()
    assert {e.column for e in errors} == {"text", "image"}

    imputed, errors_again = clf.predict_robust(posts, on_error="impute")
    assert errors_again == errors and len(imputed) == n
    assert imputed.iloc[good].tolist() == labels.tolist()
    cleaned = posts.iloc[bad].copy()
    for error in errors:
        cleaned.loc[error.row, error.column] = None
    assert imputed.loc[cleaned.index].tolist() == clf.predict(cleaned).tolist()

    with pytest.raises(ValueError, match="rows have unusable text"):
        clf.predict_robust(posts, on_error="raise")


def test_robust_probabilities_and_an_all_bad_batch(fitted):
    clf = MultimodalSentimentClassifier(fusion="vote", image_features=make_image_features(size=(16, 16)))
    X, y = synthetic_posts(n=80, seed=0)
    clf.fit(X, y)
    posts = X.head(3).astype({"image": object})
    posts.loc[1, "image"] = b"junk"
    proba, errors = clf.predict_robust(posts, on_error="skip", method="predict_proba")
    assert proba.index.tolist() == [0, 2] and proba.columns.tolist() == ["negative", "positive"]
    assert np.allclose(proba.to_numpy(), clf.predict_proba(posts.loc[[0, 2]]))
    assert [(e.row, e.column) for e in errors] == [(1, "image")] and "4 bytes is not an image" in errors[0].message
    nothing, errors = clf.predict_robust(posts.loc[[1]], on_error="skip")
    assert nothing.empty and len(errors) == 1


def test_cli_predict_on_error(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    X, y = synthetic_posts(n=40, seed=0)
    rows = []
    for i, (text, image, label) in enumerate(zip(X["text"], X["image"], y)):
        Image.fromarray(image).save(tmp_path / f"imgs/{i}.png")
        rows.append({"text": text, "image": f"imgs/{i}.png", "label": label})
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    write(tmp_path / "imgs", "broken.png", PNG[:50])
    test = pd.DataFrame(rows[:5]).assign(image=["imgs/0.png", "imgs/broken.png", "imgs/gone.png", "", "imgs/4.png"])
    test.to_csv(tmp_path / "test.csv", index=False)
    model, out = tmp_path / "m.joblib", tmp_path / "preds.csv"
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--out", str(model)]) == 0
    capsys.readouterr()
    predict = ["predict", "--model", str(model), "--data", str(tmp_path / "test.csv"), "--out", str(out)]

    assert main([*predict, "--on-error", "skip"]) == 0
    printed = capsys.readouterr()
    assert "wrote 3 predictions" in printed.out
    assert "2 bad input(s), skipped:" in printed.err
    assert "row 1 (image): file" in printed.err and "broken.png" in printed.err
    assert "row 2 (image): file" in printed.err and "gone.png' does not exist" in printed.err
    assert pd.read_csv(out)["prediction"].isna().tolist() == [False, True, True, False, False]  # row 3: no image

    assert main([*predict, "--on-error", "impute"]) == 0
    assert "predicted without the bad modality" in capsys.readouterr().err
    assert pd.read_csv(out)["prediction"].notna().all()

    assert main([*predict, "--on-error", "raise"]) == 2
    assert "gone.png" in capsys.readouterr().err
