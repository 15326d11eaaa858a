"""Dask: a cluster to run on, and manifest chunks predicted or featurized on its workers, in order."""

import contextlib
from collections import deque

__all__ = ["PartitionLostError", "dask_client"]


class PartitionLostError(RuntimeError):
    """A partition of posts could not be computed on the cluster; ``rows`` names its first and last row."""

    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = rows

    def __reduce__(self):
        return type(self), (str(self), self.rows)


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("Dask support needs the dask extra: pip install 'mmsent[dask]'") from exc
    return distributed


@contextlib.contextmanager
def dask_client(scheduler="local", *, n_workers=None, **cluster_options):
    """A ``distributed.Client`` on a cluster: a new local one, or an existing scheduler.

    Inside the ``with`` block the client is Dask's default, so joblib's Dask backend
    (``joblib.parallel_config(backend="dask")``) uses it too, e.g. to run
    :func:`mmsent.evaluation.ablation_report`'s or ``tune``'s fits on the workers.

    Parameters
    ----------
    scheduler : "local", str or distributed.Client, default="local"
        ``"local"`` starts a ``LocalCluster`` of worker processes with one thread
        each, closed at the end; an address such as ``"tcp://10.0.0.5:8786"``
        connects to a running scheduler (left running); a ``Client`` is used as it is.
    n_workers : int, default=None
        Worker processes of a local cluster (None: one per core).
    **cluster_options
        Other ``distributed.LocalCluster`` options of a local cluster, e.g. ``preload``.

    Yields
    ------
    distributed.Client

    Examples
    --------
    >>> from mmsent.scale import dask_client
    >>> with dask_client("local", n_workers=1) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
    elif scheduler == "local":
        # One thread per process: mmsent's featurizers parallelise themselves, and the tokenizer's cache
        # is not meant to be shared by concurrent tasks.
        options = {"threads_per_worker": 1, "processes": True, "dashboard_address": None, **cluster_options}
        cluster = distributed.LocalCluster(n_workers=n_workers, **options)
        with cluster, distributed.Client(cluster) as client:
            yield client
    else:
        with distributed.Client(scheduler) as client:
            yield client


def _identity(value):
    return value


_POLL_SECONDS = 0.5  # how often a wait for the oldest chunk looks for a failure among the others


def _lost(chunk, exc):
    rows = (chunk.index[0], chunk.index[-1]) if len(chunk) else None
    where = f"rows {rows[0]!r} to {rows[1]!r}" if rows else "an empty partition"
    return PartitionLostError(f"{where} could not be computed on the cluster: {exc}", rows)


def map_chunks(client, function, shared, chunks, *args, window=None):
    """``(chunk, function(shared, chunk, *args))`` for every chunk, computed on the workers, in the chunks' order.

    ``shared`` (a model) goes to the cluster once; each worker fetches it the first
    time it needs it. At most ``window`` chunks (default: two per worker thread) are
    on the cluster or waiting here at a time, so neither side holds the whole input.
    A worker that dies mid-chunk has its chunks run again elsewhere (up to the
    scheduler's ``distributed.scheduler.allowed-failures``); a chunk that cannot be
    computed raises :class:`PartitionLostError` naming its rows, never disappears.
    A failure anywhere raises as soon as it is known, without waiting for the chunks
    before it (which may be computed again, their worker gone).
    """
    distributed = _distributed()
    # A task's result rather than scattered data: if every worker holding a scattered object dies it is
    # gone, while a task's result is computed again.
    shared_future = client.submit(_identity, shared, pure=False)
    if window is None:
        window = 2 * max(sum(client.nthreads().values()), 1)
    pending = deque()  # (chunk, future), in the chunks' order

    def oldest():
        chunk, future = pending[0]
        while True:
            for other_chunk, other in pending:
                if other.status in ("error", "cancelled"):
                    chunk, future = other_chunk, other  # its result() raises
                    break
            try:
                result = future.result(timeout=_POLL_SECONDS)
            except TimeoutError:
                continue
            except (distributed.KilledWorker, distributed.CancelledError) as exc:
                raise _lost(chunk, exc) from exc
            pending.popleft()
            return chunk, result

    try:
        for chunk in chunks:
            pending.append((chunk, client.submit(function, shared_future, chunk, *args, pure=False)))
            if len(pending) >= window:
                yield oldest()
        while pending:
            yield oldest()
    finally:
        client.cancel([future for _, future in pending] + [shared_future])


def _transform(features, frame):
    return features.transform(frame)


def fit_chunks(client, model, chunks, label_column, classes):
    """Let ``model`` learn from every chunk, featurized on the workers; yields each chunk once learnt.

    The first chunk of an unfitted model is learnt here: it fits the (stateless)
    featurizers, which then go to the workers. The model learns from the chunks in
    their order, so it ends up the same as if it had featurized them itself.
    """
    chunks = iter(chunks)
    if not hasattr(model, "model_"):
        for frame in chunks:
            model.partial_fit(frame, frame[label_column].to_numpy(), classes=classes)
            yield frame
            break
    features = model.model_.named_steps["features"]
    checked = (model._check_frame(frame) for frame in chunks)
    for frame, matrix in map_chunks(client, _transform, features, checked):
        model._partial_fit(frame, frame[label_column].to_numpy(), None, features=matrix)
        yield frame
