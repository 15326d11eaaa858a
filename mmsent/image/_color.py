"""HSV colour histograms over a batch of images."""

from functools import lru_cache
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from ._decode import as_image_batch

__all__ = ["ColorHistogram", "rgb_to_hsv"]

_CHUNK_PIXELS = 2**19


@lru_cache(maxsize=2)
def _cell_table(bins):
    """Histogram cell of every 24-bit RGB colour, computed once per ``bins`` (16 MB).

    Quantising 16.7M colours once (about a second) makes each pixel one lookup,
    instead of a dozen float operations per pixel per image.
    """
    cells = np.empty(2**24, dtype=np.uint8 if np.prod(bins) <= 256 else np.int32)
    step = 2**17  # colours per pass: keeps the float temporaries near 10 MB
    for start in range(0, 2**24, step):
        colours = np.arange(start, start + step, dtype=np.int32)
        rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
        quantised = np.minimum((rgb_to_hsv(rgb) * bins).astype(np.intp), np.asarray(bins) - 1)
        cells[start : start + step] = (quantised[:, 0] * bins[1] + quantised[:, 1]) * bins[2] + quantised[:, 2]
    return cells


def rgb_to_hsv(images):
    """Convert uint8 RGB (..., 3) to float32 HSV, each channel in [0, 1]."""
    rgb = images.astype(np.float32) / 255.0
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    saturation = np.divide(chroma, value, out=np.zeros_like(value), where=value > 0)
    safe_chroma = np.where(chroma > 0, chroma, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.select(
        [chroma == 0, value == r, value == g],
        [0.0, ((g - b) / safe_chroma) % 6.0, (b - r) / safe_chroma + 2.0],
        (r - g) / safe_chroma + 4.0,
    )
    return np.stack([hue / 6.0, saturation, value], axis=-1).astype(np.float32)


class ColorHistogram(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Joint HSV colour histogram of each image, normalised to sum to 1.

    Parameters
    ----------
    bins : tuple of int (hue, saturation, value), default=(8, 4, 4)
        Number of bins per channel; the output has their product as features.
    size : tuple of int (width, height), default=None
        Size at which raw image columns are decoded (64x64 when None); a decoded
        batch is used as given, since a normalised histogram does not depend on it.

    Attributes
    ----------
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from mmsent.image import ColorHistogram
    >>> red = np.zeros((1, 4, 4, 3), np.uint8); red[..., 0] = 255
    >>> hist = ColorHistogram(bins=(2, 2, 2)).fit_transform(red)
    >>> hist.round(2).tolist()
    [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]
    """

    _parameter_constraints = {"bins": [tuple, list], "size": [tuple, list, None]}

    def __init__(self, bins=(8, 4, 4), size=None):
        self.bins = bins
        self.size = size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and record the number of output features.

        Parameters
        ----------
        X : ndarray of shape (n_images, height, width[, 3]) or array-like of shape (n_images,)
            Images (ignored: nothing is learnt from them).
        y : None
            Ignored.

        Returns
        -------
        self : ColorHistogram
        """
        if len(self.bins) != 3 or not all(isinstance(b, Integral) and b >= 1 for b in self.bins):
            raise ValueError(f"bins must be three positive integers (h, s, v), got {self.bins!r}")
        self.n_features_out_ = int(np.prod(self.bins))
        return self

    def transform(self, X):
        """HSV histogram of each image.

        Parameters
        ----------
        X : ndarray of shape (n_images, height, width[, 3]) or array-like of shape (n_images,)
            A decoded uint8 batch, or an image column (paths, bytes, PIL images,
            arrays) decoded at ``size``.

        Returns
        -------
        histograms : ndarray of shape (n_images, prod(bins)), float32
            Each row sums to 1.
        """
        check_is_fitted(self)
        images = as_image_batch(X, self.size)
        n, pixels = len(images), images.shape[1] * images.shape[2]
        cells = _cell_table(tuple(int(b) for b in self.bins))
        counts = np.empty((n, self.n_features_out_), dtype=np.float32)
        chunk = max(1, _CHUNK_PIXELS // max(pixels, 1))
        for start in range(0, n, chunk):
            part = images[start : start + chunk].reshape(-1, pixels, 3)
            # Each pixel's histogram cell by table lookup on its packed 24-bit colour,
            # then one bincount builds every histogram of the chunk.
            rgb = (part[..., 0].astype(np.int32) << 16) | (part[..., 1].astype(np.int32) << 8) | part[..., 2]
            flat = cells[rgb] + np.arange(len(part))[:, None] * self.n_features_out_
            tally = np.bincount(flat.ravel(), minlength=len(part) * self.n_features_out_)
            counts[start : start + chunk] = tally.reshape(len(part), self.n_features_out_)
        return counts / max(pixels, 1)

    @property
    def _n_features_out(self):  # read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
