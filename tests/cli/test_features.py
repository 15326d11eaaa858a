"""``--features`` on train, evaluate and tune: it reaches the model, its card, and tune's nested parameters."""

from mmsent import load_model, model_card
from mmsent.cli import main

from .conftest import COLUMNS, LABEL


def test_the_command_line_flag_reaches_the_model_and_its_card(shared_manifests, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    args = ["train", "--data", str(shared_manifests["train"]), "--out", str(model), *COLUMNS, *LABEL, "--quiet"]
    assert main([*args, "--fusion", "text", "--features", "handcrafted"]) == 0
    assert load_model(model).features == "handcrafted"
    card = model_card(model)
    assert "| features | `'handcrafted'` |" in card and "- Features: `handcrafted`, text as TF-IDF" in card
    assert "low-level image statistics" in card
    assert "| features | `'handcrafted'` |" in (tmp_path / "m.joblib.md").read_text()
    assert main([*args, "--features", "deep"]) == 2
    assert "The 'features' parameter of MultimodalSentimentClassifier must be a str among" in capsys.readouterr().err


def test_evaluate_and_tune_take_the_flag(shared_manifests, tmp_path, capsys):
    data = ["--train", str(shared_manifests["train"]), *COLUMNS, *LABEL, "--quiet"]
    assert main(["evaluate", *data, "--cv", "2", "--fusions", "text", "--features", "handcrafted"]) == 0
    assert main(["evaluate", *data, "--cv", "2", "--fusions", "text", "--features", "deep"]) == 2
    assert "The 'features' parameter" in capsys.readouterr().err
    out = tmp_path / "tuned.joblib"
    tune_args = ["tune", *data, "--cv", "2", "--fusion", "text", "--out", str(out)]
    window = "text_features__lexicon__lexicon__window"
    assert main([*tune_args, "--param", f"{window}=[1, 2]"]) == 0
    assert f"{window} = " in capsys.readouterr().out
    assert load_model(out).features == "pretrained"
    assert main([*tune_args, "--features", "handcrafted", "--param", f"{window}=[1]"]) == 2
    assert f"unknown parameters ['{window}']" in capsys.readouterr().err
