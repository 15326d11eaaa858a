"""Manifests and MVSA folders on disk for the command line, and a model trained through it."""

import pandas as pd
import pytest
from PIL import Image

from mmsent.cli import main

from ..conftest import synthetic_posts

# The manifests name their columns their own way.
COLUMNS = ["--text-col", "caption", "--image-col", "picture"]
LABEL = ["--label-col", "sentiment"]


def write_manifests(folder):
    """Train and test manifests (CSV, and the test one as JSONL too) with images on disk, paths relative."""
    (folder / "imgs").mkdir()
    paths = {}
    for split, seed, n in (("train", 0, 60), ("test", 1, 20)):
        X, y = synthetic_posts(n=n, seed=seed)
        rows = []
        for i, (text, image, label) in enumerate(zip(X["text"], X["image"], y)):
            name = f"imgs/{split}{i}.png"
            Image.fromarray(image).save(folder / name)
            rows.append({"caption": text, "picture": name, "sentiment": label})
        paths[split] = folder / f"{split}.csv"
        pd.DataFrame(rows).to_csv(paths[split], index=False)
    paths["jsonl"] = folder / "test.jsonl"
    pd.read_csv(paths["test"]).to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    return paths


@pytest.fixture
def manifests(tmp_path):
    return write_manifests(tmp_path)


@pytest.fixture(scope="session")
def shared_manifests(tmp_path_factory):
    """Manifests for tests that only read them."""
    return write_manifests(tmp_path_factory.mktemp("manifests"))


@pytest.fixture(scope="session")
def trained(shared_manifests):
    """A model file written by ``mmsent train`` given no model option (copy it before altering it)."""
    model = shared_manifests["train"].parent / "model.joblib"
    args = ["train", "--data", str(shared_manifests["train"]), "--out", str(model), *COLUMNS, *LABEL, "--quiet"]
    assert main(args) == 0
    return model


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
