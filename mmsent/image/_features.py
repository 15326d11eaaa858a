"""The default image branch: decode once, then HOG and colour side by side."""

from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer

from ._color import ColorHistogram
from ._decode import ImageDecoder
from ._hog import HOGTransformer

__all__ = ["make_image_features"]


def make_image_features(*, size=(64, 64), hog_weight=1.0, color_weight=1.0, n_jobs=None):
    """Build the default image branch: decode → (HOG ‖ HSV histogram) → L2 norm.

    Each image is decoded once; HOG and the colour histogram read the same batch.
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

    Returns
    -------
    Pipeline
        Steps ``decode``, ``features`` (with ``hog`` and ``color``) and ``normalize``.

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
    return Pipeline([("decode", decode), ("features", features), ("normalize", Normalizer())])
