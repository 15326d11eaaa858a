"""A cross-modal index: images found from a text, texts from an image, in a learnt shared space."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import as_frame, as_value_list, missing_mask
from ..fusion import CrossModalProjector
from ..image import make_image_features
from ..text import make_text_features

__all__ = ["MODALITIES", "CrossModalIndex"]

MODALITIES = ("text", "image")


def _unit_rows(vectors):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class CrossModalIndex(BaseEstimator):
    """Texts and images of a collection of posts, searchable from the other modality.

    ``fit`` learns a shared space from the posts' text-image pairs (a
    :class:`~mmsent.fusion.CrossModalProjector`: CCA or PLS on reduced
    features) and indexes every text and every image of those posts in it.
    :meth:`search` then takes queries of one modality (texts, or images as
    paths, bytes, PIL images or arrays) and returns the indexed items of the
    other modality closest to them (cosine similarity in the shared space).
    :meth:`embed` maps new items into the space, e.g. to score retrieval on
    held-out pairs (:func:`mmsent.retrieval.pair_ranks`).

    Posts lacking a modality (see :func:`mmsent._validation.is_missing`) are
    left out of that modality's index and out of the space's fit.

    Parameters
    ----------
    text_features : transformer, default=None
        Text column → features; None uses :func:`mmsent.text.make_text_features`.
    image_features : transformer, default=None
        Image column → features; None uses :func:`mmsent.image.make_image_features`
        (HOG and colour; pass ``make_image_features(cnn=True)`` for CNN embeddings).
    text_column, image_column : str or int, default="text", "image"
        Columns of ``X`` holding each modality.
    projector : CrossModalProjector, default=None
        The shared space (cloned); None uses ``CrossModalProjector()``.

    Attributes
    ----------
    text_features_, image_features_ : transformer
        The fitted featurizers.
    projector_ : CrossModalProjector
        The fitted shared space.
    text_embeddings_, image_embeddings_ : ndarray of shape (n_items, n_components)
        The indexed items, unit rows in the shared space.
    text_ids_, image_ids_ : ndarray
        Row label of ``X`` of each indexed text and image.
    text_items_, image_items_ : ndarray of object
        The indexed cells where they are strings (texts, image paths: what a
        search result shows), None elsewhere (bytes, arrays are not kept).
    n_features_in_ : int
        Columns of ``X`` in ``fit``.
    feature_names_in_ : ndarray of str
        Their names, when ``X`` is a frame with string column names.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from mmsent.fusion import CrossModalProjector
    >>> from mmsent.retrieval import CrossModalIndex
    >>> rng = np.random.default_rng(0)
    >>> topic = rng.normal(size=(100, 6))                # what each post is about
    >>> posts = pd.DataFrame({"text": list(topic @ rng.normal(size=(6, 12))),
    ...                       "image": list(topic @ rng.normal(size=(6, 9)))})
    >>> stack = FunctionTransformer(lambda column: np.vstack(column))
    >>> index = CrossModalIndex(stack, stack, projector=CrossModalProjector(n_components=6)).fit(posts)
    >>> scores, found = index.search(posts["text"][:4], modality="text", k=2)
    >>> found[:, 0].tolist()                     # each text's own image comes first
    [0, 1, 2, 3]
    """

    _parameter_constraints = {
        "text_features": [HasMethods(["fit", "transform"]), None],
        "image_features": [HasMethods(["fit", "transform"]), None],
        "text_column": [str, Integral],
        "image_column": [str, Integral],
        "projector": [HasMethods(["fit", "transform_text", "transform_image"]), None],
    }

    def __init__(self, text_features=None, image_features=None, *, text_column="text", image_column="image",
                 projector=None):
        self.text_features = text_features
        self.image_features = image_features
        self.text_column = text_column
        self.image_column = image_column
        self.projector = projector

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Learn the shared space from the posts' pairs and index their texts and images.

        Parameters
        ----------
        X : DataFrame of shape (n_posts, n_columns)
            Posts with the text and image columns.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        X = as_frame(X)
        validate_data(self, X, skip_check_array=True)
        absent = [column for column in (self.text_column, self.image_column) if column not in X.columns]
        if absent:
            raise ValueError(
                f"X has no column {', '.join(map(repr, absent))}; its columns are {list(X.columns)}. "
                "Set text_column / image_column to match your data."
            )
        columns = {"text": X[self.text_column], "image": X[self.image_column]}
        present = {name: ~missing_mask(column) for name, column in columns.items()}
        paired = np.flatnonzero(present["text"] & present["image"])
        if len(paired) < 2:
            raise ValueError(
                f"{len(paired)} posts have both a text and an image (n_samples = {len(X)}): "
                "a shared space needs 2 pairs or more"
            )
        self.text_features_ = clone(make_text_features() if self.text_features is None else self.text_features)
        self.image_features_ = clone(make_image_features() if self.image_features is None else self.image_features)
        features = {
            "text": self.text_features_.fit_transform(_safe_indexing(columns["text"], paired)),
            "image": self.image_features_.fit_transform(_safe_indexing(columns["image"], paired)),
        }
        self.projector_ = clone(CrossModalProjector() if self.projector is None else self.projector)
        self.projector_.fit(features["text"], features["image"])
        labels = X.index.to_numpy(dtype=object)
        for name, column in columns.items():
            rows = np.flatnonzero(present[name])
            # The paired rows' features are already computed; only the rows lacking the other modality are new.
            if len(rows) == len(paired):
                embeddings = self._project(features[name], name)
            else:
                embeddings = self.embed(_safe_indexing(column, rows), modality=name)
            cells = as_value_list(_safe_indexing(column, rows))
            setattr(self, f"{name}_embeddings_", embeddings)
            setattr(self, f"{name}_ids_", labels[rows])
            setattr(self, f"{name}_items_", np.asarray([c if isinstance(c, str) else None for c in cells], object))
        return self

    def _project(self, features, modality):
        transform = self.projector_.transform_text if modality == "text" else self.projector_.transform_image
        return _unit_rows(transform(features))

    def embed(self, items, *, modality):
        """Items of one modality as unit vectors of the shared space.

        Parameters
        ----------
        items : array-like of shape (n_items,)
            Texts, or images (paths, bytes, PIL images, uint8 arrays).
        modality : {"text", "image"}

        Returns
        -------
        ndarray of shape (n_items, n_components)
        """
        check_is_fitted(self)
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        featurizer = self.text_features_ if modality == "text" else self.image_features_
        return self._project(featurizer.transform(items), modality)

    def search(self, queries, *, modality, k=10):
        """The ``k`` indexed items of the other modality closest to each query.

        Parameters
        ----------
        queries : array-like of shape (n_queries,)
            Texts (``modality="text"``: images are searched) or images
            (``modality="image"``: texts are searched).
        modality : {"text", "image"}
            The queries' modality.
        k : int, default=10
            Results per query (at most the number of indexed items).

        Returns
        -------
        scores : ndarray of shape (n_queries, k)
            Cosine similarities, best first.
        positions : ndarray of shape (n_queries, k)
            Positions in the searched modality's index: ``image_ids_[positions]``
            (or ``text_ids_``) are the posts' row labels.
        """
        check_is_fitted(self)
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        queries = self.embed(queries, modality=modality)
        target = self.image_embeddings_ if modality == "text" else self.text_embeddings_
        similarity = queries @ target.T
        k = min(k, target.shape[0])
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        positions = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(similarity, positions, axis=1), positions

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
