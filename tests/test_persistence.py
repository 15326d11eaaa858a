import joblib
import numpy as np
import pytest
import sklearn

import mmsent
from mmsent import MultimodalSentimentClassifier, load_model, model_metadata, save_model
from mmsent._persistence import ModelVersionWarning


@pytest.fixture
def fitted(posts):
    X, y = posts
    return MultimodalSentimentClassifier(fusion="stack", cv=3).fit(X, y), X


def test_round_trip_predicts_the_same(fitted, tmp_path):
    clf, X = fitted
    path = save_model(clf, tmp_path / "sub" / "model.joblib")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["model.joblib"]  # no temp files left
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    # A plain pickle: joblib reads it directly, and the original object is untouched.
    np.testing.assert_array_equal(joblib.load(path).predict(X), clf.predict(X))
    assert not hasattr(clf, "mmsent_metadata_")


def test_metadata_describes_the_model(fitted, tmp_path):
    clf, X = fitted
    metadata = load_model(save_model(clf, tmp_path / "m.joblib")).mmsent_metadata_
    assert metadata["mmsent_version"] == mmsent.__version__
    assert metadata["sklearn_version"] == sklearn.__version__
    assert metadata["numpy_version"] == np.__version__
    assert metadata["classes"] == ["negative", "positive"]
    assert metadata["fusion"] == "stack"
    assert metadata["n_samples_fit"] == len(X) and metadata["n_features_in"] == 2
    assert metadata["feature_names_in"] == ["text", "image"]
    assert model_metadata(tmp_path / "m.joblib") == metadata
    assert model_metadata(clf)["classes"] == ["negative", "positive"]


def test_version_mismatch_warns(fitted, tmp_path, monkeypatch):
    clf, _ = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    monkeypatch.setattr("mmsent._persistence.__version__", "99.0")
    with pytest.warns(ModelVersionWarning, match=r"mmsent 0\.1\.0 \(now 99\.0\)"):
        load_model(path)


def test_interrupted_write_keeps_the_old_file(fitted, tmp_path, monkeypatch):
    clf, X = fitted
    path = save_model(clf, tmp_path / "m.joblib")
    before = path.read_bytes()

    def broken_dump(obj, filename, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("mmsent._persistence.joblib.dump", broken_dump)
    with pytest.raises(KeyboardInterrupt):
        save_model(clf, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.joblib"):
        load_model(tmp_path / "nothing.joblib")
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    with pytest.raises(TypeError, match="not a fitted model"):
        load_model(tmp_path / "dict.joblib")
