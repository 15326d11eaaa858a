"""Streaming prediction, out-of-core training and Dask, on a real two-process LocalCluster (no mocks)."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mmsent import TRUSTED_TYPES, LabelError, MultimodalSentimentClassifier, load_model, save_model
from mmsent.datasets import MissingFilesError, iter_manifest, read_manifest
from mmsent.evaluation import ablation_report, tune
from mmsent.image import ImageDecodeError, make_image_features
from mmsent.scale import (
    IncrementalSentimentClassifier,
    PartitionLostError,
    count_labels,
    fit_manifest,
    predict_manifest,
    prediction_frame,
)
from mmsent.text import _tokenizer

from .._dask_workers import KillsItsWorker
from ..conftest import synthetic_posts

distributed = pytest.importorskip("distributed")


@pytest.fixture
def client(dask_cluster):
    return dask_cluster


def write_posts(folder, name, n, seed, labels=True):
    """A manifest of synthetic posts with PNG images beside it (relative paths); returns its path."""
    (folder / "imgs").mkdir(exist_ok=True)
    X, y = synthetic_posts(n=n, seed=seed)
    rows = []
    for i, (text, image, label) in enumerate(zip(X["text"], X["image"], y)):
        image_path = f"imgs/{name}{i}.png"
        Image.fromarray(image).save(folder / image_path)
        rows.append({"text": text, "image": image_path, **({"label": label} if labels else {})})
    path = folder / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    paths = {"train": write_posts(folder, "train", 160, 0), "test": write_posts(folder, "test", 90, 1)}
    paths["jsonl"] = folder / "test.jsonl"
    pd.read_csv(paths["test"]).to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    return paths


@pytest.fixture(scope="module")
def model(data):
    train = read_manifest(data["train"])
    return MultimodalSentimentClassifier(features="handcrafted", probability=True, cv=3).fit(train, train["label"])


def _set_allowed_failures(dask_scheduler, allowed):
    previous, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, allowed
    return previous


# -- reading manifests in chunks ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["test", "jsonl"])
def test_chunks_add_up_to_the_whole_manifest(data, kind):
    chunks = list(iter_manifest(data[kind], 40))
    assert [len(chunk) for chunk in chunks] == [40, 40, 10]
    pd.testing.assert_frame_equal(pd.concat(chunks), read_manifest(data[kind]), check_dtype=False)


def test_chunk_errors_name_rows_of_the_whole_file(tmp_path):
    path = tmp_path / "posts.csv"
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    rows = ["ok.png"] * 7 + ["gone.png"]
    pd.DataFrame({"text": ["好"] * 8, "image": rows}).to_csv(path, index=False)
    chunks = iter_manifest(path, 3)
    assert len(next(chunks)) == 3 and len(next(chunks)) == 3
    with pytest.raises(MissingFilesError) as error:
        next(chunks)
    assert error.value.missing == [(7, str(tmp_path / "gone.png"))]
    with pytest.raises(ValueError, match="no column 'picture'"):
        next(iter_manifest(path, 3, image_column="picture"))


def test_jsonl_chunks_keep_line_numbers_and_columns(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text('{"text": "好", "image": "a.png"}\n\n{"text": "差"}\n{"text": "行"}\n[1]\n', encoding="utf-8")
    chunks = iter_manifest(path, 1, check_files=False)
    assert next(chunks)["image"].tolist() == [str(tmp_path / "a.png")]
    later = next(chunks)  # no object of this chunk has an image: the column is there, empty
    assert later.index.tolist() == [1] and later["image"].tolist() == [None]
    next(chunks)
    with pytest.raises(ValueError, match="line 5: expected a JSON object"):
        next(chunks)


# -- streaming prediction -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_streaming_predictions_equal_in_memory_ones(data, model, tmp_path, suffix):
    out = tmp_path / f"predictions{suffix}"
    summary = predict_manifest(model, data["test"], out, chunk_size=13, verbose=0)
    assert not any(_tokenizer._TOKEN_CACHE.values())  # cleared after each chunk: memory stays flat
    posts = read_manifest(data["test"])
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_json(out, lines=True)
    assert (summary.rows, summary.predicted, summary.errors) == (90, 90, [])
    assert written["prediction"].tolist() == model.predict(posts).tolist()
    probabilities = written[[f"proba_{label}" for label in model.classes_]].to_numpy()
    np.testing.assert_allclose(probabilities, model.predict_proba(posts), atol=1e-6)
    assert written[["text", "label"]].equals(posts[["text", "label"]])


def test_bad_rows_are_reported_by_their_manifest_row(data, model, tmp_path):
    posts = pd.read_csv(data["test"])
    posts["image"] = [str(data["test"].parent / image) for image in posts["image"]]  # the manifest moves
    (tmp_path / "broken.png").write_bytes(b"not a png")
    clean = posts.copy()
    posts.loc[31, "image"] = str(tmp_path / "broken.png")
    posts.loc[57, "image"] = str(tmp_path / "gone.png")
    manifest = tmp_path / "posts.csv"
    posts.to_csv(manifest, index=False)
    out = tmp_path / "out.csv"
    summary = predict_manifest(model, manifest, out, chunk_size=20, on_error="skip", verbose=0)
    assert [(error.row, error.column) for error in summary.errors] == [(31, "image"), (57, "image")]
    written = pd.read_csv(out)
    assert summary.predicted == 88 and written["prediction"].isna().to_numpy().nonzero()[0].tolist() == [31, 57]
    # A failure in a later chunk leaves the previous output as it was: the file is replaced at the end only.
    out.write_text("earlier results\n", encoding="utf-8")
    manifest_broken = tmp_path / "broken_only.csv"
    clean.loc[57, "image"] = str(tmp_path / "broken.png")
    clean.to_csv(manifest_broken, index=False)
    with pytest.raises(ImageDecodeError, match="row 57"):
        predict_manifest(model, manifest_broken, out, chunk_size=20, verbose=0)
    assert out.read_text(encoding="utf-8") == "earlier results\n"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".out.csv")] == []


def test_jsonl_output_is_one_object_per_post(data, model, tmp_path):
    out = tmp_path / "out.jsonl"
    predict_manifest(model, data["test"], out, chunk_size=7, verbose=0)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 90 and all(json.loads(line)["prediction"] in model.classes_ for line in lines)


def test_a_column_appearing_late_in_a_jsonl_manifest(model, data, tmp_path):
    posts = pd.read_json(data["jsonl"], lines=True)
    posts["image"] = [str(data["jsonl"].parent / image) for image in posts["image"]]
    records = posts.to_dict("records")
    records[85]["note"] = "繁体"  # a key of one object, in the last chunk only
    manifest = tmp_path / "posts.jsonl"
    manifest.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    jsonl, csv = tmp_path / "out.jsonl", tmp_path / "out.csv"
    predict_manifest(model, manifest, jsonl, chunk_size=40, verbose=0)
    assert json.loads(jsonl.read_text(encoding="utf-8").splitlines()[85])["note"] == "繁体"
    with pytest.warns(UserWarning, match=r"columns \['note'\] first appear after the CSV header"):
        predict_manifest(model, manifest, csv, chunk_size=40, verbose=0)
    assert "note" not in pd.read_csv(csv).columns and len(pd.read_csv(csv)) == 90


def test_prediction_frame_without_predict_robust(model, data):
    posts = read_manifest(data["test"]).head(5)
    pipeline = model.model_  # a plain scikit-learn model: predict / predict_proba only
    frame, errors = prediction_frame(pipeline, posts)
    assert errors == [] and frame["prediction"].tolist() == model.predict(posts).tolist()


# -- out-of-core training --------------------------------------------------------------------


def test_partial_fit_learns_as_well_as_in_memory_fit():
    X, y = synthetic_posts(n=600, seed=0)
    X_test, y_test = synthetic_posts(n=300, seed=1)
    incremental = IncrementalSentimentClassifier(random_state=0)
    for start in range(0, 600, 100):
        incremental.partial_fit(X[start : start + 100], y[start : start + 100], classes=["negative", "positive"])
    in_memory = MultimodalSentimentClassifier(features="handcrafted").fit(X, y).score(X_test, y_test)  # like for like
    assert incremental.n_samples_fit_ == 600
    assert incremental.score(X_test, y_test) > 0.75
    assert incremental.score(X_test, y_test) > in_memory - 0.05
    # One modality alone learns too, and a post without an image is predicted from its text.
    text_only = IncrementalSentimentClassifier("text", random_state=0).fit(X, y)
    assert text_only.score(X_test, y_test) > 0.7
    assert incremental.predict(X_test.assign(image=None)).tolist().count("positive") > 50


def test_fit_passes_over_chunks_in_a_new_order_each_time():
    X, y = synthetic_posts(n=200, seed=0)
    one = IncrementalSentimentClassifier(max_iter=1, chunk_size=50, random_state=0).fit(X, y)
    three = IncrementalSentimentClassifier(max_iter=3, chunk_size=50, random_state=0).fit(X, y)
    assert (one.n_samples_fit_, three.n_samples_fit_) == (200, 600)
    refit = IncrementalSentimentClassifier(max_iter=3, chunk_size=50, random_state=0).fit(X[:10], y[:10]).fit(X, y)
    np.testing.assert_array_equal(refit.model_[-1].coef_, three.model_[-1].coef_)  # fit starts afresh


def test_fit_on_one_chunk_featurizes_once_and_learns_the_same():
    X, y = synthetic_posts(n=60, seed=0)
    fitted = IncrementalSentimentClassifier(max_iter=3, random_state=0).fit(X, y)  # 60 posts: one chunk
    by_hand, rng = IncrementalSentimentClassifier(random_state=0), np.random.RandomState(0)
    for _ in range(3):
        order = rng.permutation(60)
        by_hand.partial_fit(X.iloc[order], y[order], classes=["negative", "positive"])
    np.testing.assert_array_equal(fitted.model_[-1].coef_, by_hand.model_[-1].coef_)


def test_incremental_model_refuses_what_it_cannot_learn():
    X, y = synthetic_posts(n=20, seed=0)
    with pytest.raises(ValueError, match="classes must be given"):
        IncrementalSentimentClassifier().partial_fit(X, y)
    clf = IncrementalSentimentClassifier().partial_fit(X, y, classes=["negative", "positive"])
    with pytest.raises(ValueError, match=r"labels \['neutral'\]"):
        clf.partial_fit(X[:2], ["neutral", "positive"])
    stateful = Pipeline([("flat", FunctionTransformer(lambda c: np.stack(c).reshape(len(c), -1))), ("pca", PCA(2))])
    with pytest.raises(ValueError, match="row-wise"):
        IncrementalSentimentClassifier(image_features=stateful).fit(X, y)
    assert not hasattr(IncrementalSentimentClassifier(), "predict_proba")
    probabilities = IncrementalSentimentClassifier(loss="log_loss").fit(X, y).predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)


def test_incremental_model_saves_as_a_trusted_skops_file(tmp_path):
    import skops.io

    X, y = synthetic_posts(n=40)
    clf = IncrementalSentimentClassifier(loss="log_loss", random_state=0).fit(X, y)
    path = save_model(clf, tmp_path / "model.skops")
    assert set(skops.io.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    np.testing.assert_array_equal(load_model(path).predict_proba(X), clf.predict_proba(X))


def test_labels_are_checked_across_chunks(tmp_path):
    manifest = tmp_path / "posts.csv"
    labels = ["positive", "negative"] * 5 + ["Positive"]  # the variant alone in the last chunk
    pd.DataFrame({"text": ["好"] * 11, "label": labels}).to_csv(manifest, index=False)
    with pytest.raises(LabelError, match=r"'positive' \(1 row: 0\); 'Positive' \(1 row: 10\)"):
        count_labels(manifest, chunk_size=5)
    pd.DataFrame({"text": ["好"] * 11, "label": labels[:10] + [""]}).to_csv(manifest, index=False)
    with pytest.raises(LabelError, match="row 10: empty label"):
        fit_manifest(IncrementalSentimentClassifier("text"), manifest, classes=["negative", "positive"], verbose=0)


def test_fit_manifest_equals_partial_fit_over_the_same_chunks(data, tmp_path):
    train = pd.read_csv(data["train"])
    # The first chunk lacks a class: fit_manifest reads every label first.
    manifest = tmp_path / "sorted.csv"
    train["image"] = [str(data["train"].parent / image) for image in train["image"]]
    train.sort_values("label", kind="stable").to_csv(
        manifest, index=False
    )
    template = IncrementalSentimentClassifier(image_features=make_image_features(sparse_output=True), random_state=0)
    fitted = fit_manifest(template, manifest, chunk_size=50, n_epochs=2, verbose=0)
    assert not hasattr(template, "model_") and fitted.n_samples_fit_ == 320
    by_hand = IncrementalSentimentClassifier(image_features=make_image_features(sparse_output=True), random_state=0)
    for _ in range(2):
        for chunk in iter_manifest(manifest, 50):
            by_hand.partial_fit(chunk, chunk["label"], classes=["negative", "positive"])
    np.testing.assert_array_equal(fitted.model_[-1].coef_, by_hand.model_[-1].coef_)


# -- Dask -----------------------------------------------------------------------------------


def test_dask_predictions_equal_single_process_ones(data, model, client, tmp_path):
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    predict_manifest(model, data["jsonl"], local, chunk_size=20, verbose=0)
    summary = predict_manifest(model, data["jsonl"], remote, chunk_size=20, client=client, verbose=0)
    assert summary.rows == 90 and summary.predicted == 90
    assert remote.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")


def test_dask_out_of_core_training_equals_single_process(data, client):
    template = IncrementalSentimentClassifier(random_state=0)
    local = fit_manifest(template, data["train"], chunk_size=40, verbose=0)
    remote = fit_manifest(template, data["train"], chunk_size=40, client=client, verbose=0)
    np.testing.assert_array_equal(remote.model_[-1].coef_, local.model_[-1].coef_)
    assert remote.n_samples_fit_ == 160


def test_dask_backend_runs_evaluation_fits_on_the_cluster(data, client):
    import joblib

    train = read_manifest(data["train"])
    options = {"cv": 2, "fusions": ["text", "image"], "progress": False}
    serial = ablation_report(train, train["label"], **options)
    with joblib.parallel_config(backend="dask"):
        distributed_report = ablation_report(train, train["label"], n_jobs=-1, **options)
        found = tune(train, train["label"], {"C": [0.1, 1.0]}, estimator=MultimodalSentimentClassifier("text"),
                     cv=2, n_jobs=-1, progress=False)
    metrics = ["fusion", "fold", "accuracy", "macro_f1"]
    pd.testing.assert_frame_equal(distributed_report.scores[metrics], serial.scores[metrics])
    assert set(found.cv_results_["param_C"]) == {0.1, 1.0} and hasattr(found, "best_estimator_")


def test_a_worker_killed_mid_run_loses_no_row(data, model, client, tmp_path):
    expected = model.predict(read_manifest(data["test"]))
    dying = KillsItsWorker(model, row=45, marker=tmp_path / "killed")
    out = tmp_path / "out.csv"
    summary = predict_manifest(dying, data["test"], out, chunk_size=10, client=client, verbose=0)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert summary.rows == 90 and pd.read_csv(out)["prediction"].tolist() == expected.tolist()


def test_a_partition_that_keeps_killing_workers_is_reported(data, model, client, tmp_path):
    out = tmp_path / "out.csv"
    # No second try this time: one death is the last (and no test waits for a worker to restart).
    previous = client.run_on_scheduler(_set_allowed_failures, allowed=0)
    try:
        with pytest.raises(PartitionLostError) as error:
            predict_manifest(KillsItsWorker(model, row=45), data["test"], out, chunk_size=10, client=client, verbose=0)
    finally:
        client.run_on_scheduler(_set_allowed_failures, allowed=previous)
    # The partition that killed its worker, or one queued on that worker with it: both are reported.
    first, last = error.value.rows
    assert first % 10 == 0 and last == first + 9 and f"rows {first} to {last}" in str(error.value)
    assert "workers died" in str(error.value) and not out.exists()
