"""``mmsent predict``: labels (and probabilities) for a manifest of posts, streamed chunk by chunk."""

import argparse
import sys

from ._common import add_dask, add_quiet, check_outputs, dask_cluster, given, verbose
from ._data import add_columns


def add_parser(subparsers):
    parser = subparsers.add_parser("predict", help="predict labels (and probabilities) for a manifest")
    parser.add_argument("--model", required=True, help="model file written by `mmsent train`")
    parser.add_argument("--data", required=True, help="CSV or JSONL manifest of posts")
    parser.add_argument("--out", help="write predictions here (.csv or .jsonl); default: CSV on stdout")
    parser.add_argument(
        "--on-error",
        choices=["raise", "skip", "impute"],
        default="raise",
        help="a post whose image or text cannot be read: raise (exit 2, default), skip it (empty prediction), "
        "or impute (predict it as if that modality were missing); bad rows are listed on stderr",
    )
    parser.add_argument(
        "--sha256", help="refuse the model file unless its SHA-256 is this one (as its author published it)"
    )
    parser.add_argument(
        "--trust",
        action="append",
        metavar="TYPE",
        help="skops files only: also trust this type (repeatable; `mmsent info` or the refusal lists them)",
    )
    add_columns(parser, roles=("text", "image"), default="the model's own; the column is read as the model's")
    parser.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="posts read, predicted and written at a time: memory stays that of one chunk "
        "(default: mmsent.scale.predict_manifest's)",
    )
    add_dask(parser, "predict the chunks on a Dask cluster's workers (they must reach the image files)")
    add_quiet(parser)
    parser.set_defaults(run=run)


def load_classifier(path, **options):
    """The MultimodalSentimentClassifier saved in ``path``; any other object is refused."""
    from .._classifier import MultimodalSentimentClassifier
    from .._persistence import load_model

    return load_model(path, expected=MultimodalSentimentClassifier, **options)


def _report(errors, on_error):
    """Print the posts that could not be used as given, one line each, to stderr."""
    if not errors:
        return
    what = "skipped" if on_error == "skip" else "predicted without the bad modality"
    print(f"mmsent predict: {len(errors)} bad input(s), {what}:", file=sys.stderr)
    for error in errors:
        print(f"  row {error.row!r} ({error.column}): {error.message}", file=sys.stderr)


def run(args):
    from .._progress import set_verbose
    from ..scale import predict_manifest

    check_outputs(args.out, inputs=[args.model, args.data])
    model = set_verbose(load_classifier(args.model, trusted=args.trust, sha256=args.sha256), verbose(args))
    columns = given(args, text_column="text_col", image_column="image_col")
    with dask_cluster(args) as client:
        summary = predict_manifest(
            model,
            args.data,
            args.out,
            **columns,
            **given(args, chunk_size="chunk_size"),
            on_error=args.on_error,
            inputs=[args.model],
            client=client,
            verbose=verbose(args),
        )
    if args.out is not None:
        print(f"wrote {summary.predicted} predictions to {args.out}")
    _report(summary.errors, args.on_error)
