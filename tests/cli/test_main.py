"""``main`` itself: exit statuses, what counts as a user error, stdout closed early, the cost of --help."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from mmsent.cli import _info, main

COMMANDS = ("train", "predict", "evaluate", "tune", "info", "demo", "export-cnn")


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


@pytest.mark.parametrize(
    "option, message",
    [
        (["--fusion", "late"], "The 'fusion' parameter of MultimodalSentimentClassifier must be a str among"),
        (["--classifier", "forest"], "The 'classifier' parameter of MultimodalSentimentClassifier"),
        (["--class-weight", "rare"], "The 'class_weight' parameter of MultimodalSentimentClassifier"),
        (["--C", "0"], "The 'C' parameter of MultimodalSentimentClassifier must be a float in the range (0.0, inf)"),
        (["--format", "pickle"], "--format must be one of joblib, skops, got 'pickle'"),
    ],
)
def test_bad_options_are_refused_before_the_data_is_read(option, message, tmp_path, capsys):
    absent = tmp_path / "absent.csv"
    assert main(["train", "--data", str(absent), "--out", str(tmp_path / "m.joblib"), *option]) == 2
    err = capsys.readouterr().err
    assert message in err and "manifest not found" not in err


def test_a_manifest_in_no_known_encoding_is_named_with_what_was_tried(tmp_path, capsys):
    manifest = tmp_path / "posts.csv"
    manifest.write_bytes(b"text,image,label\n\xff\xfe\xff,a.png,positive\n")
    assert main(["train", "--data", str(manifest), "--out", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert f"{manifest} is neither UTF-8 (byte 17: invalid start byte) nor GBK text: save it as UTF-8" in err


def _raising(exc):
    def run(args):
        raise exc

    return run


def test_only_user_errors_become_a_message(monkeypatch, capsys):
    """A bug (TypeError, a module missing altogether) keeps its traceback; an install hint is a message."""
    monkeypatch.setattr(_info, "run", _raising(TypeError("unsupported operand")))
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["info", "m.joblib"])
    monkeypatch.setattr(_info, "run", _raising(ModuleNotFoundError("No module named 'numpy'")))
    with pytest.raises(ModuleNotFoundError):
        main(["info", "m.joblib"])
    monkeypatch.setattr(_info, "run", _raising(ImportError("plots need matplotlib: pip install 'mmsent[plots]'")))
    assert main(["info", "m.joblib"]) == 2
    assert capsys.readouterr().err == "mmsent info: error: plots need matplotlib: pip install 'mmsent[plots]'\n"


def test_stdout_closed_by_its_reader_ends_quietly(trained, shared_manifests, tmp_path, monkeypatch, capfd):
    """`mmsent predict ... | head`: the reader leaves; no "Broken pipe" message, no traceback."""
    test = pd.read_csv(shared_manifests["test"])
    posts = tmp_path / "posts.csv"  # more than stdout's buffer holds: it is written while predict runs
    pd.concat([test.assign(picture=[str(shared_manifests["test"].parent / p) for p in test["picture"]])] * 8).to_csv(
        posts, index=False
    )
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["predict", "--model", str(trained), "--data", str(posts), "--quiet"]) == 1
        stdout.write("more output\n")
        stdout.flush()  # stdout now leads to devnull: writing at exit cannot fail again
    finally:
        stdout.close()
    assert capfd.readouterr().err == ""


def test_python_dash_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "mmsent", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    for command in COMMANDS:
        assert command in result.stdout


def test_help_imports_no_heavy_library():
    """--help answers at once: building the parser imports neither scikit-learn, pandas nor jieba."""
    script = (
        "import sys\n"
        "from mmsent.cli import main\n"
        f"for argv in [['--help'], *[[command, '--help'] for command in {COMMANDS!r}]]:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'pandas', 'jieba', 'scipy'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert "usage: mmsent export-cnn" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"
