"""The command line beyond one machine's memory: streamed predict, train --out-of-core, and --dask."""

import hashlib

import pandas as pd
import pytest

from mmsent import load_model, model_metadata
from mmsent.cli import main
from mmsent.scale import IncrementalSentimentClassifier

from .conftest import COLUMNS, LABEL


def test_predict_streams_in_chunks_of_any_size(trained, shared_manifests, tmp_path):
    outputs = []
    for chunk_size in ("7", "1000"):
        out = tmp_path / f"preds{chunk_size}.csv"
        args = ["predict", "--model", str(trained), "--data", str(shared_manifests["test"]), "--out", str(out)]
        assert main([*args, "--chunk-size", chunk_size, "--quiet"]) == 0
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 21


def test_train_out_of_core_saves_an_incremental_model(manifests, tmp_path, capsys):
    model = tmp_path / "ooc.skops"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, *LABEL, "--quiet"]
    options = ["--out-of-core", "--chunk-size", "25", "--epochs", "3", "--probability"]
    options += ["--test", str(manifests["test"])]
    assert main([*args, *options]) == 0
    out = capsys.readouterr().out
    assert "trained concat on 60 posts (negative, positive)" in out
    fitted = load_model(model)
    assert isinstance(fitted, IncrementalSentimentClassifier) and fitted.loss == "log_loss"
    assert fitted.n_samples_fit_ == 180  # three passes over 60 posts
    info = model_metadata(model)
    assert info["data"]["train"]["sha256"] == hashlib.sha256(manifests["train"].read_bytes()).hexdigest()
    assert info["data"]["train"]["label_counts"] == {"negative": 30, "positive": 30}
    assert info["data"]["test"]["n_posts"] == 20 and (tmp_path / "ooc.skops.md").is_file()

    preds = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(preds)]) == 0
    written = pd.read_json(preds, lines=True)
    assert list(written.columns[-3:]) == ["prediction", "proba_negative", "proba_positive"]
    accuracy = (written["prediction"] == written["sentiment"]).mean()  # the score recorded is the model's on --test
    assert info["metrics"]["accuracy"] == pytest.approx(accuracy) and f"accuracy {accuracy:.3f}" in out


@pytest.mark.parametrize(
    "options, message",
    [
        (["--out-of-core", "--C", "0.5"], "--C: not for --out-of-core"),
        (["--out-of-core", "--fusion", "vote"], "'fusion' parameter of IncrementalSentimentClassifier"),
        (["--chunk-size", "10"], "--chunk-size: for --out-of-core training only"),
        (["--dask", "local"], "--dask: for --out-of-core training only"),
    ],
)
def test_out_of_core_options_are_checked_before_any_work(options, message, manifests, tmp_path, capsys):
    args = ["train", "--data", str(manifests["train"]), "--out", str(tmp_path / "m.joblib"), *COLUMNS, *LABEL]
    assert main([*args, *options]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "m.joblib").exists()


def test_dask_commands_run_on_a_cluster(trained, shared_manifests, manifests, dask_cluster, tmp_path, capsys):
    scheduler = dask_cluster.scheduler.address
    test = str(shared_manifests["test"])
    local, remote = tmp_path / "local.csv", tmp_path / "remote.csv"
    assert main(["predict", "--model", str(trained), "--data", test, "--out", str(local), "--quiet"]) == 0
    args = ["predict", "--model", str(trained), "--data", test, "--out", str(remote), "--chunk-size", "6"]
    assert main([*args, "--dask", scheduler, "--quiet"]) == 0
    assert remote.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")

    model = tmp_path / "ooc.joblib"
    train = ["train", "--data", str(manifests["train"]), *COLUMNS, *LABEL, "--out-of-core", "--chunk-size", "20"]
    assert main([*train, "--out", str(model), "--dask", scheduler, "--quiet"]) == 0
    assert load_model(model).n_samples_fit_ == 60

    capsys.readouterr()
    evaluate = ["evaluate", "--train", str(manifests["train"]), "--cv", "2", "--fusions", "text", *COLUMNS, *LABEL]
    assert main([*evaluate, "--dask", scheduler, "--quiet"]) == 0
    on_cluster = capsys.readouterr().out
    assert main([*evaluate, "--quiet"]) == 0
    here = capsys.readouterr().out
    assert on_cluster.splitlines()[2].split("|")[:5] == here.splitlines()[2].split("|")[:5]  # same scores
