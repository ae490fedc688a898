"""Squeezers against direct SciPy/OpenCV/ART calls; the detector contract."""

import cv2
import numpy as np
import pytest
from scipy.ndimage import median_filter

from helpers.squeeze import bit_depth, median, non_local_means, squeezer


@pytest.fixture
def images(rng):
    return rng.uniform(0, 255, (2, 20, 24, 3)).astype(np.float32)


@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_bit_depth_matches_the_reference_formula_and_art(images, bits):
    from art.defences.preprocessor import FeatureSqueezing

    x01 = images / 255.0
    expected = np.rint(x01 * (2 ** bits - 1)) / (2 ** bits - 1)
    got = bit_depth(images, bits)
    np.testing.assert_allclose(got / 255.0, expected, atol=1e-6)
    art, _ = FeatureSqueezing(clip_values=(0, 1), bit_depth=bits)(x01)
    np.testing.assert_allclose(got / 255.0, art, atol=1e-6)
    assert len(np.unique(got)) <= 2 ** bits


def test_one_bit_is_a_threshold_at_half():
    x = np.array([[[[0.0, 127.0, 128.0]]]], np.float32)
    np.testing.assert_array_equal(bit_depth(x, 1), [[[[0.0, 0.0, 255.0]]]])


@pytest.mark.parametrize("size", [2, 3])
def test_median_matches_scipy_per_image_and_art(images, size):
    from art.defences.preprocessor import SpatialSmoothing

    got = median(images, size)
    for img, out in zip(images, got, strict=True):
        np.testing.assert_array_equal(out, median_filter(img, size=(size, size, 1), mode="reflect"))
    art, _ = SpatialSmoothing(window_size=size, clip_values=(0, 255))(images)
    np.testing.assert_allclose(got, art, atol=1e-4)


def test_non_local_means_matches_opencv(images):
    got = non_local_means(images, 11, 3, 4)
    for img, out in zip(images, got, strict=True):
        expected = cv2.fastNlMeansDenoisingColored(np.rint(img).astype(np.uint8), None, 4, 4, 3, 11)
        np.testing.assert_array_equal(out, expected)
    bgr = non_local_means(images, 11, 3, 4, channel_order="bgr")
    ref = cv2.fastNlMeansDenoisingColored(np.rint(images[0][..., ::-1]).astype(np.uint8), None, 4, 4, 3, 11)
    np.testing.assert_array_equal(bgr[0], ref[..., ::-1])


def test_squeezer_specs_and_bad_values(images):
    np.testing.assert_array_equal(squeezer("bit_depth:4")(images), bit_depth(images, 4))
    np.testing.assert_array_equal(squeezer("median:2x2")(images), median(images, 2))
    np.testing.assert_array_equal(squeezer("nlm:13-3-2")(images), non_local_means(images, 13, 3, 2))
    for spec in ("blur:3", "median:2x3", "bit_depth:9", "nlm:11-3", 5):
        with pytest.raises(ValueError):
            squeezer(spec)(images)
    with pytest.raises(ValueError, match="bits"):
        bit_depth(images, 0)
    with pytest.raises(ValueError, match="odd"):
        non_local_means(images, 10, 3, 4)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        median(images - 300, 2)
