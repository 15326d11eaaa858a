"""Stress run: a large manifest with 1% hostile rows of every kind through ``mmsent predict --on-error skip``.

Builds the demo data, fits a ``concat`` model on its train split, then writes a manifest of
``--n`` posts (the demo's test posts, repeated) in which 1% of the rows are hostile, spread over
the kinds below, and runs the command line on it in a fresh process with a time limit. Checks:

- it finishes (no hang on a FIFO, no endless read of ``/dev/zero``) and exits 0;
- the process's peak RSS, at this size and at a tenth of it (memory must stay bounded);
- every good row's label equals ``mmsent predict`` on the good rows alone;
- every row of an error kind is listed on stderr with its reason, and no other row is;
- rows of a fallback kind (empty text, a megabyte of text) are predicted, not listed.

Writes ``benchmarks/results/hostile.json`` and ``.md``.

    python benchmarks/bench_hostile.py [--n 100000] [--seed 0]
"""

import argparse
import csv
import datetime
import io
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ROOT, table, write_results
from PIL import Image

from mmsent import MultimodalSentimentClassifier, save_model
from mmsent.datasets import read_manifest, write_demo

HOSTILE_SHARE = 0.01
TIME_LIMIT_S = 1800
ROW_LINE = re.compile(r"^\s+row (\d+) \((\w+)\): (.*)$")


def hostile_files(folder):
    """Image cells of every hostile kind that must be a listed error: kind -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "fifo.jpg")
    with open(folder / "sparse-1gb.jpg", "wb") as file:
        file.truncate(1 << 30)
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good, "JPEG")
    data = good.getvalue()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    # A header that claims 7000x7000 pixels in front of the data of a small image.
    start = data.index(b"\xff\xc0") + 5
    (folder / "claims-7000.jpg").write_bytes(data[:start] + (7000).to_bytes(2, "big") * 2 + data[start + 4 :])
    (folder / "text.jpg").write_text("not an image at all")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "directory.jpg").mkdir()
    os.symlink(folder / "loop-b.jpg", folder / "loop-a.jpg")
    os.symlink(folder / "loop-a.jpg", folder / "loop-b.jpg")
    return {
        "fifo": folder / "fifo.jpg",
        "/dev/zero": Path("/dev/zero"),
        "/dev/urandom": Path("/dev/urandom"),
        "1 GB sparse file": folder / "sparse-1gb.jpg",
        "truncated JPEG": folder / "truncated.jpg",
        "JPEG claiming 7000x7000": folder / "claims-7000.jpg",
        "text named .jpg": folder / "text.jpg",
        "0-byte file": folder / "empty.jpg",
        "directory": folder / "directory.jpg",
        "symlink loop": folder / "loop-a.jpg",
        "missing file": folder / "gone.jpg",
    }


FALLBACK_TEXTS = {"empty text": "", "a megabyte of text": "好" * 1_000_000}


def build_manifest(posts, n, hostile, path, seed):
    """Write ``n`` rows cycling ``posts``; return the row kinds (``"good"`` or a hostile kind)."""
    rng = np.random.default_rng(seed)
    kinds = np.full(n, "good", dtype=object)
    bad_rows = rng.choice(n, int(round(HOSTILE_SHARE * n)), replace=False)
    names = [*hostile, *FALLBACK_TEXTS]
    kinds[bad_rows] = [names[i % len(names)] for i in range(len(bad_rows))]
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "image"])
        for row, kind in enumerate(kinds):
            text, image = posts[row % len(posts)]
            if kind in hostile:
                image = str(hostile[kind])
            elif kind in FALLBACK_TEXTS:
                text = FALLBACK_TEXTS[kind]
            writer.writerow([text, image])
    return kinds


def predict(model, manifest, out):
    """Run ``mmsent predict --on-error skip`` in a fresh process; wall seconds, peak RSS (MB), stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mmsent", "predict", "--model", str(model), "--data", str(manifest),
         "--out", str(out), "--on-error", "skip", "--quiet"],
        capture_output=True, text=True, timeout=TIME_LIMIT_S, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mmsent predict exited {done.returncode}:\n{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN is the largest child so far: runs go from small to large, so it is this one's.
    return seconds, max(peak, before) / 1024, done.stderr


def listed_rows(stderr):
    """Row -> (column, reason) of every bad row the command listed."""
    listed = {}
    for line in stderr.splitlines():
        match = ROW_LINE.match(line)
        if match:
            listed[int(match.group(1))] = (match.group(2), match.group(3))
    return listed


def run(n, seed, work):
    demo = write_demo(work / "demo", 2000, seed=seed)
    train = read_manifest(demo["train"], required=("text", "image", "label"))
    test = read_manifest(demo["test"], required=("text", "image", "label"))
    options = {"fusion": "concat"}
    if "features" in MultimodalSentimentClassifier().get_params():
        options["features"] = "handcrafted"  # the stress is in the input, not in the featurizers
    model = save_model(MultimodalSentimentClassifier(**options).fit(train, train["label"]), work / "model.joblib")
    posts = list(zip(test["text"], test["image"]))
    hostile = hostile_files(work / "hostile")
    results = []
    for size in (n // 10, n):
        manifest = work / f"posts-{size}.csv"
        kinds = build_manifest(posts, size, hostile, manifest, seed)
        seconds, peak_mb, stderr = predict(model, manifest, work / f"predictions-{size}.csv")
        predicted = pd.read_csv(work / f"predictions-{size}.csv", keep_default_na=False)["prediction"]
        listed = listed_rows(stderr)
        error_rows = {row for row, kind in enumerate(kinds) if kind in hostile}
        good = np.flatnonzero(kinds == "good")
        good_manifest = work / f"good-{size}.csv"
        pd.read_csv(manifest, keep_default_na=False).iloc[good].to_csv(good_manifest, index=False)
        _, _, _ = predict(model, good_manifest, work / f"good-predictions-{size}.csv")
        alone = pd.read_csv(work / f"good-predictions-{size}.csv", keep_default_na=False)["prediction"]
        fallback = np.flatnonzero(np.isin(kinds, list(FALLBACK_TEXTS)))
        reasons = {}
        for row, (column, reason) in sorted(listed.items()):
            reasons.setdefault(kinds[row], f"({column}) {re.sub(str(work), '...', reason)}")
        results.append({
            "posts": size,
            "hostile_rows": int((kinds != "good").sum()),
            "seconds": seconds,
            "posts_per_s": size / seconds,
            "peak_rss_mb": peak_mb,
            "good_rows_equal_alone": bool((predicted.iloc[good].to_numpy() == alone.to_numpy()).all()),
            "error_rows_listed_exactly": set(listed) == error_rows,
            "error_rows": len(error_rows),
            "listed_rows": len(listed),
            "fallback_rows_predicted": bool((predicted.iloc[fallback] != "").all()),
            "reasons": reasons,
        })
        print(f"{size} posts: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB, {len(listed)} listed", flush=True)
    return results


def render(results):
    lines = [
        "# Hostile input: 1% bad rows of every kind through `mmsent predict --on-error skip`",
        "",
        f"Run {results['date']} on {results['machine']} (`python benchmarks/bench_hostile.py`). The demo's test posts "
        "repeated, a `concat` model on hand-crafted features, 1% of the rows hostile (kinds below, in turn). "
        "Peak RSS is the whole `mmsent predict` process's.",
        "",
        *table(
            ["posts", "hostile rows", "seconds", "posts/s", "peak RSS (MB)", "good rows = predict on them alone",
             "bad rows listed exactly", "fallback rows predicted"],
            [[r["posts"], r["hostile_rows"], f"{r['seconds']:.1f}", f"{r['posts_per_s']:.0f}",
              f"{r['peak_rss_mb']:.0f}", r["good_rows_equal_alone"],
              f"{r['error_rows_listed_exactly']} ({r['listed_rows']} of {r['error_rows']})",
              r["fallback_rows_predicted"]] for r in results["runs"]],
        ),
        "",
        "What each kind of bad row gets (largest run):",
        "",
        *table(["kind", "listed reason"], sorted(results["runs"][-1]["reasons"].items())),
        "",
        f"Fallback kinds, predicted and not listed: {', '.join(results['fallback_kinds'])}.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs = run(args.n, args.seed, Path(scratch))
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end",
        "fallback_kinds": list(FALLBACK_TEXTS),
        "runs": runs,
    }
    print(write_results("hostile", results, render))


if __name__ == "__main__":
    main()
