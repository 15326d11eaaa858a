"""A ``ColumnTransformer`` that joins its branches' sparse blocks into the output without copying them all twice."""

import sys
import threading
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import _fit_transform_one
from sklearn.utils.validation import check_array

__all__ = ["LowMemoryColumnTransformer"]

# Output entries moved per step of the join: their positions take 8 bytes each.
_CHUNK_ENTRIES = 2**18
_INT32_MAX = np.iinfo(np.int32).max


def _reference_counts():
    """What ``sys.getrefcount`` says, read as below, of: a block held by one list and one local variable; an
    array held by one attribute; the base array of a view, held by that view and one local variable."""
    held = [object()]
    block = held[0]
    holder = SimpleNamespace(data=np.empty(1)[:])
    base = holder.data.base
    return sys.getrefcount(block), sys.getrefcount(holder.data), sys.getrefcount(base)


# Measured rather than assumed: how an interpreter counts the references of locals and arguments varies.
_SOLE_BLOCK, _SOLE_ARRAY, _SOLE_BASE = _reference_counts()


def _storage(array):
    """The array that holds ``array``'s memory, when nothing but ``array`` reaches it; else None.

    ``array`` itself, or the base of which it is the whole view (as SciPy's constructors wrap
    the arrays they are given).
    """
    if not (isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable):
        return None
    if array.flags.owndata:
        return array
    base = array.base
    whole = (
        isinstance(base, np.ndarray)
        and base.flags.owndata
        and base.flags.c_contiguous
        and base.dtype == array.dtype
        and base.size == array.size
        and base.ctypes.data == array.ctypes.data
    )
    return base if whole and sys.getrefcount(base) == _SOLE_BASE else None


def _sole_storage(block):
    """The arrays holding the memory of ``block``'s values (and of a CSR block's column indices), when ``block``
    alone reaches them; else None. Its values may then be changed in place, and its entries given back."""
    if isinstance(block, np.ndarray):
        return (_storage(block),) if _storage(block) is not None else None
    if not (sp.issparse(block) and block.format == "csr"):
        return None
    if sys.getrefcount(block.data) != _SOLE_ARRAY or sys.getrefcount(block.indices) != _SOLE_ARRAY:
        return None
    stores = _storage(block.data), _storage(block.indices)
    return None if stores[0] is None or stores[1] is None else stores


class _Calls(threading.local):
    """Per thread (one estimator may transform in several at once): the estimators whose weights are deferred
    (their ids), and the fresh blocks found by each, by its id."""

    def __init__(self):
        self.deferring, self.owned = set(), {}


_CALLS = _Calls()


def _joinable(dtype):
    """Dtypes whose joined dtype NumPy's promotion gives as SciPy's ``hstack`` does."""
    return dtype.kind in "biu" or dtype in (np.float32, np.float64)


class LowMemoryColumnTransformer(ColumnTransformer):
    """:class:`~sklearn.compose.ColumnTransformer` whose sparse output costs about its own size at the peak.

    Same parameters, attributes and output (values, order of the entries, dtypes) as
    scikit-learn's. There, joining the branches' blocks holds them, a concatenated copy of
    them and the output together (three times the output at the peak), and a branch with a
    ``transformer_weights`` entry is first copied whole to be multiplied. Here a block that
    is a branch's own fresh result (one that neither the input nor a transformer holds) is
    weighted in place, and the output is filled from its last rows to its first while each
    such block gives back the memory of the rows already copied: the blocks and the output
    together stay about the size of the output. Other blocks are copied as they are; a dense
    output is joined by scikit-learn.

    Parameters
    ----------
    transformers, remainder, sparse_threshold, n_jobs, transformer_weights, verbose, \
verbose_feature_names_out, force_int_remainder_cols
        As for :class:`~sklearn.compose.ColumnTransformer`.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from mmsent.fusion import LowMemoryColumnTransformer
    >>> posts = pd.DataFrame({"text": ["good day", "bad day"], "tag": ["red blue", "blue"]})
    >>> columns = LowMemoryColumnTransformer(
    ...     [("text", CountVectorizer(), "text"), ("tag", CountVectorizer(), "tag")],
    ...     transformer_weights={"tag": 2.0}, sparse_threshold=1.0,
    ... )
    >>> features = columns.fit_transform(posts)
    >>> features.format, features.toarray().tolist()
    ('csr', [[0.0, 1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 0.0, 2.0, 0.0]])
    """

    def _iter(self, fitted, column_as_labels, skip_drop, skip_empty_columns):
        deferred = id(self) in _CALLS.deferring  # weights left to _call_func_on_transformers (see there)
        for name, trans, columns, weight in super()._iter(fitted, column_as_labels, skip_drop, skip_empty_columns):
            yield name, trans, columns, None if deferred else weight

    def _call_func_on_transformers(self, X, y, func, column_as_labels, routed_params):
        fitted = func is not _fit_transform_one
        weights = [
            weight
            for *_, weight in self._iter(
                fitted=fitted, column_as_labels=column_as_labels, skip_drop=True, skip_empty_columns=True
            )
        ]
        # scikit-learn's helpers would multiply each block into a copy, the block still alive.
        _CALLS.deferring.add(id(self))
        try:
            results = super()._call_func_on_transformers(X, y, func, column_as_labels, routed_params)
        finally:
            _CALLS.deferring.discard(id(self))
        owned = []
        for index, weight in enumerate(weights):
            # A fit gives (block, transformer) pairs. Held by the pair (or the list) and `block` only, a block is
            # a fresh result that neither the input nor a transformer holds: it may be changed in place.
            block = results[index] if fitted else results[index][0]
            sole = sys.getrefcount(block) == _SOLE_BLOCK
            if weight is not None:
                # Before `values` refers to them too.
                in_place = sole and _sole_storage(block) is not None
                values = block.data if sp.issparse(block) else block
                if in_place and (values[:0] * weight).dtype == values.dtype:
                    values *= weight  # the same products as scikit-learn's copy
                else:
                    block, sole = block * weight, True  # as scikit-learn does; the product is fresh
                results[index] = block if fitted else (block, results[index][1])
                del values
            if sole:
                owned.append(id(block))
            del block
        # Read by _hstack, which follows in the same fit_transform or transform (and thread) while the blocks live.
        _CALLS.owned[id(self)] = owned
        return results

    def _hstack(self, Xs, *, n_samples):
        owned = set(_CALLS.owned.pop(id(self), ()))
        if not self.sparse_output_:
            return super()._hstack(Xs, n_samples=n_samples)
        try:
            converted = [check_array(X, accept_sparse=True, ensure_all_finite=False) for X in Xs]
        except ValueError:  # scikit-learn says why
            return super()._hstack(Xs, n_samples=n_samples)
        if not all(_joinable(block.dtype) for block in converted):
            return super()._hstack(Xs, n_samples=n_samples)
        sparse_array = any(isinstance(block, getattr(sp, "sparray", ())) for block in converted)
        # scipy joins CSR blocks as they are, others through coordinates, which sorts each row's entries.
        canonical = not all(sp.issparse(block) and block.format == "csr" for block in converted)
        blocks, stores = [], []
        for original, block in zip(Xs, converted):
            csr = block if sp.issparse(block) and block.format == "csr" else sp.csr_matrix(block)
            blocks.append(csr)
            # Its own conversion, or the branch's fresh block: no one else will read it again.
            fresh = csr is not block or (block is original and id(original) in owned)
            stores.append(_sole_storage(csr) if fresh else None)
        del converted, Xs
        matrix = _join_csr(blocks, stores)
        if canonical:
            matrix.sum_duplicates()
        return sp.csr_array(matrix) if sparse_array else matrix


def _join_csr(blocks, stores):
    """``scipy.sparse.hstack(blocks).tocsr()``, filled from the last rows up, giving back the memory of blocks.

    A block whose ``stores`` (the arrays holding its values and column indices, see
    :func:`_sole_storage`) are given has them resized (in place, without copying) to the
    entries not yet copied: for large arrays the C library returns their pages at once, so
    the output grows as the blocks shrink. Such blocks are unusable afterwards.
    """
    n_rows = blocks[0].shape[0]
    widths = [block.shape[1] for block in blocks]
    per_block = [np.diff(block.indptr).astype(np.int64) for block in blocks]
    nnz = int(sum(int(counts.sum()) for counts in per_block))
    n_columns = int(sum(widths))
    index = np.int32 if max(nnz, n_columns) <= _INT32_MAX else np.int64
    dtype = np.result_type(*[block.dtype for block in blocks])
    if len(blocks) == 1 and stores[0] and blocks[0].dtype == dtype and blocks[0].indices.dtype == index:
        # The output is the block itself (scipy would copy it).
        block = blocks[0]
        return sp.csr_matrix((block.data, block.indices, block.indptr.astype(index)), shape=block.shape)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.sum(per_block, axis=0), out=indptr[1:])
    data, indices = np.empty(nnz, dtype=dtype), np.empty(nnz, dtype=index)
    # Where each block's entries of a row start in the output, less where they start in the block.
    shifts, before = [], indptr[:-1].copy()
    for block, counts in zip(blocks, per_block):
        shifts.append(before - block.indptr[:-1])
        before += counts
    del before, per_block
    for array in (array for store in stores if store for array in store):
        array.resize(array.size, refcheck=False)  # flat (a base may have another shape): the same memory
    sources = [store or (block.data, block.indices) for block, store in zip(blocks, stores)]
    offsets = np.cumsum([0, *widths[:-1]]).tolist()
    # Row ranges of about _CHUNK_ENTRIES output entries each, last first.
    bounds = np.unique(np.searchsorted(indptr, np.arange(0, nnz, _CHUNK_ENTRIES), side="right") - 1)
    edges = [*bounds[bounds > 0].tolist(), n_rows][::-1]
    for stop, start in zip(edges, [*edges[1:], 0]):
        for block, shift, offset, (values, columns), store in zip(blocks, shifts, offsets, sources, stores):
            first, last = int(block.indptr[start]), int(block.indptr[stop])
            if last == first:
                continue
            target = np.repeat(shift[start:stop], np.diff(block.indptr[start : stop + 1]))
            target += np.arange(first, last)
            data[target] = values[first:last]
            indices[target] = columns[first:last] + offset if offset else columns[first:last]
            del target
            if store:
                values.resize(first, refcheck=False)
                columns.resize(first, refcheck=False)
    return sp.csr_matrix((data, indices, indptr.astype(index)), shape=(n_rows, n_columns))
