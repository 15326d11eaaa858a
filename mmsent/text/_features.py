"""Text column → sparse TF-IDF features (jieba tokens, word n-grams)."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.utils._param_validation import Interval

from .._validation import BadRowsError, as_value_list, describe_rows, is_missing, row_labels
from ._tokenizer import JiebaTokenizer, passthrough_tokens
from ._vectorizer import TokenTfidfVectorizer

__all__ = ["TextCleaner", "TextDecodeError", "make_text_features"]


class TextDecodeError(BadRowsError):
    """Raised when some rows of a text column are unusable; lists all of them in ``problems``."""

    modality = "text"


class TextCleaner(TransformerMixin, BaseEstimator):
    """Check a text column and turn it into a list of ``str``.

    Missing values (``None``, ``NaN``, ``pd.NA``) become the empty string: a post
    without text is still a post, and its image can still be classified. ``bytes``
    are decoded with the first of ``encodings`` that fits. Texts longer than
    ``max_chars`` are cut to that length. Anything else (numbers, bytes no encoding
    fits) raises one :class:`TextDecodeError` that lists every offending row by
    its index label.

    Parameters
    ----------
    encodings : tuple of str, default=("utf-8",)
        Codecs tried in order on ``bytes`` cells. ``("utf-8", "gbk", "latin-1")``
        reads Weibo / MVSA-style mixtures and never fails (latin-1 maps every byte),
        at the price of mojibake for bytes that were neither.
    max_chars : int or None, default=20_000
        Keep only the first ``max_chars`` characters of a text: posts are short,
        and segmenting a megabyte of text takes jieba seconds. None keeps all.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmsent.text import TextCleaner
    >>> TextCleaner().fit_transform(pd.Series(["好", None, b"ok"]))
    ['好', '', 'ok']
    >>> TextCleaner(encodings=("utf-8", "gbk")).fit_transform(["好".encode("gbk")])
    ['好']
    """

    _parameter_constraints = {
        "encodings": [tuple, list],
        "max_chars": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, encodings=("utf-8",), max_chars=20_000):
        self.encodings = encodings
        self.max_chars = max_chars

    def fit(self, X, y=None):
        """Check the parameters; nothing is learnt.

        Parameters
        ----------
        X : array-like of shape (n_posts,)
            A text column (ignored).
        y : None
            Ignored.

        Returns
        -------
        self : TextCleaner
        """
        self._validate_params()
        return self

    def _decode(self, value):
        """Bytes → str with the first codec that fits, or None."""
        for encoding in self.encodings:
            try:
                return value.decode(encoding)
            except UnicodeDecodeError:
                continue
        return None

    def transform(self, X):
        """Check and decode a text column.

        Parameters
        ----------
        X : array-like of shape (n_posts,)
            Texts: ``str``, ``bytes``, or missing values (``None``, NaN, ``pd.NA``).

        Returns
        -------
        texts : list of str of length n_posts
            Missing values as ``""``, ``bytes`` decoded, each cut to ``max_chars``.

        Raises
        ------
        TextDecodeError
            Naming every row whose value is neither text nor missing, or whose
            bytes no codec of ``encodings`` decodes.
        """
        values = as_value_list(X)
        cleaned, problems = [], []
        for row, value in zip(row_labels(X), values):
            if isinstance(value, str):
                cleaned.append(value)
            elif is_missing(value):
                cleaned.append("")
            elif isinstance(value, bytes):
                text = self._decode(value)
                if text is None:
                    tried = " / ".join(self.encodings)
                    problems.append((row, f"text bytes {value[:20]!r} are not valid {tried} (see encodings=)"))
                else:
                    cleaned.append(text)
            else:
                problems.append((row, f"text must be str, got {type(value).__name__} {value!r:.40}"))
        if problems:
            raise TextDecodeError(f"{len(problems)} rows have unusable text:\n{describe_rows(problems)}", problems)
        if self.max_chars is not None:
            cleaned = [text[: self.max_chars] for text in cleaned]
        return cleaned

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def make_text_features(
    *,
    ngram_range=(1, 2),
    min_df=1,
    max_df=1.0,
    max_features=None,
    sublinear_tf=True,
    tokenizer=None,
    n_jobs=None,
    verbose=0,
    lexicon=False,
    lexicon_weight=0.5,
    encodings=("utf-8",),
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
        The tokenizing step; defaults to ``JiebaTokenizer(n_jobs=n_jobs, verbose=verbose)``.
    n_jobs : int, default=None
        Worker processes of the default tokenizer, for large batches.
    verbose : int, default=0
        Progress bar of the default tokenizer (0: none; see :class:`JiebaTokenizer`).
    lexicon : bool, default=False
        Add sentiment-lexicon features (:class:`LexiconFeatures`, the
        ``lexicon`` extra) beside TF-IDF: the result is then a ``FeatureUnion``
        of the ``tfidf`` pipeline above and a ``lexicon`` pipeline (clean →
        tokenize → lexicon → standardise → L2 normalise, so both blocks have unit
        norm), weighted 1 and ``lexicon_weight``
        (tune it as ``transformer_weights``; drop a block with ``lexicon="drop"``).
    lexicon_weight : float, default=0.5
        Weight of the lexicon block against TF-IDF's 1.
    encodings : tuple of str, default=("utf-8",)
        Codecs for ``bytes`` texts, see :class:`TextCleaner`.

    Returns
    -------
    Pipeline or FeatureUnion
        Steps ``clean``, ``tokenize`` and ``tfidf``; with ``lexicon=True`` a union
        of that (``tfidf``) and the lexicon pipeline (``lexicon``).

    Examples
    --------
    >>> from mmsent.text import make_text_features
    >>> X = make_text_features().fit_transform(["很 好", "很 差", "好"])
    >>> X.shape, X.dtype
    ((3, 5), dtype('float32'))
    >>> make_text_features(lexicon=True).fit_transform(["很 好", "不 好", "差"]).shape  # doctest: +SKIP
    (3, 22)
    """
    vectorizer = TokenTfidfVectorizer(
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
    tokenize = JiebaTokenizer(n_jobs=n_jobs, verbose=verbose) if tokenizer is None else tokenizer
    tfidf = Pipeline([("clean", TextCleaner(encodings=encodings)), ("tokenize", tokenize), ("tfidf", vectorizer)])
    if not lexicon:
        return tfidf
    # Imported here: the lexicon module is not needed by the default branch.
    from ._lexicon import LexiconFeatures

    scores = Pipeline(
        [
            ("clean", TextCleaner(encodings=encodings)),
            ("tokenize", clone(tokenize)),  # same configuration: its token cache is shared
            ("lexicon", LexiconFeatures()),
            ("scale", StandardScaler()),
            ("normalize", Normalizer()),
        ]
    )
    return FeatureUnion(
        [("tfidf", tfidf), ("lexicon", scores)], transformer_weights={"tfidf": 1.0, "lexicon": lexicon_weight}
    )
