"""A pipeline of row-wise image steps that runs over the rows in batches, into one output array."""

from numbers import Integral

import numpy as np
import scipy.sparse
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils import get_tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples

from .._progress import progress_bar
from .._validation import BadRowsError, describe_rows
from ._cnn import CNNEmbedder
from ._color import ColorHistogram
from ._decode import ImageDecodeError, ImageDecoder
from ._hog import HOGTransformer

__all__ = ["BatchedPipeline"]

# Steps whose fit learns nothing from the values of the rows (only parameters and
# the shape of a row), so fitting them on one batch equals fitting them on all.
_ROW_WISE = (ImageDecoder, HOGTransformer, ColorHistogram, CNNEmbedder)
_PROGRESS_MIN_ROWS = 5_000  # smaller runs take a second or two: no bar at verbose=1


def _is_row_wise(step):
    if step is None or isinstance(step, str):  # "passthrough" or "drop"
        return True
    if isinstance(step, Pipeline):
        return all(_is_row_wise(inner) for _, inner in step.steps)
    if isinstance(step, FeatureUnion):
        return all(_is_row_wise(inner) for _, inner in step.transformer_list)
    return isinstance(step, _ROW_WISE) or not get_tags(step).requires_fit


def _sliceable(X):
    """``X`` in a form whose rows can be sliced: CSR for sparse input, an array for other array-likes."""
    if scipy.sparse.issparse(X):
        return X.tocsr()
    return X if hasattr(X, "__getitem__") else np.asarray(X)


def _rows(X, start, stop):
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


def _csr(features):
    """``features`` as a CSR matrix; a dense 2-D array converted without scipy's coordinate arrays.

    scipy goes through two int64 arrays per entry; here one, and 4x faster on an image batch.
    """
    if scipy.sparse.issparse(features) or not (isinstance(features, np.ndarray) and features.ndim == 2):
        return scipy.sparse.csr_matrix(features)
    nonzero = features != 0
    indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(nonzero, axis=1))])
    flat = np.flatnonzero(nonzero)
    del nonzero
    index = np.int32 if max(len(flat), features.shape[1]) <= np.iinfo(np.int32).max else np.int64
    indices = (flat % max(features.shape[1], 1)).astype(index)
    data = features.ravel()[flat]
    return scipy.sparse.csr_matrix((data, indices, indptr.astype(index)), shape=features.shape)


def _merged_error(errors, n_rows):
    """One error listing the bad rows of every batch, as an unbatched run would."""
    problems = [problem for error in errors for problem in error.problems]
    if all(isinstance(error, ImageDecodeError) for error in errors):
        return ImageDecodeError.for_rows(problems, n_rows)
    return type(errors[0])(f"{len(problems)} of {n_rows} rows are unusable:\n{describe_rows(problems)}", problems)


class BatchedPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` run ``batch_size`` rows at a time.

    Image branches turn a column of files into a much larger array at every step
    (decoded pixels, then descriptors, then their concatenation). Run over all rows
    at once, every intermediate is alive at the same time, several times the size of
    the output. Here each batch goes through all the steps and lands in one
    preallocated output, so the peak memory is the output plus one batch's
    intermediates, whatever the number of rows.

    The steps must be *row-wise*: each output row depends only on its input row,
    and ``fit`` learns nothing from the rows' values (mmsent's image featurizers,
    :class:`~sklearn.preprocessing.Normalizer` and other estimators tagged
    ``requires_fit=False``). They are then fitted on the first batch. A pipeline
    holding any other step (say a ``PCA``) is fitted the ordinary way, on all rows
    at once, and only ``transform`` runs in batches.

    Bad rows are reported together: a :class:`~mmsent.BadRowsError` raised by one
    batch does not stop the others, and one error lists the bad rows of them all.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`~sklearn.pipeline.Pipeline`; the last step must transform.
    batch_size : int, default=1024
        Rows per batch. Memory held by a batch grows with it (a 64x64 px image is
        12 KB decoded); speed stops improving beyond a few hundred rows.
    sparse_output : bool, default=False
        Return a CSR matrix, each batch converted as soon as it is done. Use it when
        the output is to be concatenated with sparse features (TF-IDF): converting
        a whole dense block afterwards, as ``ColumnTransformer`` does, goes through
        coordinate arrays several times its size.
    transform_input, memory
        As for :class:`~sklearn.pipeline.Pipeline`.
    verbose : int, default=0
        A progress bar over the rows on stderr: 0 none, 1 for runs of at least
        5,000 rows, 2 always (see :func:`mmsent.set_verbose`). It replaces
        ``Pipeline``'s per-step timing messages, which would repeat every batch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import Normalizer
    >>> from mmsent.image import BatchedPipeline, ColorHistogram
    >>> images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    >>> batched = BatchedPipeline([("color", ColorHistogram()), ("norm", Normalizer())], batch_size=2)
    >>> features = batched.fit_transform(images)
    >>> features.shape, features.dtype
    ((5, 128), dtype('float32'))
    """

    _reports_progress = True  # its verbose drives a progress bar: see mmsent.set_verbose

    _parameter_constraints = {
        **Pipeline._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sparse_output": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(self, steps, *, batch_size=1024, sparse_output=False, transform_input=None, memory=None, verbose=0):
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.batch_size = batch_size
        self.sparse_output = sparse_output

    def fit(self, X, y=None, **params):
        """Fit the steps; every row is read once, so bad rows are reported at fit.

        Parameters
        ----------
        X : array-like of shape (n_rows, ...)
            Rows for the first step (an image column, a decoded batch, a matrix).
        y : array-like of shape (n_rows,), default=None
            Passed to the steps' ``fit`` when they are not row-wise.
        **params : dict
            Routed to the steps as in :meth:`Pipeline.fit <sklearn.pipeline.Pipeline.fit>`;
            the pipeline then runs unbatched.

        Returns
        -------
        self : BatchedPipeline
        """
        self.fit_transform(X, y, **params)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit the steps (on the first batch when they are row-wise) and transform every row.

        Parameters
        ----------
        X : array-like of shape (n_rows, ...)
            Rows for the first step.
        y : array-like of shape (n_rows,), default=None
            Passed to the steps' ``fit`` when they are not row-wise.
        **params : dict
            Routed to the steps as in ``Pipeline``; the pipeline then runs unbatched.

        Returns
        -------
        features : ndarray or CSR matrix of shape (n_rows, n_features)
            The last step's output (CSR with ``sparse_output=True``).
        """
        self._validate_params()
        if params or not _is_row_wise(self):
            return self._as_output(super().fit_transform(X, y, **params))
        return self._run_batches(X, fitted=False)

    def transform(self, X, **params):
        """Transform ``X`` batch by batch into one output array.

        Parameters
        ----------
        X : array-like of shape (n_rows, ...)
            Rows for the first step.
        **params : dict
            Routed to the steps as in ``Pipeline``; the pipeline then runs unbatched.

        Returns
        -------
        features : ndarray or CSR matrix of shape (n_rows, n_features)
            The last step's output (CSR with ``sparse_output=True``).

        Raises
        ------
        BadRowsError
            One error naming the bad rows of every batch.
        """
        if params:
            return self._as_output(super().transform(X, **params))
        return self._run_batches(X, fitted=True)

    def _log_message(self, step_idx):
        return None  # the progress bar replaces Pipeline's per-step messages

    def _as_output(self, features):
        return _csr(features) if self.sparse_output else features

    def _run_batches(self, X, *, fitted):
        n_rows = _num_samples(X)
        if n_rows <= self.batch_size:
            return self._as_output(super().transform(X) if fitted else super().fit_transform(X))
        X = _sliceable(X)
        dense, sparse, errors = None, None, []
        bar = progress_bar(
            n_rows, desc="image features", unit="images", verbose=self.verbose, min_total=_PROGRESS_MIN_ROWS
        )
        for start in range(0, n_rows, self.batch_size):
            stop = min(start + self.batch_size, n_rows)
            try:
                batch = _rows(X, start, stop)
                features = super().transform(batch) if fitted else super().fit_transform(batch)
            except BadRowsError as error:  # keep going: list every bad row, not just this batch's
                # Without its traceback: kept, the traceback's frames (this one too, which holds `errors`) form a
                # cycle that holds every batch's arrays until a full garbage collection.
                errors.append(error.with_traceback(None))
                continue
            finally:
                bar.update(stop - start)
            fitted = True
            if self.sparse_output or scipy.sparse.issparse(features):
                features = _csr(features)
                if sparse is None:
                    sparse = _GrowingCSR(n_rows, features)
                sparse.put(start, features)
                continue
            if dense is None:
                dense = np.empty((n_rows, features.shape[1]), dtype=features.dtype)
            dense[start:stop] = features
        bar.close()
        if errors:
            raise _merged_error(errors, n_rows)
        return dense if sparse is None else sparse.matrix()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Stateless steps (a Normalizer, say) work unfitted, and so does a pipeline of nothing else.
        try:
            tags.requires_fit = any(
                get_tags(step).requires_fit for _, step in self.steps if step is not None and step != "passthrough"
            )
        except (ValueError, AttributeError, TypeError):  # steps not validated yet: fit will say what is wrong
            pass
        return tags


class _GrowingCSR:
    """A CSR matrix filled batch by batch, in order, into buffers that grow in place.

    Stacking a list of batch matrices would hold every row twice at the end, and
    leave the freed batches as holes in the heap. Here the buffers are sized from
    the first batch and grown by reallocation (``ndarray.resize``), which the C
    library does without copying for blocks this large.
    """

    def __init__(self, n_rows, first_batch):
        expected = int(first_batch.nnz / first_batch.shape[0] * n_rows * 1.1) + 1
        self.shape = (n_rows, first_batch.shape[1])
        self.data = np.empty(expected, dtype=first_batch.dtype)
        self.indices = np.empty(expected, dtype=np.int64 if self.shape[1] > np.iinfo(np.int32).max else np.int32)
        self.indptr = np.zeros(n_rows + 1, dtype=np.int64)
        self.nnz = 0

    def put(self, start, rows):
        end = self.nnz + rows.nnz
        if end > len(self.data):
            capacity = max(end, int(len(self.data) * 1.5))
            self.data.resize(capacity, refcheck=False)
            self.indices.resize(capacity, refcheck=False)
        self.data[self.nnz : end] = rows.data
        self.indices[self.nnz : end] = rows.indices
        self.indptr[start + 1 : start + 1 + rows.shape[0]] = rows.indptr[1:] + self.nnz
        self.nnz = end

    def matrix(self):
        self.data.resize(self.nnz, refcheck=False)
        self.indices.resize(self.nnz, refcheck=False)
        index_dtype = np.int32 if max(self.nnz, self.shape[1]) <= np.iinfo(np.int32).max else np.int64
        indices, indptr = self.indices.astype(index_dtype, copy=False), self.indptr.astype(index_dtype)
        return scipy.sparse.csr_matrix((self.data, indices, indptr), shape=self.shape)
