"""CNN embedding throughput: mmsent's onnxruntime path beside torch eager, in the same run.

Run with ``make bench-cnn`` (or ``python benchmarks/bench_cnn.py``); needs the ``dev``
extra (torch and efficientnet-lite-pytorch for the torch row). End to end means from
JPEG files on disk to 1280-d embeddings: read, decode, resize and crop, normalise, run
the network, in batches of 32. The images are the
first ``--n`` of MVSA-Single (read in place from ``../shared/data``) when it is
there, else JPEGs written from scikit-image's sample photos. Writes
``benchmarks/results/cnn.md`` and ``cnn.json``, with the machine's load (``uptime``)
before and after, since the machine may be shared.
"""

import argparse
import contextlib
import io
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
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
MVSA_IMAGES = ROOT.parent / "shared" / "data" / "mvsa_single" / "images"
BATCH = 32
TARGET = 85.0  # images per second, end to end

from mmsent.image import CNNEmbedder, cnn_weights_path, export_cnn  # noqa: E402
from mmsent.image._cnn import cnn_input, preprocess  # noqa: E402


def sample_jpegs(n, folder):
    """``n`` JPEG paths: MVSA-Single's images if present, else crops of scikit-image photos."""
    if MVSA_IMAGES.is_dir():
        return sorted(map(str, MVSA_IMAGES.glob("*.jpg")))[:n], "MVSA-Single images (longest side 256 px)"
    from PIL import Image
    from skimage import data

    photos = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut(), data.stereo_motorcycle()[0]]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] // 4), rng.integers(0, photo.shape[1] // 4)
        image = Image.fromarray(photo[top:, left:])
        image.thumbnail((256, 256))
        paths.append(str(folder / f"{i}.jpg"))
        image.save(paths[-1], quality=90)
    return paths, "scikit-image sample photos, random crops, longest side 256 px (no MVSA-Single here)"


def timed(function, repeats):
    """Median, min and max wall seconds of ``repeats`` calls, the median CPU seconds, and the last result.

    CPU time (all threads of this process) does not grow when other programs share the
    cores, so ``n / cpu * cores`` estimates the throughput on an otherwise idle machine.
    """
    times, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "cpu": statistics.median(cpu)}, result


def torch_pipeline(threads):
    """Torch eager, channels_last, no grad: ``efficientnet-lite-pytorch``, the network the weights were made for."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(threads)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        network = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(cnn_weights_path())).eval()
    network = network.to(memory_format=torch.channels_last)

    def embed(crops):
        batch = torch.from_numpy(preprocess(crops)).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return network.extract_features(batch).mean(dim=(2, 3)).numpy()

    def end_to_end(paths):
        return np.concatenate(
            [embed(np.stack([cnn_input(p) for p in paths[i : i + BATCH]])) for i in range(0, len(paths), BATCH)]
        )

    return embed, end_to_end


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=320, help="images (default: 320)")
    parser.add_argument("--threads", type=int, default=2, help="cores used by each engine (default: 2)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row (default: 2)")
    args = parser.parse_args()
    load_before = uptime()

    with tempfile.TemporaryDirectory() as scratch:
        paths, source = sample_jpegs(args.n, Path(scratch))
        n = len(paths)
        onnx = CNNEmbedder(
            model_path=str(export_cnn()), batch_size=BATCH, n_threads=args.threads, cache_dir=None
        ).fit()
        torch_embed, torch_end_to_end = torch_pipeline(args.threads)
        crops = np.stack([cnn_input(p) for p in paths])

        onnx.transform(paths[:BATCH]), torch_end_to_end(paths[:BATCH])  # warm up both
        rows = {}
        rows["onnxruntime, end to end (mmsent CNNEmbedder)"], ours = timed(lambda: onnx.transform(paths), args.repeats)
        rows["torch eager, end to end"], reference = timed(lambda: torch_end_to_end(paths), args.repeats)
        rows["onnxruntime, network only (from 224 px crops)"], _ = timed(
            lambda: [onnx._embed(crops[i : i + BATCH]) for i in range(0, n, BATCH)], args.repeats
        )
        rows["torch eager, network only (from 224 px crops)"], _ = timed(
            lambda: [torch_embed(crops[i : i + BATCH]) for i in range(0, n, BATCH)], args.repeats
        )
        decode, _ = timed(lambda: [cnn_input(p) for p in paths], args.repeats)

    # The fastest run is the one with the least time: "min" images/s comes from the longest.
    speed = {
        name: {"median": n / t["median"], "min": n / t["max"], "max": n / t["min"], "idle_estimate": n / t["cpu"] * args.threads}
        for name, t in rows.items()
    }
    end_to_end = speed["onnxruntime, end to end (mmsent CNNEmbedder)"]["median"]
    ratio = end_to_end / speed["torch eager, end to end"]["median"]
    difference = float(np.abs(ours - reference).max())
    load_after = uptime()
    import onnxruntime
    import torch

    machine = (
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    lines = [
        "# CNN embedding throughput (EfficientNet-Lite0, 1280-d)",
        "",
        f"Machine: {machine}",
        f"Load before: `{load_before}`",
        f"Load after: `{load_after}`",
        "",
        f"{n} JPEG files: {source}. Batch {BATCH}, {args.threads} threads per engine (mmsent decodes the next "
        "batch in one background thread while onnxruntime runs; torch decodes, then runs), "
        f"median of {args.repeats} runs (min-max). End to end = read + decode + resize/crop + normalise + network.",
        "",
        "| pipeline | images/s (median, min-max) | CPU ms per image | images/s if the cores were free |",
        "|---|---|---|---|",
        *(
            f"| {name} | {s['median']:,.1f} ({s['min']:,.1f}-{s['max']:,.1f}) | {1000 * args.threads / s['idle_estimate']:.1f} "
            f"| {s['idle_estimate']:,.1f} |"
            for name, s in speed.items()
        ),
        f"| decode + resize/crop only, one thread | {n / decode['median']:,.1f} | {1000 * decode['cpu'] / n:.1f} | |",
        "",
        f"End to end, onnxruntime / torch eager: **{ratio:.2f}x**. "
        f"Target >= {TARGET:.0f} img/s end to end: **{'met' if end_to_end >= TARGET else 'not met'}** "
        f"({end_to_end:,.1f} img/s).",
        f"Max |onnxruntime - torch| over all embeddings: {difference:.1e}.",
        "",
        "The last column is the number of images over the CPU time the process used, times the",
        f"{args.threads} cores: the throughput it would reach with the cores to itself (a busy machine",
        "lengthens wall time, not CPU time; it assumes the work spreads over both cores).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cnn.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "cnn.json").write_text(
        json.dumps(
            {"machine": machine, "load_before": load_before, "load_after": load_after, "images": n, "source": source,
             "batch": BATCH, "threads": args.threads, "images_per_second": speed, "ratio_end_to_end": ratio,
             "max_abs_difference": difference},
            indent=2,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
