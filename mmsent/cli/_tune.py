"""``mmsent tune``: search hyper-parameters on a dev split or by inner CV; save the best model refit."""

import argparse
import ast

from ._common import add_dask, add_model_options, card_path, check_outputs, dask_jobs, defaults, estimator, given, save
from ._data import add_sources, load_sources, modalities, source_columns, task_columns


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


def add_parser(subparsers):
    parser = subparsers.add_parser("tune", help="search hyper-parameters on a dev split or inner CV; save the best")
    add_sources(parser, held_out="--dev", held_help="labelled dev manifest to choose on (or use --cv)")
    parser.add_argument("--out", required=True, help="where to save the refit best model; its card goes to OUT.md")
    parser.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUES",
        help="a parameter and its values, e.g. 'C=[0.1, 1]' or 'text_features__tfidf__ngram_range=[(1, 1), (1, 2)]'; "
        "repeat for more (default: a small grid for the fusion)",
    )
    parser.add_argument(
        "--search",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="grid (GridSearchCV) or halving (HalvingRandomSearchCV)",
    )
    parser.add_argument("--scoring", default=argparse.SUPPRESS, help="scikit-learn scorer")
    parser.add_argument("--top", type=int, default=5, help="candidates to show (default: 5)")
    add_model_options(parser)
    add_dask(parser, "run the candidates' fits on a Dask cluster's workers (they must reach the image files)")
    parser.set_defaults(run=run)


def _candidates(found, top):
    """The ``top`` candidates of a search as a table: one row each, its parameters as the index."""
    import pandas as pd

    results = pd.DataFrame(found.cv_results_).sort_values("rank_test_score").head(top)
    table = results.set_index("params")[["mean_test_score", "std_test_score", "mean_fit_time"]]
    table.index = table.index.map(lambda params: ", ".join(f"{k}={v!r}" for k, v in params.items()))
    table.index.name = "candidate"
    return table


def run(args):
    from ..evaluation import format_table, tune

    options = given(args, cv="cv", search="search", scoring="scoring", random_state="seed")
    settings = {**defaults(tune), **options}
    columns = source_columns(args)
    template = estimator(
        args, text_column=columns["text_column"], image_column=columns["image_column"], **task_columns(args)
    )
    check_outputs(args.out, card_path(args.out), inputs=[args.train, args.mvsa, args.dev])
    train, dev = load_sources(args, columns, modalities(template), args.dev)
    with dask_jobs(args) as n_jobs:
        found = tune(
            train.X,
            train.y,
            dict(args.param) or None,
            X_dev=None if dev is None else dev.X,
            y_dev=None if dev is None else dev.y,
            estimator=template,
            progress=not args.quiet,
            n_jobs=n_jobs,
            **options,
        )
    where = "on the dev split" if dev is not None else f"by {settings['cv']}-fold CV"
    print(f"Best {settings['scoring']} {where}: {found.best_score_:.4f}")
    print("Best parameters:")
    for name, value in found.best_params_.items():
        print(f"  {name} = {value!r}")
    print(f"\nTop candidates:\n\n{format_table(_candidates(found, args.top), digits=4)}\n")
    data = {"train": train.description, **({} if dev is None else {"dev": dev.description})}
    # No held-out score exists (the model is refit on everything it was tuned on): the
    # card records the selection, whose score is optimistic, and asks for an evaluation.
    data["selection"] = {
        "search": settings["search"],
        "scoring": settings["scoring"],
        "best score": round(float(found.best_score_), 4),
        "scored": where,
        "parameters": {name: repr(value) for name, value in found.best_params_.items()},
    }
    inputs = [args.train, args.mvsa, args.dev, *train.files, *(dev.files if dev is not None else [])]
    path, card = save(found.best_estimator_, args.out, inputs=inputs, data=data)
    refit, n_posts = ("all training", len(train.X)) if dev is None else ("train + dev", len(train.X) + len(dev.X))
    print(f"Saved the best model, refit on {refit} posts ({n_posts}), to {path}")
    print(f"  model card {card}")
