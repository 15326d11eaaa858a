import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmsent.datasets import (
    MissingFilesError,
    deduplicate,
    find_duplicates,
    load_demo,
    load_image_folder,
    load_mvsa,
    load_reviews,
    read_manifest,
    read_text_file,
    write_demo,
)
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


def _post_files(folder, post_id, text, encoding="utf-8", shade=0):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{post_id}.txt").write_bytes(text.encode(encoding))
    Image.fromarray(np.full((8, 8, 3), shade, np.uint8)).save(folder / f"{post_id}.jpg")


def test_read_text_file_falls_back_from_utf8_to_gbk_to_latin1(tmp_path):
    samples = {"utf8": ("\ufeffcafé 好\n".encode("utf-8"), "café 好", "utf-8"),
               "gbk": ("so tired…… 累".encode("gbk"), "so tired…… 累", "gbk"),
               "latin": (b"na\xefve \xff", "na\xefve \xff", "latin-1")}
    for name, (data, text, encoding) in samples.items():
        (tmp_path / name).write_bytes(data)
        assert read_text_file(tmp_path / name) == (text, encoding)


def test_mvsa_single_original_layout(tmp_path):
    root = tmp_path / "MVSA_Single"
    labels = ["ID\ttext,image", "1\tpositive,positive", "2\tneutral,negative", "3\tpositive,negative",
              "4\tneutral,neutral", ""]
    root.mkdir()
    (root / "labelResult.txt").write_text("\n".join(labels))
    for post_id, text in ((1, "happy #sun"), (3, "mixed"), (4, "a table")):
        _post_files(root / "data", post_id, text, shade=post_id)
    _post_files(root / "data", 2, "rainy…", encoding="gbk", shade=2)
    with pytest.warns(UserWarning) as caught:
        posts = load_mvsa(root)
    messages = "\n".join(str(w.message) for w in caught)
    assert "1 of 4 posts have no post label" in messages and "row '3': text positive, image negative" in messages
    assert "1 of 3 texts are not UTF-8" in messages and "row '2': read as gbk" in messages
    assert posts["id"].tolist() == ["1", "2", "4"]
    assert posts["label"].tolist() == ["positive", "negative", "neutral"]
    assert posts["text_label"].tolist() == ["positive", "neutral", "neutral"]
    assert posts["image_label"].tolist() == ["positive", "negative", "neutral"]
    assert posts["text"].tolist() == ["happy #sun", "rainy…", "a table"]
    assert posts["text_encoding"].tolist() == ["utf-8", "gbk", "utf-8"]
    assert posts["split"].isna().all() and all(Path(p).is_file() for p in posts["image"])


def test_mvsa_multiple_takes_the_majority_of_three_annotators(tmp_path):
    root = tmp_path / "MVSA"
    root.mkdir()
    lines = ["ID\ttext,image\ttext,image\ttext,image",
             "10\tpositive,neutral\tpositive,positive\tneutral,positive",  # positive, positive
             "11\tnegative,neutral\tneutral,neutral\tnegative,positive",  # negative, neutral -> negative
             "12\tpositive,negative\tnegative,negative\tpositive,negative",  # positive vs negative: dropped
             "13\tpositive,neutral\tnegative,neutral\tneutral,neutral"]  # no text majority: dropped
    (root / "labelResult.txt").write_text("\n".join(lines) + "\n")
    for post_id in range(10, 14):
        _post_files(root / "data", post_id, f"post {post_id}", shade=post_id)
    with pytest.warns(UserWarning, match="2 of 4 posts have no post label") as caught:
        posts = load_mvsa(root)
    assert "row '13': text no majority, image neutral" in str(caught[0].message)
    assert posts[["id", "label", "text_label", "image_label"]].values.tolist() == [
        ["10", "positive", "positive", "positive"],
        ["11", "negative", "negative", "neutral"],
    ]


def test_mvsa_flat_layout_lists_every_missing_file_and_reports_duplicates(tmp_path):
    root = tmp_path / "mvsa"
    rows = ["id,label,split", "1,positive,train", "2,negative,train", "3,positive,dev", "4,negative,dev"]
    root.mkdir()
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    for post_id in (1, 2, 3, 4):
        _post_files(root / "texts", post_id, "same words" if post_id > 1 else "hello")
        (root / "texts" / f"{post_id}.jpg").rename(root / f"{post_id}.jpg")
    (root / "images").mkdir()
    with pytest.raises(MissingFilesError, match="4 files do not exist") as info:
        load_mvsa(root)
    assert [row for row, _ in info.value.missing] == ["1", "2", "3", "4"]
    for post_id in (1, 2, 3, 4):
        (root / f"{post_id}.jpg").rename(root / "images" / f"{post_id}.jpg")
    with pytest.warns(UserWarning, match="3 posts appear under more than one label") as caught:
        posts = load_mvsa(root)
    assert "row '3': label 'positive'" in str(caught[0].message)
    assert posts["split"].tolist() == ["train", "train", "dev", "dev"] and len(posts) == 4
    with pytest.warns(UserWarning, match="dropped 0 repeated posts and 3 posts with conflicting labels"):
        assert deduplicate(posts)["id"].tolist() == ["1"]
    with pytest.raises(FileNotFoundError, match="neither labels.csv nor labelResult.txt"):
        load_mvsa(tmp_path)


def test_bad_label_result_lines_are_named(tmp_path):
    (tmp_path / "labelResult.txt").write_text("ID\ttext,image\n1\tpositive,happy\n2\tpositive\n3\tneutral,neutral\n")
    with pytest.raises(ValueError, match="2 lines are not MVSA labels") as info:
        load_mvsa(tmp_path)
    assert "line 2" in str(info.value) and "line 3" in str(info.value)


def test_duplicates_compare_image_content_not_paths(tmp_path):
    _post_files(tmp_path, "a", "x", shade=5)
    _post_files(tmp_path, "b", "x", shade=5)
    _post_files(tmp_path, "c", "x", shade=200)
    posts = pd.DataFrame({"text": ["x"] * 3, "image": [str(tmp_path / f"{k}.jpg") for k in "abc"],
                          "label": ["pos", "pos", "neg"]})
    duplicates, conflicts = find_duplicates(posts)
    assert duplicates.tolist() == [1] and conflicts.tolist() == []
    assert find_duplicates(posts.drop(columns="image"))[1].tolist() == [0, 1, 2]
    unlabelled = pd.DataFrame({"text": ["y", "y"], "label": [np.nan, float("nan")]})
    assert [found.tolist() for found in find_duplicates(unlabelled)] == [[1], []]  # NaN labels are equal


def test_load_reviews_maps_labels_and_reports_problems(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("cat,label,review\n书籍,1,好看\n水果,0,不新鲜\n水果,1,不新鲜\n书籍,1,\n书籍,0,好看\n书籍,1,好看\n",
                    encoding="utf-8")
    with pytest.warns(UserWarning) as caught:
        posts = load_reviews(path)
    messages = [str(w.message) for w in caught]
    assert any("5 posts appear under more than one label" in m for m in messages)
    assert any("1 reviews are empty" in m and "row 3" in m for m in messages)
    assert posts.columns.tolist() == ["text", "image", "label", "cat"] and len(posts) == 6
    assert posts["label"].tolist() == ["positive", "negative", "positive", "positive", "negative", "positive"]
    assert posts["image"].isna().all()
    path.write_text("label,review\n1,好\n2,差\n-1,坏\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"2 rows have a label outside \['0', '1'\]") as info:
        load_reviews(path)
    assert "row 1: label '2'" in str(info.value)
    posts = load_reviews(path, label_names=None)
    assert posts["label"].tolist() == ["1", "2", "-1"]


def test_load_image_folder(tmp_path):
    root = tmp_path / "posts"
    _post_files(root / "positive", "p1", "sunny")
    _post_files(root / "negative", "n1", "雨天".encode("gbk").decode("latin-1"), encoding="latin-1")
    (root / "negative" / "notes.md").write_text("not a post")
    with pytest.warns(UserWarning) as caught:
        posts = load_image_folder(root)
    messages = "\n".join(str(w.message) for w in caught)
    assert "1 files ignored" in messages and "negative/notes.md" in messages
    assert posts[["id", "text", "label", "text_encoding"]].values.tolist() == [
        ["negative/n1", "雨天", "negative", "gbk"],
        ["positive/p1", "sunny", "positive", "utf-8"],
    ]
    (root / "positive" / "p1.txt").unlink()
    (root / "positive" / "p2.txt").write_text("no image")
    with pytest.raises(MissingFilesError) as info:
        load_image_folder(root)
    assert [row for row, _ in info.value.missing] == ["positive/p1", "positive/p2"]
