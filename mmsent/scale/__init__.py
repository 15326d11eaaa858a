"""Beyond one machine's memory: streaming prediction, out-of-core training, and Dask clusters.

- :func:`predict_manifest` predicts a CSV / JSONL manifest chunk by chunk and writes
  the results as it goes (atomically), in flat memory whatever its length.
- :class:`IncrementalSentimentClassifier` learns with ``partial_fit`` from stateless
  features (hashed jieba n-grams, HOG + colour); :func:`fit_manifest` trains it on a
  manifest chunk by chunk.
- With ``client=`` (see :func:`dask_client`, extra ``dask``) both run their chunks on
  a Dask cluster's workers, which must reach the image files (shared storage).
"""

from .._lazy import lazy_exports

# Imported on first use, as in the other subpackages (`distributed` only when a client is used).
_EXPORTS = {
    "IncrementalSentimentClassifier": "._out_of_core",
    "PredictSummary": "._stream",
    "count_labels": "._stream",
    "fit_manifest": "._stream",
    "predict_manifest": "._stream",
    "prediction_frame": "._stream",
    "PartitionLostError": "._dask",
    "dask_client": "._dask",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
