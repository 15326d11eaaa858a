"""Hyper-parameter search on a dev split or inner CV, with nested featurizer parameters reachable."""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (registers HalvingRandomSearchCV)
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, ParameterGrid, PredefinedSplit

from .._classifier import MultimodalSentimentClassifier
from .._progress import progress_bar

__all__ = ["default_param_grid", "tune"]


def default_param_grid(fusion="concat", features="pretrained"):
    """A small search space for ``fusion`` and ``features``.

    TF-IDF n-grams and min_df, image size, C, modality weight, and the shared space's size and
    weight (``"intermediate"``) or the auxiliary tasks' weight (``"multitask"``). The names follow
    the featurizers of that feature set: the pretrained text branch is a union whose ``tfidf``
    pipeline holds the vectorizer (``text_features__tfidf__tfidf__...``); its image branch (CNN
    embeddings) has no size to tune.

    Examples
    --------
    >>> from mmsent.evaluation import default_param_grid
    >>> sorted(default_param_grid("text", "handcrafted"))
    ['C', 'text_features__tfidf__min_df', 'text_features__tfidf__ngram_range']
    >>> sorted(default_param_grid("image"))
    ['C']
    >>> {name: values for name, values in default_param_grid("intermediate").items() if "features" not in name}
    {'C': [0.1, 1.0], 'text_weight': [0.5, 1.0, 2.0], 'n_components': [8, 32], 'shared_weight': [0.5, 1.0]}
    """
    grid = {"C": [0.1, 1.0]}
    if fusion != "image":
        tfidf = "text_features__tfidf__tfidf" if features == "pretrained" else "text_features__tfidf"
        grid[f"{tfidf}__ngram_range"] = [(1, 1), (1, 2)]
        grid[f"{tfidf}__min_df"] = [1, 2]
    if fusion != "text" and features == "handcrafted":
        grid["image_features__decode__size"] = [(64, 64), (96, 96)]
    if fusion in ("concat", "intermediate", "vote", "multitask"):
        grid["text_weight"] = [0.5, 1.0, 2.0]
    if fusion == "intermediate":
        grid["n_components"] = [8, 32]
        grid["shared_weight"] = [0.5, 1.0]
    if fusion == "multitask":
        grid["task_weight"] = [0.5, 1.0]
    return grid


class _ProgressScorer:
    """A scorer that also advances a progress bar: the search calls it once per fit."""

    def __init__(self, scorer, bar):
        self.scorer = scorer
        self.bar = bar

    def __call__(self, estimator, X, y):
        self.bar.update()
        return self.scorer(estimator, X, y)


def tune(
    X,
    y,
    param_grid=None,
    *,
    X_dev=None,
    y_dev=None,
    estimator=None,
    cv=3,
    search="grid",
    scoring="f1_macro",
    n_candidates="exhaust",
    random_state=0,
    refit=True,
    progress=True,
    n_jobs=None,
):
    """Search hyper-parameters of a :class:`MultimodalSentimentClassifier`, then refit the best.

    Candidates are scored on the dev split when one is given (fit on ``X``,
    scored on ``X_dev``; the best is refit on both), otherwise by stratified
    ``cv``-fold CV inside ``X``. Keep any test split out of both.

    Parameters
    ----------
    X, y : DataFrame, array-like
        Training posts and labels.
    param_grid : dict, default=None
        Parameter name → list of values, nested names included (e.g.
        ``text_features__tfidf__ngram_range``, ``image_features__decode__size``).
        None uses :func:`default_param_grid` for the estimator's fusion and
        feature set. A grid over ``features`` itself cannot hold nested
        featurizer names (each candidate builds its own featurizers).
    X_dev, y_dev : DataFrame, array-like, default=None
        A dev split to choose on.
    estimator : MultimodalSentimentClassifier, default=None
        The model to tune. None: the default one. A model whose featurizers
        are None gets those of its ``features`` explicitly (with its own
        ``n_jobs`` and ``verbose``), so that their parameters exist, e.g.
        ``image_features__cnn__embed__batch_size``.
    cv : int, default=3
        Inner folds when there is no dev split.
    search : {"grid", "halving"}, default="grid"
        ``GridSearchCV`` (every candidate) or ``HalvingRandomSearchCV``
        (successive halving over ``n_candidates`` random candidates).
    scoring : str, default="f1_macro"
        A scikit-learn scorer name.
    n_candidates : int or "exhaust", default="exhaust"
        Candidates of the halving search.
    random_state : int, default=0
        Seed of the halving search's sampling.
    refit : bool, default=True
        Refit the best candidate on all the data given (``X`` and ``X_dev``).
        False keeps every candidate's scores only, e.g. to report dev scores.
    progress : bool, default=True
        Show a progress bar over the fits (when they run in this process).
    n_jobs : int, default=None
        Fits run at the same time by the search (None: one, in this process, where
        the token and image caches serve every candidate). Under
        ``joblib.parallel_config(backend="dask")`` they run on a Dask cluster (see
        :func:`mmsent.scale.dask_client`).

    Returns
    -------
    GridSearchCV or HalvingRandomSearchCV
        Fitted: ``best_params_``, ``best_score_``, ``cv_results_`` and, with
        ``refit``, the refit ``best_estimator_``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmsent import MultimodalSentimentClassifier
    >>> from mmsent.evaluation import tune
    >>> X = pd.DataFrame({"text": ["good day", "bad day", "good", "bad"] * 4,
    ...                   "image": [np.zeros((8, 8, 3), np.uint8)] * 16})
    >>> y = ["pos", "neg"] * 8
    >>> found = tune(X, y, {"C": [0.01, 1.0]}, estimator=MultimodalSentimentClassifier(fusion="text"), progress=False)
    >>> found.best_params_, found.best_estimator_.predict(X.head(2)).tolist()
    ({'C': 0.01}, ['pos', 'neg'])
    """
    if search not in ("grid", "halving"):
        raise ValueError(f"search must be 'grid' or 'halving', got {search!r}")
    estimator = MultimodalSentimentClassifier() if estimator is None else clone(estimator)
    param_grid = default_param_grid(estimator.fusion, estimator.features) if param_grid is None else param_grid
    if "features" not in param_grid:
        # The featurizers it would build itself, made explicit so that their parameters exist. Searching
        # ``features`` itself needs them left to build: explicit featurizers win over it.
        text_features, image_features = estimator._featurizers()
        estimator.set_params(text_features=text_features, image_features=image_features)
    unknown = sorted(set(param_grid) - set(estimator.get_params(deep=True)))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; nested ones look like text_features__tfidf__min_df")
    if X_dev is not None:
        X = pd.concat([X, X_dev], ignore_index=True)
        y = np.concatenate([np.asarray(y), np.asarray(y_dev)])
        splitter = PredefinedSplit(np.r_[np.full(len(X) - len(X_dev), -1), np.zeros(len(X_dev), dtype=int)])
    else:
        splitter = cv
    n_splits = 1 if X_dev is not None else cv
    total = len(ParameterGrid(param_grid)) * n_splits if search == "grid" else None
    # A bar advanced by the scorer works where the scorer runs: in this process only.
    in_process = n_jobs in (None, 1)
    plain = get_scorer(scoring)
    with progress_bar(total, desc=f"tune ({search})", unit="fit", verbose=progress and in_process) as bar:
        scorer = _ProgressScorer(plain, bar) if in_process else plain
        options = {"scoring": scorer, "cv": splitter, "refit": refit, "n_jobs": n_jobs}
        if search == "grid":
            found = GridSearchCV(estimator, param_grid, **options)
        else:
            found = HalvingRandomSearchCV(
                estimator, param_grid, n_candidates=n_candidates, random_state=random_state, **options
            )
        found.fit(X, y)
    # The progress bar is no part of the result: keep the plain scorer.
    found.scoring, found.scorer_ = scoring, plain
    return found
