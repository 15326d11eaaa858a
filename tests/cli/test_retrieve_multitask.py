import json

import pandas as pd
import pytest

from mmsent import load_model
from mmsent.cli import main
from mmsent.retrieval import CrossModalIndex

from .conftest import COLUMNS, LABEL

SMALL_SPACE = ["--n-components", "2", "--svd-components", "4"]


@pytest.fixture
def with_own_labels(manifests):
    """The manifests plus a per-modality label column, ``own`` (the post's label, a few left blank)."""
    for split in ("train", "test"):
        frame = pd.read_csv(manifests[split])
        frame["own"] = frame["sentiment"].where(frame.index % 5 > 0)
        frame.to_csv(manifests[split], index=False)
    return manifests


def test_retrieve_builds_saves_and_searches_an_index(shared_manifests, tmp_path, capsys):
    index_path = tmp_path / "index.skops"
    args = ["retrieve", "--data", str(shared_manifests["train"]), "--out", str(index_path), *COLUMNS, *SMALL_SPACE]
    assert main([*args, "--query", "很好 great", "-k", "3", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"indexed 60 texts and 60 images of {shared_manifests['train']}"
    assert out[1] == f"saved the index to {index_path}"
    assert out[2] == "| rank | score | post | image |" and len(out) == 4 + 3
    assert out[4].startswith("| 1 | ") and out[4].endswith(".png |")
    index = load_model(index_path, expected=CrossModalIndex)
    assert index.projector.n_components == 2 and index.text_column == "caption"

    image = index.image_items_[0]
    assert main(["retrieve", "--model", str(index_path), "--query-image", image, "-k", "2", "--quiet"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "| rank | score | post | text |" and len(rows) == 2 + 2
    scores = [float(row.split(" | ")[1]) for row in rows[2:]]
    assert scores == sorted(scores, reverse=True)


def test_retrieve_refuses_what_makes_no_sense(shared_manifests, tmp_path, capsys):
    data = ["--data", str(shared_manifests["train"]), *COLUMNS]
    assert main(["retrieve", *data]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert main(["retrieve", *data, "--query", "好", "-k", "0"]) == 2
    assert "-k must be a positive" in capsys.readouterr().err
    assert main(["retrieve", *data, "--query", "好", "--projection", "svd"]) == 2
    assert "method" in capsys.readouterr().err
    assert main(["retrieve", "--model", str(tmp_path / "none.joblib"), "--out", str(tmp_path / "x.joblib")]) == 2
    assert "--out saves an index built from --data" in capsys.readouterr().err


def test_evaluate_retrieval_compares_the_projections(shared_manifests, tmp_path, capsys):
    plots, report = tmp_path / "plots", tmp_path / "retrieval.json"
    args = ["evaluate", "--train", str(shared_manifests["train"]), "--test", str(shared_manifests["test"])]
    args += ["--retrieval", "--plots", str(plots), "--json", str(report), *COLUMNS, *LABEL, *SMALL_SPACE, "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Fit on 60 posts' text-image pairs; each of 20 held-out pairs queried" in out
    assert "| projection | direction | recall@1 |" in out
    for projection in ("cca", "pls", "none"):
        assert f"| {projection} | text_to_image |" in out and f"| {projection} | image_to_text |" in out
    assert (plots / "retrieval.png").read_bytes().startswith(b"\x89PNG")
    rows = json.loads(report.read_text())
    assert len(rows) == 6 and rows[0]["random_recall@10"] == 0.5
    assert main([*args[:3], "--cv", "3", "--retrieval", *COLUMNS, *LABEL]) == 2
    assert "--retrieval scores held-out pairs" in capsys.readouterr().err


def test_multitask_from_the_command_line(with_own_labels, tmp_path, capsys):
    model = tmp_path / "mt.joblib"
    train = ["--data", str(with_own_labels["train"]), *COLUMNS, *LABEL, "--quiet"]
    assert main(["train", *train, "--fusion", "multitask", "--out", str(model)]) == 2
    assert "needs per-modality labels" in capsys.readouterr().err
    assert main(["train", *train, "--fusion", "multitask", "--image-label-col", "own", "--out", str(model)]) == 0
    assert load_model(model).image_label_column == "own"
    capsys.readouterr()
    evaluate = ["evaluate", "--train", str(with_own_labels["train"]), "--test", str(with_own_labels["test"])]
    assert main([*evaluate, "--image-label-col", "own", *COLUMNS, *LABEL, "--quiet"]) == 0
    out = capsys.readouterr().out
    for fusion in ("concat", "intermediate", "stack", "gated", "multitask"):
        assert f"| {fusion} |" in out
