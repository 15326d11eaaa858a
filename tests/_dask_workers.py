"""Dask worker helpers of the tests: a warm-up preloaded by every worker, and a model that kills its worker."""

import os
import pickle
from pathlib import Path


def dask_setup(worker):
    """Run by each worker process as it starts (``preload``), restarted ones included, before it takes tasks.

    Imports the modules every task needs, so that a task given to a restarted worker does not wait
    for them (a test killing workers would wait the longest).
    """
    from mmsent.scale import _stream  # noqa: F401


def warm_up():
    """Pay the first-use costs of featurizing once (jieba's dictionary, the image branch's first batch)."""
    import numpy as np

    from mmsent.image import make_image_features
    from mmsent.text import JiebaTokenizer

    JiebaTokenizer()("预热")
    make_image_features().fit_transform([np.zeros((8, 8, 3), np.uint8)])


class KillsItsWorker:
    """Predicts as ``model`` does, but the worker process given the partition holding ``row`` dies first.

    With a ``marker`` file it does so once (the marker then exists); without, every time. The model
    travels pickled and is loaded after that decision, so that dying needs no import of mmsent.
    """

    def __init__(self, model, row, marker=None):
        self.model_bytes = pickle.dumps(model)
        self.row = row
        self.marker = marker
        self.test_process = os.getpid()

    @property
    def model(self):
        if "_model" not in self.__dict__:
            self._model = pickle.loads(self.model_bytes)
        return self._model

    def __getattr__(self, name):  # fusion, columns, classes_
        if name.startswith("_") or name in ("model_bytes", "row", "marker", "test_process"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def predict_proba(self, X):
        on_worker = os.getpid() != self.test_process
        if on_worker and self.row in X.index and not (self.marker and Path(self.marker).exists()):
            if self.marker:
                Path(self.marker).touch()
            os._exit(1)
        return self.model.predict_proba(X)
