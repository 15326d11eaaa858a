"""TF-IDF of token lists: scikit-learn's ``TfidfVectorizer``, counting n-grams with NumPy."""

import re
from array import array
from bisect import bisect_left
from collections import namedtuple
from collections.abc import ItemsView, Mapping, ValuesView

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from ._tokenizer import passthrough_tokens

__all__ = ["NgramVocabulary", "TokenTfidfVectorizer"]

# n-gram occurrences sorted and counted at a time: their temporaries take about 4 MB.
_CHUNK_OCCURRENCES = 2**16
# Tokens of the documents a transform counts at a time: their n-grams' temporaries take about 4 MB.
_BATCH_TOKENS = 2**17


def _distinct_ranks(codes):
    """Sorted distinct values of ``codes``; each code's rank among them (int32); where each first occurs.

    ``np.unique(return_index=True, return_inverse=True)`` with about a third of the temporary memory:
    ``codes`` is sorted in place (the caller drops it) rather than copied in order.
    """
    order = np.argsort(codes, kind="stable")
    codes.sort()
    first = np.empty(len(codes), dtype=bool)
    first[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=first[1:])
    distinct = codes[first]
    ranks = np.empty(len(codes), dtype=np.int32)
    ranks[order] = np.cumsum(first, dtype=np.int32) - 1
    return distinct, ranks, order[first]


def _word_ids(token_lists, stop_words):
    """Token ids (int32, words numbered as they appear), documents end to end; each one's token count; the words."""
    words, ids, lengths = {}, array("i"), array("q")
    for tokens in token_lists:
        if stop_words is not None:
            tokens = [token for token in tokens if token not in stop_words]
        before = len(ids)
        ids.extend([words.setdefault(token, len(words)) for token in tokens])
        lengths.append(len(ids) - before)
    return np.asarray(ids, dtype=np.int32), np.asarray(lengths, dtype=np.int64), list(words)


# The n-grams of one size: ``codes`` the distinct ones (None for words: their ids), each
# ``prefix * n_words + last word``, ``prefix`` its first n - 1 words' index in the distinct
# n-grams of the size below; ``grams`` the index in ``codes`` of every occurrence (document
# after document, in order within each), ``first`` where each distinct one first occurs in
# ``grams``, ``per_doc`` how many occurrences each document has.
_Level = namedtuple("_Level", "per_doc grams codes first")


class _Spellings:
    """The spellings of distinct n-grams (``prefix words``), made one at a time as they are iterated.

    Under a fixed vocabulary each string is looked up and dropped at once: the n-grams of a
    batch never exist as strings all together.
    """

    def __init__(self, codes, prefixes, words):
        self.codes, self.prefixes, self.words = codes, prefixes, words

    def __len__(self):
        return len(self.codes)

    def __iter__(self):
        join, prefixes, words = " ".join, self.prefixes, self.words
        for start in range(0, len(self.codes), _CHUNK_OCCURRENCES):
            heads, lasts = np.divmod(self.codes[start : start + _CHUNK_OCCURRENCES], len(words))
            yield from (join((prefixes[head], words[last])) for head, last in zip(heads.tolist(), lasts.tolist()))


def _ngram_levels(ids, lengths, n_words, max_n):
    """The :data:`_Level` of each n-gram size from 1 to ``max_n``.

    An n-gram is identified by (its first n - 1 words' index, its last word), so that
    nothing is made per occurrence but integers.
    """
    starts = np.cumsum(lengths) - lengths
    later = np.ones(len(ids), dtype=bool)  # tokens at position n - 1 or more in their document
    # Word ids number words as they appear: a word first occurs where the running maximum grows.
    running = np.maximum.accumulate(ids) if len(ids) else ids
    levels = [_Level(lengths, ids, None, np.flatnonzero(np.diff(running, prepend=-1) > 0))]
    for n in range(2, max_n + 1):
        # Each document's (n-1)-grams but its last, extended by the word after each.
        grams = levels[-1].grams
        has_next = np.ones(len(grams), dtype=bool)
        ends = np.cumsum(np.maximum(lengths - n + 2, 0))
        has_next[ends[lengths >= n - 1] - 1] = False
        later[starts[lengths > n - 2] + n - 2] = False
        codes = grams[has_next].astype(np.int64) * n_words + ids[later]
        del has_next
        distinct, grams, first = _distinct_ranks(codes)
        del codes
        levels.append(_Level(np.maximum(lengths - n + 1, 0), grams, distinct, first))
    return levels


def _sizes(ngram_range):
    """The n-gram sizes scikit-learn makes: ``range(min_n, max_n + 1)``, but the tokens as they are when max_n is 1."""
    min_n, max_n = ngram_range
    return range(1 if max_n == 1 else min_n, max_n + 1)


def _spellings(levels, words):
    """Each level's distinct n-grams as scikit-learn spells them (words joined by a space); the last made as read."""
    spelled = [words]
    for level in levels[1:]:
        terms = _Spellings(level.codes, spelled[-1], words)
        spelled.append(terms if level is levels[-1] else list(terms))
    return spelled


def _word_keys(levels, words, word_key, base):
    """Each level's distinct n-grams as :class:`NgramVocabulary` keys: their words' keys as digits in ``base``.

    ``word_key`` is each word's key (-1: unknown); an n-gram with an unknown word is -1.
    """
    keys = [word_key]
    for level in levels[1:]:
        heads, lasts = np.divmod(level.codes, len(words))
        prefix, last = keys[-1][heads], word_key[lasts]
        key = prefix * base + last
        key[(prefix < 0) | (last < 0)] = -1
        keys.append(key)
    return keys


def _first_seen_order(levels, columns, n_features):
    """Columns in the order scikit-learn's counting first meets them (documents in turn; in each,
    its unigrams, then its bigrams, ...): the order of the entries of each row it returns."""
    totals = np.sum([level.per_doc for level in levels], axis=0)
    start = np.cumsum(totals) - totals  # a document's first occurrence, counted over all sizes
    first_seen = np.full(n_features, np.iinfo(np.int64).max)
    for level, column in zip(levels, columns):
        offsets = np.concatenate([[0], np.cumsum(level.per_doc)])
        doc = np.searchsorted(offsets, level.first, side="right") - 1
        np.minimum.at(first_seen, column, level.first - offsets[doc] + start[doc])
        start = start + level.per_doc  # the next size's n-grams come after these
    return np.argsort(first_seen, kind="stable").astype(columns[0].dtype)


def _count_chunk(levels, slots, start, stop, offsets, n_slots):
    """Sorted slots and counts of documents ``start:stop``, and how many each document has."""
    keys = []
    for level, slot, offset in zip(levels, slots, offsets):
        ids = slot[level.grams[offset[start] : offset[stop]]]
        docs = np.repeat(np.arange(stop - start, dtype=np.int64), level.per_doc[start:stop])
        docs *= n_slots
        docs += ids
        keys.append(docs[ids >= 0])  # -1: not in a fixed vocabulary
    key = np.concatenate(keys)
    key.sort()
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    distinct = key[starts]
    per_doc = np.bincount(distinct // n_slots, minlength=stop - start)
    return distinct % n_slots, np.diff(starts, append=len(key)), per_doc


def count_token_ngrams(
    documents, ngram_range, stop_words=None, vocabulary=None, decode=None, dtype=np.int64, finish=None
):
    """Word n-gram counts of tokenized documents, as ``CountVectorizer`` with pass-through tokens counts them.

    Parameters
    ----------
    documents : iterable of sequence of str
        One sequence of tokens per document.
    ngram_range : tuple of int (min_n, max_n)
        The n-gram sizes.
    stop_words : collection of str, default=None
        Tokens dropped before n-grams are made.
    vocabulary : mapping of str to int, default=None
        Count only these n-grams, in these columns; None learns them: every
        n-gram seen, numbered in sorted order.
    decode : callable, default=None
        Applied to each document first (``CountVectorizer.decode``).
    dtype : dtype, default=np.int64
        Of the counts.
    finish : callable, default=None
        Under a given vocabulary, applied to the count matrix of each batch of
        documents before its rows join the output (a row-wise step, such as
        TF-IDF weighting: it then never holds temporaries of the whole matrix).

    Returns
    -------
    vocabulary : NgramVocabulary or dict of str to int
        The one given, else the learnt one: a :class:`NgramVocabulary`, or a
        dict when a token holds a character at or below the space.
    counts : scipy.sparse.csr_matrix of shape (n_documents, len(vocabulary))
        Entries in scikit-learn's order: sorted by column under a given
        vocabulary, else in the order the n-grams were first seen.

    Examples
    --------
    >>> from mmsent.text._vectorizer import count_token_ngrams
    >>> vocabulary, counts = count_token_ngrams([["很", "好"], ["好", "好"]], (1, 2))
    >>> dict(vocabulary)
    {'好': 0, '好 好': 1, '很': 2, '很 好': 3}
    >>> counts.toarray().tolist()
    [[1, 0, 1, 1], [2, 1, 0, 0]]
    """
    token_lists = map(decode or passthrough_tokens, documents)
    sizes = _sizes(ngram_range)
    if vocabulary is None:
        ids, lengths, words = _word_ids(token_lists, stop_words)
        levels = _ngram_levels(ids, lengths, len(words), sizes[-1])
        del ids
        vocabulary, columns = NgramVocabulary.learn(words, levels, sizes) or _learn_dict(words, levels, sizes)
        if not len(vocabulary):
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        kept = [levels[n - 1] for n in sizes]
        del levels
        return vocabulary, _count_levels(kept, columns, len(vocabulary), len(lengths), dtype, learn=True)
    # Under a fixed vocabulary each batch of documents is counted on its own and its entries
    # are copied into the output: the n-gram codes and their sort never grow with the corpus.
    index = np.int32 if len(vocabulary) < np.iinfo(np.int32).max else np.int64
    indices, values, per_doc, nnz, part = np.empty(0, index), None, [], 0, None
    for batch in _token_batches(token_lists, _BATCH_TOKENS):
        ids, lengths, words = _word_ids(batch, stop_words)
        levels = _ngram_levels(ids, lengths, len(words), sizes[-1])
        columns = _fixed_columns(levels, words, sizes, vocabulary)
        part = _count_levels([levels[n - 1] for n in sizes], columns, len(vocabulary), len(lengths), dtype)
        del levels, columns
        if finish is not None:
            part = finish(part)
        if values is None:  # the dtype of what ``finish`` gives
            values = np.empty(0, part.dtype)
        end = nnz + part.nnz
        if end > len(indices):
            # The first size guessed from the first batch, so that most runs never grow: allocated
            # empty, its pages are taken only as entries are written (``resize`` zero-fills what it
            # adds). Grown in place (the C library moves pages, it does not copy them).
            rows = len(documents) if hasattr(documents, "__len__") else 0
            capacity = max(end, int(len(indices) * 1.5), int(part.nnz / max(len(lengths), 1) * rows * 1.1))
            if nnz:
                indices.resize(capacity, refcheck=False)
                values.resize(capacity, refcheck=False)
            else:
                indices, values = np.empty(capacity, index), np.empty(capacity, values.dtype)
        indices[nnz:end], values[nnz:end] = part.indices, part.data
        per_doc.append(np.diff(part.indptr))
        nnz = end
    if values is None:  # no documents
        values = np.empty(0, dtype)
    indices.resize(nnz, refcheck=False)
    values.resize(nnz, refcheck=False)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([np.zeros(0, np.int64), *per_doc]))])
    shape = (len(indptr) - 1, len(vocabulary))
    matrix = sp.csr_matrix((values, indices, indptr), shape=shape, dtype=values.dtype)
    matrix.has_sorted_indices = True
    if finish is not None and part is None:
        return vocabulary, finish(matrix)  # what it says of no documents
    if isinstance(part, getattr(sp, "sparray", ())):
        matrix = sp.csr_array(matrix)
    return vocabulary, matrix


def _learn_dict(words, levels, sizes):
    """The vocabulary as a dict of spellings, and each level's column of its distinct n-grams.

    Distinct n-grams can share a spelling (a token holding a space): one feature then.
    """
    spelled = _spellings(levels, words)
    vocabulary = {}
    for term in sorted(term for n in sizes for term in spelled[n - 1]):
        vocabulary.setdefault(term, len(vocabulary))
    index = np.int32 if len(vocabulary) < np.iinfo(np.int32).max else np.int64
    columns = [np.fromiter(map(vocabulary.__getitem__, spelled[n - 1]), index, len(spelled[n - 1])) for n in sizes]
    return vocabulary, columns


def _fixed_columns(levels, words, sizes, vocabulary):
    """Each kept level's column of its distinct n-grams in a fixed ``vocabulary`` (-1: not in it)."""
    if isinstance(vocabulary, NgramVocabulary):
        return vocabulary.columns_of(levels, words, sizes)
    index = np.int32 if len(vocabulary) < np.iinfo(np.int32).max else np.int64
    spelled = _spellings(levels, words)
    get = vocabulary.get
    return [np.fromiter((get(term, -1) for term in spelled[n - 1]), index, len(spelled[n - 1])) for n in sizes]


def _token_batches(token_lists, size):
    """Lists of consecutive token lists, each with ``size`` tokens or a little more (the last with fewer)."""
    batch, tokens = [], 0
    for token_list in token_lists:
        batch.append(token_list)
        tokens += len(token_list)
        if tokens >= size:
            yield batch
            batch, tokens = [], 0
    if batch:
        yield batch


def _count_levels(levels, columns, n_features, n_docs, dtype, learn=False):
    """The count matrix of the n-gram ``levels`` of ``n_docs`` documents; ``columns``: each level's distinct ones'."""
    index = np.int32 if n_features < np.iinfo(np.int32).max else np.int64
    # Each row's entries go in slot order: scikit-learn's, so that sums over a row (its norm) are the same.
    if learn:
        column_of_slot = _first_seen_order(levels, columns, n_features)
        slot_of_column = np.empty(n_features, dtype=index)
        slot_of_column[column_of_slot] = np.arange(n_features, dtype=index)
        slots = [slot_of_column[column] for column in columns]
        del slot_of_column
    else:
        slots = columns
    del columns
    offsets = [np.concatenate([[0], np.cumsum(level.per_doc)]) for level in levels]
    total = int(sum(offset[-1] for offset in offsets))
    # At most one entry per occurrence; shrunk in place to the real count at the end.
    indices = np.empty(total, dtype=index)
    counts = np.empty(total, dtype=dtype)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    occurrences = np.sum([level.per_doc for level in levels], axis=0)
    bounds = np.searchsorted(np.cumsum(occurrences), np.arange(_CHUNK_OCCURRENCES, total, _CHUNK_OCCURRENCES), "right")
    edges = [0, *np.unique(bounds[(bounds > 0) & (bounds < n_docs)]).tolist(), n_docs]
    nnz = 0
    for start, stop in zip(edges[:-1], edges[1:]):
        if start == stop:  # no documents
            continue
        chunk_slots, chunk_counts, per_doc = _count_chunk(levels, slots, start, stop, offsets, n_features)
        indices[nnz : nnz + len(chunk_slots)] = column_of_slot[chunk_slots] if learn else chunk_slots
        counts[nnz : nnz + len(chunk_slots)] = chunk_counts
        indptr[start + 1 : stop + 1] = nnz + np.cumsum(per_doc)
        nnz += len(chunk_slots)
    indices.resize(nnz, refcheck=False)
    counts.resize(nnz, refcheck=False)
    matrix = sp.csr_matrix((counts, indices, indptr), shape=(n_docs, n_features), dtype=dtype)
    matrix.has_sorted_indices = not learn
    return matrix


# Characters at or below the space that joins n-grams: a word holding one would order (or spell)
# its n-grams otherwise than its words do.
_AT_OR_BELOW_SPACE = re.compile("[\x00- ]")
_INT64_MAX = np.iinfo(np.int64).max


class NgramVocabulary(Mapping):
    """A learnt ``vocabulary_`` of word n-grams, equal to scikit-learn's dict and a fraction of its size.

    scikit-learn keeps one string per n-gram (a bigram's string and its dict entry take about
    130 bytes). Here every word seen is kept once, sorted, and each n-gram of ``n`` words is
    the integer whose digits in base ``len(words)`` are its words' ranks: one sorted ``int64``
    array of keys per size, and the column of each (16 bytes an n-gram or less). No word holds
    a character at or below the space, so that n-grams sort as their spellings do and a
    spelling splits back into its words (:meth:`learn` declines otherwise, and the vectorizer
    keeps a dict).

    It reads like the dict: ``vocabulary[term]``, ``in``, ``len``, iteration in column order,
    ``items()``, and ``==`` with a dict of the same entries.

    Attributes
    ----------
    words : list of str
        Every word of the documents it was learnt from, sorted.
    sizes : tuple of int
        The n-gram sizes it holds.
    codes : list of ndarray of int64
        Per size, its n-grams' keys, sorted.
    columns : list of ndarray of int
        Per size, each key's column.

    Examples
    --------
    >>> from mmsent.text import TokenTfidfVectorizer, passthrough_tokens
    >>> vectorizer = TokenTfidfVectorizer(
    ...     tokenizer=passthrough_tokens, preprocessor=passthrough_tokens, token_pattern=None, ngram_range=(1, 2)
    ... ).fit([["很", "好"], ["好"]])
    >>> vocabulary = vectorizer.vocabulary_
    >>> vocabulary == {"好": 0, "很": 1, "很 好": 2}, vocabulary["很 好"], "好 很" in vocabulary
    (True, 2, False)
    """

    def __init__(self, words, sizes, codes, columns):
        self.words, self.sizes, self.codes, self.columns = words, tuple(sizes), codes, columns

    @classmethod
    def learn(cls, words, levels, sizes):
        """The vocabulary of the n-gram ``levels`` of ``words``, and each level's column of its distinct n-grams.

        Parameters
        ----------
        words : list of str
            The distinct words, numbered as the levels number them.
        levels : list of _Level
            The n-grams of each size from 1 up (:func:`_ngram_levels`).
        sizes : range
            The sizes the vocabulary holds.

        Returns
        -------
        (NgramVocabulary, list of ndarray) or None
            None when a word holds a character at or below the space, or when the keys of
            the largest n-grams would not fit in 64 bits.
        """
        base = len(words)
        if not base or base ** sizes[-1] > _INT64_MAX or _AT_OR_BELOW_SPACE.search("".join(words)):
            return None
        order = sorted(range(base), key=words.__getitem__)
        rank = np.empty(base, dtype=np.int64)
        rank[order] = np.arange(base)
        keys = _word_keys(levels, words, rank, base)
        order = np.asarray(order)
        sorted_keys, positions = [], []
        for n in sizes:
            position = np.argsort(keys[n - 1], kind="stable")
            sorted_keys.append(keys[n - 1][position])
            positions.append(position)
        del keys
        vocabulary = cls([words[i] for i in order.tolist()], sizes, sorted_keys, [])
        vocabulary.columns = vocabulary._merged_columns()
        learnt = []
        for position, column in zip(positions, vocabulary.columns):
            in_level_order = np.empty_like(column)
            in_level_order[position] = column
            learnt.append(in_level_order)
        return vocabulary, learnt

    def _merged_columns(self):
        """Each size's keys' columns in the sorted order of all spellings.

        An n-gram's column counts the n-grams before it: those of its size before it, the
        shorter ones up to its own first words (a prefix sorts first), the longer ones whose
        first n words come before it.
        """
        base, n_features = len(self.words), sum(map(len, self.codes))
        index = np.int32 if n_features < np.iinfo(np.int32).max else np.int64
        columns = []
        for n, keys in zip(self.sizes, self.codes):
            column = np.arange(len(keys), dtype=np.int64)
            for m, other in zip(self.sizes, self.codes):
                if m < n:
                    column += np.searchsorted(other, keys // base ** (n - m), side="right")
                elif m > n:
                    column += np.searchsorted(other // base ** (m - n), keys, side="left")
            columns.append(column.astype(index))
        return columns

    def keep(self, mask):
        """Keep the n-grams whose column ``mask`` holds, renumbered in order (as scikit-learn prunes its dict)."""
        renumbered = np.cumsum(mask) - 1
        for i, column in enumerate(self.columns):
            kept = mask[column]
            self.codes[i] = self.codes[i][kept]
            self.columns[i] = renumbered[column[kept]].astype(column.dtype)

    def columns_of(self, levels, words, sizes):
        """The column of each distinct n-gram of ``levels`` (numbering ``words`` as they do), -1 when absent.

        Returns
        -------
        list of ndarray
            One per size of ``sizes`` (that of other documents, which may differ from :attr:`sizes`).
        """
        word_key = np.fromiter(map(self._rank, words), np.int64, len(words))
        # The keys of sizes it does not hold could overflow: their columns are all -1 anyway.
        keys = _word_keys(levels[: max(self.sizes)], words, word_key, len(self.words))
        index = self.columns[0].dtype if self.columns else np.int64
        columns = []
        for n in sizes:
            if n not in self.sizes:
                level = levels[n - 1]
                columns.append(np.full(len(words) if level.codes is None else len(level.codes), -1, dtype=index))
                continue
            held, column, key = self.codes[self.sizes.index(n)], self.columns[self.sizes.index(n)], keys[n - 1]
            if not len(held):  # all pruned
                columns.append(np.full(len(key), -1, dtype=index))
                continue
            position = np.minimum(np.searchsorted(held, key), len(held) - 1)
            columns.append(np.where(held[position] == key, column[position], -1).astype(index))
        return columns

    def _rank(self, word):
        """The rank of ``word`` among :attr:`words` (sorted: a binary search, no table to hold), or -1."""
        rank = bisect_left(self.words, word)
        return rank if rank < len(self.words) and self.words[rank] == word else -1

    def __getitem__(self, term):
        if not isinstance(term, str):
            raise KeyError(term)
        parts = term.split(" ")
        if len(parts) not in self.sizes:
            raise KeyError(term)
        key = 0
        for part in parts:
            rank = self._rank(part)
            if rank < 0:
                raise KeyError(term)
            key = key * len(self.words) + rank
        keys, level = self.codes[self.sizes.index(len(parts))], self.sizes.index(len(parts))
        position = int(np.searchsorted(keys, key))
        if position == len(keys) or keys[position] != key:
            raise KeyError(term)
        return int(self.columns[level][position])

    def __len__(self):
        return int(sum(len(keys) for keys in self.codes))

    def __iter__(self):
        """The n-grams' spellings in column order."""
        n_features, base = len(self), len(self.words)
        level_of, position_of = np.empty(n_features, dtype=np.int8), np.empty(n_features, dtype=np.int64)
        for level, column in enumerate(self.columns):
            level_of[column], position_of[column] = level, np.arange(len(column))
        words, join = self.words, " ".join
        for start in range(0, n_features, _CHUNK_OCCURRENCES):
            stop = min(start + _CHUNK_OCCURRENCES, n_features)
            for level, position in zip(level_of[start:stop].tolist(), position_of[start:stop].tolist()):
                key, digits = int(self.codes[level][position]), []
                for _ in range(self.sizes[level]):
                    key, digit = divmod(key, base)
                    digits.append(words[digit])
                yield join(reversed(digits))

    def items(self):
        return _Items(self)

    def values(self):
        return _Values(self)

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} n-grams of {'/'.join(map(str, self.sizes))} words)"


class _Items(ItemsView):
    """(spelling, column) pairs in column order: the columns are 0, 1, 2, ..."""

    def __iter__(self):
        return zip(self._mapping, range(len(self._mapping)))


class _Values(ValuesView):
    def __iter__(self):
        return iter(range(len(self._mapping)))



class TokenTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` over token lists, with n-grams counted in NumPy.

    Same parameters, attributes and results as scikit-learn's ``TfidfVectorizer``
    (its ``vocabulary_`` and matrix are equal). With ``tokenizer`` and
    ``preprocessor`` set to :func:`passthrough_tokens` and the word analyzer, as
    :func:`make_text_features` builds it, it numbers each distinct n-gram once
    instead of making and looking up a string for every occurrence, and builds
    the count matrix directly. Its learnt ``vocabulary_`` is then a
    :class:`NgramVocabulary`: equal to scikit-learn's dict, it keeps each word
    once and each n-gram as an integer, not a string (a dict when a token holds
    a character at or below the space that joins n-grams). Any other
    configuration is counted by scikit-learn itself.

    Examples
    --------
    >>> from mmsent.text import TokenTfidfVectorizer, passthrough_tokens
    >>> vectorizer = TokenTfidfVectorizer(
    ...     tokenizer=passthrough_tokens, preprocessor=passthrough_tokens, token_pattern=None, ngram_range=(1, 2)
    ... )
    >>> vectorizer.fit_transform([["很", "好"], ["好"]]).shape
    (2, 3)
    >>> vectorizer.get_feature_names_out().tolist()
    ['好', '很', '很 好']
    """

    def _counts_token_lists(self):
        return (
            self.analyzer == "word" and self.tokenizer is passthrough_tokens and self.preprocessor is passthrough_tokens
        )

    def _count_vocab(self, raw_documents, fixed_vocab):
        if not self._counts_token_lists():
            return super()._count_vocab(raw_documents, fixed_vocab)
        self.build_analyzer()  # scikit-learn's checks and warnings on the parameters
        return count_token_ngrams(
            raw_documents,
            self.ngram_range,
            stop_words=self.get_stop_words(),
            vocabulary=self.vocabulary_ if fixed_vocab else None,
            decode=self.decode,
            dtype=self.dtype,
        )

    def transform(self, raw_documents):
        """Transform documents to a document-term matrix, as ``TfidfVectorizer.transform``.

        Token lists are weighted a batch of documents at a time as they are counted (the
        weighting is row by row: the same values), so no temporary spans the whole matrix.

        Parameters
        ----------
        raw_documents : iterable
            Token lists (with the pass-through configuration), else what
            ``TfidfVectorizer`` reads.

        Returns
        -------
        X : sparse matrix of shape (n_samples, n_features)
            Tf-idf-weighted document-term matrix.
        """
        if not self._counts_token_lists():
            return super().transform(raw_documents)
        check_is_fitted(self, msg="The TF-IDF vectorizer is not fitted")
        if isinstance(raw_documents, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        self._check_vocabulary()
        self.build_analyzer()  # scikit-learn's checks and warnings on the parameters
        return count_token_ngrams(
            raw_documents,
            self.ngram_range,
            stop_words=self.get_stop_words(),
            vocabulary=self.vocabulary_,
            decode=self.decode,
            dtype=self.dtype,
            finish=self._weigh,
        )[1]

    def _weigh(self, counts):
        """The TF-IDF of a count matrix, as ``transform`` weighs it."""
        if self.binary:
            counts.data.fill(1)
        return self._tfidf.transform(counts, copy=False)

    def _limit_features(self, X, vocabulary, high=None, low=None, limit=None):
        # scikit-learn renumbers the vocabulary and copies X even when every feature stays.
        if limit is None or limit >= X.shape[1]:
            df = np.bincount(X.indices, minlength=X.shape[1])
            if (high is None or df.max(initial=0) <= high) and (low is None or df.min(initial=low) >= low):
                return X
        if not isinstance(vocabulary, NgramVocabulary):
            return super()._limit_features(X, vocabulary, high, low, limit)
        # scikit-learn's pruning, on the vocabulary's arrays rather than one dict entry at a time.
        dfs = np.bincount(X.indices, minlength=X.shape[1])
        mask = np.ones(len(dfs), dtype=bool)
        if high is not None:
            mask &= dfs <= high
        if low is not None:
            mask &= dfs >= low
        if limit is not None and mask.sum() > limit:
            tfs = np.asarray(X.sum(axis=0)).ravel()
            mask_inds = (-tfs[mask]).argsort()[:limit]
            new_mask = np.zeros(len(dfs), dtype=bool)
            new_mask[np.where(mask)[0][mask_inds]] = True
            mask = new_mask
        vocabulary.keep(mask)
        kept_indices = np.where(mask)[0]
        if len(kept_indices) == 0:
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        return X[:, kept_indices]

    def _sort_features(self, X, vocabulary):
        # A vocabulary counted above is sorted already; scikit-learn would rebuild it.
        if isinstance(vocabulary, NgramVocabulary):
            return X
        terms, following = iter(vocabulary), iter(vocabulary)
        next(following, None)
        in_order = all(a < b for a, b in zip(terms, following))
        if in_order and all(type(index) is int and index == column for column, index in enumerate(vocabulary.values())):
            return X
        return super()._sort_features(X, vocabulary)
