"""The fusions beyond concat / vote / stack: intermediate (a shared space), gated (per-post weights), multi-task,
and cross-modal retrieval.

- MVSA-Single (fit on train, scored on dev; read in place from ``../shared/data/mvsa_single``, skipped with a
  message when absent): accuracy / macro-F1 / weighted-F1 and fit seconds of ``intermediate`` (CCA and PLS),
  ``gated`` and, where per-modality labels exist, ``multitask``, beside ``concat`` and ``stack`` with the same
  features (TF-IDF + lexicon, CNN embeddings: the best of ``features.md``); then text -> image and
  image -> text retrieval among the 450 dev pairs, CCA vs PLS vs no projection.
- The embedded demo (a stratified 75/25 split, as ``make demo``): the same fusions with the default features,
  ``multitask`` learning the sticker's own sentiment (``sticker_sentiment``), and the gate's weights per
  sticker sentiment on the test posts.

Needs the ``cnn``, ``lexicon`` and ``demo`` extras. Writes ``benchmarks/results/fusions.json`` and ``.md``.

    python benchmarks/bench_fusions.py [--skip-mvsa] [--skip-demo] [--skip-retrieval]
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from _common import RESULTS, SHARED, table, write_results
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from mmsent import MultimodalSentimentClassifier
from mmsent.datasets import load_demo, load_mvsa
from mmsent.evaluation import compare_fusions
from mmsent.fusion import CrossModalProjector
from mmsent.image import make_image_features
from mmsent.retrieval import CrossModalIndex, pair_ranks, retrieval_scores
from mmsent.text import make_text_features

# A checkout elsewhere than beside ../shared (a git worktree) names the folder in MVSA_SINGLE.
MVSA = Path(os.environ.get("MVSA_SINGLE", SHARED / "mvsa_single"))
SCORE_COLUMNS = ["model", "accuracy", "macro_f1", "weighted_f1", "fit_s", "fit_vs_stack", "text_share", "image_share"]
# (row name, fusion, extra parameters): the same features for every row.
MODELS = [
    ("concat", "concat", {}),
    ("stack", "stack", {}),
    ("intermediate (CCA, 16)", "intermediate", {"projection": "cca"}),
    ("intermediate (PLS, 16)", "intermediate", {"projection": "pls"}),
    ("gated", "gated", {}),
    ("multitask", "multitask", {}),
]
RETRIEVAL = [("cca", 16, 128), ("pls", 16, 128), ("none", 16, 128), ("cca", 64, 256), ("pls", 64, 256),
             ("none", 64, 256)]


def score_models(train, y_train, test, y_test, template, task_columns):
    """A row per model of MODELS; multitask only where ``task_columns`` (its label columns) exist."""
    rows = []
    for name, fusion, params in MODELS:
        if fusion == "multitask" and not task_columns:
            continue
        estimator = clone(template).set_params(**params, **(task_columns if fusion == "multitask" else {}))
        scores = compare_fusions(train, y_train, test, y_test, fusions=[fusion], estimator=estimator).iloc[0]
        rows.append({"model": name, **{key: float(value) for key, value in scores.items()}})
        print(f"  {name:24} acc {scores['accuracy']:.3f} macro-F1 {scores['macro_f1']:.3f} "
              f"weighted-F1 {scores['weighted_f1']:.3f} fit {scores['fit_s']:.0f} s", flush=True)
    stack = next(row["fit_s"] for row in rows if row["model"] == "stack")
    for row in rows:
        row["fit_vs_stack"] = row["fit_s"] / stack
    return rows


def mvsa(skip_retrieval):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader lists the GBK texts it decoded: known, and expected
        posts = load_mvsa(MVSA)
    train, dev = posts[posts["split"] == "train"], posts[posts["split"] == "dev"]
    labelled = posts[["text_label", "image_label"]].notna().any(axis=None)
    print(f"MVSA-Single: {len(train)} train, {len(dev)} dev; per-modality labels: {bool(labelled)}", flush=True)
    template = MultimodalSentimentClassifier(
        text_features=make_text_features(lexicon=True), image_features=make_image_features(cnn=True, handcrafted=False)
    )
    task_columns = {"text_label_column": "text_label", "image_label_column": "image_label"} if labelled else {}
    result = {
        "n_train": len(train),
        "n_dev": len(dev),
        "per_modality_labels": bool(labelled),
        "always_positive_dev_accuracy": float((dev["label"] == "positive").mean()),
        "rows": score_models(train, train["label"].to_numpy(), dev, dev["label"].to_numpy(), template, task_columns),
    }
    if not skip_retrieval:
        result["retrieval"] = retrieval(train, dev)
    return result


def retrieval(train, dev):
    """Recall@K of every projection among the dev pairs, both directions."""
    rows = []
    for method, n_components, svd_components in RETRIEVAL:
        index = CrossModalIndex(
            make_text_features(),
            make_image_features(cnn=True, handcrafted=False),
            projector=CrossModalProjector(method, n_components=n_components, svd_components=svd_components),
        )
        start = time.perf_counter()
        index.fit(train)
        fit_s = time.perf_counter() - start
        scores = retrieval_scores(pair_ranks(index, dev))
        for direction, row in scores.iterrows():
            rows.append({"projection": method, "n_components": n_components, "svd_components": svd_components,
                         "direction": direction, **{k: float(v) for k, v in row.items()}, "fit_s": fit_s})
            print(f"  {method:4} {n_components:3}/{svd_components:3} {direction:13} R@1 {row['recall@1']:.3f} "
                  f"R@5 {row['recall@5']:.3f} R@10 {row['recall@10']:.3f} median rank {row['median_rank']:.0f} "
                  f"(fit {fit_s:.0f} s)", flush=True)
    return rows


def demo(n=3000, n_classes=2, seed=0):
    posts = load_demo(n=n, n_classes=n_classes, seed=seed)
    train, test = train_test_split(posts, test_size=0.25, stratify=posts["label"], random_state=seed)
    print(f"Demo, {n_classes} classes: {len(train)} train, {len(test)} test", flush=True)
    template = MultimodalSentimentClassifier()
    rows = score_models(train, train["label"].to_numpy(), test, test["label"].to_numpy(), template,
                        {"image_label_column": "sticker_sentiment"})
    gated = MultimodalSentimentClassifier(fusion="gated").fit(train, train["label"])
    weights = gated.modality_weights(test).assign(sticker=test["sticker_sentiment"].to_numpy())
    by_sticker = weights.groupby("sticker")[["text", "image"]].agg(["mean", "std"])
    agrees = test["sticker_sentiment"].to_numpy() == test["label"].to_numpy()
    return {
        "n_classes": n_classes,
        "n_train": len(train),
        "n_test": len(test),
        "rows": rows,
        "gate_by_sticker": [
            {"sticker_sentiment": sticker, "n": int((weights["sticker"] == sticker).sum()),
             "text_weight": float(by_sticker.at[sticker, ("text", "mean")]),
             "text_weight_std": float(by_sticker.at[sticker, ("text", "std")])}
            for sticker in by_sticker.index
        ],
        "gate_text_weight_when_sticker_agrees": float(weights["text"][agrees].mean()),
        "gate_text_weight_when_sticker_disagrees": float(weights["text"][~agrees].mean()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mvsa", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 3], help="demo runs: 2 and/or 3 classes")
    args = parser.parse_args()
    # Each part replaces its own entry: a run of some parts keeps the others' measurements.
    previous = RESULTS / "fusions.json"
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    if args.skip_mvsa or not MVSA.is_dir():
        print("MVSA-Single skipped" + ("" if args.skip_mvsa else f": it is not at {MVSA}"))
    else:
        results["mvsa"] = mvsa(args.skip_retrieval)
    if not args.skip_demo:
        for n_classes in args.classes:
            results[f"demo_{n_classes}"] = demo(n_classes=n_classes)
    print(write_results("fusions", results, render))


def _cells(rows, columns):
    return [[f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns] for row in rows]


def render(results):
    """``fusions.md`` from ``fusions.json``."""
    lines = ["# Intermediate, gated and multi-task fusion; cross-modal retrieval", ""]
    if "mvsa" in results:
        m = results["mvsa"]
        lines += [
            "## MVSA-Single dev",
            "",
            f"Fit on train ({m['n_train']} posts), scored on dev ({m['n_dev']}); text: TF-IDF + lexicon, image: "
            "CNN embeddings, LinearSVC (C=1) in every model. Always predicting positive scores "
            f"{m['always_positive_dev_accuracy']:.3f} accuracy. `fit_vs_stack`: fit seconds over stack's.",
            "",
            *table(SCORE_COLUMNS, _cells(m["rows"], SCORE_COLUMNS)),
            "",
        ]
        if not m["per_modality_labels"]:
            lines += [
                "No `multitask` row: these (CLMLF) labels are post labels only; MVSA's original `labelResult.txt` "
                "has the per-modality labels multitask learns from.",
                "",
            ]
        if "retrieval" in m:
            columns = ["projection", "n_components", "svd_components", "direction", "recall@1", "recall@5",
                       "recall@10", "median_rank", "random_recall@10", "fit_s"]
            lines += [
                "### Retrieval among the dev pairs",
                "",
                "Each dev text queries the dev images (and each image the texts) in a space fitted on the train "
                "pairs (TF-IDF and CNN embeddings, each reduced by TruncatedSVD to `svd_components`). "
                "`none`: each block's own first SVD directions, unaligned.",
                "",
                *table(columns, _cells(m["retrieval"], columns)),
                "",
            ]
    for d in (results[key] for key in ("demo_2", "demo_3") if key in results):
        gate_columns = ["sticker_sentiment", "n", "text_weight", "text_weight_std"]
        neutral = (
            "" if d["n_classes"] == 2
            else " A third of the posts are neutral: their review has either polarity and only the sticker, "
            "neutral with probability 0.7, can tell them apart."
        )
        lines += [
            f"## Demo data, {d['n_classes']} classes",
            "",
            f"Fit on {d['n_train']} posts, scored on {d['n_test']}; default features (TF-IDF, HOG + colour). "
            "`multitask` learns the sticker's own sentiment (`sticker_sentiment`) as an auxiliary task." + neutral,
            "",
            *table(SCORE_COLUMNS, _cells(d["rows"], SCORE_COLUMNS)),
            "",
            "Gated fusion's text weight on the test posts, by the sentiment of their sticker (image weight = 1 - "
            "text weight):",
            "",
            *table(gate_columns, _cells(d["gate_by_sticker"], gate_columns)),
            "",
            f"Mean text weight where the sticker's sentiment is the post's: "
            f"{d['gate_text_weight_when_sticker_agrees']:.3f}; where it is not: "
            f"{d['gate_text_weight_when_sticker_disagrees']:.3f}.",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
