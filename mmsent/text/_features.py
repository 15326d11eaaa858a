"""Text column → sparse TF-IDF features (jieba tokens, word n-grams)."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from .._validation import as_value_list, describe_rows, row_labels
from ._tokenizer import JiebaTokenizer, passthrough_tokens

__all__ = ["TextCleaner", "make_text_features"]


def _is_missing(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


class TextCleaner(TransformerMixin, BaseEstimator):
    """Check a text column and turn it into a list of ``str``.

    Missing values (``None``, ``NaN``) become the empty string: a post without
    text is still a post, and its image can still be classified. UTF-8 ``bytes``
    are decoded. Anything else (numbers, undecodable bytes) raises one
    ``ValueError`` that lists every offending row by its index label.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmsent.text import TextCleaner
    >>> TextCleaner().fit_transform(pd.Series(["好", None, b"ok"]))
    ['好', '', 'ok']
    """

    def fit(self, X, y=None):
        """Nothing to learn; present for the scikit-learn API."""
        return self

    def transform(self, X):
        """Return the column as a list of ``str``, one per row."""
        values = as_value_list(X)
        cleaned, problems = [], []
        for row, value in zip(row_labels(X), values):
            if isinstance(value, str):
                cleaned.append(value)
            elif _is_missing(value):
                cleaned.append("")
            elif isinstance(value, bytes):
                try:
                    cleaned.append(value.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    problems.append((row, f"text bytes are not UTF-8 ({exc.reason} at byte {exc.start})"))
            else:
                problems.append((row, f"text must be str, got {type(value).__name__} {value!r:.40}"))
        if problems:
            raise ValueError(f"{len(problems)} rows have unusable text:\n{describe_rows(problems)}")
        return cleaned

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def make_text_features(
    *, ngram_range=(1, 2), min_df=1, max_df=1.0, max_features=None, sublinear_tf=True, tokenizer=None, n_jobs=None
):
    """Build the default text branch: ``TextCleaner`` → ``JiebaTokenizer`` → ``TfidfVectorizer``.

    The tokenizer is a step of its own, so that a batch is segmented at once (in
    worker processes when it is large, see ``JiebaTokenizer(n_jobs=...)``) and each
    distinct document once per process, whatever the folds. The vectorizer then
    reads token lists (``token_pattern=None``, identity tokenizer), with sublinear
    term frequency and float32 output. Parameters are reachable by name, e.g.
    ``tfidf__ngram_range`` or ``tokenize__n_jobs``.

    Parameters
    ----------
    ngram_range : tuple of int, default=(1, 2)
        Word n-gram range.
    min_df, max_df : int or float
        Document-frequency cut-offs, as in ``TfidfVectorizer``.
    max_features : int, default=None
        Keep only the most frequent n-grams.
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)``.
    tokenizer : JiebaTokenizer, default=None
        The tokenizing step; defaults to ``JiebaTokenizer(n_jobs=n_jobs)``.
    n_jobs : int, default=None
        Worker processes of the default tokenizer, for large batches.

    Returns
    -------
    Pipeline
        Steps ``clean``, ``tokenize`` and ``tfidf``.

    Examples
    --------
    >>> from mmsent.text import make_text_features
    >>> X = make_text_features().fit_transform(["很 好", "很 差", "好"])
    >>> X.shape, X.dtype
    ((3, 5), dtype('float32'))
    """
    vectorizer = TfidfVectorizer(
        tokenizer=passthrough_tokens,
        preprocessor=passthrough_tokens,
        token_pattern=None,
        lowercase=False,  # the tokenizer lowercases Latin text itself
        ngram_range=ngram_range,
        min_df=min_df,
        max_df=max_df,
        max_features=max_features,
        sublinear_tf=sublinear_tf,
        dtype=np.float32,
    )
    return Pipeline(
        [("clean", TextCleaner()), ("tokenize", JiebaTokenizer(n_jobs=n_jobs) if tokenizer is None else tokenizer), ("tfidf", vectorizer)]
    )
