"""The accuracy benchmark skips cleanly where the real data is absent (a user's fresh machine)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "accuracy.py"


def test_bench_accuracy_skips_without_the_data(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_accuracy", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--data", str(tmp_path / "absent")]) == 0
    assert capsys.readouterr().out.startswith(f"bench-accuracy: skipped: no data folder at {tmp_path / 'absent'}")
