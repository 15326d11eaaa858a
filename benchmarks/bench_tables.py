"""Render every ``benchmarks/results/<name>.md`` from its ``<name>.json``, without measuring anything.

Run with ``make bench-tables`` (or ``python benchmarks/bench_tables.py``) after editing a renderer.
Each benchmark script owns its result's ``render`` function and calls it itself after a run.
"""

import importlib
import json

from _common import RESULTS, write_text

# Result name -> the script that measures it and renders its table.
SCRIPTS = {
    "bench": "bench",
    "accuracy": "accuracy",
    "cnn": "bench_cnn",
    "features": "eval_features",
    "presets": "eval_presets",
    "cnn_variants": "eval_cnn_variants",
    "missing_modality": "bench_missing",
    "hostile": "bench_hostile",
    "scale": "bench_scale",
    "fusions": "bench_fusions",
    "solver": "eval_solver",
    "mutation": "mutation_report",
}


def render(name):
    """The Markdown of result ``name``, from its JSON file."""
    results = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    return importlib.import_module(SCRIPTS[name]).render(results)


def main():
    for name in SCRIPTS:
        write_text(RESULTS / f"{name}.md", render(name))
        print(f"wrote {RESULTS / name}.md")


if __name__ == "__main__":
    main()
