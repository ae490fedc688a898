"""Read a PyTorch *legacy* (non-zip) checkpoint into numpy arrays, without installing torch.

Layout of the legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``):
pickled magic number, pickled protocol version, pickled sys info, the pickled object whose
tensors refer to storages by persistent id, the pickled list of storage keys, then for each
key the storage's element count (int64) followed by its raw little-endian bytes.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a readable legacy PyTorch checkpoint (missing, truncated or corrupt)."""


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_args) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_args) -> _TensorRef:
    return data


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise CheckpointError(f"unsupported object {module}.{name} in checkpoint")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unsupported persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unsupported storage type {storage_type!r}")
        return _StorageRef(str(key), storage_type.dtype)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Load a legacy PyTorch state dict as ``{name: numpy array}`` (copies, C-contiguous).

    Args:
        path: a checkpoint in PyTorch's legacy (pre-1.6, pickle-based) format.

    Raises:
        CheckpointError: the file is missing, not a legacy checkpoint, truncated, corrupt, or holds an
            object other than tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        with path.open("rb") as f:
            if pickle.load(f) != MAGIC_NUMBER:
                raise CheckpointError(f"{path} is not a legacy PyTorch checkpoint (bad magic number)")
            if pickle.load(f) != PROTOCOL_VERSION:
                raise CheckpointError(f"{path}: unsupported checkpoint protocol version")
            pickle.load(f)  # sys info
            state = _Unpickler(f).load()
            keys = pickle.load(f)
            storages = {}
            for key in keys:
                count = int(np.frombuffer(_read(f, 8), dtype="<i8")[0])
                dtype = _storage_dtype(state, key)
                storages[key] = np.frombuffer(_read(f, count * np.dtype(dtype).itemsize), dtype=dtype)
    except CheckpointError as exc:
        if str(path) in str(exc):
            raise
        raise CheckpointError(f"{path}: {exc}") from exc
    except Exception as exc:  # pickle raises many types on corrupt data
        raise CheckpointError(f"corrupt or truncated checkpoint {path}: {exc}") from exc
    return {name: _materialise(ref, storages) for name, ref in state.items()}


def _read(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"checkpoint is truncated (wanted {n} bytes, got {len(data)})")
    return data


def _storage_dtype(state: dict, key: str) -> type:
    for ref in state.values():
        if isinstance(ref, _TensorRef) and ref.storage.key == key:
            return ref.storage.dtype
    raise CheckpointError(f"storage {key} is not used by any tensor")


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    buf = storages[ref.storage.key]
    item = buf.itemsize
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=buf.dtype)
    needed = ref.offset + 1 + sum((s - 1) * st for s, st in zip(ref.size, ref.stride, strict=True))
    if needed > buf.size:
        raise CheckpointError(f"tensor exceeds its storage ({needed} > {buf.size} elements)")
    view = np.lib.stride_tricks.as_strided(
        buf[ref.offset:], shape=ref.size, strides=tuple(st * item for st in ref.stride)
    )
    return np.array(view, copy=True)
