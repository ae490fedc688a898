"""The subject emphasis image E = clip(n(x) + theta * 255 * overlay(H), 0, 255).

``overlay(H)`` colours the Grad-CAM map H (values in [0, 1]) with a colour map and brings it to the
input size. Two orders are offered, and they change detection rates by several points:

- ``"coarse"`` (default): as in the keras.io Grad-CAM example that the paper's Keras setting
  suggests, H is quantised to 256 levels and coloured at its coarse resolution (7x7 for
  EfficientNet-Lite0, VGG16 and ResNet50; 8x8 for Lite1, 9x9 for Lite2), then the colour image is
  resized to the input size with bicubic interpolation (PIL's default in that example) and
  clipped to [0, 1].
- ``"upsampled"``: H is first upsampled bilinearly, then quantised and coloured per pixel.

Colour maps: ``"jet"`` (as the keras.io example) or ``"gray"`` (the same intensity in R, G, B).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import tensorflow as tf

from helpers.names import COLORMAPS, OVERLAY_ORDERS
from helpers.validation import check_choice, check_images, check_theta


def colormap_table(name: str) -> np.ndarray:
    """The 256 x 3 RGB lookup table (values in [0, 1]) of a colour map.

    Args:
        name: one of ``COLORMAPS``.

    Returns:
        (256, 3) float32.

    Raises:
        ValueError: an unknown colour map."""
    check_choice(name, COLORMAPS, "colour map")
    return matplotlib.colormaps[name](np.arange(256))[:, :3].astype(np.float32)


def colour_lookup(cam: tf.Tensor, table: tf.Tensor) -> tf.Tensor:
    """The colour map as the detector applies it: level ``int(255 * H)`` looked up in the 256 x 3 table.
    Piecewise constant in H (no gradient).

    Args:
        cam: (N, h, w) maps in [0, 1].
        table: (256, 3) the colour map's table.

    Returns:
        (N, h, w, 3) colours in [0, 1]."""
    levels = tf.cast(tf.clip_by_value(cam, 0.0, 1.0) * 255.0, tf.int32)  # truncation, as np.uint8(255 * H)
    return tf.gather(table, levels)


def colour_interpolated(cam: tf.Tensor, table: tf.Tensor) -> tf.Tensor:
    """A differentiable stand-in for :func:`colour_lookup`: linear interpolation between the table's
    entries at 255 * H. Equal to the lookup at the 256 levels, within one table step in between.

    Args:
        cam: (N, h, w) maps in [0, 1].
        table: (256, 3) the colour map's table.

    Returns:
        (N, h, w, 3) colours in [0, 1]."""
    position = tf.clip_by_value(cam, 0.0, 1.0) * 255.0
    lower = tf.minimum(tf.floor(position), 254.0)
    fraction = (position - lower)[..., None]
    below = tf.gather(table, tf.cast(lower, tf.int32))
    above = tf.gather(table, tf.cast(lower, tf.int32) + 1)
    return below + fraction * (above - below)


def overlay_tf(cam: tf.Tensor, size: tuple[int, int], colormap: str = "jet", order: str = "coarse",
               colour=colour_lookup) -> tf.Tensor:
    """Coloured overlay (N, H, W, 3) in [0, 1] from coarse Grad-CAM maps (N, h, w) in [0, 1].

    Args:
        cam: (N, h, w) maps in [0, 1].
        size: (H, W), the input size.
        colormap: one of ``COLORMAPS``.
        order: one of ``OVERLAY_ORDERS`` (see the module docstring).
        colour: ``colour(cam, table)`` applies the colour map (default :func:`colour_lookup`, the
            detector's; :func:`colour_interpolated` for gradients).

    Returns:
        (N, H, W, 3) float32 in [0, 1].

    Raises:
        ValueError: an unknown order or colour map."""
    check_choice(order, OVERLAY_ORDERS, "overlay order")
    table = tf.constant(colormap_table(colormap))
    if order == "coarse":
        coloured = tf.image.resize(colour(cam, table), size, method="bicubic")
        return tf.clip_by_value(coloured, 0.0, 1.0)
    upsampled = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
    return colour(upsampled, table)


def emphasis_tf(x_noised: tf.Tensor, overlay: tf.Tensor, theta: float) -> tf.Tensor:
    """E = clip(n(x) + theta * 255 * overlay, 0, 255) for a batch.

    Args:
        x_noised: (N, H, W, 3) float32 n(x), RGB in 0..255.
        overlay: (N, H, W, 3) the coloured overlay in [0, 1].

    Returns:
        (N, H, W, 3) float32 emphasis images in 0..255."""
    return tf.clip_by_value(x_noised + (theta * 255.0) * overlay, 0.0, 255.0)


def _check_cam(cam: np.ndarray, n: int | None = None) -> np.ndarray:
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 3 or (n is not None and len(cam) != n):
        raise ValueError(f"cam must have shape (N, h, w){f' with N = {n}' if n is not None else ''}, got {cam.shape}")
    if not np.all(np.isfinite(cam)) or cam.min() < 0 or cam.max() > 1:
        raise ValueError("cam values must be finite and lie in [0, 1]")
    return cam


def overlay(cam: np.ndarray, size: tuple[int, int], colormap: str = "jet", order: str = "coarse") -> np.ndarray:
    """Coloured overlays (N, H, W, 3) in [0, 1] for coarse Grad-CAM maps (N, h, w) in [0, 1].

    Args:
        cam: (N, h, w) maps in [0, 1].
        size: (H, W), the input size.
        colormap: one of ``COLORMAPS``.
        order: one of ``OVERLAY_ORDERS``.

    Returns:
        (N, H, W, 3) float32 in [0, 1].

    Raises:
        ValueError: maps not (N, h, w), not finite or outside [0, 1]; an unknown order or colour map."""
    return overlay_tf(tf.constant(_check_cam(cam)), tuple(size), colormap, order).numpy()


def emphasis_images(x_noised: np.ndarray, cam: np.ndarray, theta: float, colormap: str = "jet",
                    order: str = "coarse") -> np.ndarray:
    """Subject emphasis images for RGB 0..255 inputs (already noised) and coarse maps (N, h, w).

    Args:
        x_noised: (N, H, W, 3) n(x), RGB in 0..255.
        cam: (N, h, w) coarse maps in [0, 1].
        theta: the proportion θ in [0, 1].
        colormap: one of ``COLORMAPS``.
        order: one of ``OVERLAY_ORDERS``.

    Returns:
        (N, H, W, 3) float32 emphasis images in 0..255.

    Raises:
        TypeError, ValueError: a bad theta, colour map, order, image batch
            (:func:`~helpers.validation.check_images`), or maps not (N, h, w) in [0, 1]."""
    theta = check_theta(theta)  # parameters first, then the data
    check_choice(colormap, COLORMAPS, "colour map")
    check_choice(order, OVERLAY_ORDERS, "overlay order")
    x_noised = check_images(x_noised, name="x_noised")
    cam = _check_cam(cam, len(x_noised))
    coloured = overlay_tf(tf.constant(cam), x_noised.shape[1:3], colormap, order)
    return emphasis_tf(tf.constant(x_noised), coloured, theta).numpy()
