import cv2
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers.emphasis import colormap_table, colour_interpolated, colour_lookup, emphasis_images, overlay, overlay_tf
from helpers.transforms import ZERO_MEAN_REFERENCES, apply_noise

JET = matplotlib.colormaps["jet"](np.arange(256))[:, :3]


def test_colour_reversing_swaps_red_and_blue(rng):
    x = rng.uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    out = apply_noise(x, "color_reverse")
    np.testing.assert_array_equal(out[..., 0], x[..., 2])
    np.testing.assert_array_equal(out[..., 1], x[..., 1])
    np.testing.assert_array_equal(out[..., 2], x[..., 0])
    np.testing.assert_array_equal(apply_noise(x, "none"), x)


@pytest.mark.parametrize("reference", ["imagenet", "gray"])
def test_zero_mean_recentres_each_channel_on_the_reference(rng, reference):
    x = rng.uniform(60, 190, (3, 6, 6, 3)).astype(np.float32)  # far from 0/255: no clipping
    out = apply_noise(x, "zero_mean", reference)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), np.tile(ZERO_MEAN_REFERENCES[reference], (3, 1)), atol=1e-3)
    np.testing.assert_allclose(out - out.mean(axis=(1, 2), keepdims=True),
                               x - x.mean(axis=(1, 2), keepdims=True), atol=1e-3)


def test_zero_mean_clips_to_the_valid_range():
    x = np.zeros((1, 4, 4, 3), np.float32)
    x[0, 0, 0] = 255.0  # mean 15.9; that pixel would land at 255 - 15.9 + 123.7 > 255
    out = apply_noise(x, "zero_mean")
    assert out.max() == 255.0 and out.min() >= 0.0


def test_unknown_noise_and_bad_input():
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        apply_noise(np.zeros((1, 2, 2, 3)), "blur")
    with pytest.raises(ValueError, match="unknown zero_mean_reference"):
        apply_noise(np.zeros((1, 2, 2, 3)), "zero_mean", "black")
    with pytest.raises(ValueError, match="RGBA"):
        apply_noise(np.zeros((1, 2, 2, 4)), "none")


def test_emphasis_of_a_constant_map_is_hand_computable(rng):
    x = rng.uniform(0, 200, (2, 8, 8, 3)).astype(np.float32)
    cam = np.ones((2, 3, 3), np.float32)  # level 255: jet's last colour, dark red (0.5, 0, 0)
    for order in ("coarse", "upsampled"):
        e = emphasis_images(x, cam, 0.2, "jet", order)
        np.testing.assert_allclose(e, np.clip(x + 0.2 * 255 * JET[255], 0, 255), atol=1e-3)
    half = np.full((2, 3, 3), 0.5, np.float32)  # level int(127.5) = 127 in every channel for "gray"
    e = emphasis_images(x, half, 0.4, "gray", "upsampled")
    np.testing.assert_allclose(e, np.clip(x + 0.4 * 127, 0, 255), atol=1e-3)
    np.testing.assert_array_equal(emphasis_images(x, half, 0.0), x)


def test_coarse_order_matches_the_kerasio_pil_pipeline(rng):
    cam = rng.random((1, 7, 7)).astype(np.float32)
    ours = overlay(cam, (224, 224), "jet", "coarse")[0]
    # keras.io: jet_colors[np.uint8(255 * heatmap)] -> PIL image -> resize (bicubic) -> array.
    coloured = JET[np.uint8(255 * cam[0])]
    pil = Image.fromarray(np.uint8(np.round(coloured * 255))).resize((224, 224), Image.Resampling.BICUBIC)
    reference = np.asarray(pil, np.float32) / 255
    # Both use Keys' bicubic kernel; they differ only by uint8 rounding and at the image border.
    assert np.abs(ours - reference).mean() < 0.01
    assert np.percentile(np.abs(ours - reference), 99) < 0.07


def test_upsampled_order_matches_opencv_bilinear_then_colour(rng):
    cam = rng.random((1, 7, 7)).astype(np.float32)
    ours = overlay(cam, (56, 56), "jet", "upsampled")[0]
    up = cv2.resize(cam[0], (56, 56), interpolation=cv2.INTER_LINEAR)
    reference = JET[(np.clip(up, 0, 1) * 255).astype(np.int32)]
    assert np.mean(np.abs(ours - reference) > 0.02) < 0.01  # equal up to rare one-level quantisation flips


def test_colormap_tables():
    np.testing.assert_allclose(colormap_table("jet"), JET, atol=1e-6)
    np.testing.assert_allclose(colormap_table("gray")[:, 0], np.arange(256) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="unknown colour map 'viridis'"):
        colormap_table("viridis")


def test_emphasis_rejects_bad_arguments():
    x = np.full((1, 8, 8, 3), 9.0, np.float32)
    cam = np.zeros((1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="theta"):
        emphasis_images(x, cam, 1.5)
    with pytest.raises(ValueError, match="unknown overlay order"):
        emphasis_images(x, cam, 0.1, order="late")
    with pytest.raises(ValueError, match="shape"):
        emphasis_images(x, np.zeros((2, 2, 2)), 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        emphasis_images(x, cam + 2, 0.1)


def test_interpolated_colour_map_meets_the_lookup_at_its_levels(rng):
    table = tf.constant(colormap_table("jet"))
    levels = tf.constant(np.arange(256, dtype=np.float64) / 255, tf.float32)
    np.testing.assert_allclose(colour_interpolated(levels, table), JET, atol=1e-4)
    cam = rng.random((2, 7, 7)).astype(np.float32)
    lower = JET[np.floor(cam * 255).astype(int)]
    upper = JET[np.minimum(np.floor(cam * 255).astype(int) + 1, 255)]
    between = colour_interpolated(tf.constant(cam), table).numpy()
    assert np.all(between >= np.minimum(lower, upper) - 1e-6) and np.all(between <= np.maximum(lower, upper) + 1e-6)
    np.testing.assert_array_equal(overlay_tf(tf.constant(cam), (8, 8), colour=colour_lookup).numpy(),
                                  overlay(cam, (8, 8)))  # the lookup is the default
