"""``mmsent evaluate``: ablation report of the unimodal and fused models, on a held-out split or by CV."""

import argparse
import json
from pathlib import Path

from .._files import atomic_write
from ._common import add_dask, add_model_options, check_outputs, dask_jobs, defaults, estimator, given
from ._data import add_sources, load_sources, modalities, source_columns

_PLOTS = ("ablation.png", "confusion_matrices.png")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="ablation report: unimodal and fused models on a train/test split or by CV"
    )
    add_sources(parser, held_out="--test", held_help="labelled manifest to score on (or use --cv)")
    parser.add_argument("--repeats", type=int, default=argparse.SUPPRESS, help="repeats of the K-fold CV")
    parser.add_argument(
        "--fusions", nargs="+", metavar="NAME", default=argparse.SUPPRESS, help="strategies to compare (default: all)"
    )
    parser.add_argument("--json", help="also write the full report (per fold, per class) as JSON here")
    parser.add_argument("--plots", metavar="DIR", help=f"write {' and '.join(_PLOTS)} here")
    add_model_options(parser, fusion=False)  # --fusions says which
    add_dask(parser, "run the fits on a Dask cluster's workers (they must reach the image files)")
    parser.set_defaults(run=run)


def run(args):
    from ..evaluation import ablation_report

    options = given(args, cv="cv", n_repeats="repeats", fusions="fusions", random_state="seed")
    columns = source_columns(args)
    template = estimator(args, text_column=columns["text_column"], image_column=columns["image_column"])
    needed = modalities(template, options.get("fusions", defaults(ablation_report)["fusions"]))
    plots = [] if args.plots is None else [Path(args.plots) / name for name in _PLOTS]
    sources = [args.train, args.mvsa, args.test]
    check_outputs(args.json, *plots, inputs=sources)
    train, test = load_sources(args, columns, needed, args.test)
    with dask_jobs(args) as n_jobs:
        report = ablation_report(
            train.X,
            train.y,
            X_test=None if test is None else test.X,
            y_test=None if test is None else test.y,
            estimator=template,
            progress=not args.quiet,
            n_jobs=n_jobs,
            **options,
        )
    print(report.to_markdown())
    inputs = [*sources, *train.files, *(test.files if test is not None else [])]
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8", inputs=inputs) as file:
            file.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    if args.plots:
        for path in report.save_plots(args.plots, inputs=inputs):
            print(f"wrote {path}")
