"""A pipeline of row-wise image steps that runs over the rows in batches, into one output array."""

from numbers import Integral

import numpy as np
import scipy.sparse
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils import get_tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples

from .._validation import BadRowsError, describe_rows
from ._cnn import CNNEmbedder
from ._color import ColorHistogram
from ._decode import ImageDecodeError, ImageDecoder
from ._hog import HOGTransformer

__all__ = ["BatchedPipeline"]

# Steps whose fit learns nothing from the values of the rows (only parameters and
# the shape of a row), so fitting them on one batch equals fitting them on all.
_ROW_WISE = (ImageDecoder, HOGTransformer, ColorHistogram, CNNEmbedder)


def _is_row_wise(step):
    if step is None or isinstance(step, str):  # "passthrough" or "drop"
        return True
    if isinstance(step, Pipeline):
        return all(_is_row_wise(inner) for _, inner in step.steps)
    if isinstance(step, FeatureUnion):
        return all(_is_row_wise(inner) for _, inner in step.transformer_list)
    return isinstance(step, _ROW_WISE) or not get_tags(step).requires_fit


def _rows(X, start, stop):
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


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
    transform_input, memory, verbose
        As for :class:`~sklearn.pipeline.Pipeline`.

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

    _parameter_constraints = {
        **Pipeline._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sparse_output": ["boolean"],
    }

    def __init__(
        self, steps, *, batch_size=1024, sparse_output=False, transform_input=None, memory=None, verbose=False
    ):
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.batch_size = batch_size
        self.sparse_output = sparse_output

    def fit(self, X, y=None, **params):
        """Fit the steps; every row is read once, so bad rows are reported at fit."""
        self.fit_transform(X, y, **params)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit the steps (on the first batch when they are row-wise) and transform every row."""
        self._validate_params()
        if params or not _is_row_wise(self):
            return self._as_output(super().fit_transform(X, y, **params))
        return self._run_batches(X, fitted=False)

    def transform(self, X, **params):
        """Transform ``X`` batch by batch into one output array."""
        if params:
            return self._as_output(super().transform(X, **params))
        return self._run_batches(X, fitted=True)

    def _as_output(self, features):
        return scipy.sparse.csr_matrix(features) if self.sparse_output else features

    def _run_batches(self, X, *, fitted):
        n_rows = _num_samples(X)
        if n_rows <= self.batch_size:
            return self._as_output(super().transform(X) if fitted else super().fit_transform(X))
        output, pieces, errors = None, [], []
        for start in range(0, n_rows, self.batch_size):
            stop = min(start + self.batch_size, n_rows)
            try:
                batch = _rows(X, start, stop)
                features = super().transform(batch) if fitted else super().fit_transform(batch)
            except BadRowsError as error:  # keep going: list every bad row, not just this batch's
                errors.append(error)
                continue
            fitted = True
            if self.sparse_output or scipy.sparse.issparse(features):
                pieces.append(self._as_output(features))
                continue
            if output is None:
                output = np.empty((n_rows, features.shape[1]), dtype=features.dtype)
            output[start:stop] = features
        if errors:
            raise _merged_error(errors, n_rows)
        return scipy.sparse.vstack(pieces, format="csr") if pieces else output
