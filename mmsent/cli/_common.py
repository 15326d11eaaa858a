"""What several commands share: the model options, the estimator they build, and their output files.

Options that set a library parameter have no argparse default (``SUPPRESS``): a flag the user
leaves out is absent from ``args`` and the library's own default applies, so every default is
written once, in the signature that owns it. Nothing here imports scikit-learn or pandas at
module level: ``mmsent --help`` stays instant.
"""

import argparse
import contextlib
import inspect
from pathlib import Path

from .._files import atomic_write, check_output_path

# The classifier's parameters that are command-line options (each option's dest is the parameter's name).
_MODEL_OPTIONS = ("fusion", "features", "classifier", "C", "class_weight", "probability")
FEATURES_HELP = (
    "pretrained (TF-IDF + sentiment lexicons, CNN image embeddings; the default) or handcrafted "
    "(TF-IDF, HOG + colour histograms: no pretrained resources, much faster on images)"
)


def add_quiet(parser):
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def verbose(args):
    """Featurizers' progress bars on, for batches large enough to matter, unless --quiet."""
    return 0 if args.quiet else 1


def add_dask(parser, what):
    parser.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help=f"{what}: 'local' starts a cluster of one worker process per core here, an address such as "
        "tcp://host:8786 uses a running one (needs the dask extra)",
    )


@contextlib.contextmanager
def dask_cluster(args):
    """The Dask client of ``--dask`` for the ``with`` block, or None without it."""
    if getattr(args, "dask", None) is None:
        yield None
        return
    from ..scale import dask_client

    with dask_client(args.dask) as client:
        yield client


@contextlib.contextmanager
def dask_jobs(args):
    """joblib's ``n_jobs`` for the ``with`` block: -1 on the ``--dask`` cluster (joblib's Dask backend), else None."""
    with dask_cluster(args) as client:
        if client is None:
            yield None
            return
        import joblib

        with joblib.parallel_config(backend="dask"):
            yield -1


def add_model_options(parser, fusion=True):
    """The classifier's parameters a command line may set; left out, the classifier's defaults apply."""
    group = parser.add_argument_group("model", "MultimodalSentimentClassifier's parameters (default: its own)")
    if fusion:
        group.add_argument(
            "--fusion",
            metavar="NAME",
            default=argparse.SUPPRESS,
            help="concat (feature level), intermediate (a shared CCA space), vote, stack or gated (decision "
            "level), multitask (needs --text-label-col / --image-label-col), text or image (one modality only)",
        )
    group.add_argument("--features", metavar="SET", default=argparse.SUPPRESS, help=FEATURES_HELP)
    group.add_argument(
        "--classifier", metavar="NAME", default=argparse.SUPPRESS,
        help="linear_svc (LinearSVC), svc (RBF SVC) or logistic (LogisticRegression)",
    )
    group.add_argument(
        "--C", type=float, default=argparse.SUPPRESS, help="regularisation of the SVM or logistic regression"
    )
    group.add_argument(
        "--class-weight", metavar="balanced", default=argparse.SUPPRESS, help="balanced: reweight rare classes"
    )
    group.add_argument(
        "--probability",
        action="store_true",
        default=argparse.SUPPRESS,
        help="calibrate so that probabilities are available",
    )


def given(args, **names):
    """``{parameter: value}`` for the options of ``names`` (``parameter=dest``) that the user gave.

    An option left out is absent from ``args`` (``SUPPRESS``) or None.
    """
    return {
        parameter: getattr(args, dest) for parameter, dest in names.items() if getattr(args, dest, None) is not None
    }


def defaults(function):
    """``function``'s keyword defaults: what applies to the options the user left out."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def estimator(args, **params):
    """The classifier the command's options describe, checked before any data is read.

    ``params`` (the data's columns) come from the command; the model options the user gave
    are added, and the classifier's defaults fill in the rest.
    """
    from .._classifier import MultimodalSentimentClassifier

    model = MultimodalSentimentClassifier(
        **params, **given(args, **{name: name for name in _MODEL_OPTIONS}), verbose=verbose(args)
    )
    model._validate_params()  # a misspelt option fails now, not after the data is read
    return model


def card_path(model_path):
    """Where a saved model's card goes: OUT.md beside OUT."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.name}.md")


def check_outputs(*paths, inputs):
    """Refuse, before any work, an output that is a special file or one of the command's inputs."""
    for path in paths:
        if path is not None:
            check_output_path(path, inputs=inputs)


def save(model, out, *, inputs, **options):
    """Save a fitted model and write its model card beside it; return both paths.

    The progress bars belong to this run, not to the saved model: it loads as quiet as any library call.
    """
    from .._card import model_card
    from .._persistence import save_model
    from .._progress import set_verbose

    check_output_path(out, inputs=inputs)  # save_model writes atomically, but knows nothing of the inputs
    path = save_model(set_verbose(model, 0), out, **options)
    card = card_path(path)
    with atomic_write(card, "w", encoding="utf-8", inputs=inputs) as file:
        file.write(model_card(path))
    return path, card
