import copy
import gzip
import hashlib
import importlib
import io
import json
import os
import pickle
import re
import struct
import zipfile

import joblib
import numpy as np
import pytest
import sklearn
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

import mmsent
from mmsent import (
    TRUSTED_TYPES,
    ModelIntegrityError,
    ModelVersionWarning,
    MultimodalSentimentClassifier,
    UntrustedTypesError,
    load_model,
    model_card,
    model_metadata,
    save_model,
)
from mmsent.fusion import FUSIONS, CrossModalProjector
from mmsent.retrieval import CrossModalIndex

from .conftest import synthetic_posts


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_posts()
    return MultimodalSentimentClassifier(features="handcrafted", fusion="stack", cv=3).fit(X, y), X


def small_model():
    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


def assert_same_predictions(loaded, clf, X):
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    for method in ("predict_proba", "decision_function"):
        if hasattr(clf, method):
            np.testing.assert_allclose(getattr(loaded, method)(X), getattr(clf, method)(X))


# -- the layout, written out here as the module docstring documents it ---------------------------


def split(data):
    """``(header JSON, payload)`` of a format-3 file: joblib is FRAMING + HEADER + PAYLOAD, skops the reverse."""
    if data[:2] == b"\x1f\x8b":
        (length,) = struct.unpack_from("<H", data, 14)
        return data[16 : 16 + length], data[16 + length :]
    comment = data.rindex(b"PK\x05\x06") + 22
    return data[comment:], data[: comment - 2]


def joblib_file(header, payload):
    """gzip's fixed fields (FEXTRA set, no mtime, OS unknown), the extra field holding the header, the payload."""
    extra = b"MS" + struct.pack("<H", len(header)) + header
    return b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff" + struct.pack("<H", len(extra)) + extra + payload


def join(data, header):
    """``data`` with its header replaced by ``header`` (and the framing's lengths to match)."""
    _, payload = split(data)
    if data[:2] == b"\x1f\x8b":
        return joblib_file(header, payload)
    return payload + struct.pack("<H", len(header)) + header


def flipped(path, changes):
    """Yield once per ``(position, mask)``, with that byte of ``path`` flipped; restore it after.

    In place: rewriting the whole file each time is slow.
    """
    data = path.read_bytes()
    with open(path, "r+b") as file:
        for position, mask in changes:
            os.pwrite(file.fileno(), bytes([data[position] ^ mask]), position)
            yield position
            os.pwrite(file.fileno(), data[position : position + 1], position)


def canonical(metadata):
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- round trips and metadata ----------------------------------------------------------------------


def test_round_trip_predicts_the_same(fitted, tmp_path):
    clf, X = fitted
    path = save_model(clf, tmp_path / "sub" / "model.joblib")
    assert path.read_bytes() == joblib_file(*split(path.read_bytes()))  # the layout the tests assume
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["model.joblib"]  # no temp files left
    assert_same_predictions(load_model(path), clf, X)
    # A standard gzip file around joblib's pickle: joblib and gzip read it directly.
    assert_same_predictions(joblib.load(path), clf, X)
    assert gzip.decompress(path.read_bytes())[:1] == b"\x80"  # a pickle stream
    assert not hasattr(clf, "mmsent_metadata_")  # the original object is untouched


def test_a_joblib_file_holds_a_standard_pickle_that_loads_without_joblib(fitted, tmp_path, monkeypatch):
    clf, X = fitted
    path = save_model(clf, tmp_path / "model.joblib")
    assert model_metadata(path)["pickler"] == "pickle"
    assert b"NumpyArrayWrapper" not in gzip.decompress(path.read_bytes())  # joblib's own array records

    def slow_reader(*args, **kwargs):
        pytest.fail("a standard pickle went through joblib's pure-Python unpickler")

    monkeypatch.setattr("mmsent._persistence.joblib.load", slow_reader)
    assert_same_predictions(load_model(path), clf, X)


def test_a_file_holding_joblibs_own_pickle_still_loads(fitted, tmp_path):
    """As mmsent wrote its joblib files before the standard pickle: no "pickler", joblib's array records."""
    clf, X = fitted
    metadata = model_metadata(save_model(clf, tmp_path / "new.joblib"))
    del metadata["file"], metadata["pickler"]
    annotated = copy.copy(clf)
    annotated.mmsent_metadata_ = metadata
    stream = io.BytesIO()
    joblib.dump(annotated, stream)
    assert b"NumpyArrayWrapper" in stream.getvalue()
    payload = gzip.compress(stream.getvalue(), mtime=0)[10:]  # gzip's body, without its own header
    header = canonical({"metadata": metadata, "sha256": hashlib.sha256(canonical(metadata) + payload).hexdigest()})
    path = tmp_path / "old.joblib"
    path.write_bytes(joblib_file(header, payload))
    assert model_metadata(path)["file"]["integrity"] == "verified"
    assert_same_predictions(load_model(path), clf, X)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_round_trips_through_skops(fusion, tmp_path):
    X, y = synthetic_posts(n=40)
    X["image_label"] = y  # multitask's per-modality labels (the other fusions ignore the column)
    clf = MultimodalSentimentClassifier(
        features="handcrafted", fusion=fusion, cv=2, image_label_column="image_label"
    ).fit(X, y)
    path = save_model(clf, tmp_path / "model.skops")
    assert path.read_bytes()[:4] == b"PK\x03\x04" and model_metadata(path)["file"]["format"] == "skops"
    loaded = load_model(path)
    assert_same_predictions(loaded, clf, X)
    assert loaded.modality_weights_ == clf.modality_weights_
    # skops' own reader and zip tools take the file too, given mmsent's trusted types.
    np.testing.assert_array_equal(skops.io.load(path, trusted=list(TRUSTED_TYPES)).predict(X), clf.predict(X))
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None and json.loads(archive.comment)["metadata"]["fusion"] == fusion


def test_the_digest_is_that_of_the_canonical_metadata_and_the_payload(tmp_path):
    for suffix in ("joblib", "skops"):
        path = save_model(small_model(), tmp_path / f"m.{suffix}")
        header, payload = split(path.read_bytes())
        metadata = json.loads(header)["metadata"]
        digest = hashlib.sha256(canonical(metadata) + payload).hexdigest()
        assert model_metadata(path)["file"] == {"format": suffix, "sha256": digest, "integrity": "verified"}
        assert metadata["format_version"] == 3


def test_the_headers_json_layout_does_not_matter(tmp_path):
    """Keys in another order, other spacing: the same canonical metadata, the same digest."""
    for suffix in ("joblib", "skops"):
        path = save_model(small_model(), tmp_path / f"m.{suffix}", metrics={"accuracy": 0.5, "f1": 0.25})
        digest = model_metadata(path)["file"]["sha256"]
        parsed = json.loads(split(path.read_bytes())[0])
        reordered = {"sha256": parsed["sha256"], "metadata": dict(reversed(parsed["metadata"].items()))}
        path.write_bytes(join(path.read_bytes(), json.dumps(reordered, indent=2).encode()))
        assert model_metadata(path)["file"] == {"format": suffix, "sha256": digest, "integrity": "verified"}
        assert load_model(path, sha256=digest).predict([[1.0]]) == [1]


def test_fitted_models_of_every_fusion_hold_only_trusted_types(tmp_path):
    """With missing modalities, calibration, a kernel SVC and splitter objects: all in TRUSTED_TYPES, no more."""
    X, y = synthetic_posts(n=40)
    X.loc[[0, 5], "image"] = None
    X.loc[[1, 6], "text"] = None
    X["image_label"] = y
    settings = [
        {"fusion": "concat", "probability": True},
        {"fusion": "vote", "classifier": "svc", "cv": StratifiedKFold(2)},  # CSR support vectors
        {"fusion": "stack", "cv": KFold(2)},
        {"fusion": "text", "probability": True},
        {"fusion": "image"},
        {"fusion": "intermediate", "projection": "pls"},
        {"fusion": "gated"},
        {"fusion": "multitask", "image_label_column": "image_label"},
    ]
    assert {setting["fusion"] for setting in settings} == set(FUSIONS)
    found = set()
    for setting in settings:
        clf = MultimodalSentimentClassifier(features="handcrafted", **{"cv": 2, **setting}).fit(X, y)
        path = save_model(clf, tmp_path / "m.skops")
        found |= set(skops.io.get_untrusted_types(file=path))
        assert_same_predictions(load_model(path), clf, X)
    # The optional featurizers' types are checked by their own tests (tests/image/test_cnn.py,
    # tests/text/test_lexicon.py), the out-of-core classifier's by tests/scale/test_scale.py, the retrieval
    # index's below.
    optional = {
        "mmsent.image._cnn.CNNEmbedder",
        "mmsent.image._features.signed_sqrt",
        "mmsent.text._lexicon.LexiconFeatures",
        "mmsent.scale._out_of_core.IncrementalSentimentClassifier",
        "mmsent.retrieval._index.CrossModalIndex",
    }
    assert found | optional == set(TRUSTED_TYPES)


def test_a_retrieval_index_round_trips_through_skops(tmp_path):
    X, _ = synthetic_posts(n=40)
    index = CrossModalIndex(projector=CrossModalProjector(n_components=2, svd_components=8)).fit(X)
    path = save_model(index, tmp_path / "index.skops")
    assert set(skops.io.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    loaded = load_model(path, expected=CrossModalIndex)
    for a, b in zip(loaded.search(X["text"], modality="text"), index.search(X["text"], modality="text")):
        np.testing.assert_array_equal(a, b)
    assert model_metadata(path)["estimator"] == "mmsent.retrieval._index.CrossModalIndex"


def test_trusted_types_are_a_sorted_list_of_names_that_exist():
    assert isinstance(TRUSTED_TYPES, tuple) and list(TRUSTED_TYPES) == sorted(set(TRUSTED_TYPES))
    for name in TRUSTED_TYPES:
        module, _, attribute = name.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        assert callable(found) and f"{found.__module__}.{found.__qualname__}" == name


def test_metadata_describes_the_model(fitted, tmp_path):
    clf, X = fitted
    data = {"train": {"manifest": "train.csv", "n_posts": len(X)}}
    path = save_model(clf, tmp_path / "m.joblib", metrics={"accuracy": np.float64(0.75)}, data=data)
    metadata = load_model(path).mmsent_metadata_
    assert metadata["mmsent_version"] == mmsent.__version__
    assert metadata["sklearn_version"] == sklearn.__version__
    assert metadata["numpy_version"] == np.__version__
    assert metadata["classes"] == ["negative", "positive"]
    assert metadata["fusion"] == "stack" and metadata["params"]["cv"] == 3
    assert metadata["n_samples_fit"] == len(X) and metadata["n_features_in"] == 2
    assert metadata["feature_names_in"] == ["text", "image"]
    text_branch = clf.model_.named_estimators_["text"].estimator_.named_steps["features"].named_transformers_["text"]
    text_width = len(text_branch.named_steps["tfidf"].vocabulary_)
    assert metadata["feature_sizes"] == {"text": text_width, "image": 1892}
    assert metadata["metrics"] == {"accuracy": 0.75} and metadata["data"] == data
    # The header holds the same metadata, read without unpickling.
    from_header = model_metadata(path)
    assert from_header.pop("file") == {
        "format": "joblib",
        "sha256": json.loads(split(path.read_bytes())[0])["sha256"],
        "integrity": "verified",
    }
    assert from_header == metadata and list(from_header) == list(metadata)  # in order: the model card keeps it
    assert list(from_header["data"]["train"]) == ["manifest", "n_posts"]
    assert model_metadata(clf)["classes"] == ["negative", "positive"]


def test_concat_feature_sizes(tmp_path):
    X, y = synthetic_posts(n=40)
    clf = MultimodalSentimentClassifier(features="handcrafted", fusion="concat").fit(X, y)
    sizes = model_metadata(save_model(clf, tmp_path / "m.joblib"))["feature_sizes"]
    # HOG 1764 + colour 128, and the missing-image flag of the default missing="impute".
    assert sizes["image"] == 1892 + 1 and sum(sizes.values()) == clf.model_[:-1].transform(X).shape[1]


def test_model_card_prints_the_digest_and_refuses_an_altered_file(fitted, tmp_path):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    card = model_card(path)
    digest = model_metadata(path)["file"]["sha256"]
    assert f"- SHA-256: `{digest}` (verified), of the metadata and the model together" in card
    assert "- Format: joblib (mmsent model file format 3), a pickle" in card
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(ModelIntegrityError, match=f"its metadata and model hash to .*, its header records {digest}"):
        model_card(path)


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_version_mismatch_warns(fitted, tmp_path, monkeypatch, suffix):
    clf, _ = fitted
    path = save_model(clf, tmp_path / f"m.{suffix}")
    monkeypatch.setattr("mmsent._persistence.__version__", "99.0")
    with pytest.warns(ModelVersionWarning, match=rf"mmsent {re.escape(mmsent.__version__)} \(now 99\.0\)"):
        load_model(path)


def test_interrupted_write_keeps_the_old_file(fitted, tmp_path, monkeypatch):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    before = path.read_bytes()

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr("mmsent._files.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(clf, path, format="skops")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.joblib"):
        load_model(tmp_path / "nothing.joblib")
    with pytest.raises(TypeError, match="expects a fitted model, got a dict"):
        save_model({"not": "a model"}, tmp_path / "dict.joblib")
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    with pytest.raises(ValueError, match="dict.joblib holds a builtins.dict, not a fitted model"):
        load_model(tmp_path / "dict.joblib", require_hash=False)
    with pytest.raises(ValueError, match="format must be one of"):
        save_model(LogisticRegression(), tmp_path / "m.joblib", format="pickle")
    with pytest.raises(ValueError, match="not a regular file"):
        save_model(small_model(), "/dev/null")


def test_a_model_of_another_type_is_refused_when_one_is_expected(fitted, tmp_path):
    clf, X = fitted
    path = save_model(small_model(), tmp_path / "other.joblib")
    with pytest.raises(ValueError, match=r"other.joblib holds a sklearn\..*LogisticRegression, not a Multimodal"):
        load_model(path, expected=MultimodalSentimentClassifier)
    assert load_model(path).predict([[1.0]]) == [1]  # any fitted model when nothing is expected
    loaded = load_model(save_model(clf, tmp_path / "m.skops"), expected=MultimodalSentimentClassifier)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


# -- integrity: every byte is checked before anything is unpickled ---------------------------------


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles or builds a model."""

    def forbidden(*args, **kwargs):
        pytest.fail("the file was unpickled before its hash was checked")

    monkeypatch.setattr("mmsent._persistence.joblib.load", forbidden)
    monkeypatch.setattr(joblib.numpy_pickle.NumpyUnpickler, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(skops.io, "loads", forbidden)


def flips(data):
    """(position, mask) pairs: every byte outside the payload (two bits each: ``0x20`` changes the case of a
    letter), and 40 bytes spread over the payload, which the digest covers as a whole."""
    _, payload = split(data)
    start = len(data) - len(payload) if data[:2] == b"\x1f\x8b" else 0
    outside = [i for i in range(len(data)) if not start <= i < start + len(payload)]
    inside = np.linspace(start, start + len(payload) - 1, 40).astype(int).tolist()
    return [(i, mask) for i in outside for mask in (0x01, 0x20)] + [(i, 0x01) for i in inside]


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_a_flipped_byte_anywhere_is_refused_before_unpickling(tmp_path, no_unpickling, suffix):
    path = save_model(small_model(), tmp_path / f"m.{suffix}", metrics={"accuracy": 0.5})
    for position in flipped(path, flips(path.read_bytes())):
        # A ModelIntegrityError, or a header now saying format 2 or 4, refused as such.
        with pytest.raises(ValueError, match=f"m.{suffix}"):
            load_model(path)
        try:
            reported = model_metadata(path)["file"]["integrity"]
        except ValueError:  # no longer a model file at all, or of another format
            reported = "refused"
        assert reported in ("mismatch", "refused"), position


def test_a_pickle_that_runs_code_runs_only_when_its_digest_matches(tmp_path):
    """A hostile pickle given a true digest (as its author could) runs when loaded; altered by one byte, it never
    runs. This is what the digest guarantees, and all it does: load pickles only from people you trust."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = save_model(small_model(), tmp_path / "m.joblib")
    metadata = model_metadata(path)
    del metadata["file"]
    payload = gzip.compress(pickle.dumps(Payload()), mtime=0)[10:]  # gzip's body, without its own header
    header = canonical({"metadata": metadata, "sha256": hashlib.sha256(canonical(metadata) + payload).hexdigest()})
    path.write_bytes(joblib_file(header, payload))
    for position in flipped(path, [(i, 0x01) for i in range(path.stat().st_size)]):
        with pytest.raises(ValueError):
            load_model(path)
        assert not marker.exists(), position
    with pytest.raises(ValueError, match="holds a builtins.NoneType, not a fitted model"):  # os.mkdir's result
        load_model(path)
    assert marker.is_dir()


@pytest.mark.parametrize("suffix", ["joblib", "skops"])
def test_a_truncated_or_extended_file_is_refused(tmp_path, no_unpickling, suffix):
    path = save_model(small_model(), tmp_path / f"m.{suffix}")
    data = path.read_bytes()
    ends = np.linspace(0, len(data) - 1, 60).astype(int)
    for altered in [*(data[:end] for end in ends), data + b"\x00"]:
        path.write_bytes(altered)
        with pytest.raises(ModelIntegrityError, match="m." + suffix):
            load_model(path)


def test_files_of_earlier_formats_are_refused_with_what_to_do(tmp_path, no_unpickling):
    for suffix in ("joblib", "skops"):
        path = save_model(small_model(), tmp_path / f"m.{suffix}")
        metadata = json.loads(split(path.read_bytes())[0])["metadata"]
        # Format 2: the header was {"sha256": ..., "metadata": ...}, the digest that of the whole file.
        old = json.dumps({"sha256": "0" * 64, "metadata": {**metadata, "format_version": 2}}, ensure_ascii=True)
        path.write_bytes(join(path.read_bytes(), old.encode()))
        for read in (load_model, model_metadata):
            with pytest.raises(ValueError, match=rf"m.{suffix} is a model file of mmsent's format 2;.*Re-fit"):
                read(path)
        newer = canonical({"sha256": "0" * 64, "metadata": {**metadata, "format_version": 4}})
        path.write_bytes(join(path.read_bytes(), newer))
        with pytest.raises(ValueError, match="format 4, newer than this mmsent reads: upgrade"):
            load_model(path)
    # Format 1: a bare joblib pickle, as joblib.dump writes one.
    joblib.dump(small_model(), tmp_path / "m1.joblib", compress=3)
    with pytest.raises(ModelIntegrityError, match="m1.joblib has no mmsent header.*re-fit or re-save"):
        load_model(tmp_path / "m1.joblib")


def test_files_without_a_header_need_consent(tmp_path):
    plain = tmp_path / "plain.joblib"
    joblib.dump(small_model(), plain)
    with pytest.raises(ModelIntegrityError, match="no mmsent header.*Nothing vouches.*require_hash=False"):
        load_model(plain)
    assert load_model(plain, require_hash=False).predict([[1.0]]) == [1]
    # The plain digest of a headerless file, as `sha256sum` prints it, vouches for it too.
    assert load_model(plain, sha256=hashlib.sha256(plain.read_bytes()).hexdigest()).predict([[1.0]]) == [1]
    with pytest.raises(ModelIntegrityError, match="not the expected 00"):
        load_model(plain, sha256="00" * 32)


def test_metadata_of_anything_but_a_model_file_is_refused(tmp_path, monkeypatch):
    random_file = tmp_path / "random.bin"
    random_file.write_bytes(np.random.default_rng(0).bytes(5000))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a model\n")
    plain = tmp_path / "plain.joblib"
    joblib.dump(small_model(), plain)
    for path in (random_file, text_file, plain):
        with pytest.raises(ValueError, match=f"{path.name} has no mmsent header, so it is not a model file"):
            model_metadata(path)
        with pytest.raises(ValueError, match=f"{path.name} has no mmsent header"):
            model_card(path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for special in (tmp_path, fifo, "/dev/zero"):  # refused unread: reading would block or never end
        for read in (model_metadata, load_model):
            with pytest.raises(ValueError, match="is not a regular file"):
                read(special)
    monkeypatch.setattr("mmsent._persistence._MAX_FILE_BYTES", 4999)
    with monkeypatch.context() as unread:
        unread.setattr("pathlib.Path.open", lambda *args, **kwargs: pytest.fail("a file too large was opened"))
        with pytest.raises(ValueError, match="random.bin holds over 4,999 bytes"):
            load_model(random_file)


def test_expected_digest_is_checked(fitted, tmp_path):
    clf, X = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    digest = model_metadata(path)["file"]["sha256"]
    np.testing.assert_array_equal(load_model(path, sha256=digest.upper()).predict(X), clf.predict(X))
    with pytest.raises(ModelIntegrityError, match="not the expected 00"):
        load_model(path, sha256="00" * 32)


# -- skops: only trusted types are built --------------------------------------------------------


class Note:
    """A harmless type that mmsent does not know, hence does not trust."""

    def __init__(self, text="hi"):
        self.text = text


def test_untrusted_type_in_a_skops_file_is_refused(fitted, tmp_path):
    clf, X = fitted
    annotated = copy.copy(clf)
    annotated.note_ = Note()
    path = save_model(annotated, tmp_path / "m.skops")
    name = "tests.test_persistence.Note"
    with pytest.raises(UntrustedTypesError, match=rf"\['{name}'\].*trusted=\['{name}'\]"):
        load_model(path)
    loaded = load_model(path, trusted=[name])
    assert loaded.note_.text == "hi"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert load_model(path, trusted=Note).note_.text == "hi"


def test_injected_function_in_a_stranger_skops_file_is_refused(tmp_path):
    """A file written by skops directly (no mmsent header) that smuggles in os.system."""
    model = small_model()
    model.callback = os.system
    path = tmp_path / "stranger.skops"
    skops.io.dump(model, path)
    with pytest.raises(ModelIntegrityError, match="no mmsent header"):
        load_model(path)
    with pytest.raises(UntrustedTypesError, match=r"system"):
        load_model(path, require_hash=False)


def test_trusted_does_not_apply_to_pickles(fitted, tmp_path):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    with pytest.raises(ValueError, match="is a pickle"):
        load_model(path, trusted=["builtins.eval"])


def test_metadata_must_fit_the_header(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="at most 65,531 fit"):
        save_model(model, tmp_path / "m.joblib", data={"notes": "x" * 70_000})
    with pytest.raises(TypeError, match="JSON-serializable"):
        save_model(model, tmp_path / "m.joblib", metrics={"model": object()})
    assert not (tmp_path / "m.joblib").exists()


def test_compress_zero_is_still_a_checked_gzip_file(tmp_path):
    path = save_model(small_model(), tmp_path / "m.joblib", compress=0)
    assert len(path.read_bytes()) > len(gzip.decompress(path.read_bytes()))  # stored, not deflated
    assert model_metadata(path)["file"]["integrity"] == "verified"
    assert load_model(path).predict([[1.0]]) == [1]
