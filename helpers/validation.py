"""Input checks shared by every helper: bad input gets a clear error, never a silent fix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_ACCEPT_DARK = ContextVar("accept_dark_images", default=False)


@contextmanager
def accept_dark_images() -> Iterator[None]:
    """Within this block, image batches whose maximum is <= 1 are accepted as (near-black) 0..255
    images instead of being rejected as [0, 1] data; see :func:`check_images`."""
    token = _ACCEPT_DARK.set(True)
    try:
        yield
    finally:
        _ACCEPT_DARK.reset(token)


def check_images(x: np.ndarray, name: str = "x", size: tuple[int, int] | None = None) -> np.ndarray:
    """Check a batch of RGB images in 0..255 and return it as float32.

    A batch whose maximum is <= 1 is almost certainly in [0, 1] units and is rejected too, unless inside
    ``with accept_dark_images():``.

    Args:
        x: (N, H, W, 3) float or integer array with finite values in [0, 255].
        name: the argument's name in error messages.
        size: the required (H, W); None: any size.

    Raises:
        TypeError: ``x`` not a numpy array, or of a non-numeric (or bool) dtype.
        ValueError: wrong rank, channels or size, an empty batch, NaN/Inf, values outside [0, 255], or
            [0, 1] data."""
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
    if hi <= 1.0 and not _ACCEPT_DARK.get():
        raise ValueError(f"{name} looks like [0, 1] data (maximum {hi:g}): helpers take RGB images in 0..255, "
                         f"so pass x * 255. For genuinely near-black images, call inside "
                         f"`with helpers.validation.accept_dark_images():`")
    return x


def check_labels(y: Iterable[int] | np.ndarray, n: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Check integer class labels for a batch of ``n`` inputs; return them as int32.

    Args:
        y: (n,) class indices.
        n_classes: the number of classes; labels lie in [0, n_classes - 1].
        name: the argument's name in error messages.

    Returns:
        (n,) int32 labels.

    Raises:
        ValueError: ``y`` not of shape (n,), or a label outside [0, n_classes - 1].
        TypeError: ``y`` not of an integer dtype."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} must be class indices in [0, {n_classes - 1}], got range [{y.min()}, {y.max()}]")
    return y.astype(np.int32)


def check_number(value, name: str, low: float = -np.inf, high: float = np.inf, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """Check a real number (not a bool or a string) in the interval from ``low`` to ``high``
    (closed unless ``low_open``/``high_open``); return it as a float.

    Args:
        name: its name in error messages.

    Raises:
        TypeError: ``value`` is not a real number (a bool or a string included).
        ValueError: ``value`` is not finite or lies outside the interval."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if not (np.isfinite(value) and (low < value if low_open else low <= value)
            and (value < high if high_open else value <= high)):
        raise ValueError(f"{name} must lie in {interval}, got {value:g}")
    return value


def check_theta(theta: float) -> float:
    """Check a saliency proportion theta in [0, 1].

    Args:
        theta: the proportion θ of the emphasis image.

    Raises:
        TypeError: ``theta`` is not a number.
        ValueError: ``theta`` lies outside [0, 1]."""
    return check_number(theta, "theta", 0.0, 1.0)


def check_choice(value: str, choices: Iterable[str], name: str) -> str:
    """Check that ``value`` is one of ``choices``; the error lists the valid ones.

    Args:
        name: what ``value`` names, in the error message ('attack').

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_count(value, name: str, minimum: int = 1) -> int:
    """Check an integer (not a bool, float or string) of at least ``minimum``; return it as int.

    Args:
        name: its name in error messages.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` < ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_batch_size(batch_size: int) -> int:
    """Check a positive integer batch size.

    Returns:
        ``batch_size`` as an int.

    Raises:
        TypeError: ``batch_size`` is not an integer.
        ValueError: ``batch_size`` < 1."""
    return check_count(batch_size, "batch_size")
