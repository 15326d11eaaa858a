"""Command line: ``mmsent train | predict | evaluate | tune | retrieve | info | demo | export-cnn``.

One module per command, each with its ``add_parser(subparsers)`` and its ``run(args)``. Building
the parser imports nothing heavy: each ``run`` imports what its command uses, so ``mmsent --help``
answers at once.
"""

import argparse
import logging
import os
import sys
import warnings

from .. import __version__
from ..scale._dask import PartitionLostError
from . import _demo, _evaluate, _export_cnn, _info, _predict, _retrieve, _train, _tune

__all__ = ["main"]

_COMMANDS = (_train, _predict, _evaluate, _tune, _retrieve, _info, _demo, _export_cnn)


def _parser():
    parser = argparse.ArgumentParser(prog="mmsent", description="Sentiment of text + image posts, scikit-learn native.")
    parser.add_argument("--version", action="version", version=f"mmsent {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``mmsent`` command; returns the exit status.

    mmsent's own errors about what the user gave (``ValueError``, ``OSError``, an ``ImportError``
    saying what to install) and a Dask partition the cluster could not compute are one line on
    stderr and exit status 2; anything else is a bug and keeps its traceback.
    """
    args = _parser().parse_args(argv)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # its dictionary-loading chatter
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a message at exit
    except BrokenPipeError:
        # stdout's reader stopped reading (`mmsent predict ... | head`; mmsent writes to no other
        # pipe): stop quietly, as Python's documentation says, pointing stdout at devnull so that
        # the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ModuleNotFoundError:  # a dependency missing altogether: an installation bug, shown where it is
        raise
    except (ValueError, OSError, ImportError, PartitionLostError) as exc:
        print(f"mmsent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
