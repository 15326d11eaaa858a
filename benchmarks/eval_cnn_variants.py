"""EfficientNet-Lite0 vs Lite1 vs Lite2 image embeddings on MVSA-Single: CV inside train, then dev once; speed.

For each variant whose weights package is installed, the default pretrained model with that
variant's embeddings (``MultimodalSentimentClassifier(fusion=...)`` with
``make_image_features(cnn=True, handcrafted=False, cnn_model=...)``; Lite0's row is the
library's default itself), in the ``concat`` (default) and ``image`` fusions: stratified 5-fold CV
inside ``train`` (the folds of ``eval_presets.py``), then fit on all of ``train`` and scored once on
``dev``. The variant is chosen by CV alone (concat rows, the rule of ``eval_presets.py``: the mean of
CV accuracy and CV macro-F1); dev chooses nothing. Then each variant's throughput: the dev JPEGs
embedded end to end (read, decode, crop, network) with no embedding cache, 2 threads, median of 3.
Writes ``results/cnn_variants.{json,md}``.

    python benchmarks/eval_cnn_variants.py [--data ../shared/data] [--repeats 3]
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from _common import SHARED, rate, table, timed, write_results
from eval_presets import FOLDS, SCORING, SEED, cv_and_dev, mvsa_splits, rank_key

import mmsent
from mmsent import MultimodalSentimentClassifier
from mmsent.image import CNNEmbedder, CNNUnavailableError, cnn_weights_path, make_image_features
from mmsent.image._cnn import VARIANTS

FUSIONS = ("concat", "image")
METRICS = list(SCORING)
BASE = "lite0"  # the library's default
THREADS, BATCH = 2, 32


def model(variant, fusion):
    """The default pretrained model in ``fusion`` with ``variant``'s embeddings; Lite0's is the default as shipped."""
    if variant == BASE:
        return MultimodalSentimentClassifier(fusion=fusion)
    return MultimodalSentimentClassifier(
        fusion=fusion, image_features=make_image_features(cnn=True, handcrafted=False, cnn_model=variant)
    )


def throughput(variant, paths, repeats):
    """Images per second of ``variant`` embedding ``paths`` with no cache; the load around the runs."""
    embedder = CNNEmbedder(model=variant, cache_dir=None, n_threads=THREADS, batch_size=BATCH).fit()
    embedder.transform(paths[:BATCH])  # the session made, the files in the page cache: not timed
    load_before = os.getloadavg()
    timing, _ = timed(lambda: embedder.transform(paths), repeats)
    return {
        "images": len(paths), "repeats": repeats, "timing": timing, "images_per_s": rate(timing, len(paths)),
        # CPU time over the cores this used: what it would reach with them to itself.
        "images_per_s_free_cores": len(paths) * THREADS / timing["cpu"],
        "load_before": load_before, "load_after": os.getloadavg(),
    }


def installed_size_mb(variant):
    """On-disk size of the variant's weights package folder, in MB."""
    folder = cnn_weights_path(variant).parents[1]
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED, help=f"the shared data folder (default: {SHARED})")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median)")
    args = parser.parse_args(argv)
    if not (args.data / "mvsa_single").is_dir():
        print(f"eval_cnn_variants: skipped: MVSA-Single is not at {args.data / 'mvsa_single'}")
        return 0
    train, dev = mvsa_splits(args.data)
    variants = {}
    for variant in VARIANTS:
        try:
            cnn_weights_path(variant)
        except CNNUnavailableError as exc:
            print(f"{variant}: skipped ({exc})")
            continue
        row = {"crop": VARIANTS[variant].crop, "weights_mb": installed_size_mb(variant), "fusions": {}}
        for fusion in FUSIONS:
            start = time.perf_counter()
            row["fusions"][fusion] = found = cv_and_dev(model(variant, fusion), train, dev)
            print(f"{variant} {fusion:6} CV acc {found['cv']['accuracy']:.4f} mF1 {found['cv']['macro_f1']:.4f} | "
                  f"dev acc {found['dev']['accuracy']:.4f} mF1 {found['dev']['macro_f1']:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        variants[variant] = row
    for variant, row in variants.items():
        row["throughput"] = throughput(variant, dev["image"].tolist(), args.repeats)
        print(f"{variant}: {row['throughput']['images_per_s']['median']:.1f} img/s", flush=True)
    results = {
        "mmsent": mmsent.__version__, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
        "cores": os.cpu_count(), "n_train": len(train), "n_dev": len(dev), "folds": FOLDS, "seed": SEED,
        "threads": THREADS, "batch": BATCH,
        "chosen": max(variants, key=lambda name: rank_key(variants[name]["fusions"]["concat"]["cv"])),
        "variants": variants,
    }
    print(write_results("cnn_variants", results, render))
    return 0


def _pct(value):
    return f"{100 * value:.1f}"


def _verdict(results):
    """Whether the CV's choice beats Lite0 beyond the spread of its paired fold differences and holds on dev."""
    chosen, rows = results["chosen"], results["variants"]
    if chosen == BASE:
        return f"The CV chooses `{BASE}`, the library's default."
    new, base = rows[chosen]["fusions"]["concat"], rows[BASE]["fusions"]["concat"]
    parts, beyond, holds = [], True, True
    for metric in ("accuracy", "macro_f1"):
        differences = np.subtract(new["cv_folds"][metric], base["cv_folds"][metric])
        dev = new["dev"][metric] - base["dev"][metric]
        beyond &= bool(differences.mean() > differences.std())
        holds &= dev >= 0
        parts.append(f"CV {metric} {100 * differences.mean():+.1f} points (paired folds' spread "
                     f"±{100 * differences.std():.1f}), dev {100 * dev:+.1f}")
    if beyond and holds:
        conclusion = f"`{chosen}` wins beyond the folds' spread and does not lose on dev."
    else:
        why = [] if beyond else ["its CV margin is within the spread of the paired folds"]
        why += [] if holds else ["it loses on dev"]
        conclusion = f"`{BASE}` stays the default: " + " and ".join(why) + "."
    return f"The CV (concat) chooses `{chosen}`; against `{BASE}`: " + "; ".join(parts) + ". " + conclusion


def render(results):
    """``cnn_variants.md`` from ``cnn_variants.json``."""
    columns = ["variant", "crop px", "fusion", *(f"CV {m} %" for m in METRICS), *(f"dev {m} %" for m in METRICS)]
    cells = [
        [f"**{name}** (chosen)" if name == results["chosen"] and fusion == "concat" else name, row["crop"], fusion,
         *(f"{_pct(found['cv'][m])} ± {_pct(found['cv_std'][m])}" for m in METRICS),
         *(_pct(found["dev"][m]) for m in METRICS)]
        for name, row in results["variants"].items()
        for fusion, found in row["fusions"].items()
    ]
    speed_columns = ["variant", "crop px", "images/s (median, min-max)", "images/s if the cores were free",
                     "load average before → after", "weights package MB"]
    speed = [
        [name, row["crop"],
         f"{row['throughput']['images_per_s']['median']:.1f} ({row['throughput']['images_per_s']['min']:.1f}-"
         f"{row['throughput']['images_per_s']['max']:.1f})",
         f"{row['throughput']['images_per_s_free_cores']:.1f}",
         f"{row['throughput']['load_before'][0]:.2f} → {row['throughput']['load_after'][0]:.2f}",
         f"{row['weights_mb']:.1f}"]
        for name, row in results["variants"].items()
    ]
    first = next(iter(results["variants"].values()))["throughput"]
    return "\n".join([
        "# EfficientNet-Lite variants as the image embeddings (MVSA-Single)",
        "",
        f"mmsent {results['mmsent']}, measured {results['date']} on {results['machine']}, {results['cores']} cores, "
        "by `python benchmarks/eval_cnn_variants.py`.",
        "",
        f"## {results['folds']}-fold stratified CV inside train ({results['n_train']} posts), then dev "
        f"({results['n_dev']})",
        "",
        "Each row is `MultimodalSentimentClassifier(fusion=...)` (LinearSVC, C=1) with that variant's embeddings "
        "(`make_image_features(cnn=True, handcrafted=False, cnn_model=...)`; lite0's row is the default as "
        f"shipped). CV folds are those of `eval_presets.py` (seed {results['seed']}). The variant is chosen on the "
        "concat rows by the mean of CV accuracy and CV macro-F1, fixed before any dev score was seen; each dev "
        "score is computed once, after its CV, and chooses nothing.",
        "",
        *table(columns, cells),
        "",
        _verdict(results),
        "",
        "## Throughput",
        "",
        f"The {first['images']} dev JPEGs embedded end to end (read, decode, resize, crop, network) by "
        f"`CNNEmbedder(model=..., cache_dir=None, n_threads={results['threads']}, batch_size={results['batch']})`, "
        f"median of {first['repeats']} runs (min-max). The wall-clock rates depend on the load shown; the column "
        "'if the cores were free' is the images over the process's CPU time, times the threads.",
        "",
        *table(speed_columns, speed),
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
