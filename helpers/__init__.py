"""Helpers for the saliency-map adversarial-example detector notebooks (Ye et al.).

Importing ``helpers`` before TensorFlow quiets TensorFlow's start-up log and pins oneDNN on
(TensorFlow's default on x86, about 1.8x faster than off on CPU here): results are bit-identical
across runs only when this setting and the thread count are the same, so it is pinned, not left
to the platform.
Both are only defaults: set ``TF_CPP_MIN_LOG_LEVEL`` (e.g. to 0 to see CUDA messages on a GPU
machine) or ``TF_ENABLE_ONEDNN_OPTS`` yourself to override them.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with C++ stderr muted (its absl start-up lines ignore TF_CPP_MIN_LOG_LEVEL)
    and its Python logger at ERROR (no retracing notices from ART's per-batch calls)."""
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")


def _asks_for_help() -> bool:
    """``python -m helpers.X --help`` (sys.argv[0] is "-m" while the package is imported): answered
    without TensorFlow, so at once."""
    return sys.argv[:1] == ["-m"] and bool({"-h", "--help"} & set(sys.argv[1:]))


if not _asks_for_help():
    _import_tensorflow_quietly()

__version__ = "0.1.0"
