"""The default image branch: decode once, then HOG and colour side by side; optionally CNN embeddings beside them."""

import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer

from ._batched import BatchedPipeline
from ._cnn import CNNEmbedder
from ._color import ColorHistogram
from ._decode import ImageDecoder
from ._hog import HOGTransformer

__all__ = ["make_image_features", "signed_sqrt"]


def signed_sqrt(X):
    """Power normalisation: ``sign(x) * sqrt(|x|)`` element-wise, so a few large activations weigh less.

    Examples
    --------
    >>> from mmsent.image import signed_sqrt
    >>> signed_sqrt([[4.0, -9.0, 0.0]]).tolist()
    [[2.0, -3.0, 0.0]]
    """
    X = np.asarray(X)
    return np.sign(X) * np.sqrt(np.abs(X))


def make_image_features(
    *,
    size=(64, 64),
    hog_weight=1.0,
    color_weight=1.0,
    n_jobs=None,
    cnn=False,
    handcrafted=True,
    cnn_weight=1.0,
    cnn_model="lite0",
    cnn_views=("center",),
    cnn_power=False,
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
    cnn_model : {"lite0", "lite1", "lite2"}, default="lite0"
        The EfficientNet-Lite variant (``CNNEmbedder(model=...)``; Lite1 and Lite2
        need the ``cnn-larger`` extra).
    cnn_views : tuple of str, default=("center",)
        The views of each image whose CNN embeddings are averaged
        (``CNNEmbedder(views=...)``; each costs one pass of the network).
    cnn_power : bool, default=False
        Power-normalise the CNN embeddings (:func:`signed_sqrt`) before the L2
        normalisation (step ``power`` of the ``cnn`` block, ``"passthrough"`` when off).
    batch_size : int, default=1024
        Images decoded and described at a time (``batch_size`` of the
        :class:`BatchedPipeline`).
    sparse_output : bool, default=False
        Give the HOG + colour block as a CSR matrix, converted batch by batch:
        the cheaper way to concatenate it with sparse TF-IDF features.
    verbose : int, default=0
        Progress bars (0: none) of the handcrafted block (over its batches, see
        :class:`BatchedPipeline`) and of the CNN embedder (see :class:`CNNEmbedder`).

    Returns
    -------
    BatchedPipeline or FeatureUnion
        Steps ``decode``, ``features`` (with ``hog`` and ``color``) and ``normalize``;
        with ``cnn=True`` a union of that (``handcrafted``) and ``cnn`` (steps
        ``embed``, ``power`` and ``normalize``).

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
        verbose=verbose,
    )
    if not cnn:
        return handcrafted_block
    # The CNN decodes each image itself, at its own (224 px for Lite0) aspect-preserving crop.
    cnn_block = Pipeline([
        ("embed", CNNEmbedder(model=cnn_model, views=cnn_views, n_jobs=n_jobs, verbose=verbose)),
        ("power", FunctionTransformer(signed_sqrt) if cnn_power else "passthrough"),
        ("normalize", Normalizer()),
    ])
    return FeatureUnion(
        [("handcrafted", handcrafted_block if handcrafted else "drop"), ("cnn", cnn_block)],
        transformer_weights={"handcrafted": 1.0, "cnn": cnn_weight},
    )
