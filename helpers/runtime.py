"""Reproducibility: seeds, deterministic ops, and the library versions a result was made with."""

from __future__ import annotations

import platform
from importlib.metadata import version

import keras
import tensorflow as tf

_PACKAGES = ("tensorflow", "keras", "adversarial-robustness-toolbox", "numpy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    """Python and key library versions, for result metadata."""
    return {"python": platform.python_version(), **{p: version(p) for p in _PACKAGES}}
