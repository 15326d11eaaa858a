from mmsent import load_model
from mmsent.cli import main


def test_demo_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo.joblib"
    args = ["demo", "--data-dir", str(tmp_path / "demo"), "--n", "200", "--fusion", "vote", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for fusion in ("text", "image", "concat", "intermediate", "vote", "stack", "gated", "multitask"):
        assert f"| {fusion} |" in printed
    assert "Saved the vote model" in printed and load_model(out).fusion == "vote"
    assert "Predictions for a few test posts" in printed
