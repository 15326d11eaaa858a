"""What several groups of tests share: synthetic posts (no downloads, no shared data), caches, helpers."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmsent.text import clear_token_cache

POSITIVE_WORDS = ["好", "很好", "喜欢", "满意", "great", "love", "推荐", "棒"]
NEGATIVE_WORDS = ["差", "很差", "失望", "退货", "awful", "hate", "垃圾", "糟糕"]
FILLER = ["这个", "东西", "快递", "the", "item", "包装", "今天", "we"]


PALETTE = {"positive": (200, 150, 60), "negative": (30, 60, 120)}


def synthetic_image(band_labels, rng, size=32):
    """One horizontal band per entry of ``band_labels``: warm and bright, or cool and dark."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    edges = np.linspace(0, size, len(band_labels) + 1).astype(int)
    for label, top, bottom in zip(band_labels, edges[:-1], edges[1:]):
        image[top:bottom] = PALETTE[label]
    return image + rng.integers(0, 25, size=image.shape, dtype=np.uint8)


def synthetic_posts(n=60, seed=0, cue_accuracy=0.7, cues=3):
    """Posts whose text and image each carry ``cues`` independent hints of the label.

    Each sentiment word of the text, and each colour band of the image, agrees with
    the label with probability ``cue_accuracy``. A modality alone is right about as
    often as a majority of its cues (78% with the defaults); both together see twice
    as many cues (84%), so fusion has something to gain.
    """
    rng = np.random.default_rng(seed)
    labels = np.array(["positive", "negative"] * (n // 2))
    opposite = {"positive": "negative", "negative": "positive"}

    def hints(label):
        return [label if rng.random() < cue_accuracy else opposite[label] for _ in range(cues)]

    texts, images = [], []
    for label in labels:
        words = [rng.choice(POSITIVE_WORDS if hint == "positive" else NEGATIVE_WORDS) for hint in hints(label)]
        texts.append(" ".join([*words, *rng.choice(FILLER, 2)]))
        images.append(synthetic_image(hints(label), rng))
    return pd.DataFrame({"text": texts, "image": images}), labels


def installed(*names):
    """Whether every module of ``names`` can be imported (an optional extra is installed)."""
    return all(importlib.util.find_spec(name) is not None for name in names)


def as_column(values):
    """Numeric column → 2-D float array: a featurizer that lets a test set a branch's evidence directly."""
    return np.asarray(values, dtype=float).reshape(-1, 1)


@pytest.fixture
def fresh_token_cache():
    """The tokenizer's cache emptied before and after the test: what it tokenizes is tokenized here."""
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def posts():
    return synthetic_posts()


@pytest.fixture
def image_files(tmp_path):
    """Write a few synthetic images to disk in several formats; return their paths."""
    rng = np.random.default_rng(1)
    paths = []
    formats = [("positive", "PNG"), ("negative", "JPEG"), ("positive", "JPEG"), ("negative", "PNG")]
    for i, (label, fmt) in enumerate(formats):
        path = tmp_path / f"img{i}.{fmt.lower()}"
        Image.fromarray(synthetic_image([label] * 3, rng)).save(path, format=fmt)
        paths.append(path)
    return paths


@pytest.fixture(scope="session", autouse=True)
def cnn_cache(tmp_path_factory):
    """Every test's CNN network and embeddings go to one folder of this session, never the user's cache.

    The default feature set embeds images with the CNN: the network is built there once per session.
    """
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("mmsent-cache")
        patch.setenv("MMSENT_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def dask_cluster():
    """A real Dask cluster for the session: a client of two worker processes, one thread each.

    Each worker imports what tasks need as it starts (``tests/_dask_workers.py``), restarted ones
    included, and a task may kill one worker and run again once (``allowed-failures``).
    """
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    from mmsent.scale import dask_client

    from ._dask_workers import warm_up

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with dask_client("local", n_workers=2, silence_logs=40, preload=["tests._dask_workers"]) as client:
            client.run(warm_up)
            yield client
