"""What the benchmark scripts share: where things are, one timer, one Markdown table, one results writer.

Every script measures into a JSON-able dict and hands it to :func:`write_results`, which writes
``results/<name>.json`` and renders ``results/<name>.md`` from that JSON alone, so a table can
only show what the JSON holds. ``python benchmarks/bench_tables.py`` re-renders every table.
"""

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "data"  # the real data, read in place, never copied into the repo

if str(ROOT) not in sys.path:  # the checkout's mmsent, installed or not
    sys.path.insert(0, str(ROOT))

from mmsent._files import atomic_write  # noqa: E402


def timed(function, repeats, setup=None):
    """Call ``function`` ``repeats`` times (``setup`` runs untimed before each call).

    Returns ``(timing, result)``: ``timing`` holds the wall seconds (``median``, ``min``,
    ``max``) and the median CPU seconds of this process, all threads (``cpu``); ``result``
    is what the last call returned.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        if setup is not None:
            setup()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    timing = {"median": statistics.median(wall), "min": min(wall), "max": max(wall), "cpu": statistics.median(cpu)}
    return timing, result


def rate(timing, work):
    """Throughput in ``work`` units per second: ``median``, ``min`` (the slowest run) and ``max`` (the fastest)."""
    return {"median": work / timing["median"], "min": work / timing["max"], "max": work / timing["min"]}


def table(columns, rows):
    """Lines of a Markdown table: the ``columns`` header, then one line per row of cells (``|`` escaped)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell).replace("|", r"\|") for cell in row) + " |" for row in rows]


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(text)


def write_results(name, results, render):
    """Write ``results/<name>.json``, then ``results/<name>.md`` as ``render`` makes it from that JSON.

    Returns the Markdown text.
    """
    text = json.dumps(results, indent=2, ensure_ascii=False, default=float) + "\n"
    write_text(RESULTS / f"{name}.json", text)
    markdown = render(json.loads(text))  # from the JSON as written, never from values that are not in it
    write_text(RESULTS / f"{name}.md", markdown)
    return markdown
