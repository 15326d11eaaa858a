import json

import pandas as pd
import pytest

from mmsent.datasets import load_demo, read_manifest, write_demo
from mmsent.datasets._demo import _reviews, _stickers


def test_demo_sources_are_deduplicated_and_unambiguous():
    reviews = _reviews()
    positive, negative = set(reviews["positive"]), set(reviews["negative"])
    assert len(positive) == len(reviews["positive"]) and len(negative) == len(reviews["negative"])
    assert not positive & negative
    assert 15_000 < len(positive) + len(negative) < 20_000  # ~17.4k unique of 35k lines
    stickers = _stickers()
    assert all(len(stickers[c]) >= 20 for c in ("positive", "negative", "neutral"))


def test_demo_is_deterministic_balanced_and_noisy():
    posts = load_demo(n=600, seed=3)
    assert posts.equals(load_demo(n=600, seed=3))
    assert not posts.equals(load_demo(n=600, seed=4))
    assert posts["label"].value_counts().to_dict() == {"positive": 300, "negative": 300}
    assert posts["text"].is_unique
    agreement = (posts["label"] == posts["sticker_sentiment"]).mean()
    assert 0.63 < agreement < 0.77  # 0.7 by construction
    opposite = ((posts["label"] == "positive") & (posts["sticker_sentiment"] == "negative")).mean()
    assert opposite > 0.03  # some stickers contradict the text, as in sarcasm


def test_three_class_demo():
    posts = load_demo(n=300, n_classes=3, agreement=1.0, seed=0)
    assert posts["label"].value_counts().to_dict() == {"positive": 100, "negative": 100, "neutral": 100}
    assert (posts["label"] == posts["sticker_sentiment"]).all()
    with pytest.raises(ValueError, match="n_classes"):
        load_demo(n=10, n_classes=4)


def test_write_demo_is_relative_and_cached(tmp_path):
    paths = write_demo(tmp_path / "demo", n=80, seed=1)
    train = pd.read_csv(paths["train"])
    test = pd.read_csv(paths["test"])
    assert (len(train), len(test)) == (60, 20)
    assert train["image"].str.startswith("images/").all()
    assert all((tmp_path / "demo" / p).is_file() for p in train["image"])
    stamp = (tmp_path / "demo" / "params.json").stat().st_mtime_ns
    assert write_demo(tmp_path / "demo", n=80, seed=1) == paths
    assert (tmp_path / "demo" / "params.json").stat().st_mtime_ns == stamp  # not rebuilt
    write_demo(tmp_path / "demo", n=40, seed=1)
    assert json.loads((tmp_path / "demo" / "params.json").read_text())["n"] == 40


def test_read_manifest_csv_and_jsonl(tmp_path, image_files):
    (tmp_path / "posts.csv").write_text(
        f"text,image,label\nNA,{image_files[0].name},positive\n,,negative\n", encoding="utf-8"
    )
    frame = read_manifest(tmp_path / "posts.csv")
    assert frame["text"].tolist() == ["NA", ""]  # "NA" is text, not a missing value
    assert frame["image"].tolist() == [str(image_files[0].resolve()), None]
    lines = [{"caption": "好", "pic": str(image_files[1]), "y": 1}]
    (tmp_path / "posts.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    frame = read_manifest(tmp_path / "posts.jsonl", text_column="caption", image_column="pic", label_column="y")
    assert frame.to_dict("records") == [{"caption": "好", "pic": str(image_files[1]), "y": 1}]


def test_read_manifest_errors(tmp_path, image_files):
    (tmp_path / "a.csv").write_text("words,label\nhi,1\n")
    with pytest.raises(ValueError, match=r"no column 'text', 'image'; its columns are \['words', 'label'\]"):
        read_manifest(tmp_path / "a.csv")
    rows = "\n".join(f"t{i},missing{i}.png" for i in range(12))
    (tmp_path / "b.csv").write_text(f"text,image\nok,{image_files[0]}\n{rows}\n")
    with pytest.raises(FileNotFoundError) as info:
        read_manifest(tmp_path / "b.csv")
    message = str(info.value)
    assert "12 image files do not exist" in message and "missing0.png" in message and "2 more" in message
    (tmp_path / "c.jsonl").write_text('{"text": "a"}\n{broken\n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        read_manifest(tmp_path / "c.jsonl", required=("text",))
    with pytest.raises(ValueError, match="not .txt"):
        (tmp_path / "d.txt").write_text("x")
        read_manifest(tmp_path / "d.txt")
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")
