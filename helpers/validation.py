"""Input checks shared by every helper: bad input gets a clear error, never a silent fix."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def check_images(x: np.ndarray, name: str = "x", size: tuple[int, int] | None = None) -> np.ndarray:
    """Check a batch of RGB images in 0..255 and return it as float32.

    Accepts float or integer arrays of shape (N, H, W, 3) with finite values in [0, 255].
    Raises ValueError/TypeError naming the problem otherwise (wrong rank, channels, size,
    dtype, range, NaN/Inf, empty batch).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (N, H, W, 3), got {type(x).__name__}")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must have a numeric dtype (float or integer), got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have rank 4 (N, H, W, 3), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {x.shape})")
    channels = x.shape[-1]
    if channels == 1:
        raise ValueError(f"{name} has 1 channel (grayscale); RGB with 3 channels is required")
    if channels == 4:
        raise ValueError(f"{name} has 4 channels (RGBA?); RGB with 3 channels is required")
    if channels != 3:
        raise ValueError(f"{name} must have 3 channels (RGB) in the last axis, got shape {x.shape}")
    if size is not None and tuple(x.shape[1:3]) != tuple(size):
        raise ValueError(f"{name} must be {size[0]}x{size[1]} pixels, got {x.shape[1]}x{x.shape[2]}")
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 255.0:
        raise ValueError(f"{name} values must lie in [0, 255] (RGB 0..255), got range [{lo:g}, {hi:g}]")
    return x


def check_labels(y: Iterable[int] | np.ndarray, n: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Check integer class labels for a batch of ``n`` inputs; return them as int32."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} must be class indices in [0, {n_classes - 1}], got range [{y.min()}, {y.max()}]")
    return y.astype(np.int32)


def check_theta(theta: float) -> float:
    """Check a saliency proportion theta in [0, 1]."""
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.floating, np.integer)):
        raise TypeError(f"theta must be a number in [0, 1], got {theta!r}")
    theta = float(theta)
    if not np.isfinite(theta) or not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must lie in [0, 1], got {theta}")
    return theta


def check_choice(value: str, choices: Iterable[str], name: str) -> str:
    """Check that ``value`` is one of ``choices``; the error lists the valid ones."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_batch_size(batch_size: int) -> int:
    """Check a positive integer batch size."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)
