"""Image featurizers: one decoding step, batch HOG, HSV colour histograms and CNN embeddings."""

from ._batched import BatchedPipeline
from ._cnn import (
    CNNEmbedder,
    CNNUnavailableError,
    clear_embedding_cache,
    cnn_cache_dir,
    cnn_weights_path,
    export_cnn,
)
from ._color import ColorHistogram, rgb_to_hsv
from ._decode import ImageDecodeError, ImageDecoder, clear_image_cache, decode_image, decode_images
from ._features import make_image_features, signed_sqrt
from ._hog import HOGTransformer, hog_batch

__all__ = [
    "BatchedPipeline",
    "CNNEmbedder",
    "CNNUnavailableError",
    "ColorHistogram",
    "HOGTransformer",
    "ImageDecodeError",
    "ImageDecoder",
    "clear_embedding_cache",
    "clear_image_cache",
    "cnn_cache_dir",
    "cnn_weights_path",
    "decode_image",
    "decode_images",
    "export_cnn",
    "hog_batch",
    "make_image_features",
    "rgb_to_hsv",
    "signed_sqrt",
]
