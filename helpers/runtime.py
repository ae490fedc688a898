"""Reproducibility: seeds, deterministic ops, and the library versions a result was made with."""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import keras
import tensorflow as tf
from filelock import FileLock
from IPython import get_ipython
from tqdm.auto import tqdm

_PACKAGES = ("tensorflow", "keras", "adversarial-robustness-toolbox", "numpy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    """Python and key library versions, for result metadata."""
    return {"python": platform.python_version(), **{p: version(p) for p in _PACKAGES}}


def code_fingerprint(*modules: ModuleType) -> str:
    """A hash of what the modules' code does: their syntax trees without docstrings, comments or layout,
    so that editing documentation keeps every cache key that includes it, and editing code changes it.

    Args:
        modules: the imported modules whose source is hashed, in order.

    Returns:
        the SHA-256 hex digest."""
    h = hashlib.sha256()
    for module in modules:
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        h.update(ast.dump(tree).encode())
    return h.hexdigest()


def interactive() -> bool:
    """Whether a progress bar can be watched live: yes in a script or terminal; in a Jupyter kernel
    only when the cell was sent by a front end that takes input (JupyterLab, Notebook, VS Code). An
    executed notebook (papermill, nbclient, ``jupyter nbconvert --execute``) is run with stdin off,
    and a widget drawn there would be saved frozen at its first state ('fgsm: 0%| | 0/1')."""
    kernel = getattr(get_ipython(), "kernel", None)
    return kernel is None or bool(getattr(kernel, "_allow_stdin", False))


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True) -> Iterable:
    """A ``tqdm.auto`` progress bar, off when ``enabled`` is false, ``$TQDM_DISABLE`` is set, or the
    notebook is being executed rather than watched (:func:`interactive`), so that executed notebooks
    keep no progress widgets however they are run.

    Args:
        desc: the bar's label."""
    off = not enabled or bool(os.environ.get("TQDM_DISABLE")) or not interactive()
    return tqdm(iterable, desc=desc, leave=False, disable=off)


# Temporary files of write_atomically: ".NAME.tmp~HOST~PID~RANDOM<suffix>", next to NAME.
_TMP_MARK = ".tmp~"
_STALE_SECONDS = 24 * 3600


def _is_stale(tmp: Path) -> bool:
    """A temporary file whose writer is gone: a dead process on this host, or older than a day (any host)."""
    try:
        host, pid = tmp.name.split(_TMP_MARK, 1)[1].split("~")[:2]
        if time.time() - tmp.stat().st_mtime > _STALE_SECONDS:
            return True
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, IndexError):  # vanished, not ours, or a live process we may not signal
        return False
    return False


@contextmanager
def file_lock(path: str | Path, timeout: float = -1) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (flock, through ``filelock``) while the block runs, and leave no lock
    file behind: the file is removed while still held, so a process waiting on it finds it gone and locks a
    new one (filelock checks the inode it locked is still linked).

    Args:
        path: the lock file (its folder exists).
        timeout: seconds to wait for the lock; -1 waits for ever, 0 not at all.

    Raises:
        filelock.Timeout: the lock was not had within ``timeout``."""
    with FileLock(path, timeout=timeout):
        try:
            yield
        finally:
            Path(path).unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files that interrupted :func:`write_atomically` calls left in ``folder``
    (their process was killed); return them. Files of writers still running are kept.

    Args:
        folder: the folder to clean; one that does not exist has nothing to remove."""
    folder = Path(folder)
    stale = [p for p in folder.glob(f".*{_TMP_MARK}*") if _is_stale(p)] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_atomically(path: str | Path, write: Callable[[str], object], suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``: readers
    never see a half-written file. An exception removes the temporary file; one left by a killed
    process (it names its host and process id) is removed by the next write into the same folder.

    Args:
        write: called with the temporary file's name; writes the whole file there.
        suffix: the temporary file's suffix (some writers choose the format by it).

    Returns:
        ``path`` as a Path.

    Raises:
        OSError: naming ``path``, when the file system refuses the write (a full disk, a quota, no permission);
            ``path`` is then left as it was.
        Exception: whatever else ``write`` raises (``path`` is then left as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    prefix = f".{path.name}{_TMP_MARK}{socket.gethostname()}~{os.getpid()}~"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a normally created file, not mkstemp's 0600
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None or str(path) in str(exc):
            raise
        raise type(exc)(exc.errno, f"cannot write {path} ({exc.strerror}); it was left as it was") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
