"""Beyond memory: streaming predict at growing sizes, out-of-core training, its accuracy cost, and Dask.

Writes ``benchmarks/results/scale.{json,md}`` (``make bench-scale``). The posts are built from the demo
data (``write_demo``): each one is a demo post whose text carries its row number (so that no two texts
are alike) and whose image is one of ``2 x chunk_size`` copies of the demo's stickers under their own
names (so that no chunk holds an image twice). mmsent clears its token and decoded-image caches after
each chunk: no post is served from a cache. Every run is a fresh process; memory is the growth of its
resident set over what it was once the model was loaded, jieba's dictionary read and one post featurized
(VmHWM, reset before the run, minus VmRSS before it).

    python benchmarks/bench_scale.py                       # everything (1M posts: long on 2 cores)
    python benchmarks/bench_scale.py --sizes 10000 100000  # streaming sizes
    python benchmarks/bench_scale.py --only predict dask   # some parts: predict, train, accuracy, dask
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, SHARED, table, write_results

CHUNK = 10_000
SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
TRAIN_SIZE = 1_000_000
DASK_SIZE = 100_000
DASK_CHUNKS = (10_000, 2_000)


# -- data ----------------------------------------------------------------------------------


def build_data(folder, sizes):
    """A model trained on the demo's train split, and one manifest per size; returns their paths."""
    import pandas as pd

    from mmsent import MultimodalSentimentClassifier, save_model
    from mmsent.datasets import read_manifest, write_demo

    demo = write_demo(folder / "demo", 3000)
    train = read_manifest(demo["train"])
    model = save_model(MultimodalSentimentClassifier().fit(train, train["label"]), folder / "model.joblib")
    posts = pd.concat([train, read_manifest(demo["test"])], ignore_index=True)
    stickers = sorted(set(posts["image"]))
    (folder / "images").mkdir()
    copies = []
    for i in range(2 * CHUNK):  # a chunk of rows in order never meets the same file twice
        copy = folder / "images" / f"{i}.png"
        shutil.copyfile(stickers[i % len(stickers)], copy)
        copies.append(f"images/{i}.png")
    manifests = {}
    for n in sorted(set(sizes)):
        path = folder / f"posts_{n}.csv"
        with open(path, "w", encoding="utf-8", newline="") as file:
            for start in range(0, n, CHUNK):
                rows = range(start, min(start + CHUNK, n))
                block = posts.iloc[[row % len(posts) for row in rows]]
                pd.DataFrame(
                    {
                        "text": [f"{text} {row}" for text, row in zip(block["text"], rows)],
                        "image": [copies[row % len(copies)] for row in rows],
                        "label": block["label"].to_numpy(),
                    }
                ).to_csv(file, index=False, header=start == 0)
        manifests[n] = path
    return model, manifests, demo["test"]


# -- one measurement per process --------------------------------------------------------------


def _status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _warm_up():
    """Costs paid once per process whatever the data: jieba's dictionary, the image branch's first batch."""
    import numpy as np

    from mmsent.image import make_image_features
    from mmsent.text import JiebaTokenizer

    JiebaTokenizer()("预热")
    make_image_features().fit_transform([np.zeros((8, 8, 3), np.uint8)])


def _measured(run):
    """``run()``'s wall and CPU seconds (this process, all threads) and the peak memory growth while it ran (MB).

    CPU time hardly moves with the other jobs on the machine, wall time does.
    """
    _warm_up()
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the current RSS
    start, start_cpu = time.perf_counter(), time.process_time()
    result = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    stats = {"seconds": seconds, "cpu_s": cpu, "rss_before_mb": before, "peak_growth_mb": _status_mb("VmHWM") - before}
    return stats, result


def child_predict(model_path, manifest, n):
    from mmsent import load_model
    from mmsent.scale import predict_manifest

    model = load_model(model_path)
    out = Path(manifest).with_name(f"predictions_{n}.csv")
    stats, summary = _measured(lambda: predict_manifest(model, manifest, out, chunk_size=CHUNK, verbose=0))
    out.unlink()
    return {"n": summary.rows, "predicted": summary.predicted, **stats, "posts_per_s": summary.rows / stats["seconds"]}


def child_train(manifest, test_manifest):
    from mmsent.datasets import read_manifest
    from mmsent.scale import IncrementalSentimentClassifier, fit_manifest

    template = IncrementalSentimentClassifier(random_state=0)
    stats, model = _measured(lambda: fit_manifest(template, manifest, chunk_size=CHUNK, verbose=0))
    test = read_manifest(test_manifest)
    return {
        "n": model.n_samples_fit_,
        **stats,
        "posts_per_s": model.n_samples_fit_ / stats["seconds"],
        "demo_test_accuracy": float(model.score(test, test["label"])),
    }


def _echo(model, frame):
    """A partition's round trip without the work: a prediction column of the partition's length."""
    import pandas as pd

    return pd.DataFrame({"prediction": ["positive"] * len(frame)}, index=frame.index), []


def child_dask(model_path, manifest, chunk_size):
    """One process vs a LocalCluster of 2 worker processes on the same predict; and the per-partition overhead."""
    from mmsent import load_model
    from mmsent.datasets import iter_manifest
    from mmsent.scale import dask_client, predict_manifest
    from mmsent.scale._dask import map_chunks

    model = load_model(model_path)
    out = Path(manifest).with_name("predictions_dask.csv")
    local, _ = _measured(lambda: predict_manifest(model, manifest, out, chunk_size=chunk_size, verbose=0))
    start = time.perf_counter()
    with dask_client("local", n_workers=2) as client:
        client.run(_warm_up)
        started = time.perf_counter() - start
        remote, summary = _measured(
            lambda: predict_manifest(model, manifest, out, chunk_size=chunk_size, client=client, verbose=0)
        )
        chunks = list(iter_manifest(manifest, chunk_size))
        begin = time.perf_counter()
        for _ in map_chunks(client, _echo, model, iter(chunks)):
            pass
        echo = time.perf_counter() - begin
    out.unlink()
    parts = len(chunks)
    return {
        "n": summary.rows,
        "chunk_size": chunk_size,
        "partitions": parts,
        "one_process_s": local["seconds"],
        "one_process_cpu_s": local["cpu_s"],
        "client_cpu_s": remote["cpu_s"],
        "cluster_start_s": started,
        "dask_s": remote["seconds"],
        "speedup": local["seconds"] / remote["seconds"],
        "client_peak_growth_mb": remote["peak_growth_mb"],
        "echo_s": echo,
        "overhead_per_partition_s": echo / parts,
    }


def run_child(*args):
    result = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True, timeout=7200
    )
    if result.returncode:
        raise RuntimeError(f"child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- accuracy: out of core vs in memory -----------------------------------------------------------


def accuracy_rows():
    """5-fold CV on the deduplicated online_shopping reviews: LinearSVC on TF-IDF vs SGD on hashed n-grams."""
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    from mmsent import MultimodalSentimentClassifier
    from mmsent.scale import IncrementalSentimentClassifier

    path = SHARED / "zh_reviews" / "online_shopping_9_cats.csv"
    if not path.is_file():
        return {"skipped": f"{path} is absent"}
    reviews = pd.read_csv(path).dropna(subset=["review"])
    # One copy of each text, and none of a text filed under both labels.
    labels_per_text = reviews.groupby("review")["label"].nunique()
    reviews = reviews[reviews["review"].map(labels_per_text) == 1].drop_duplicates("review")
    X, y = reviews[["review"]].rename(columns={"review": "text"}).reset_index(drop=True), reviews["label"].to_numpy()
    models = {
        "in memory: TF-IDF + LinearSVC (C=1)": lambda: MultimodalSentimentClassifier("text"),
        "out of core: hashed n-grams + SGD hinge, 1 pass": lambda: IncrementalSentimentClassifier(
            "text", max_iter=1, random_state=0
        ),
        "out of core: hashed n-grams + SGD hinge, 5 passes": lambda: IncrementalSentimentClassifier(
            "text", max_iter=5, random_state=0
        ),
    }
    scores = {name: [] for name in models}
    seconds = {name: 0.0 for name in models}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        for name, make in models.items():
            start = time.perf_counter()
            scores[name].append(float(make().fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])))
            seconds[name] += time.perf_counter() - start
    return {
        "n_posts": len(X),
        "models": [
            {"model": name, "accuracy_mean": float(np.mean(s)), "accuracy_std": float(np.std(s)), "folds": s,
             "fit_predict_s": seconds[name]}
            for name, s in scores.items()
        ],
    }


# -- report ------------------------------------------------------------------------------------


def machine():
    import sklearn

    import mmsent

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "scikit-learn": sklearn.__version__,
        "mmsent": mmsent.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _load():
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _timed_run(*args):
    """One child run, stamped with when it ran and the load average (1/5/15 min) before and after it."""
    before = _load()
    run = run_child(*args)
    return {**run, "date": time.strftime("%Y-%m-%d %H:%M"), "load": f"{before} → {_load()}"}


def _merged(previous, runs, key):
    """``previous`` runs with ``runs`` in place of those of the same ``key``, sorted by it."""
    kept = {key(run): run for run in previous}
    kept.update({key(run): run for run in runs})
    return [kept[k] for k in sorted(kept)]


def render(results):
    lines = [
        "# Beyond memory: streaming, out-of-core training, Dask",
        "",
        f"Machine: {results['machine']['cpu_count']} cores, Python {results['machine']['python']}, "
        f"scikit-learn {results['machine']['scikit-learn']}. "
        "The cores were shared with other jobs: each run gives the load average (1, 5 and 15 min) before and "
        "after it, and timings move with it. Posts: demo posts with unique texts and stickers copied under "
        f"20,000 names (see `benchmarks/bench_scale.py`); chunks of {CHUNK:,} posts; concat fusion "
        "(TF-IDF + HOG + colour, LinearSVC) trained on the demo's train split. Memory: peak growth of the "
        "process's resident set over its size before the run (model loaded, jieba's dictionary read, one post "
        "featurized).",
        "",
    ]
    predict = results.get("predict")
    if predict:
        lines += ["## Streaming `predict_manifest`", ""]
        first = predict[0]
        rows = [
            [f"{run['n']:,}", f"{run['seconds']:.1f}", f"{run['posts_per_s']:.0f}",
             f"{run['posts_per_s'] / first['posts_per_s']:.2f}", f"{1000 * run['cpu_s'] / run['n']:.2f}",
             f"{run['cpu_s'] / run['n'] / (first['cpu_s'] / first['n']):.2f}", f"{run['peak_growth_mb']:.0f}",
             run["date"], run["load"]]
            for run in predict
        ]
        columns = ["posts", "seconds", "posts/s", "posts/s vs smallest", "CPU ms per post", "CPU per post vs smallest",
                   "peak RSS growth MB", "run", "load"]
        lines += [
            "Wall-clock throughput follows the load of the machine; the CPU time per post (this process, all its "
            "threads) is the cost of the work itself.",
            "",
            *table(columns, rows),
            "",
        ]
    train = results.get("train")
    if train:
        lines += [
            "## Out-of-core training (`fit_manifest`, `IncrementalSentimentClassifier`, one pass)",
            "",
            *table(
                ["posts", "seconds", "posts/s", "CPU ms per post", "peak RSS growth MB",
                 "accuracy on the demo test split", "run", "load"],
                [[f"{run['n']:,}", f"{run['seconds']:.0f}", f"{run['posts_per_s']:.0f}",
                  f"{1000 * run['cpu_s'] / run['n']:.2f}", f"{run['peak_growth_mb']:.0f}",
                  f"{run['demo_test_accuracy']:.3f}", run["date"], run["load"]]
                 for run in train],
            ),
            "",
        ]
    accuracy = results.get("accuracy")
    if accuracy:
        lines += ["## Accuracy cost: online_shopping_9_cats, 5-fold CV (text only)", ""]
        if "skipped" in accuracy:
            lines += [f"Skipped: {accuracy['skipped']}.", ""]
        else:
            lines += [
                f"{accuracy['n_posts']:,} reviews (deduplicated; texts filed under both labels dropped), "
                f"stratified 5-fold, seed 0; default parameters, none tuned on this data. Run {accuracy['date']}; "
                f"load average before → after: {accuracy['load']}.",
                "",
                *table(
                    ["model", "accuracy (mean ± std)", "fit + score, all folds (s)"],
                    [[m["model"], f"{m['accuracy_mean']:.4f} ± {m['accuracy_std']:.4f}", f"{m['fit_predict_s']:.0f}"]
                     for m in accuracy["models"]],
                ),
                "",
            ]
    dask = results.get("dask")
    if dask:
        lines += [
            "## Dask: LocalCluster (2 worker processes, 1 thread each) vs one process, same predict",
            "",
            "`echo`: the same partitions sent to the workers and a prediction column of their length sent back, "
            "with no work: what each partition costs beyond its work. Cluster start (2 processes, jieba's dictionary "
            "read) is not in the times.",
            "",
            *table(
                ["posts", "partitions", "one process s", "cluster s", "speed-up", "one process CPU s",
                 "client CPU s", "cluster start s", "echo s", "overhead per partition s", "client peak RSS growth MB",
                 "run", "load"],
                [[f"{r['n']:,}", r["partitions"], f"{r['one_process_s']:.1f}", f"{r['dask_s']:.1f}",
                  f"{r['speedup']:.2f}", f"{r['one_process_cpu_s']:.1f}", f"{r['client_cpu_s']:.1f}",
                  f"{r['cluster_start_s']:.1f}", f"{r['echo_s']:.2f}", f"{r['overhead_per_partition_s']:.3f}",
                  f"{r['client_peak_growth_mb']:.0f}", r["date"], r["load"]]
                 for r in dask],
            ),
            "",
        ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=["predict", "train", "accuracy", "dask"], help="parts to run")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), help="streaming predict sizes")
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE, help="posts of the out-of-core training run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        function = {"predict": child_predict, "train": child_train, "dask": child_dask}[kind]
        print(json.dumps(function(*rest[:-1], int(rest[-1])) if kind != "train" else function(*rest)))
        return
    import logging

    logging.getLogger("jieba").setLevel(logging.WARNING)
    parts = args.only or ["predict", "train", "accuracy", "dask"]
    # Runs not made now keep their last results: each run records when it ran and the load around it.
    previous = RESULTS / "scale.json"
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    results["machine"] = machine()
    with tempfile.TemporaryDirectory(prefix="mmsent-bench-scale-") as folder:
        folder = Path(folder)
        sizes = [*(args.sizes if "predict" in parts else []), *([args.train_size] if "train" in parts else [])]
        sizes += [DASK_SIZE] if "dask" in parts else []
        print(f"building the data ({sorted(set(sizes))} posts) ...", file=sys.stderr, flush=True)
        model, manifests, test = build_data(folder, sizes)
        if "predict" in parts:
            runs = []
            for n in args.sizes:
                print(f"predict {n:,} posts ...", file=sys.stderr, flush=True)
                runs.append(_timed_run("predict", model, manifests[n], n))
            results["predict"] = _merged(results.get("predict", []), runs, key=lambda run: run["n"])
        if "train" in parts:
            print(f"train out of core on {args.train_size:,} posts ...", file=sys.stderr, flush=True)
            run = _timed_run("train", manifests[args.train_size], test)
            results["train"] = _merged(results.get("train", []), [run], key=lambda run: run["n"])
        if "accuracy" in parts:
            print("accuracy on online_shopping ...", file=sys.stderr, flush=True)
            before = _load()
            accuracy = accuracy_rows()
            results["accuracy"] = {**accuracy, "date": time.strftime("%Y-%m-%d %H:%M"), "load": f"{before} → {_load()}"}
        if "dask" in parts:
            runs = []
            for chunk_size in DASK_CHUNKS:
                print(f"dask vs one process, {DASK_SIZE:,} posts in chunks of {chunk_size:,} ...", file=sys.stderr)
                runs.append(_timed_run("dask", model, manifests[DASK_SIZE], chunk_size))
            key = lambda run: (run["n"], -run["chunk_size"])  # noqa: E731
            results["dask"] = _merged(results.get("dask", []), runs, key=key)
    print(write_results("scale", results, render))


if __name__ == "__main__":
    main()
