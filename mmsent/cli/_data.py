"""The data commands read: labelled manifests or an MVSA folder, their columns, and their fingerprints."""

import argparse
import hashlib
from dataclasses import dataclass

from ._common import add_quiet, defaults, given

# The column flags: read_manifest's parameter -> argparse dest.
_COLUMN_FLAGS = {"text_column": "text_col", "image_column": "image_col", "label_column": "label_col"}
# load_mvsa's columns, as its docstring gives them: the column flags do not apply to an MVSA folder.
_MVSA_COLUMNS = {"text_column": "text", "image_column": "image", "label_column": "label"}


def add_columns(parser, roles=("text", "image", "label"), default="as mmsent.datasets.read_manifest"):
    what = {"text": "the text", "image": "the image paths", "label": "the labels"}
    for role in roles:
        parser.add_argument(
            f"--{role}-col",
            metavar="NAME",
            default=argparse.SUPPRESS,
            help=f"manifest column holding {what[role]} (default: {default})",
        )


# multitask's per-modality label columns: the classifier's parameter -> argparse dest.
_TASK_FLAGS = {"text_label_column": "text_label_col", "image_label_column": "image_label_col"}
# An MVSA folder's own (filled by its original layout, labelResult.txt; empty in the flat one).
_MVSA_TASK_COLUMNS = {"text_label_column": "text_label", "image_label_column": "image_label"}


def add_task_columns(parser):
    """multitask's per-modality label columns (e.g. the demo's sticker_sentiment as the image's own label)."""
    for role in ("text", "image"):
        parser.add_argument(
            f"--{role}-label-col",
            metavar="NAME",
            default=argparse.SUPPRESS,
            help=f"manifest column holding the {role}'s own label, learnt beside the post's by fusion=multitask",
        )


def task_columns(args):
    """The classifier's per-modality label columns: MVSA's own with --mvsa, else those the flags name."""
    if not getattr(args, "mvsa", None):
        return given(args, **_TASK_FLAGS)
    flags = [f"--{dest.replace('_', '-')}" for dest in _TASK_FLAGS.values() if hasattr(args, dest)]
    if flags:
        raise ValueError(f"--mvsa reads MVSA's own per-modality labels (text_label, image_label): {', '.join(flags)} "
                         "is for manifests")
    return dict(_MVSA_TASK_COLUMNS)


def add_sources(parser, held_out, held_help):
    """Training data (a manifest or an MVSA folder), a held-out manifest or CV, and the shared options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train", help="labelled manifest to fit on")
    source.add_argument("--mvsa", metavar="DIR", help="an MVSA folder: fit on its train split, hold out its dev split")
    parser.add_argument(held_out, dest=held_out.strip("-"), help=held_help)
    parser.add_argument("--cv", type=int, metavar="K", help="stratified K-fold CV inside the training data instead")
    parser.add_argument("--seed", type=int, default=argparse.SUPPRESS, help="seed of the folds and of random search")
    add_columns(parser)
    add_task_columns(parser)
    add_quiet(parser)


def manifest_columns(args):
    """read_manifest's column arguments: the flags given, else its own defaults."""
    from ..datasets import read_manifest

    default = defaults(read_manifest)
    return {**{name: default[name] for name in _COLUMN_FLAGS}, **given(args, **_COLUMN_FLAGS)}


def source_columns(args):
    """The training data's columns: an MVSA folder's own with --mvsa, else the manifest's."""
    if not args.mvsa:
        return manifest_columns(args)
    flags = [f"--{dest.replace('_', '-')}" for dest in _COLUMN_FLAGS.values() if hasattr(args, dest)]
    if flags:
        raise ValueError(
            f"--mvsa reads MVSA's own columns ({', '.join(_MVSA_COLUMNS.values())}): "
            f"{', '.join(flags)} is for manifests"
        )
    return dict(_MVSA_COLUMNS)


def modalities(estimator, fusions=None):
    """The modalities (read_manifest's ``required`` roles) that ``estimator`` reads, or any of ``fusions`` of it.

    The estimator says which columns it needs; each fusion is checked as it is, so a misspelt one
    fails before any data is read.
    """
    from sklearn.base import clone

    variants = [estimator] if fusions is None else [clone(estimator).set_params(fusion=name) for name in fusions]
    needed = set()
    for variant in variants:
        variant._validate_params()
        needed.update(variant.required_columns())
    return tuple(role for role in ("text", "image") if getattr(estimator, f"{role}_column") in needed)


@dataclass
class Labelled:
    """Labelled posts, what a model's metadata records about them, and the files they were read from."""

    X: object
    y: object
    description: dict
    files: list


def describe(labels, manifest=None, **source):
    """Labelled data's fingerprint for the metadata: a manifest's SHA-256 (not the images'), or its source."""
    import pandas as pd

    return describe_counts(pd.Series(labels).astype(str).value_counts().to_dict(), manifest, **source)


def describe_counts(label_counts, manifest=None, **source):
    """:func:`describe` from the labels' counts: what a run that never holds every label records."""
    if manifest is not None:
        digest = hashlib.sha256()
        with open(manifest, "rb") as file:  # in blocks: a manifest may be larger than memory
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        source = {"manifest": str(manifest), "sha256": digest.hexdigest()}
    counts = {str(label): int(count) for label, count in label_counts.items()}
    return {**source, "n_posts": sum(counts.values()), "label_counts": dict(sorted(counts.items()))}


def image_files(frame, column):
    """The image files a frame refers to (inputs of the command: no output may replace one)."""
    return [] if column not in frame.columns else [path for path in frame[column] if isinstance(path, str)]


def read_labelled(path, columns, needed):
    """A labelled manifest holding the ``needed`` modalities' columns."""
    from ..datasets import read_manifest

    frame = read_manifest(path, **columns, required=(*needed, "label"))
    labels = frame[columns["label_column"]].to_numpy()
    return Labelled(frame, labels, describe(labels, path), [path, *image_files(frame, columns["image_column"])])


def _mvsa_split(directory, posts, split):
    labels = posts[_MVSA_COLUMNS["label_column"]].to_numpy()
    source = {"mvsa": str(directory)} if split is None else {"mvsa": str(directory), "split": split}
    return Labelled(posts, labels, describe(labels, **source), image_files(posts, _MVSA_COLUMNS["image_column"]))


def load_sources(args, columns, needed, held_out):
    """Training posts, and held-out ones (a manifest or MVSA's dev split), None with --cv."""
    if held_out and (args.cv is not None or args.mvsa):
        raise ValueError("give a held-out manifest or --cv K, not both (--mvsa holds out its own dev split)")
    if not args.mvsa and not held_out and args.cv is None:
        raise ValueError("give a held-out manifest or --cv K")
    if args.mvsa:
        from ..datasets import load_mvsa

        posts = load_mvsa(args.mvsa)
        if posts["split"].isna().all():  # a layout without splits
            train, held = _mvsa_split(args.mvsa, posts, None), None
        else:
            train = _mvsa_split(args.mvsa, posts[posts["split"] == "train"], "train")
            held = _mvsa_split(args.mvsa, posts[posts["split"] == "dev"], "dev")
        if args.cv is None and (held is None or len(held.X) == 0):
            raise ValueError(f"{args.mvsa} has no dev split: use --cv K")
    else:
        train = read_labelled(args.train, columns, needed)
        held = read_labelled(held_out, columns, needed) if held_out else None
    return train, None if args.cv is not None else held
