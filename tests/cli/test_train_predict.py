import hashlib
import json

import pandas as pd
import pytest

from mmsent import MultimodalSentimentClassifier, load_model, model_metadata, save_model
from mmsent.cli import main
from mmsent.text import clear_token_cache

from .conftest import COLUMNS, LABEL


def _absolute(manifest):
    """The manifest as the model reads it: image paths resolved against its folder."""
    frame = pd.read_csv(manifest)
    return frame.assign(picture=[str(manifest.parent / path) for path in frame["picture"]])


def test_train_predict_info_round_trip(manifests, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "vote"]
    assert main([*args, *COLUMNS, *LABEL]) == 0
    assert "trained vote on 60 posts (negative, positive)" in capsys.readouterr().out

    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(out)]) == 0
    predictions = pd.read_csv(out)
    assert list(predictions.columns[-3:]) == ["prediction", "proba_negative", "proba_positive"]
    assert len(predictions) == 20
    expected = load_model(model).predict(_absolute(manifests["test"]))
    assert predictions["prediction"].tolist() == expected.tolist()
    assert (predictions["prediction"] == predictions["sentiment"]).mean() > 0.6

    out_jsonl = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(model), "--data", str(manifests["jsonl"]), "--out", str(out_jsonl)]) == 0
    records = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert [r["prediction"] for r in records] == predictions["prediction"].tolist()

    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == ["negative", "positive"] and info["fusion"] == "vote" and info["n_samples_fit"] == 60
    assert info["file"]["format"] == "joblib" and info["file"]["integrity"] == "verified"
    assert info["data"]["train"]["sha256"] == hashlib.sha256(manifests["train"].read_bytes()).hexdigest()
    assert info["data"]["train"]["label_counts"] == {"negative": 30, "positive": 30}


def test_options_left_out_take_the_classifier_defaults(trained):
    """argparse states no default of its own: a model trained without options has the classifier's."""
    params = load_model(trained).get_params(deep=False)
    expected = MultimodalSentimentClassifier(text_column="caption", image_column="picture").get_params(deep=False)
    assert params == expected


def test_options_given_reach_the_classifier(manifests, tmp_path):
    model = tmp_path / "m.joblib"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, *LABEL, "--quiet"]
    options = ["--fusion", "text", "--classifier", "svc", "--C", "0.5", "--class-weight", "balanced", "--probability"]
    assert main([*args, *options]) == 0
    params = load_model(model).get_params(deep=False)
    assert (params["fusion"], params["classifier"], params["C"]) == ("text", "svc", 0.5)
    assert params["class_weight"] == "balanced" and params["probability"] is True


def test_train_skops_with_a_test_set_writes_a_model_card(manifests, tmp_path, capsys):
    model = tmp_path / "model.bin"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "stack", "--format", "skops"]
    assert main([*args, "--test", str(manifests["test"]), *COLUMNS, *LABEL]) == 0
    out = capsys.readouterr().out
    info = model_metadata(model)
    assert info["file"]["format"] == "skops" and f"format skops, sha256 {info['file']['sha256']}" in out
    test = _absolute(manifests["test"])
    accuracy = (load_model(model).predict(test) == test["sentiment"]).mean()
    assert info["metrics"]["accuracy"] == pytest.approx(accuracy) and f"accuracy {accuracy:.3f}" in out
    assert info["data"]["test"]["n_posts"] == 20

    card = (tmp_path / "model.bin.md").read_text(encoding="utf-8")
    assert card.startswith("# Model card: model.bin")
    assert "- Fusion: `stack`, decision level" in card and "- Classes: negative, positive" in card
    assert f"| accuracy | {accuracy:.4f} |" in card and "| fusion | `'stack'` |" in card
    assert f"- train: manifest: {manifests['train']}" in card and "label_counts: negative 30, positive 30" in card
    assert "## Intended use" in card and "## Limitations" in card
    assert "- Format: skops" in card and f"`{info['file']['sha256']}` (verified)" in card


def test_info_reports_a_tampered_file(trained, shared_manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    data = bytearray(trained.read_bytes())
    data[-100] ^= 0xFF
    model.write_bytes(data)
    assert main(["info", str(model)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["file"]["integrity"] == "mismatch"
    assert "failed its SHA-256 check" in captured.err
    assert main(["predict", "--model", str(model), "--data", str(shared_manifests["test"])]) == 2
    assert "corrupted or was altered" in capsys.readouterr().err


def test_info_on_a_file_no_model_header_vouches_for_exits_2(tmp_path, capsys):
    random = tmp_path / "random.joblib"
    random.write_bytes(bytes(range(256)) * 4)
    assert main(["info", str(random)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"mmsent info: error: {random} ")
    assert "has no mmsent header" in captured.err


def test_predict_featurizes_once_and_labels_are_the_most_likely_class(manifests, tmp_path, monkeypatch):
    model = tmp_path / "stack.joblib"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "stack", "--quiet"]
    assert main([*args, *COLUMNS, *LABEL]) == 0
    calls = []

    def spy(name):
        method = getattr(MultimodalSentimentClassifier, name)
        return lambda self, *args, **kwargs: calls.append((name, kwargs.get("method"))) or method(self, *args, **kwargs)

    for name in ("predict", "predict_proba", "predict_robust"):
        monkeypatch.setattr(MultimodalSentimentClassifier, name, spy(name))
    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(out), "--quiet"]) == 0
    assert calls == [("predict_proba", None)]
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(out), "--quiet",
                 "--on-error", "skip"]) == 0
    assert calls[1:] == [("predict_robust", "predict_proba")]
    expected = load_model(model).predict(_absolute(manifests["test"]))
    assert pd.read_csv(out)["prediction"].tolist() == expected.tolist()


def test_predict_to_stdout_without_probabilities(trained, shared_manifests, capsys):
    assert main(["predict", "--model", str(trained), "--data", str(shared_manifests["test"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "caption,picture,sentiment,prediction" and len(lines) == 21


def test_predict_column_flags_map_the_manifest_onto_the_model(trained, shared_manifests, tmp_path, capsys):
    test = _absolute(shared_manifests["test"])
    expected = load_model(trained).predict(test).tolist()
    renamed = tmp_path / "renamed.csv"
    test.rename(columns={"caption": "content", "picture": "photo"}).to_csv(renamed, index=False)
    predict = ["predict", "--model", str(trained), "--data", str(renamed), "--quiet"]

    assert main(predict) == 2
    err = capsys.readouterr().err
    assert "has no column 'caption', 'picture'" in err and "(use --text-col / --image-col to name yours)" in err
    assert main([*predict, "--text-col", "content", "--image-col", "photo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "content,photo,sentiment,prediction"
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == expected

    # The manifest also has a column bearing the model's name: the flag's column is the one read,
    # and the file's own columns are written back as they were.
    shadowed = tmp_path / "shadowed.csv"
    test.assign(content=test["caption"], caption="垃圾 差 失望").to_csv(shadowed, index=False)
    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(trained), "--data", str(shadowed), "--text-col", "content",
                 "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out)
    assert written["prediction"].tolist() == expected and (written["caption"] == "垃圾 差 失望").all()


def test_predict_names_the_manifest_column_of_a_bad_row(trained, shared_manifests, tmp_path, capsys):
    test = _absolute(shared_manifests["test"]).rename(columns={"picture": "photo"})
    test.loc[2, "photo"] = str(tmp_path / "gone.png")
    manifest = tmp_path / "posts.csv"
    test.to_csv(manifest, index=False)
    args = ["predict", "--model", str(trained), "--data", str(manifest), "--image-col", "photo", "--on-error", "skip"]
    assert main(args) == 0
    assert "row 2 (photo): " in capsys.readouterr().err


def test_predict_refuses_a_model_file_holding_another_estimator(shared_manifests, tmp_path, capsys):
    from sklearn.linear_model import LogisticRegression

    model = save_model(LogisticRegression().fit([[0], [1]], [0, 1]), tmp_path / "lr.joblib")
    assert main(["predict", "--model", str(model), "--data", str(shared_manifests["test"])]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"mmsent predict: error: {model} holds a sklearn.linear_model._logistic.LogisticRegression, "
        "not a MultimodalSentimentClassifier\n"
    )


def test_predict_reads_a_gbk_manifest_with_a_warning(trained, shared_manifests, tmp_path, capsys):
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(_absolute(shared_manifests["test"]).to_csv(index=False).encode("gbk"))
    with pytest.warns(UserWarning, match=r"gbk.csv is not UTF-8 \(byte \d+: invalid .*\): read as GBK"):
        assert main(["predict", "--model", str(trained), "--data", str(gbk), "--quiet"]) == 0
    assert main(["predict", "--model", str(trained), "--data", str(shared_manifests["test"]), "--quiet"]) == 0
    from_gbk, from_utf8 = capsys.readouterr().out.split("caption,picture,sentiment,prediction")[1:]
    assert from_gbk == from_utf8


def test_train_and_predict_show_progress_bars_unless_quiet(manifests, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("mmsent.text._tokenizer._PROGRESS_MIN_DOCUMENTS", 10)  # the test's posts count as large
    model = tmp_path / "m.joblib"
    train = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "text", *COLUMNS, *LABEL]
    predict = ["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(tmp_path / "p.csv")]
    # Training shows the featurizers' bars; prediction one over the posts streamed (the featurizers' bars,
    # nested under it, show and vanish chunk by chunk).
    for args, shown in ((train, ("tokenize: 100%", "documents/s")), (predict, ("predict: 20posts", "posts/s"))):
        clear_token_cache()
        assert main([*args, "--quiet"]) == 0
        assert capsys.readouterr().err == ""
        clear_token_cache()
        assert main(args) == 0
        err = capsys.readouterr().err
        assert all(text in err for text in shown)
    saved = load_model(model)  # the bars were the run's, not the model's
    tokenizers = {k: v for k, v in saved.model_.get_params().items() if k.endswith("__tokenize__verbose")}
    assert saved.verbose == 0 and tokenizers and set(tokenizers.values()) == {0}


def test_predict_checks_a_published_digest(trained, shared_manifests, capsys):
    digest = model_metadata(trained)["file"]["sha256"]
    args = ["predict", "--model", str(trained), "--data", str(shared_manifests["test"])]
    assert main([*args, "--sha256", digest]) == 0
    capsys.readouterr()
    assert main([*args, "--sha256", "0" * 64]) == 2
    assert "not the expected 0000" in capsys.readouterr().err

