"""Accuracy as images go missing at predict time: from the fused score to the text-only score.

Fits each fusion on posts that all have their image, then predicts held-out posts
with 0%, 10%, 50% and 100% of their images removed (set to None; the same random
posts for every fusion). Runs on the embedded demo and, when ``../shared/data/mvsa_single``
exists, on MVSA-Single (fit on train, score on dev). Prints the tables and writes
them to ``benchmarks/results/missing_modality.md``.

    python benchmarks/bench_missing.py [--n 2000] [--seed 0]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from mmsent import MultimodalSentimentClassifier
from mmsent.datasets import load_demo
from mmsent.text import make_text_features

ROOT = Path(__file__).resolve().parent.parent
MVSA = ROOT.parent / "shared" / "data" / "mvsa_single"
RESULTS = Path(__file__).resolve().parent / "results" / "missing_modality.md"
FRACTIONS = (0.0, 0.1, 0.5, 1.0)
FUSIONS = ("concat", "vote", "stack")


def without_images(X, fraction, seed):
    X = X.astype({"image": object})
    gone = np.random.default_rng(seed).choice(len(X), int(round(fraction * len(X))), replace=False)
    X.iloc[gone, X.columns.get_loc("image")] = None
    return X


def curve(train, y_train, test, y_test, seed, text_features=None):
    """Rows of (model, missing %, accuracy, macro-F1, predict seconds)."""
    rows = []
    text = MultimodalSentimentClassifier(fusion="text", text_features=text_features).fit(train, y_train)
    predicted = text.predict(test)
    rows.append(("text only", "-", accuracy_score(y_test, predicted), f1_score(y_test, predicted, average="macro"), None))
    for fusion in FUSIONS:
        clf = MultimodalSentimentClassifier(fusion=fusion, text_features=text_features).fit(train, y_train)
        for fraction in FRACTIONS:
            posts = without_images(test, fraction, seed)
            start = time.perf_counter()
            predicted = clf.predict(posts)
            seconds = time.perf_counter() - start
            rows.append((
                fusion,
                f"{fraction:.0%}",
                accuracy_score(y_test, predicted),
                f1_score(y_test, predicted, average="macro"),
                seconds,
            ))
            print(f"  {fusion:>6} {fraction:>4.0%} images missing: accuracy {rows[-1][2]:.3f}", flush=True)
    return pd.DataFrame(rows, columns=["model", "images missing", "accuracy", "macro_f1", "predict_s"])


def as_markdown(table):
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) and not np.isnan(v) else ("-" if v is None or v != v else str(v))
                 for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="demo posts (default: 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sections = [
        "# Accuracy with images missing at predict time",
        "",
        f"Models fitted on posts with images; held-out posts with a random share of images removed (seed {args.seed}).",
        "",
        f"## Demo (load_demo n={args.n}, stratified 75/25 split)",
        "",
        as_markdown(demo_curve(args.n, args.seed)),
    ]
    if MVSA.is_dir():
        sections += ["", "## MVSA-Single (fit on train, scored on dev)", "", as_markdown(mvsa_curve(args.seed))]
    else:
        print(f"skipping MVSA-Single: {MVSA} not found")
    report = "\n".join(sections) + "\n"
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
