import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from mmsent import load_model, model_metadata
from mmsent.cli import main
from mmsent.text import clear_token_cache

from .conftest import synthetic_posts


@pytest.fixture
def manifests(tmp_path):
    """Train and test manifests (CSV and JSONL) with images on disk, paths relative."""
    (tmp_path / "imgs").mkdir()
    paths = {}
    for split, seed, n in (("train", 0, 60), ("test", 1, 20)):
        X, y = synthetic_posts(n=n, seed=seed)
        rows = []
        for i, (text, image, label) in enumerate(zip(X["text"], X["image"], y)):
            name = f"imgs/{split}{i}.png"
            Image.fromarray(image).save(tmp_path / name)
            rows.append({"caption": text, "picture": name, "sentiment": label})
        paths[split] = tmp_path / f"{split}.csv"
        pd.DataFrame(rows).to_csv(paths[split], index=False)
    paths["jsonl"] = tmp_path / "test.jsonl"
    pd.read_csv(paths["test"]).to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    return paths


COLUMNS = ["--text-col", "caption", "--image-col", "picture"]


def test_train_predict_info_round_trip(manifests, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "vote"]
    assert main([*args, *COLUMNS, "--label-col", "sentiment"]) == 0
    assert "trained vote on 60 posts (negative, positive)" in capsys.readouterr().out

    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(out)]) == 0
    predictions = pd.read_csv(out)
    assert list(predictions.columns[-3:]) == ["prediction", "proba_negative", "proba_positive"]
    assert len(predictions) == 20
    test = pd.read_csv(manifests["test"])
    expected = load_model(model).predict(test.assign(picture=[str(tmp_path / p) for p in test["picture"]]))
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


def test_train_skops_with_a_test_set_writes_a_model_card(manifests, tmp_path, capsys):
    model = tmp_path / "model.bin"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "stack", "--format", "skops"]
    assert main([*args, "--test", str(manifests["test"]), *COLUMNS, "--label-col", "sentiment"]) == 0
    out = capsys.readouterr().out
    info = model_metadata(model)
    assert info["file"]["format"] == "skops" and f"format skops, sha256 {info['file']['sha256']}" in out
    test = pd.read_csv(manifests["test"])
    predicted = load_model(model).predict(test.assign(picture=[str(tmp_path / p) for p in test["picture"]]))
    accuracy = (predicted == test["sentiment"]).mean()
    assert info["metrics"]["accuracy"] == pytest.approx(accuracy) and f"accuracy {accuracy:.3f}" in out
    assert info["data"]["test"]["n_posts"] == 20

    card = (tmp_path / "model.bin.md").read_text(encoding="utf-8")
    assert card.startswith("# Model card: model.bin")
    assert "- Fusion: `stack`, decision level" in card and "- Classes: negative, positive" in card
    assert f"| accuracy | {accuracy:.4f} |" in card and "| fusion | `'stack'` |" in card
    assert f"- train: manifest: {manifests['train']}" in card and "label_counts: negative 30, positive 30" in card
    assert "## Intended use" in card and "## Limitations" in card
    assert "- Format: skops" in card and f"`{info['file']['sha256']}` (verified)" in card


def test_info_reports_a_tampered_file(manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    main(["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, "--label-col", "sentiment"])
    data = bytearray(model.read_bytes())
    data[-100] ^= 0xFF
    model.write_bytes(data)
    capsys.readouterr()
    assert main(["info", str(model)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["file"]["integrity"] == "mismatch"
    assert "failed its SHA-256 check" in captured.err
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"])]) == 2
    assert "corrupted or was altered" in capsys.readouterr().err


def test_predict_featurizes_once_and_labels_are_the_most_likely_class(manifests, tmp_path, capsys, monkeypatch):
    from mmsent import MultimodalSentimentClassifier

    model = tmp_path / "stack.joblib"
    args = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "stack", "--quiet"]
    assert main([*args, *COLUMNS, "--label-col", "sentiment"]) == 0
    calls = []
    robust = MultimodalSentimentClassifier.predict_robust
    monkeypatch.setattr(
        MultimodalSentimentClassifier, "predict_robust", lambda self, *a, **k: calls.append(k) or robust(self, *a, **k)
    )
    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(out), "--quiet"]) == 0
    assert [call["method"] for call in calls] == ["predict_proba"]
    predictions = pd.read_csv(out)
    test = pd.read_csv(manifests["test"])
    expected = load_model(model).predict(test.assign(picture=[str(tmp_path / p) for p in test["picture"]]))
    assert predictions["prediction"].tolist() == expected.tolist()


def test_predict_to_stdout_without_probabilities(manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    main(["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, "--label-col", "sentiment"])
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "caption,picture,sentiment,prediction" and len(lines) == 21


def test_train_and_predict_show_progress_bars_unless_quiet(manifests, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("mmsent.text._tokenizer._PROGRESS_MIN_DOCUMENTS", 10)  # the test's posts count as large
    model = tmp_path / "m.joblib"
    train = ["train", "--data", str(manifests["train"]), "--out", str(model), "--fusion", "text", *COLUMNS]
    train += ["--label-col", "sentiment"]
    predict = ["predict", "--model", str(model), "--data", str(manifests["test"]), "--out", str(tmp_path / "p.csv")]
    for args in (train, predict):
        clear_token_cache()
        assert main([*args, "--quiet"]) == 0
        assert capsys.readouterr().err == ""
        clear_token_cache()
        assert main(args) == 0
        err = capsys.readouterr().err
        assert "tokenize: 100%" in err and "documents/s" in err
    saved = load_model(model)  # the bars were the run's, not the model's
    assert saved.verbose == 0 and saved.model_.get_params()["features__text__transformer__tokenize__verbose"] == 0


def test_evaluate_prints_a_table(manifests, tmp_path, capsys):
    table = tmp_path / "table.json"
    args = ["evaluate", "--train", str(manifests["train"]), "--test", str(manifests["test"]), "--json", str(table)]
    assert main([*args, "--fusions", "text", "concat", *COLUMNS, "--label-col", "sentiment", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Fit on 60 posts, scored on 20 held-out posts.\n\n| fusion | accuracy | macro_f1 |")
    assert "| concat |" in captured.out and "| concat | positive |" in captured.out
    assert "ablation" not in captured.err  # --quiet: no progress bar
    report = json.loads(table.read_text())
    assert list(report["summary"]) == ["text", "concat"] and report["classes"] == ["negative", "positive"]
    assert sum(map(sum, report["confusion_matrices"]["text"])) == 20


def test_evaluate_by_cross_validation_writes_plots(manifests, tmp_path, capsys):
    plots = tmp_path / "plots"
    args = ["evaluate", "--train", str(manifests["train"]), "--cv", "3", "--plots", str(plots), "--fusions", "text", "image"]
    assert main([*args, *COLUMNS, "--label-col", "sentiment"]) == 0
    captured = capsys.readouterr()
    assert "Stratified 3-fold CV × 1 repeat(s), seed 0, 60 posts" in captured.out and " ± " in captured.out
    assert f"wrote {plots / 'ablation.png'}" in captured.out
    assert sorted(p.name for p in plots.iterdir()) == ["ablation.png", "confusion_matrices.png"]
    assert "ablation: 100%" in captured.err  # the progress bar
    assert main(["evaluate", "--train", str(manifests["train"]), *COLUMNS, "--label-col", "sentiment"]) == 2
    assert "give a held-out manifest or --cv K" in capsys.readouterr().err


@pytest.fixture
def mvsa(tmp_path):
    """A flat-layout MVSA folder of synthetic posts, one in four texts GBK-encoded."""
    root = tmp_path / "mvsa"
    (root / "texts").mkdir(parents=True)
    (root / "images").mkdir()
    X, y = synthetic_posts(n=80, seed=3)
    rows = ["id,label,split"]
    for i, (text, image, label) in enumerate(zip(X["text"], X["image"], y)):
        (root / "texts" / f"{i}.txt").write_bytes(text.encode("gbk" if i % 4 == 0 else "utf-8"))
        Image.fromarray(image).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{label},{'dev' if i >= 60 else 'train'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_evaluate_and_tune_on_an_mvsa_folder(mvsa, tmp_path, capsys):
    with pytest.warns(UserWarning, match="20 of 80 texts are not UTF-8"):
        assert main(["evaluate", "--mvsa", str(mvsa), "--fusions", "text", "vote", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Fit on 60 posts, scored on 20 held-out posts.") and "| vote |" in out
    assert main(["evaluate", "--mvsa", str(mvsa), "--text-col", "caption", "--quiet"]) == 2
    assert "--mvsa reads MVSA's own columns (text, image, label): --text-col is for manifests" in capsys.readouterr().err

    model = tmp_path / "tuned.joblib"
    args = ["tune", "--mvsa", str(mvsa), "--fusion", "concat", "--out", str(model), "--quiet"]
    params = ["--param", "C=[0.1, 1]", "--param", "text_features__tfidf__ngram_range=[(1, 1), (1, 2)]",
              "--param", "image_features__decode__size=(16, 16)"]
    assert main([*args, *params]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Best f1_macro on the dev split: ")
    assert "  image_features__decode__size = (16, 16)" in out and "text_features__tfidf__ngram_range = " in out
    assert out.count("| C=") == 4 and "refit on train + dev posts (80)" in out
    tuned = load_model(model)
    assert tuned.image_features.get_params()["decode__size"] == (16, 16) and tuned.n_samples_fit_ == 80
    data = model_metadata(model)["data"]
    assert data["train"]["n_posts"] == 60 and data["dev"]["split"] == "dev" and data["dev"]["n_posts"] == 20
    assert data["selection"]["scored"] == "on the dev split" and data["selection"]["scoring"] == "f1_macro"
    card = (tmp_path / "tuned.joblib.md").read_text()
    assert "model card" in out and "best score" in card and "No scores were recorded" in card


def test_tune_by_inner_cv_with_halving(manifests, tmp_path, capsys):
    model = tmp_path / "tuned.joblib"
    args = ["tune", "--train", str(manifests["train"]), "--cv", "2", "--fusion", "text", "--search", "halving",
            "--param", "C=[0.01, 0.1, 1, 10]", "--out", str(model), *COLUMNS, "--label-col", "sentiment"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Best f1_macro by 2-fold CV: ") and "tune (halving)" in captured.err
    assert load_model(model).C in (0.01, 0.1, 1, 10)
    data = model_metadata(model)["data"]
    assert data["train"]["sha256"] == hashlib.sha256(manifests["train"].read_bytes()).hexdigest()
    assert "dev" not in data and data["selection"]["scored"] == "by 2-fold CV"
    assert main([*args, "--param", "text_features__nope=[1]"]) == 2
    assert "unknown parameters ['text_features__nope']" in capsys.readouterr().err
    assert main([*args, "--dev", str(manifests["test"])]) == 2
    assert "not both" in capsys.readouterr().err


def test_errors_are_one_message_and_exit_2(manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    assert main(["train", "--data", str(manifests["train"]), "--out", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmsent train: error: ") and "no column 'text', 'image', 'label'" in err
    assert "Traceback" not in err
    assert main(["info", str(tmp_path / "absent.joblib")]) == 2
    assert "model file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.csv"
    broken.write_text("text,image,label\nhi,nope.png,positive\n")
    assert main(["train", "--data", str(broken), "--out", str(model)]) == 2
    assert "row 0: " in capsys.readouterr().err


def test_python_dash_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "mmsent", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    for command in ("train", "predict", "evaluate", "tune", "info", "demo"):
        assert command in result.stdout


def test_demo_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo.joblib"
    assert main(["demo", "--data-dir", str(tmp_path / "demo"), "--n", "200", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for fusion in ("text", "image", "concat", "vote", "stack"):
        assert f"| {fusion} |" in printed
    assert "Saved the concat model" in printed and out.is_file()
    assert "Predictions for a few test posts" in printed


def test_predict_checks_a_published_digest(manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    main(["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, "--label-col", "sentiment"])
    digest = model_metadata(model)["file"]["sha256"]
    capsys.readouterr()
    args = ["predict", "--model", str(model), "--data", str(manifests["test"])]
    assert main([*args, "--sha256", digest]) == 0
    capsys.readouterr()
    assert main([*args, "--sha256", "0" * 64]) == 2
    assert "not the expected 0000" in capsys.readouterr().err

