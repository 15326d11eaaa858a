"""``mmsent train``: fit a model on a labelled manifest; save it with its model card."""

import argparse

from ._common import add_model_options, add_quiet, card_path, check_outputs, estimator, given, save
from ._data import add_columns, add_task_columns, manifest_columns, modalities, read_labelled, task_columns


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
    add_quiet(parser)
    parser.set_defaults(run=run)


def run(args):
    from .._persistence import FORMATS, model_metadata
    from ..evaluation import prediction_scores

    options = given(args, format="format")
    if "format" in options and options["format"] not in FORMATS:  # refused now, not after the fit
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {options['format']!r}")
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
    path, card = save(model, args.out, inputs=inputs, metrics=metrics, data=data, **options)
    file = model_metadata(path)["file"]
    print(f"trained {model.fusion} on {len(train.X)} posts ({', '.join(map(str, model.classes_))}); saved {path}")
    print(f"  format {file['format']}, sha256 {file['sha256']}; model card {card}")
    if metrics is not None:
        print(f"  on {args.test}: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))
