import copy
import gzip
import hashlib
import json
import os
import pickle
import re
import struct

import joblib
import numpy as np
import pytest
import skops.io
import sklearn
from sklearn.linear_model import LogisticRegression

import mmsent
from mmsent import (
    TRUSTED_TYPES,
    ModelIntegrityError,
    ModelVersionWarning,
    MultimodalSentimentClassifier,
    UntrustedTypesError,
    load_model,
    model_metadata,
    save_model,
)
from mmsent.fusion import FUSIONS

from .conftest import synthetic_posts


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_posts()
    return MultimodalSentimentClassifier(fusion="stack", cv=3).fit(X, y), X


def assert_same_predictions(loaded, clf, X):
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    for method in ("predict_proba", "decision_function"):
        if hasattr(clf, method):
            np.testing.assert_allclose(getattr(loaded, method)(X), getattr(clf, method)(X))


def test_round_trip_predicts_the_same(fitted, tmp_path):
    clf, X = fitted
    path = save_model(clf, tmp_path / "sub" / "model.joblib")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["model.joblib"]  # no temp files left
    assert_same_predictions(load_model(path), clf, X)
    # A standard gzip file around joblib's pickle: joblib and gzip read it directly.
    assert_same_predictions(joblib.load(path), clf, X)
    assert gzip.decompress(path.read_bytes())[:1] == b"\x80"  # a pickle stream
    assert not hasattr(clf, "mmsent_metadata_")  # the original object is untouched


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_round_trips_through_skops(fusion, tmp_path):
    X, y = synthetic_posts(n=40)
    clf = MultimodalSentimentClassifier(fusion=fusion, cv=2).fit(X, y)
    path = save_model(clf, tmp_path / "model.skops")
    assert path.read_bytes()[:4] == b"PK\x03\x04" and model_metadata(path)["file"]["format"] == "skops"
    loaded = load_model(path)
    assert_same_predictions(loaded, clf, X)
    assert loaded.modality_weights_ == clf.modality_weights_
    # skops' own reader takes the file too, given mmsent's trusted types.
    np.testing.assert_array_equal(skops.io.load(path, trusted=list(TRUSTED_TYPES)).predict(X), clf.predict(X))


def test_calibrated_kernel_models_need_no_extra_trust(tmp_path):
    X, y = synthetic_posts(n=40)
    for params in ({"fusion": "concat", "classifier": "svc", "probability": True}, {"fusion": "vote", "voting": "hard"}):
        clf = MultimodalSentimentClassifier(cv=2, **params).fit(X, y)
        assert_same_predictions(load_model(save_model(clf, tmp_path / "m.skops")), clf, X)


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
        "sha256": json.loads(_header(path.read_bytes()))["sha256"],
        "integrity": "verified",
    }
    assert from_header == metadata
    assert model_metadata(clf)["classes"] == ["negative", "positive"]


def test_concat_feature_sizes(tmp_path):
    X, y = synthetic_posts(n=40)
    clf = MultimodalSentimentClassifier(fusion="concat").fit(X, y)
    sizes = model_metadata(save_model(clf, tmp_path / "m.joblib"))["feature_sizes"]
    # HOG 1764 + colour 128, and the missing-image flag of the default missing="impute".
    assert sizes["image"] == 1892 + 1 and sum(sizes.values()) == clf.model_[:-1].transform(X).shape[1]


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

    monkeypatch.setattr("mmsent._persistence.os.replace", interrupted)
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
    with pytest.raises(TypeError, match="not a fitted model"):
        load_model(tmp_path / "dict.joblib", require_hash=False)
    with pytest.raises(ValueError, match="format must be one of"):
        save_model(LogisticRegression(), tmp_path / "m.joblib", format="pickle")


# -- integrity: the hash is checked before anything is unpickled --------------------------------


def _header(data):
    """The mmsent header of a joblib file: the gzip extra field's subfield."""
    (length,) = struct.unpack_from("<H", data, 14)
    return data[16 : 16 + length]


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


@pytest.mark.parametrize(
    "where", ["gzip flags", "gzip extra flag", "gzip mtime", "metadata", "digest", "payload", "crc"]
)
def test_a_flipped_byte_is_refused_before_unpickling(fitted, tmp_path, no_unpickling, where):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    data = bytearray(path.read_bytes())
    header_end = 16 + len(_header(data))
    position, bit = {
        "gzip flags": (3, 0x01),
        "gzip extra flag": (3, 0x04),  # the header disappears: nothing vouches for the rest
        "gzip mtime": (5, 0x01),
        "metadata": (header_end - 10, 0x01),
        "digest": (16 + len(b'{"sha256": "') + 7, 0x01),
        "payload": ((header_end + len(data)) // 2, 0x01),
        "crc": (len(data) - 6, 0x01),
    }[where]
    data[position] ^= bit
    path.write_bytes(data)
    with pytest.raises(ModelIntegrityError, match="m.joblib"):
        load_model(path)
    assert model_metadata(path)["file"]["integrity"] == ("absent" if where == "gzip extra flag" else "mismatch")


def test_a_swapped_payload_never_runs(fitted, tmp_path):
    """A pickle that runs code, put in place of the model, is refused; joblib.load would run it."""
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    original = path.read_bytes()
    header = original[: 16 + len(_header(original))]
    evil = pickle.dumps(Payload())
    path.write_bytes(header + gzip.compress(evil)[10:])  # gzip body without its own 10-byte header
    with pytest.raises(ModelIntegrityError, match="corrupted or was altered"):
        load_model(path)
    assert not marker.exists()
    joblib.load(path)  # the file really is hostile: an unchecked load runs its code
    assert marker.exists()


def test_files_without_a_hash_need_consent(tmp_path):
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    plain = tmp_path / "plain.joblib"
    joblib.dump(model, plain)
    assert model_metadata(plain)["file"]["integrity"] == "absent"
    with pytest.raises(ModelIntegrityError, match="no mmsent SHA-256.*require_hash=False"):
        load_model(plain)
    assert load_model(plain, require_hash=False).predict([[1.0]]) == [1]
    # The plain digest of a headerless file, as `sha256sum` prints it, vouches for it too.
    assert load_model(plain, sha256=hashlib.sha256(plain.read_bytes()).hexdigest()).predict([[1.0]]) == [1]


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
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    model.callback = os.system
    path = tmp_path / "stranger.skops"
    skops.io.dump(model, path)
    with pytest.raises(ModelIntegrityError, match="no mmsent SHA-256"):
        load_model(path)
    with pytest.raises(UntrustedTypesError, match=r"system"):
        load_model(path, require_hash=False)


def test_trusted_does_not_apply_to_pickles(fitted, tmp_path):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    with pytest.raises(ValueError, match="is a pickle"):
        load_model(path, trusted=["builtins.eval"])


def test_a_flipped_byte_in_a_skops_file_is_refused(fitted, tmp_path, no_unpickling):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.skops")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x40
    path.write_bytes(data)
    with pytest.raises(ModelIntegrityError, match="corrupted or was altered"):
        load_model(path)


def test_metadata_must_fit_the_header(tmp_path):
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="at most 65,531 fit"):
        save_model(model, tmp_path / "m.joblib", data={"notes": "x" * 70_000})
    with pytest.raises(TypeError, match="JSON-serializable"):
        save_model(model, tmp_path / "m.joblib", metrics={"model": object()})


def test_compress_zero_is_still_a_checked_gzip_file(tmp_path):
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    path = save_model(model, tmp_path / "m.joblib", compress=0)
    assert len(path.read_bytes()) > len(gzip.decompress(path.read_bytes()))  # stored, not deflated
    assert model_metadata(path)["file"]["integrity"] == "verified"
    assert load_model(path).predict([[1.0]]) == [1]
