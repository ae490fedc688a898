"""Reproducibility: seeds, deterministic ops, and the library versions a result was made with."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable, Iterable
from importlib.metadata import version
from pathlib import Path

import keras
import tensorflow as tf
from tqdm.auto import tqdm

_PACKAGES = ("tensorflow", "keras", "adversarial-robustness-toolbox", "numpy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    """Python and key library versions, for result metadata."""
    return {"python": platform.python_version(), **{p: version(p) for p in _PACKAGES}}


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True) -> Iterable:
    """A ``tqdm.auto`` progress bar, off when ``enabled`` is false or ``$TQDM_DISABLE`` is set
    (``make reproduce`` sets it, so executed notebooks keep no progress widgets)."""
    return tqdm(iterable, desc=desc, leave=False, disable=not enabled or bool(os.environ.get("TQDM_DISABLE")))


def write_atomically(path: str | Path, write: Callable[[str], object], suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``: readers
    never see a half-written file, and an interrupted write leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a normally created file, not mkstemp's 0600
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
