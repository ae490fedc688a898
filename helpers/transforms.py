"""The paper's 'additional noise' applied to an input before the emphasis image is built.

- ``"none"``: the input unchanged.
- ``"color_reverse"``: colour reversing, RGB -> BGR (the channel order is reversed).
- ``"zero_mean"``: the image's own per-channel means are removed and the image is re-centred on a
  reference mean, then clipped to 0..255 so the classifier still sees a valid image. The paper
  subtracts training-set channel means and "removes the average brightness of the input"; our
  default reference is the ImageNet training-set channel means (``"imagenet"``), so a typical
  image keeps its overall colour balance; ``"gray"`` re-centres every channel on 127.5 instead
  (also removing the image's colour cast).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from helpers.names import NOISES, ZERO_MEAN_REFERENCES
from helpers.validation import check_choice, check_images


def noise_tf(x: tf.Tensor, noise: str, zero_mean_reference: str = "imagenet") -> tf.Tensor:
    """TF implementation of :func:`apply_noise` for a float32 batch (N, H, W, 3) in 0..255.

    Args:
        x: (N, H, W, 3) float32 RGB in 0..255.
        noise: one of ``NOISES``.
        zero_mean_reference: a key of ``ZERO_MEAN_REFERENCES``.

    Returns:
        (N, H, W, 3) n(x) in 0..255.

    Raises:
        ValueError: an unknown noise or reference."""
    check_choice(noise, NOISES, "noise")
    check_choice(zero_mean_reference, ZERO_MEAN_REFERENCES, "zero_mean_reference")
    if noise == "color_reverse":
        return tf.reverse(x, axis=[-1])
    if noise == "zero_mean":
        reference = tf.constant(ZERO_MEAN_REFERENCES[zero_mean_reference], dtype=x.dtype)
        centred = x - tf.reduce_mean(x, axis=(1, 2), keepdims=True) + reference
        return tf.clip_by_value(centred, 0.0, 255.0)
    return x


def apply_noise(x: np.ndarray, noise: str, zero_mean_reference: str = "imagenet") -> np.ndarray:
    """Apply ``noise`` (one of ``NOISES``) to RGB 0..255 images; returns float32 in 0..255.

    Args:
        x: (N, H, W, 3) RGB images in 0..255.
        zero_mean_reference: a key of ``ZERO_MEAN_REFERENCES``.

    Returns:
        (N, H, W, 3) float32 n(x).

    Raises:
        ValueError: an unknown noise or reference.
        TypeError, ValueError: ``x`` fails :func:`~helpers.validation.check_images`."""
    check_choice(noise, NOISES, "noise")  # names first, then the data
    check_choice(zero_mean_reference, ZERO_MEAN_REFERENCES, "zero_mean_reference")
    x = check_images(x)
    return noise_tf(tf.constant(x), noise, zero_mean_reference).numpy()
