"""Accuracy as images go missing at predict time: from the fused score to the text-only score.

Fits each fusion on posts that all have their image, then predicts held-out posts
with 0%, 10%, 50% and 100% of their images removed (set to None; the same random
posts for every fusion). Runs on the embedded demo and, when ``../shared/data/mvsa_single``
exists, on MVSA-Single (fit on train, score on dev). Prints the tables and writes
``benchmarks/results/missing_modality.json`` and ``.md``.

    python benchmarks/bench_missing.py [--n 2000] [--seed 0]
"""

import argparse
import time

import numpy as np
import pandas as pd
from _common import SHARED, table, write_results
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from mmsent import MultimodalSentimentClassifier
from mmsent.datasets import load_demo
from mmsent.text import make_text_features

MVSA = SHARED / "mvsa_single"
FRACTIONS = (0.0, 0.1, 0.5, 1.0)
FUSIONS = ("concat", "vote", "stack")


def without_images(X, fraction, seed):
    X = X.astype({"image": object})
    gone = np.random.default_rng(seed).choice(len(X), int(round(fraction * len(X))), replace=False)
    X.iloc[gone, X.columns.get_loc("image")] = None
    return X


def curve(train, y_train, test, y_test, seed, text_features=None):
    """Rows of model, share of images missing, accuracy, macro-F1 and predict seconds."""
    text = MultimodalSentimentClassifier(fusion="text", text_features=text_features).fit(train, y_train)
    predicted = text.predict(test)
    rows = [{
        "model": "text only", "images_missing": None, "accuracy": accuracy_score(y_test, predicted),
        "macro_f1": f1_score(y_test, predicted, average="macro"), "predict_s": None,
    }]
    for fusion in FUSIONS:
        clf = MultimodalSentimentClassifier(fusion=fusion, text_features=text_features).fit(train, y_train)
        for fraction in FRACTIONS:
            posts = without_images(test, fraction, seed)
            start = time.perf_counter()
            predicted = clf.predict(posts)
            seconds = time.perf_counter() - start
            rows.append({
                "model": fusion, "images_missing": fraction, "accuracy": accuracy_score(y_test, predicted),
                "macro_f1": f1_score(y_test, predicted, average="macro"), "predict_s": seconds,
            })
            print(f"  {fusion:>6} {fraction:>4.0%} images missing: accuracy {rows[-1]['accuracy']:.3f}", flush=True)
    return rows


def curve_table(rows):
    cells = [
        [
            row["model"],
            "-" if row["images_missing"] is None else f"{row['images_missing']:.0%}",
            f"{row['accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            "-" if row["predict_s"] is None else f"{row['predict_s']:.3f}",
        ]
        for row in rows
    ]
    return table(["model", "images missing", "accuracy", "macro_f1", "predict_s"], cells)


def demo_curve(n, seed):
    posts = load_demo(n, seed=seed)
    train, test = train_test_split(posts, test_size=0.25, stratify=posts["label"], random_state=seed)
    print(f"demo: {len(train)} train / {len(test)} test posts")
    return curve(train, train["label"], test, test["label"], seed)


def read_mvsa(split):
    labels = pd.read_csv(MVSA / "labels.csv")
    labels = labels[labels["split"] == split]
    return pd.DataFrame(
        {
            # Raw bytes: about a quarter are GBK, decoded by the text branch's UTF-8 → GBK → latin-1 chain.
            "text": [(MVSA / "texts" / f"{i}.txt").read_bytes() for i in labels["id"]],
            "image": [str(MVSA / "images" / f"{i}.jpg") for i in labels["id"]],
        }
    ), labels["label"].to_numpy()


def mvsa_curve(seed):
    train, y_train = read_mvsa("train")
    dev, y_dev = read_mvsa("dev")
    print(f"MVSA-Single: {len(train)} train / {len(dev)} dev posts")
    text_features = make_text_features().set_params(clean__encodings=("utf-8", "gbk", "latin-1"))
    return curve(train, y_train, dev, y_dev, seed, text_features=text_features)


def render(results):
    """``missing_modality.md`` from ``missing_modality.json``."""
    lines = [
        "# Accuracy with images missing at predict time",
        "",
        "Models fitted on posts with images; held-out posts with a random share of images removed "
        f"(seed {results['seed']}).",
        "",
        f"## Demo (load_demo n={results['demo']['n']}, stratified 75/25 split)",
        "",
        *curve_table(results["demo"]["rows"]),
    ]
    if "mvsa_single" in results:
        lines += ["", "## MVSA-Single (fit on train, scored on dev)", "", *curve_table(results["mvsa_single"]["rows"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="demo posts (default: 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = {"seed": args.seed, "demo": {"n": args.n, "rows": demo_curve(args.n, args.seed)}}
    if MVSA.is_dir():
        results["mvsa_single"] = {"rows": mvsa_curve(args.seed)}
    else:
        print(f"skipping MVSA-Single: {MVSA} not found")
    print(write_results("missing_modality", results, render))


if __name__ == "__main__":
    main()
