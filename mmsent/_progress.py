"""Progress bars for long runs: one tqdm setup for the featurizers and the evaluation helpers."""

import sys

from sklearn.base import BaseEstimator
from tqdm import tqdm

__all__ = ["progress_bar", "set_verbose"]


def progress_bar(total, *, desc, unit, verbose, min_total=0):
    """A tqdm bar on stderr over ``total`` units of work, or a silent one (``disable=True``).

    ``verbose`` follows scikit-learn: 0 (or False) shows nothing; 1 (or True) shows
    the bar when the work is large enough to matter, ``total >= min_total``; 2 or
    more shows it for any batch with work to do (``total`` not 0). A bar opened while another is running (a
    featurizer's under an evaluation's) takes the next line and vanishes when it is
    done; the outermost bar stays (tqdm's ``leave=None``).

    Parameters
    ----------
    total : int or None
        Units of work, e.g. documents to segment or images to embed; None if
        unknown (then counted as large).
    desc : str
        What is being done, printed before the bar.
    unit : str
        Name of one unit, e.g. ``"documents"``, ``"images"``, ``"fit"``.
    verbose : int or bool
        See above.
    min_total : int, default=0
        Smallest ``total`` that gets a bar at ``verbose=1``.

    Returns
    -------
    tqdm.tqdm
        Use it as a context manager; ``update(n)`` advances it.

    Examples
    --------
    >>> from mmsent._progress import progress_bar
    >>> progress_bar(10, desc="tokenize", unit="documents", verbose=0).disable
    True
    >>> progress_bar(10, desc="tokenize", unit="documents", verbose=1, min_total=5_000).disable
    True
    """
    needed_level = 1 if total is None or total >= min_total else 2
    shown = total != 0 and verbose >= needed_level  # nothing to do (say, every document cached): no bar
    return tqdm(total=total, desc=desc, unit=unit, disable=not shown, leave=None, file=sys.stderr)


def set_verbose(estimator, verbose):
    """Set ``verbose`` on every estimator that reports progress in ``estimator``, fitted parts included.

    A fitted model's featurizers are the ones built or cloned at ``fit`` time (in
    ``model_``, ``estimators_``, ``transformers_``, ...), which ``set_params``
    does not reach: use this to turn their progress bars on or off for
    ``predict``, e.g. on a loaded model. Only the estimators that report progress
    (class attribute ``_reports_progress = True``: the classifier, ``JiebaTokenizer``,
    ``CNNEmbedder``) change; the others keep their ``verbose``, which means other
    output there (liblinear's log, ``VotingClassifier``'s or ``Pipeline``'s
    messages, also in mmsent's subclasses of them).

    Parameters
    ----------
    estimator : estimator
        A model, fitted or not; changed in place.
    verbose : int
        The new level (0: silent).

    Returns
    -------
    estimator
        The same object.

    Examples
    --------
    >>> from mmsent import MultimodalSentimentClassifier, set_verbose
    >>> set_verbose(MultimodalSentimentClassifier(), 1).verbose
    1
    """
    seen = set()  # ids of the containers visited: estimators may share parts

    def visit(value):
        if not isinstance(value, (list, tuple, dict, BaseEstimator)) or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, BaseEstimator):
            if getattr(value, "_reports_progress", False):
                value.set_params(verbose=verbose)
            children = vars(value).values()
        else:
            children = value.values() if isinstance(value, dict) else value
        for child in children:
            visit(child)

    visit(estimator)
    return estimator
