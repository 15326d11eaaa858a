"""``mmsent train``: fit a model on a labelled manifest; save it with its model card."""

import argparse

from ._common import (
    add_dask,
    add_model_options,
    add_quiet,
    card_path,
    check_outputs,
    dask_cluster,
    estimator,
    given,
    save,
    verbose,
)
from ._data import (
    add_columns,
    add_task_columns,
    describe,
    describe_counts,
    manifest_columns,
    modalities,
    read_labelled,
    task_columns,
)

# Options of the in-memory classifier that an SGD-trained linear model has no use for.
_IN_MEMORY_ONLY = {"classifier": "--classifier", "C": "--C", "class_weight": "--class-weight"}
# Options of out-of-core training, argparse dest -> fit_manifest's parameter.
_OUT_OF_CORE = {"chunk_size": "chunk_size", "epochs": "n_epochs"}


def add_parser(subparsers):
    parser = subparsers.add_parser("train", help="fit a model on a labelled manifest and save it")
    parser.add_argument("--data", required=True, help="CSV or JSONL manifest with text, image and label columns")
    parser.add_argument(
        "--out", required=True, help="model file to write (.joblib or .skops); its model card goes to OUT.md"
    )
    parser.add_argument(
        "--format",
        default=argparse.SUPPRESS,
        help="joblib: a pickle, for you and people you trust; skops: safe to load from anyone "
        "(default: skops if OUT ends in .skops, else joblib)",
    )
    parser.add_argument("--test", help="labelled manifest to score the model on; the scores go into its metadata")
    add_model_options(parser)
    add_columns(parser)
    add_task_columns(parser)
    group = parser.add_argument_group(
        "out of core", "train chunk by chunk: memory holds one chunk, however many posts DATA has"
    )
    group.add_argument(
        "--out-of-core",
        action="store_true",
        help="an IncrementalSentimentClassifier (hashed jieba n-grams, HOG + colour, SGD; --probability: "
        "logistic loss) learnt chunk by chunk; shuffle DATA first if it is sorted by label",
    )
    group.add_argument("--chunk-size", type=int, metavar="N", default=argparse.SUPPRESS, help="posts per chunk")
    group.add_argument("--epochs", type=int, metavar="N", default=argparse.SUPPRESS, help="passes over DATA")
    add_dask(group, "featurize the chunks on a Dask cluster's workers (they must reach the image files)")
    add_quiet(parser)
    parser.set_defaults(run=run)


def run(args):
    from .._persistence import FORMATS

    options = given(args, format="format")
    if "format" in options and options["format"] not in FORMATS:  # refused now, not after the fit
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {options['format']!r}")
    if args.out_of_core:
        _run_out_of_core(args, options)
        return
    flags = [f"--{dest.replace('_', '-')}" for dest in (*_OUT_OF_CORE, "dask") if getattr(args, dest, None) is not None]
    if flags:
        raise ValueError(f"{', '.join(flags)}: for --out-of-core training only")
    from ..evaluation import prediction_scores

    columns = manifest_columns(args)
    model = estimator(
        args, text_column=columns["text_column"], image_column=columns["image_column"], **task_columns(args)
    )
    check_outputs(args.out, card_path(args.out), inputs=[args.data, args.test])
    needed = modalities(model)
    train = read_labelled(args.data, columns, needed)
    test = None if args.test is None else read_labelled(args.test, columns, needed)  # a bad one fails before the fit

    model.fit(train.X, train.y)
    data, metrics = {"train": train.description}, None
    if test is not None:
        metrics = prediction_scores(test.y, model.predict(test.X), classes=model.classes_)
        data["test"] = test.description
    inputs = [*train.files, *(test.files if test is not None else [])]
    _saved(model, len(train.X), args, inputs=inputs, metrics=metrics, data=data, **options)


def _run_out_of_core(args, options):
    """``--out-of-core``: an IncrementalSentimentClassifier learnt from DATA chunk by chunk (--dask: on a cluster)."""
    from ..scale import IncrementalSentimentClassifier, count_labels, fit_manifest

    refused = [flag for dest, flag in _IN_MEMORY_ONLY.items() if hasattr(args, dest)]
    if refused:
        raise ValueError(f"{', '.join(refused)}: not for --out-of-core, whose model is a linear one trained by SGD")
    columns = manifest_columns(args)
    model = IncrementalSentimentClassifier(
        text_column=columns["text_column"],
        image_column=columns["image_column"],
        **given(args, fusion="fusion"),
        **({"loss": "log_loss"} if getattr(args, "probability", False) else {}),
        verbose=verbose(args),
    )
    model._validate_params()  # a misspelt option fails now, not after the data is read
    check_outputs(args.out, card_path(args.out), inputs=[args.data, args.test])
    training = given(args, **{parameter: dest for dest, parameter in _OUT_OF_CORE.items()})
    chunk = given(args, chunk_size="chunk_size")
    counts = count_labels(args.data, label_column=columns["label_column"], **chunk)
    with dask_cluster(args) as client:
        model = fit_manifest(
            model,
            args.data,
            label_column=columns["label_column"],
            classes=sorted(counts, key=str),
            client=client,
            verbose=verbose(args),
            **training,
        )
    data, metrics = {"train": describe_counts(counts, args.data)}, None
    if args.test is not None:
        metrics, data["test"] = _streamed_scores(model, args.test, columns, chunk)
    _saved(model, sum(counts.values()), args, inputs=[args.data, args.test], metrics=metrics, data=data, **options)


def _streamed_scores(model, manifest, columns, chunk):
    """Scores of a fitted model on a labelled manifest read chunk by chunk, and the manifest's description."""
    import numpy as np

    from ..datasets import iter_manifest
    from ..evaluation import prediction_scores

    labels, predicted = [], []
    for frame in iter_manifest(manifest, **chunk, **columns, required=(*modalities(model), "label")):
        labels.append(frame[columns["label_column"]].to_numpy())
        predicted.append(model.predict(frame))
    labels = np.concatenate(labels)
    return prediction_scores(labels, np.concatenate(predicted), classes=model.classes_), describe(labels, manifest)


def _saved(model, n_posts, args, **options):
    """Save the model and its card; say what was trained and where it went."""
    from .._persistence import model_metadata

    path, card = save(model, args.out, **options)
    file = model_metadata(path)["file"]
    print(f"trained {model.fusion} on {n_posts} posts ({', '.join(map(str, model.classes_))}); saved {path}")
    print(f"  format {file['format']}, sha256 {file['sha256']}; model card {card}")
    if options.get("metrics") is not None:
        print(f"  on {args.test}: " + ", ".join(f"{name} {value:.3f}" for name, value in options["metrics"].items()))
