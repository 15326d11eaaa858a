import hashlib
import json

import pytest

from mmsent import load_model, model_metadata
from mmsent.cli import main

from .conftest import COLUMNS, LABEL


def test_evaluate_prints_a_table(manifests, tmp_path, capsys):
    table = tmp_path / "table.json"
    args = ["evaluate", "--train", str(manifests["train"]), "--test", str(manifests["test"]), "--json", str(table)]
    assert main([*args, "--fusions", "text", "concat", *COLUMNS, *LABEL, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Fit on 60 posts, scored on 20 held-out posts.\n\n| fusion | accuracy | macro_f1 |")
    assert "| concat |" in captured.out and "| concat | positive |" in captured.out
    assert "ablation" not in captured.err  # --quiet: no progress bar
    report = json.loads(table.read_text())
    assert list(report["summary"]) == ["text", "concat"] and report["classes"] == ["negative", "positive"]
    assert sum(map(sum, report["confusion_matrices"]["text"])) == 20


def test_evaluate_by_cross_validation_writes_plots(manifests, tmp_path, capsys):
    plots = tmp_path / "plots"
    args = ["evaluate", "--train", str(manifests["train"]), "--cv", "3", "--plots", str(plots)]
    args += ["--fusions", "text", "image"]
    assert main([*args, *COLUMNS, *LABEL]) == 0
    captured = capsys.readouterr()
    assert "Stratified 3-fold CV × 1 repeat(s), seed 0, 60 posts" in captured.out and " ± " in captured.out
    assert f"wrote {plots / 'ablation.png'}" in captured.out
    assert sorted(p.name for p in plots.iterdir()) == ["ablation.png", "confusion_matrices.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in plots.iterdir())
    assert "ablation: 100%" in captured.err  # the progress bar
    assert main(["evaluate", "--train", str(manifests["train"]), *COLUMNS, *LABEL]) == 2
    assert "give a held-out manifest or --cv K" in capsys.readouterr().err


def test_evaluate_refuses_an_unknown_fusion_before_reading_data(tmp_path, capsys):
    absent = tmp_path / "absent.csv"  # never read: the fusion is refused first
    assert main(["evaluate", "--train", str(absent), "--cv", "2", "--fusions", "text", "late"]) == 2
    err = capsys.readouterr().err
    assert "The 'fusion' parameter of MultimodalSentimentClassifier must be a str among" in err and "'late'" in err


def test_evaluate_and_tune_on_an_mvsa_folder(mvsa, tmp_path, capsys):
    with pytest.warns(UserWarning, match="20 of 80 texts are not UTF-8"):
        assert main(["evaluate", "--mvsa", str(mvsa), "--fusions", "text", "vote", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Fit on 60 posts, scored on 20 held-out posts.") and "| vote |" in out
    assert main(["evaluate", "--mvsa", str(mvsa), "--text-col", "caption", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--mvsa reads MVSA's own columns (text, image, label): --text-col is for manifests" in err

    model = tmp_path / "tuned.joblib"
    args = ["tune", "--mvsa", str(mvsa), "--fusion", "concat", "--out", str(model), "--quiet"]
    args += ["--features", "handcrafted"]  # the grid below tunes the size of the HOG + colour images
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
    assert data["train"]["mvsa"] == str(mvsa) and "sha256" not in data["train"]
    assert data["selection"]["scored"] == "on the dev split" and data["selection"]["scoring"] == "f1_macro"
    assert data["selection"]["search"] == "grid"
    card = (tmp_path / "tuned.joblib.md").read_text()
    assert "model card" in out and "best score" in card and "No scores were recorded" in card


def test_tune_by_inner_cv_with_halving(manifests, tmp_path, capsys):
    model = tmp_path / "tuned.joblib"
    args = ["tune", "--train", str(manifests["train"]), "--cv", "2", "--fusion", "text", "--search", "halving",
            "--param", "C=[0.01, 0.1, 1, 10]", "--out", str(model), *COLUMNS, *LABEL]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Best f1_macro by 2-fold CV: ") and "tune (halving)" in captured.err
    assert load_model(model).C in (0.01, 0.1, 1, 10)
    data = model_metadata(model)["data"]
    assert data["train"]["sha256"] == hashlib.sha256(manifests["train"].read_bytes()).hexdigest()
    assert "dev" not in data and data["selection"]["scored"] == "by 2-fold CV"
    assert data["selection"]["search"] == "halving"
    assert main([*args, "--param", "text_features__nope=[1]"]) == 2
    assert "unknown parameters ['text_features__nope']" in capsys.readouterr().err
    assert main([*args, "--dev", str(manifests["test"])]) == 2
    assert "not both" in capsys.readouterr().err
