"""Labels that would silently become wrong classes are refused, naming their rows: in fit, in manifests, in scores."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsent import LabelError, MultimodalSentimentClassifier
from mmsent._validation import check_known_labels, check_labels, label_key
from mmsent.datasets import read_manifest
from mmsent.evaluation import prediction_scores

FEW = settings(max_examples=60, deadline=None)
WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


def spelt_otherwise(label, how):
    """The same label as a person might retype it."""
    return {"upper": label.upper(), "title": label.title(), "space": f" {label}", "tab": f"{label}\t"}[how]


@FEW
@given(
    labels=st.lists(WORDS, min_size=2, max_size=30),
    twin_at=st.integers(min_value=0),
    how=st.sampled_from(["upper", "title", "space", "tab"]),
)
def test_a_label_spelt_two_ways_is_refused_naming_its_rows(labels, twin_at, how):
    labels = [label.lower() for label in labels]
    position = twin_at % len(labels)
    twin = spelt_otherwise(labels[position], how)
    if twin == labels[position]:  # "a".title() is "A", but a label of digits has no upper case
        return
    labels = labels + [twin]
    with pytest.raises(LabelError, match="differ only by case, surrounding whitespace or number format") as info:
        check_labels(labels)
    wrong_rows = [row for row, _ in info.value.problems]
    assert len(labels) - 1 in wrong_rows or position in wrong_rows  # one spelling is kept, the other is at fault
    assert repr(twin) in str(info.value) and repr(labels[position]) in str(info.value)


@FEW
@given(st.lists(WORDS, min_size=1, max_size=30, unique_by=label_key))
def test_distinct_labels_pass_and_nothing_is_changed(labels):
    original = list(labels)
    assert check_labels(labels) is None
    assert labels == original


@FEW
@given(
    labels=st.lists(st.sampled_from(["positive", "negative", "neutral"]), min_size=1, max_size=20),
    holes=st.sets(st.integers(min_value=0, max_value=19), min_size=1),
    blank=st.sampled_from([None, np.nan, pd.NA, "", "  "]),
)
def test_empty_labels_are_refused_naming_every_row(labels, holes, blank):
    holes = sorted(h for h in holes if h < len(labels)) or [0]
    column = pd.Series(labels, dtype=object, index=[f"post{i}" for i in range(len(labels))])
    column.iloc[holes] = blank
    with pytest.raises(LabelError, match=f"{len(holes)} of {len(labels)} labels? (is|are) empty") as info:
        check_labels(column)
    assert [row for row, _ in info.value.problems] == [f"post{i}" for i in holes]


@pytest.mark.parametrize(
    "labels, rows",
    [(["1", "1.0", "2"], [1]), (["2", "02", "1", "2.00"], [1, 3]), (["pos", "neg", "POS", "neg "], [2, 3])],
)
def test_numeric_and_spacing_twins(labels, rows):
    with pytest.raises(LabelError) as info:
        check_labels(labels)
    assert [row for row, _ in info.value.problems] == rows


def test_mixed_types_and_fractions_name_the_odd_rows():
    with pytest.raises(LabelError, match=r"all strings or all numbers, got 3 str, 1 number") as info:
        check_labels(["a", "b", 1, "a"])
    assert info.value.problems == [(2, "int label 1")]
    with pytest.raises(LabelError, match="1 list") as info:
        check_labels(["a", ["b"], "a"])
    assert [row for row, _ in info.value.problems] == [1]
    with pytest.raises(LabelError, match=r"continuous values, not classes") as info:
        check_labels([0, 1, 0.5, 1.0])
    assert [row for row, _ in info.value.problems] == [2]
    check_labels([0, 1.0, 2, 1])  # whole numbers, whatever their type, are classes
    check_labels([True, False])


def test_fit_refuses_bad_labels_before_any_work(posts):
    X, y = posts
    y = y.astype(object)
    y[[3, 7]] = ["Positive", "positive "]
    with pytest.raises(LabelError, match=r"'Positive' \(1 row: 3\).*'positive ' \(1 row: 7\)"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X, y)
    y[[3, 7]] = [None, "positive"]
    X.index = [f"p{i}" for i in range(len(X))]
    with pytest.raises(LabelError, match=r"row 'p3': empty label"):
        MultimodalSentimentClassifier(features="handcrafted").fit(X, y)


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(record, ensure_ascii=False) for record in records), encoding="utf-8")
    return path


def test_manifests_name_the_file_and_rows(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("text,label\n好,positive\n差,\n好,Positive\n差,negative\n", encoding="utf-8")
    with pytest.raises(LabelError, match=re.escape(f"{csv}: 1 of 4 labels are empty")) as info:
        read_manifest(csv, required=("text", "label"))
    assert info.value.problems == [(1, "empty label")]
    csv.write_text("text,label\n好,positive\n差,negative\n好,Positive\n", encoding="utf-8")
    with pytest.raises(LabelError, match="'Positive' \\(1 row: 2\\)"):
        read_manifest(csv, required=("text", "label"))
    with pytest.warns(UserWarning, match="more than one label"):  # labels not needed: only reported
        assert len(read_manifest(csv, required=("text",))) == 3

    jsonl = write_jsonl(tmp_path / "train.jsonl", [{"text": "好", "label": 1}, {"text": "差", "label": "0"},
                                                   {"text": "好", "label": None}])
    with pytest.raises(LabelError, match=r"row 2: empty label"):
        read_manifest(jsonl, required=("text", "label"))
    write_jsonl(jsonl, [{"text": "好", "label": 1}, {"text": "差", "label": "0"}, {"text": "好", "label": 1}])
    with pytest.raises(LabelError, match=rf"{re.escape(str(jsonl))}: labels must be all strings or all numbers"):
        read_manifest(jsonl, required=("text", "label"))


def test_disjoint_test_labels_are_an_error_not_a_zero(posts):
    X, y = posts
    clf = MultimodalSentimentClassifier(features="handcrafted").fit(X, y)
    renamed = np.where(y == "positive", "pos", "neg")
    with pytest.raises(ValueError, match="have no label in common, so every score would be 0"):
        clf.score(X, renamed)
    with pytest.raises(ValueError, match=r"'neg' \(\d+ rows\), 'pos'"):
        prediction_scores(renamed, clf.predict(X))
    with pytest.raises(ValueError, match="the model's classes"):
        prediction_scores(renamed, clf.predict(X), classes=clf.classes_)
    # Some unknown labels: counted as errors, with a warning that counts them and spots retyped ones.
    partly = y.astype(object)
    partly[:3] = "Positive "
    with pytest.warns(UserWarning, match=r"'Positive ' \(3 rows; did you mean 'positive'\?\)"):
        scores = prediction_scores(partly, clf.predict(X), classes=clf.classes_)
    assert scores["accuracy"] == pytest.approx(np.mean(clf.predict(X) == partly))


def test_predictions_that_miss_a_class_are_not_mistaken_for_renamed_labels():
    # Without the model's classes, only "nothing in common" is refused: a partial miss is a plain score.
    assert prediction_scores(["a", "b", "b"], ["a", "a", "a"])["accuracy"] == pytest.approx(1 / 3)
    assert check_known_labels(["a", "b"], ["a", "b", "c"]) == []
