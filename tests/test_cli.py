import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from mmsent import load_model, model_metadata
from mmsent.cli import main

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


def test_predict_to_stdout_without_probabilities(manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    main(["train", "--data", str(manifests["train"]), "--out", str(model), *COLUMNS, "--label-col", "sentiment"])
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--data", str(manifests["test"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "caption,picture,sentiment,prediction" and len(lines) == 21


def test_evaluate_prints_a_table(manifests, tmp_path, capsys):
    table = tmp_path / "table.json"
    args = ["evaluate", "--train", str(manifests["train"]), "--test", str(manifests["test"]), "--json", str(table)]
    assert main([*args, "--fusions", "text", "concat", *COLUMNS, "--label-col", "sentiment"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| fusion | accuracy | macro_f1 |") and "| concat |" in out
    assert [row["fusion"] for row in json.loads(table.read_text())] == ["text", "concat"]


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
    for command in ("train", "predict", "evaluate", "info", "demo"):
        assert command in result.stdout


def test_demo_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo.joblib"
    assert main(["demo", "--data-dir", str(tmp_path / "demo"), "--n", "200", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for fusion in ("text", "image", "concat", "vote", "stack"):
        assert f"| {fusion} |" in printed
    assert "Saved the concat model" in printed and out.is_file()
    assert "Predictions for a few test posts" in printed
