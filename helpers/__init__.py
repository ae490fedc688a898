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


# Commands that check their arguments and configuration first, then call import_tensorflow_quietly themselves
LIGHT_COMMANDS = ("helpers.study",)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with C++ stderr muted (its absl start-up lines ignore TF_CPP_MIN_LOG_LEVEL)
    and its Python logger at ERROR (no retracing notices from ART's per-batch calls)."""
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3" or "tensorflow" in sys.modules:
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


def _defers_tensorflow() -> bool:
    """Whether ``helpers`` is being imported to run ``python -m helpers.X`` (sys.argv[0] is "-m" then) with
    ``--help`` (answered at once), or to run one of ``LIGHT_COMMANDS``."""
    if sys.argv[:1] != ["-m"]:
        return False
    argv = getattr(sys, "orig_argv", [])
    command = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else None
    return bool({"-h", "--help"} & set(sys.argv[1:])) or command in LIGHT_COMMANDS


if not _defers_tensorflow():
    import_tensorflow_quietly()

__version__ = "0.1.0"
