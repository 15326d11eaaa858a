"""``mmsent evaluate``: ablation report of the unimodal and fused models, on a held-out split or by CV; or, with
``--retrieval``, cross-modal retrieval scored on the held-out pairs."""

import argparse
import json
from pathlib import Path

from .._files import atomic_write
from ._common import add_dask, add_model_options, check_outputs, dask_jobs, defaults, estimator, given
from ._data import add_sources, load_sources, modalities, source_columns, task_columns
from ._retrieve import add_space_options, make_index

_PLOTS = ("ablation.png", "confusion_matrices.png")
_RETRIEVAL_PLOT = "retrieval.png"
_PROJECTIONS = ("cca", "pls", "none")


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
    parser.add_argument(
        "--retrieval",
        action="store_true",
        help="score cross-modal retrieval instead: each held-out text queries the held-out images and vice versa "
        f"(Recall@1/5/10, median rank), in a space fitted on the training pairs, for {', '.join(_PROJECTIONS)} "
        f"(or --projection); --plots writes {_RETRIEVAL_PLOT}",
    )
    add_space_options(parser, "with --retrieval: CrossModalProjector's parameters (default: its own)")
    parser.set_defaults(run=run)


def run(args):
    from ..evaluation import DEFAULT_FUSIONS, ablation_report

    if args.retrieval:
        return run_retrieval(args)
    options = given(args, cv="cv", n_repeats="repeats", fusions="fusions", random_state="seed")
    columns = source_columns(args)
    tasks = task_columns(args)
    template = estimator(args, text_column=columns["text_column"], image_column=columns["image_column"], **tasks)
    if "fusions" not in options and not args.mvsa and tasks:  # per-modality labels named: multitask too
        options["fusions"] = [*DEFAULT_FUSIONS, "multitask"]
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


def run_retrieval(args):
    """Recall@K of each projection on the held-out pairs; the table on stdout, --json and --plots on request."""
    import pandas as pd

    from ..evaluation import format_table
    from ..retrieval import pair_ranks, plot_recall_at_k, retrieval_scores

    if args.cv is not None:
        raise ValueError("--retrieval scores held-out pairs: give --test MANIFEST (or --mvsa, its dev split), not --cv")
    columns = source_columns(args)
    projections = [args.projection] if hasattr(args, "projection") else list(_PROJECTIONS)
    indexes = {name: make_index(args, columns, method=name) for name in projections}
    plot = None if args.plots is None else Path(args.plots) / _RETRIEVAL_PLOT
    sources = [args.train, args.mvsa, args.test]
    check_outputs(args.json, plot, inputs=sources)
    train, test = load_sources(args, columns, ("text", "image"), args.test)
    ranks = {name: pair_ranks(index.fit(train.X), test.X) for name, index in indexes.items()}
    table = pd.concat({name: retrieval_scores(found) for name, found in ranks.items()}, names=["projection"])
    print(f"Fit on {len(train.X)} posts' text-image pairs; each of {len(test.X)} held-out pairs queried:\n")
    print(format_table(table))
    inputs = [*sources, *train.files, *test.files]
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8", inputs=inputs) as file:
            file.write(json.dumps(json.loads(table.reset_index().to_json(orient="records")), indent=2))
    if plot is not None:
        figure = plot_recall_at_k(ranks, title=f"Cross-modal retrieval among {len(test.X)} held-out pairs")
        with atomic_write(plot, "wb", inputs=inputs) as file:
            figure.savefig(file, format="png", dpi=120)
        print(f"wrote {plot}")
