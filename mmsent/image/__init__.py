"""Image featurizers: one decoding step, batch HOG and HSV colour histograms."""

from ._color import ColorHistogram, rgb_to_hsv
from ._decode import ImageDecodeError, ImageDecoder, clear_image_cache, decode_image, decode_images
from ._features import make_image_features
from ._hog import HOGTransformer, hog_batch

__all__ = [
    "ColorHistogram",
    "HOGTransformer",
    "ImageDecodeError",
    "ImageDecoder",
    "clear_image_cache",
    "decode_image",
    "decode_images",
    "hog_batch",
    "make_image_features",
    "rgb_to_hsv",
]
