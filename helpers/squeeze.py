"""Feature Squeezing (Xu, Evans, Qi, NDSS 2018), the paper's baseline.

Squeezers act on RGB 0..255 float images and return float32 0..255 images:

- ``bit_depth:b``: colour bit depth b in 1..8: ``rint(x01 * (2**b - 1)) / (2**b - 1)`` on [0, 1]
  (as ART's ``FeatureSqueezing`` and the reference code).
- ``median:wxw``: median filter over a w x w window per channel, ``mode="reflect"`` (SciPy, as
  the reference code and ART's ``SpatialSmoothing``; even windows take the upper median).
- ``nlm:s-p-h``: OpenCV's non-local means ``fastNlMeansDenoisingColored`` with search window s,
  patch p and strength h (the paper's "11-3-4" notation) on the image rounded to 8 bits. OpenCV
  assumes BGR; the reference code passed RGB, which is our default (``channel_order="rgb"``);
  ``"bgr"`` converts first and back after.

The detector built on them is ``helpers.detectors.FeatureSqueezingDetector``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cv2
import numpy as np
from scipy.ndimage import median_filter

from helpers.validation import check_choice, check_images

JOINT_IMAGENET = ("bit_depth:5", "median:2x2", "nlm:11-3-4")  # Xu et al.'s ImageNet joint detector


def bit_depth(x: np.ndarray, bits: int) -> np.ndarray:
    """Reduce the colour depth of RGB 0..255 images to ``bits`` bits per channel.

    Args:
        x: (N, H, W, 3) RGB images in 0..255.
        bits: the bit depth, an integer in 1..8.

    Returns:
        (N, H, W, 3) float32 in 0..255.

    Raises:
        ValueError: ``bits`` outside 1..8 or not an integer; and the checks of
            :func:`~helpers.validation.check_images` (which may raise TypeError)."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
    levels = 2 ** bits - 1
    return (np.rint(check_images(x) / 255.0 * levels) / levels * 255.0).astype(np.float32)


def median(x: np.ndarray, size: int) -> np.ndarray:
    """Median filter over ``size`` x ``size`` windows, per image and channel, reflecting at borders.

    Args:
        x: (N, H, W, 3) RGB images in 0..255.
        size: the window's side in pixels, >= 1.

    Returns:
        (N, H, W, 3) float32 in 0..255.

    Raises:
        ValueError: ``size`` not a positive integer; and the checks of
            :func:`~helpers.validation.check_images` (which may raise TypeError)."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"median window must be a positive integer, got {size!r}")
    return median_filter(check_images(x), size=(1, size, size, 1), mode="reflect").astype(np.float32)


def non_local_means(x: np.ndarray, search: int, patch: int, strength: float,
                    channel_order: str = "rgb") -> np.ndarray:
    """OpenCV non-local means on each image rounded to 8 bits (see the module docstring).

    Args:
        x: (N, H, W, 3) RGB images in 0..255.
        search: the search window's side, odd.
        patch: the patch's side, odd.
        strength: the filter strength h, > 0.
        channel_order: 'rgb' (the reference code's) or 'bgr' (OpenCV's).

    Returns:
        (N, H, W, 3) float32 in 0..255.

    Raises:
        ValueError: an unknown channel order, even or non-positive windows, strength <= 0; and the
            checks of :func:`~helpers.validation.check_images` (which may raise TypeError)."""
    check_choice(channel_order, ("rgb", "bgr"), "channel order")
    if search < 1 or patch < 1 or search % 2 == 0 or patch % 2 == 0 or strength <= 0:
        raise ValueError(f"non-local means needs odd positive windows and strength > 0, "
                         f"got {search}-{patch}-{strength}")
    out = []
    for img in np.rint(check_images(x)).astype(np.uint8):
        img = img[..., ::-1].copy() if channel_order == "bgr" else img
        den = cv2.fastNlMeansDenoisingColored(img, None, strength, strength, patch, search)
        out.append(den[..., ::-1] if channel_order == "bgr" else den)
    return np.stack(out).astype(np.float32)


_SPEC = re.compile(r"^(bit_depth):(\d)$|^(median):(\d+)x(\d+)$|^(nlm):(\d+)-(\d+)-(\d+(?:\.\d+)?)$")


def squeezer(spec: str, channel_order: str = "rgb") -> Callable[[np.ndarray], np.ndarray]:
    """The squeezer for a spec such as ``"bit_depth:5"``, ``"median:2x2"`` or ``"nlm:11-3-4"``.

    Args:
        channel_order: non-local means' channel order, 'rgb' or 'bgr'.

    Returns:
        a function from (N, H, W, 3) RGB 0..255 images to squeezed float32 ones.

    Raises:
        ValueError: an unknown spec or a non-square median window."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if not match:
        raise ValueError(f"unknown squeezer {spec!r}; expected 'bit_depth:B', 'median:WxW' or 'nlm:S-P-H'")
    g = match.groups()
    if g[0]:
        return lambda x: bit_depth(x, int(g[1]))
    if g[2]:
        if g[3] != g[4]:
            raise ValueError(f"median windows must be square, got {spec!r}")
        return lambda x: median(x, int(g[3]))
    return lambda x: non_local_means(x, int(g[6]), int(g[7]), float(g[8]), channel_order)
