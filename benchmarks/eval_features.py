"""MVSA-Single dev scores with the transfer features: HOG vs CNN images, TF-IDF vs TF-IDF + lexicon text, fusions.

Fits on ``train``, scores on ``dev`` (both read in place from ``../shared/data/mvsa_single``;
skipped with a message when it is absent). Needs the ``cnn`` and ``lexicon`` extras.
CNN embeddings come from the on-disk cache after the first run (4k images: about two
minutes on two busy cores the first time). Writes ``benchmarks/results/features.json`` and ``.md``.

    python benchmarks/eval_features.py
"""

import argparse
import sys
import time
import warnings

from _common import SHARED, table, write_results

from mmsent import MultimodalSentimentClassifier
from mmsent.datasets import load_mvsa
from mmsent.evaluation import compare_fusions
from mmsent.image import make_image_features
from mmsent.text import make_text_features

MVSA = SHARED / "mvsa_single"
COLUMNS = ["features", "fusion", "class_weight", "accuracy", "macro_f1", "weighted_f1", "text_share", "image_share"]


def text_branch(lexicon):
    return make_text_features(lexicon=lexicon)


def runs(class_weight):
    """(features description, fusions, estimator) of every comparison."""
    def model(text, image, **params):
        return MultimodalSentimentClassifier(
            text_features=text, image_features=image, class_weight=class_weight, **params
        )

    hog, cnn = make_image_features(), make_image_features(cnn=True, handcrafted=False)
    both = make_image_features(cnn=True)
    return [
        ("text: TF-IDF", ["text"], model(text_branch(False), hog)),
        ("text: TF-IDF + lexicon", ["text"], model(text_branch(True), hog)),
        ("image: HOG + colour", ["image"], model(text_branch(False), hog)),
        ("image: CNN", ["image"], model(text_branch(False), cnn)),
        ("image: HOG + colour + CNN", ["image"], model(text_branch(False), both)),
        ("TF-IDF + HOG/colour (baseline features)", ["concat", "stack"], model(text_branch(False), hog)),
        ("TF-IDF + lexicon, CNN", ["concat", "vote", "stack"], model(text_branch(True), cnn)),
        ("TF-IDF + lexicon, HOG/colour + CNN", ["concat", "stack"], model(text_branch(True), both)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-weight", choices=["none", "balanced", "both"], default="both")
    args = parser.parse_args()
    if not MVSA.is_dir():
        print(f"skipped: MVSA-Single is not at {MVSA}")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader lists the GBK texts it decoded: known, and expected
        posts = load_mvsa(MVSA)
    train, dev = posts[posts["split"] == "train"], posts[posts["split"] == "dev"]
    y_train, y_dev = train["label"].to_numpy(), dev["label"].to_numpy()
    weights = {"none": [None], "balanced": ["balanced"], "both": [None, "balanced"]}[args.class_weight]
    rows = []
    for class_weight in weights:
        for features, fusions, estimator in runs(class_weight):
            start = time.perf_counter()
            scores_by_fusion = compare_fusions(train, y_train, dev, y_dev, fusions=fusions, estimator=estimator)
            for fusion, scores in scores_by_fusion.iterrows():
                rows.append({"features": features, "fusion": fusion, "class_weight": class_weight or "none",
                             **scores.to_dict()})
                print(f"{features:45} {fusion:7} {class_weight or 'none':9} acc {scores['accuracy']:.3f} "
                      f"macro-F1 {scores['macro_f1']:.3f} weighted-F1 {scores['weighted_f1']:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    results = {
        "n_train": len(train),
        "n_dev": len(dev),
        "always_positive_dev_accuracy": float((y_dev == "positive").mean()),
        "rows": [{c: row[c] for c in COLUMNS} for row in rows],
    }
    print(write_results("features", results, render))


def render(results):
    """``features.md`` from ``features.json``."""
    cells = [[f"{row[c]:.3f}" if isinstance(row[c], float) else row[c] for c in COLUMNS] for row in results["rows"]]
    lines = [
        "# MVSA-Single dev: transfer features",
        "",
        f"Fit on train ({results['n_train']} posts), scored on dev ({results['n_dev']}); LinearSVC, C=1, default "
        "parameters otherwise.",
        f"Always predicting positive scores {results['always_positive_dev_accuracy']:.3f} accuracy on dev.",
        "",
        *table(COLUMNS, cells),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
