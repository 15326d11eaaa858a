"""``mmsent predict``: labels (and probabilities) for a manifest of posts."""

import sys

from .._files import atomic_write
from ._common import add_quiet, check_outputs, verbose
from ._data import add_columns, image_files, modalities


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
    add_quiet(parser)
    parser.set_defaults(run=run)


def load_classifier(path, **options):
    """The MultimodalSentimentClassifier saved in ``path``; any other object is refused."""
    from .._classifier import MultimodalSentimentClassifier
    from .._persistence import load_model

    return load_model(path, expected=MultimodalSentimentClassifier, **options)


def _model_columns(frame, manifest, model):
    """The manifest's columns under the model's names: the column flags map one onto the other.

    Returns the frame the model reads and the renames (manifest column -> model column).
    """
    renames = {manifest[f"{role}_column"]: getattr(model, f"{role}_column") for role in ("text", "image")}
    renames = {old: new for old, new in renames.items() if old != new}
    # A manifest column that already bears one of the model's names gives way to the column mapped onto it.
    shadowed = [new for new in renames.values() if new in frame.columns and new not in renames]
    return frame.drop(columns=shadowed).rename(columns=renames), renames


def _predictions(model, frame, on_error):
    """Predicted labels, plus one probability column per class when the model has them, and the bad rows.

    Posts skipped under ``on_error="skip"`` keep their row, with empty predictions.
    """
    import numpy as np
    import pandas as pd

    if not hasattr(model, "predict_proba"):
        labels, errors = model.predict_robust(frame, on_error=on_error)
        return pd.DataFrame({"prediction": labels}).reindex(frame.index), errors
    # One pass: every fusion with probabilities predicts their most likely class.
    probabilities, errors = model.predict_robust(frame, on_error=on_error, method="predict_proba")
    labels = model.classes_[np.argmax(probabilities.to_numpy(), axis=1)]
    out = pd.DataFrame({"prediction": labels}, index=probabilities.index).reindex(frame.index)
    for label in model.classes_:
        out[f"proba_{label}"] = probabilities[label].round(6).reindex(frame.index)
    return out, errors


def _report(errors, on_error, renames):
    """Print the posts that could not be used as given, one line each, to stderr, under the manifest's names."""
    if not errors:
        return
    manifest_names = {new: old for old, new in renames.items()}
    what = "skipped" if on_error == "skip" else "predicted without the bad modality"
    print(f"mmsent predict: {len(errors)} bad input(s), {what}:", file=sys.stderr)
    for error in errors:
        print(
            f"  row {error.row!r} ({manifest_names.get(error.column, error.column)}): {error.message}", file=sys.stderr
        )


def run(args):
    import pandas as pd

    from .._progress import set_verbose
    from ..datasets import read_manifest

    check_outputs(args.out, inputs=[args.model, args.data])
    model = set_verbose(load_classifier(args.model, trusted=args.trust, sha256=args.sha256), verbose(args))
    manifest = {
        "text_column": getattr(args, "text_col", model.text_column),
        "image_column": getattr(args, "image_col", model.image_column),
    }
    # Under skip / impute a missing image file is one bad row, reported with the others.
    frame = read_manifest(args.data, **manifest, required=modalities(model), check_files=args.on_error == "raise")
    X, renames = _model_columns(frame, manifest, model)
    predictions, errors = _predictions(model, X, args.on_error)
    result = pd.concat([frame, predictions], axis=1)
    if args.out is None:
        result.to_csv(sys.stdout, index=False)
    else:
        inputs = [args.model, args.data, *image_files(frame, manifest["image_column"])]
        with atomic_write(args.out, "w", encoding="utf-8", newline="", inputs=inputs) as file:
            if args.out.lower().endswith((".jsonl", ".json")):
                result.to_json(file, orient="records", lines=True, force_ascii=False)
            else:
                result.to_csv(file, index=False)
        print(f"wrote {int(predictions['prediction'].notna().sum())} predictions to {args.out}")
    _report(errors, args.on_error, renames)
