import tracemalloc

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv as matplotlib_rgb_to_hsv
from skimage.color import rgb2hsv as skimage_rgb2hsv

from mmsent.image import ColorHistogram, _color

# Channel levels whose ratios put many colours exactly on bin edges (saturation 1/2,
# hue 1/8, ...), with greys, pure hues, 0 and 255 among their combinations.
LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 18, 20, 21, 24, 28, 30, 32, 36, 40, 42, 48, 56, 60, 63,
          64, 72, 80, 84, 96, 112, 120, 126, 127, 128, 144, 160, 168, 189, 191, 192, 200, 210, 224, 240, 252, 254, 255]
BINS = [(8, 4, 4), (3, 2, 2), (16, 8, 8), (7, 3, 9), (1, 1, 1)]


def edge_and_random_colours(n_random=20_000, seed=0):
    grid = np.stack(np.meshgrid(LEVELS, LEVELS, LEVELS, indexing="ij"), axis=-1).reshape(-1, 3)
    noise = np.random.default_rng(seed).integers(0, 256, (n_random, 3))
    return np.concatenate([grid, noise]).astype(np.uint8)


def reference_cells(colours, bins, rgb_to_hsv):
    """Cells from a float64 HSV library. Ratios of 8-bit integers are either exactly on
    a bin edge or at least 1/1530 of a bin away: snapping by 1e-9 undoes float rounding."""
    hsv = rgb_to_hsv(colours.astype(np.float64) / 255)
    binned = np.minimum(np.floor(hsv * np.asarray(bins) + 1e-9).astype(np.int64), np.asarray(bins) - 1)
    return (binned[:, 0] * bins[1] + binned[:, 1]) * bins[2] + binned[:, 2]


def reference_histograms(colours, bins, rgb_to_hsv, per_image):
    cells = reference_cells(colours, bins, rgb_to_hsv).reshape(-1, per_image)
    n_cells = int(np.prod(bins))
    return np.stack([np.bincount(row, minlength=n_cells) for row in cells]) / per_image


@pytest.mark.parametrize("bins", BINS)
def test_histograms_equal_skimage_and_matplotlib_binning_on_edge_and_random_colours(bins):
    colours = edge_and_random_colours()
    per_image = 64
    colours = colours[: len(colours) // per_image * per_image]
    images = colours.reshape(-1, 8, 8, 3)
    histograms = ColorHistogram(bins=bins).fit(images).transform(images)
    skimage = reference_histograms(colours, bins, lambda rgb: skimage_rgb2hsv(rgb[None])[0], per_image)
    np.testing.assert_array_equal(histograms, skimage.astype(np.float32))
    matplotlib = reference_histograms(colours, bins, matplotlib_rgb_to_hsv, per_image)
    np.testing.assert_array_equal(histograms, matplotlib.astype(np.float32))


def test_colours_on_bin_edges_fall_in_the_upper_bin():
    # (r, g, b) -> bins (h, s, v) of 8, 4, 4, worked by hand with exact fractions.
    cases = {
        (8, 7, 4): (1, 2, 0),  # hue (7 - 4) / (6 * 4) = 1/8 exactly, saturation 4/8 = 1/2 exactly
        (129, 139, 119): (2, 0, 2),  # green highest: hue (119 - 129 + 2 * 20) / (6 * 20) = 1/4 exactly
        (9, 9, 12): (5, 1, 0),  # saturation 3/12 = 1/4 exactly; hue 2/3
        (0, 0, 0): (0, 0, 0),
        (255, 255, 255): (0, 0, 3),  # grey: hue 0; value 1 goes in the last bin
        (255, 0, 0): (0, 3, 3),
        (0, 255, 0): (2, 3, 3),  # hue 1/3
        (0, 0, 255): (5, 3, 3),  # hue 2/3
        (255, 0, 255): (6, 3, 3),  # red and blue tie: hue 5/6 either way
    }
    images = np.array(list(cases), dtype=np.uint8).reshape(-1, 1, 1, 3)
    histograms = ColorHistogram(bins=(8, 4, 4)).fit(images).transform(images)
    assert np.argmax(histograms, axis=1).tolist() == [(h * 4 + s) * 4 + v for h, s, v in cases.values()]


def test_one_image_builds_no_large_table():
    # A 24-bit lookup table (16 MB, 2 s) used to be built in every process, even for one image.
    for cached in [value for value in vars(_color).values() if hasattr(value, "cache_clear")]:
        cached.cache_clear()  # as in a fresh process
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    histogram = ColorHistogram().fit(image)
    tracemalloc.start()
    try:
        histogram.transform(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the two small tables and their temporaries: about 5 MB


def test_batches_of_many_images_are_chunked_the_same(monkeypatch):
    monkeypatch.setattr(_color, "_CHUNK_PIXELS", 1_000)  # chunks of 3 images (16 x 16), the last one of 1
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    histogram = ColorHistogram(bins=(6, 3, 3)).fit(images)
    whole = histogram.transform(images)
    one_by_one = np.concatenate([histogram.transform(images[i : i + 1]) for i in range(len(images))])
    np.testing.assert_array_equal(whole, one_by_one)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-6)
