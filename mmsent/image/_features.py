"""The default image branch: decode once, then HOG and colour side by side; optionally CNN embeddings beside them."""

from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer

from ._batched import BatchedPipeline
from ._cnn import CNNEmbedder
from ._color import ColorHistogram
from ._decode import ImageDecoder
from ._hog import HOGTransformer

__all__ = ["make_image_features"]


def make_image_features(
    *,
    size=(64, 64),
    hog_weight=1.0,
    color_weight=1.0,
    n_jobs=None,
    cnn=False,
    handcrafted=True,
    cnn_weight=1.0,
    batch_size=1024,
    sparse_output=False,
    verbose=0,
):
    """Build the default image branch: decode → (HOG ‖ HSV histogram) → L2 norm.

    Each image is decoded once; HOG and the colour histogram read the same batch.
    The rows go through these steps ``batch_size`` at a time, straight into the
    output (a :class:`BatchedPipeline`), so memory beyond the output stays that of
    one batch however many images there are.
    The final L2 normalisation puts the image block on the same scale as a TF-IDF
    row, so that neither modality drowns the other when they are concatenated.

    Parameters
    ----------
    size : tuple of int (width, height), default=(64, 64)
        Decoding size; tune it as ``decode__size``.
    hog_weight, color_weight : float, default=1.0
        Relative weights of the two descriptors (``features__transformer_weights``).
    n_jobs : int, default=None
        Threads for decoding and for HOG (``-1``: one per core).
    cnn : bool, default=False
        Add pretrained CNN embeddings (:class:`CNNEmbedder`, the ``cnn`` extra),
        L2-normalised like the HOG + colour block. The result is then a
        ``FeatureUnion`` of ``handcrafted`` (the pipeline above) and ``cnn``,
        weighted 1 and ``cnn_weight`` (``transformer_weights``); either block can
        be set to ``"drop"``, e.g. in a ``GridSearchCV`` grid.
    handcrafted : bool, default=True
        With ``cnn=True``, keep the HOG + colour block (False: CNN embeddings only).
    cnn_weight : float, default=1.0
        Weight of the CNN block against the handcrafted block's 1.
    batch_size : int, default=1024
        Images decoded and described at a time (``batch_size`` of the
        :class:`BatchedPipeline`).
    sparse_output : bool, default=False
        Give the HOG + colour block as a CSR matrix, converted batch by batch:
        the cheaper way to concatenate it with sparse TF-IDF features.
    verbose : int, default=0
        Progress bar of the CNN embedder (0: none; see :class:`CNNEmbedder`); the
        handcrafted block has none yet.

    Returns
    -------
    BatchedPipeline or FeatureUnion
        Steps ``decode``, ``features`` (with ``hog`` and ``color``) and ``normalize``;
        with ``cnn=True`` a union of that (``handcrafted``) and ``cnn`` (steps
        ``embed`` and ``normalize``).

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import make_image_features
    >>> images = [np.full((40, 30, 3), 200, np.uint8), np.zeros((20, 20), np.uint8)]
    >>> make_image_features().fit_transform(images).shape
    (2, 1892)
    """
    features = FeatureUnion(
        [("hog", HOGTransformer(n_jobs=n_jobs)), ("color", ColorHistogram())],
        transformer_weights={"hog": hog_weight, "color": color_weight},
    )
    decode = ImageDecoder(size=size, n_jobs=n_jobs)
    handcrafted_block = BatchedPipeline(
        [("decode", decode), ("features", features), ("normalize", Normalizer())],
        batch_size=batch_size,
        sparse_output=sparse_output,
    )
    if not cnn:
        return handcrafted_block
    # The CNN decodes each image itself, at its own 224 px and aspect-preserving crop.
    cnn_block = Pipeline([("embed", CNNEmbedder(n_jobs=n_jobs, verbose=verbose)), ("normalize", Normalizer())])
    return FeatureUnion(
        [("handcrafted", handcrafted_block if handcrafted else "drop"), ("cnn", cnn_block)],
        transformer_weights={"handcrafted": 1.0, "cnn": cnn_weight},
    )
