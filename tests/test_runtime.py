import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from helpers import runtime
from helpers.runtime import progress_bar, set_seed, versions, write_atomically


def test_set_seed_makes_numpy_and_tensorflow_repeatable():
    # np.random's legacy global state is what ART uses and what set_seed seeds.
    set_seed(3)
    a = (np.random.rand(3), tf.random.uniform((3,)).numpy())  # noqa: NPY002
    set_seed(3)
    b = (np.random.rand(3), tf.random.uniform((3,)).numpy())  # noqa: NPY002
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_progress_bar_honours_tqdm_disable(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(3), "x").disable
    monkeypatch.delenv("TQDM_DISABLE")
    assert not progress_bar(range(3), "x").disable
    assert progress_bar(range(3), "x", enabled=False).disable
    assert list(progress_bar(range(3), "x", enabled=False)) == [0, 1, 2]


def test_progress_bar_is_off_in_an_executed_notebook(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    for allow_stdin, shown in ((True, True), (False, False)):  # a front end (JupyterLab) or papermill/nbclient
        kernel = SimpleNamespace(kernel=SimpleNamespace(_allow_stdin=allow_stdin))
        monkeypatch.setattr(runtime, "get_ipython", lambda kernel=kernel: kernel)
        assert runtime.interactive() is shown and progress_bar(range(3), "x").disable is not shown
    monkeypatch.setattr(runtime, "get_ipython", lambda: None)  # a script or a terminal
    assert runtime.interactive() and not progress_bar(range(3), "x").disable


def test_a_notebook_executed_by_nbclient_keeps_no_progress_bar(monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # as with plain papermill, not through make
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from helpers.runtime import interactive, progress_bar\n"
        "print(sum(progress_bar(range(50), 'fgsm')), interactive())")])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": tmp_path}})
    client.execute()
    outputs = nb.cells[0].outputs
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in outputs] == [("stream", "stdout", "1225 False\n")]


def test_versions_lists_the_key_libraries():
    assert {"python", "tensorflow", "keras", "adversarial-robustness-toolbox", "numpy"} <= set(versions())


def test_write_atomically_replaces_whole_files_or_nothing(tmp_path):
    target = tmp_path / "sub" / "result.txt"
    write_atomically(target, lambda tmp: Path(tmp).write_text("first"))
    assert target.read_text() == "first"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask

    def interrupted(tmp):
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, interrupted)
    assert target.read_text() == "first"  # the old file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]  # no temporary file left


def test_write_atomically_removes_temporary_files_of_killed_writers_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f".figure.pdf.tmp~{host}~{dead.pid}~abc123.tmp"  # its process is gone
    live = tmp_path / f".table.csv.tmp~{host}~{os.getpid()}~def456.tmp"  # a write under way (this process)
    elsewhere = tmp_path / f".table.csv.tmp~other-host~{dead.pid}~ghi789.tmp"  # another machine's, recent
    old = tmp_path / f".table.csv.tmp~other-host~{dead.pid}~jkl012.tmp"  # another machine's, days old
    unrelated = tmp_path / ".hidden.tmp"  # not ours
    for path in (stale, live, elsewhere, old, unrelated):
        path.write_text("x")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    write_atomically(tmp_path / "result.txt", lambda tmp: Path(tmp).write_text("done"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, elsewhere.name, unrelated.name,
                                                                 "result.txt"])


def test_code_fingerprint_follows_the_code_not_its_documentation(tmp_path):
    from helpers.runtime import code_fingerprint

    source = '"""A module."""\n\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n'
    variants = {
        "same": source,
        "documented": source.replace("Twice x.", "Twice x.\n\n    Args:\n        x: a number.").replace(
            "A module.", "Another module.").replace("# doubled", "# times two"),
        "reflowed": source.replace("return 2 * x", "return (2 *\n            x)"),
        "code": source.replace("2 * x", "3 * x"),
        "undocumented": source.replace('    """Twice x."""\n', ""),
    }
    digests = {}
    for name, text in variants.items():
        (tmp_path / f"{name}.py").write_text(text)
        digests[name] = code_fingerprint(SimpleNamespace(__file__=str(tmp_path / f"{name}.py")))
    assert digests["same"] == digests["documented"] == digests["reflowed"] == digests["undocumented"]
    assert digests["code"] != digests["same"]


def test_a_full_disk_is_an_error_naming_the_file_and_leaves_it_as_it_was(tmp_path):
    target = tmp_path / "rates.csv"
    target.write_text("old")

    def full_disk(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"cannot write .*rates.csv \(No space left on device\)") as caught:
        write_atomically(target, full_disk)
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["rates.csv"]
