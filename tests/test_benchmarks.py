"""The benchmark harness: tables rendered from the JSON results only, and the accuracy run skips without data."""

import importlib
import json
import sys
from pathlib import Path

import pytest

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
    assert {path.stem for path in RESULTS.glob("*.md")} == set(tables.SCRIPTS), "every table needs a JSON source"
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
    absent = tmp_path / "absent" / "mvsa_single"
    assert row["skipped"] == f"no MVSA-Single at {absent} (the shared data folder is absent)"
