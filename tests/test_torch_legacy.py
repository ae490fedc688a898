"""The legacy-checkpoint reader against files written here in torch's legacy layout."""

import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

from helpers.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, CheckpointError, load_state_dict


class _Tensor:
    def __init__(self, key, storage_type, offset, size, stride):
        self.key, self.storage_type, self.args = key, storage_type, (offset, size, stride)


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a 'torch' module for pickle to record torch globals by name."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    torch.LongStorage = type("LongStorage", (), {"__module__": "torch"})
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(path, tensors, storages, fake_torch):
    """tensors: name -> _Tensor; storages: key -> 1-D numpy array (float32 or int64)."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, tuple) and obj and obj[0] == "__storage__":
                key = obj[1]
                kind = fake_torch.FloatStorage if storages[key].dtype == np.float32 else fake_torch.LongStorage
                return ("storage", kind, key, "cpu", storages[key].size, None)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                offset, size, stride = obj.args
                rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
                return rebuild, (("__storage__", obj.key), offset, size, stride, False, OrderedDict())
            return NotImplemented

    with open(path, "wb") as f:
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION, {"protocol_version": PROTOCOL_VERSION}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(OrderedDict(tensors))
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            f.write(np.int64(storages[key].size).tobytes())
            f.write(storages[key].astype(storages[key].dtype.newbyteorder("<")).tobytes())


def test_reads_contiguous_strided_offset_and_scalar_tensors(tmp_path, fake_torch):
    data = np.arange(24, dtype=np.float32)
    counts = np.array([7], dtype=np.int64)
    tensors = {
        "conv.weight": _Tensor("0", None, 0, (2, 3, 4), (12, 4, 1)),
        "transposed": _Tensor("0", None, 0, (4, 3), (1, 4)),  # a non-contiguous view
        "tail": _Tensor("0", None, 20, (4,), (1,)),  # an offset into the storage
        "bn.num_batches_tracked": _Tensor("1", None, 0, (), ()),
    }
    path = tmp_path / "ckpt.pth"
    write_legacy(path, tensors, {"0": data, "1": counts}, fake_torch)
    sd = load_state_dict(path)
    assert list(sd) == list(tensors)
    np.testing.assert_array_equal(sd["conv.weight"], data.reshape(2, 3, 4))
    np.testing.assert_array_equal(sd["transposed"], data[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(sd["tail"], data[20:])
    assert sd["bn.num_batches_tracked"].dtype == np.int64 and sd["bn.num_batches_tracked"] == 7


def test_truncated_bad_magic_and_missing_files_raise(tmp_path, fake_torch):
    path = tmp_path / "ckpt.pth"
    write_legacy(path, {"w": _Tensor("0", None, 0, (8,), (1,))}, {"0": np.ones(8, np.float32)}, fake_torch)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(truncated)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(pickle.dumps(123) + path.read_bytes())
    with pytest.raises(CheckpointError, match="magic"):
        load_state_dict(bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_state_dict(garbage)
    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict(tmp_path / "missing.pth")
