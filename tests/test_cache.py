import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import flip_middle

import helpers.cache as cache
from helpers.adaptive.model import adaptive_bundle
from helpers.attacks import PAPER_PARAMS, run_attack
from helpers.cache import cached_attack
from helpers.data import ImageSet
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def images(rng):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    return ImageSet(x, ("a", "b", "c"), np.full(3, -1, np.int32), "3 test images")


def entries(folder):
    """The cache's entries and any stray file (the lock folder .locks/ aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


def test_second_call_reads_the_cache(tiny, images, tmp_path, monkeypatch):
    first = cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    assert [n.split("-")[0] for n in entries(tmp_path)] == ["pgd", "pgd"]
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    second = cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    for field in ("x_adv", "success", "y", "adv_labels", "l2", "linf"):
        np.testing.assert_array_equal(getattr(second, field), getattr(first, field))
    assert second.params == first.params and second.seconds == first.seconds


def test_cached_examples_are_exact_compressed_and_readable_by_rows(toy, tmp_path, monkeypatch):
    from conftest import stripes

    x = stripes(5, seed=6)[0]
    images = ImageSet(x, tuple("abcde"), np.full(5, -1, np.int32), "5 stripes")
    fresh = cached_attack("fgsm", toy, images, tmp_path, eps=8 / 255, progress=False)
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    loaded = cached_attack("fgsm", toy, images, tmp_path, eps=8 / 255, progress=False)
    np.testing.assert_array_equal(loaded.x_adv, fresh.x_adv)  # lossless: the same bytes...
    np.testing.assert_array_equal(toy.predict(loaded.x_adv)[0], fresh.adv_labels)  # ...hence the same labels
    h5 = next(tmp_path.glob("fgsm-*.h5"))
    with h5py.File(h5) as f:
        assert f["x_adv"].chunks == (1, 16, 16, 3) and f["x_adv"].compression == "gzip" and f["x_adv"].shuffle
    np.testing.assert_array_equal(cache.read_examples(h5, slice(1, 3)), fresh.x_adv[1:3])
    np.testing.assert_array_equal(cache.read_examples(h5, [0, 4]), fresh.x_adv[[0, 4]])


def test_entries_of_the_npz_format_are_cache_misses(tiny, images, tmp_path):
    first = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    stem = next(tmp_path.glob("*.h5")).with_suffix("")
    stem.with_suffix(".h5").rename(stem.with_suffix(".npz"))  # as the earlier format left it
    again = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    assert stem.with_suffix(".h5").is_file()


def test_any_change_of_key_regenerates(tiny, images, tmp_path):
    cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    cached_attack("pgd", tiny, images, tmp_path, max_iter=3, progress=False)
    cached_attack("pgd", tiny, images, tmp_path, max_iter=2, seed=1, progress=False)
    other = ImageSet(images.x[::-1].copy(), images.ids, images.labels, "reversed")
    cached_attack("pgd", tiny, other, tmp_path, max_iter=2, progress=False)
    assert len(entries(tmp_path)) == 8  # four distinct keys, two files each


def test_corrupt_or_partial_entries_are_regenerated(tiny, images, tmp_path):
    first = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    h5 = next(tmp_path.glob("*.h5"))
    h5.write_bytes(h5.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring unusable attack cache entry"):
        again = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    js = next(tmp_path.glob("*.json"))
    record = json.loads(js.read_text())
    record["meta"]["params"]["eps"] = 0.5  # a stale entry under the right name
    js.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="mismatch"):
        cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    js.unlink()  # arrays without their JSON: treated as missing
    cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    assert len(entries(tmp_path)) == 2


def test_interrupted_generation_leaves_no_partial_file(tiny, images, tmp_path, monkeypatch):
    def interrupted(tmp, arrays):
        with open(tmp, "wb") as f:
            f.write(b"half an HDF5 file")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    assert entries(tmp_path) == []


def test_attack_sets_apply_settings_then_overrides(tiny, images, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cache, "cached_attack", lambda name, *a, **k: calls.append((name, k)))
    cache.attack_sets(tiny, images, ["pgd", "cw_l2"], tmp_path, "paper", {"pgd": {"max_iter": 2}}, seed=3)
    (pgd, pgd_kwargs), (cw, cw_kwargs) = calls
    assert pgd == "pgd" and pgd_kwargs["max_iter"] == 2 and pgd_kwargs["eps_step"] == PAPER_PARAMS["pgd"]["eps_step"]
    assert cw == "cw_l2" and cw_kwargs["binary_search_steps"] == 9 and cw_kwargs["seed"] == 3
    with pytest.raises(ValueError, match="unknown attack_settings 'paperr'"):
        cache.attack_sets(tiny, images, ["pgd"], tmp_path, "paperr")


def test_black_box_queries_and_the_guarding_detector_are_cached(tiny, images, tmp_path, monkeypatch):
    params = {"max_iter": 1, "max_eval": 10, "init_eval": 5, "init_size": 3}
    detector = SaliencyDetector(tiny, theta=[0.1, 0.3])
    first = cached_attack("hopskipjump", tiny, images, tmp_path, detector=detector, progress=False, **params)
    assert first.queries is not None and first.queries.min() > 0
    cached_attack("hopskipjump", tiny, images, tmp_path, progress=False, **params)  # no detector: another key
    cached_attack("hopskipjump", tiny, images, tmp_path, detector=SaliencyDetector(tiny, theta=[0.1]),
                  progress=False, **params)
    assert len(entries(tmp_path)) == 6
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    again = cached_attack("hopskipjump", tiny, images, tmp_path, detector=SaliencyDetector(tiny, theta=[0.1, 0.3]),
                          progress=False, **params)  # an equal detector: the same key
    np.testing.assert_array_equal(again.queries, first.queries)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)


def test_detector_fingerprint_follows_settings_and_threshold(tiny, images):
    a = cache.detector_fingerprint(SaliencyDetector(tiny, theta=[0.1, 0.3], noise="zero_mean"))
    assert a["type"] == "SaliencyDetector" and a["settings"]["thetas"] == [0.1, 0.3]
    assert a["settings"]["noise"] == "zero_mean" and a["settings"]["overlay_order"] == "coarse"
    fitted = SaliencyDetector(tiny, theta=[0.1, 0.3], noise="zero_mean", decision="score").fit(images.x)
    assert cache.detector_fingerprint(fitted)["settings"]["threshold"] is not None
    squeezing = cache.detector_fingerprint(FeatureSqueezingDetector(tiny, ("median:2x2",), channel_order="bgr"))
    assert squeezing["settings"]["squeezers"] == ["median:2x2"] and squeezing["settings"]["channel_order"] == "bgr"
    assert cache.detector_fingerprint(None) is None


def test_adaptive_attacks_are_cached_under_their_settings(tiny, images, tmp_path):
    first = cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3]), images, tmp_path, max_iter=2, progress=False)
    again = cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3]), images, tmp_path, max_iter=2, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3], variant="gradcam"), images, tmp_path, max_iter=2,
                  progress=False)
    cached_attack("pgd", adaptive_bundle(tiny, [0.1]), images, tmp_path, max_iter=2, progress=False)
    assert len(entries(tmp_path)) == 6


# A damaged entry is regenerated (never reused), with the same result and no stray file.
ATTACK_CACHE_DAMAGE = {  # name: what it does to the (.h5, .json) pair
    "truncated HDF5": lambda h5, js: h5.write_bytes(h5.read_bytes()[:100]),
    "flipped HDF5 bytes": lambda h5, js: flip_middle(h5),
    "deleted HDF5": lambda h5, js: h5.unlink(),
    "truncated JSON": lambda h5, js: js.write_text(js.read_text()[:20]),
    "flipped JSON bytes": lambda h5, js: flip_middle(js, 4),
    "deleted JSON": lambda h5, js: js.unlink(),
    "stale JSON": lambda h5, js: js.write_text(js.read_text().replace('"max_iter": 2', '"max_iter": 3')),
}


@pytest.mark.parametrize("damage", ATTACK_CACHE_DAMAGE)
def test_a_damaged_attack_cache_entry_is_regenerated(env, tmp_path, damage):
    reference = run_attack("pgd", env.bundle, env.x, max_iter=2)  # independent of any cache
    cached_attack("pgd", env.bundle, env.images, tmp_path, max_iter=2, progress=False)
    (h5,), (js,) = tmp_path.glob("*.h5"), tmp_path.glob("*.json")
    ATTACK_CACHE_DAMAGE[damage](h5, js)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged entry is reported, a missing one is not
        again = cached_attack("pgd", env.bundle, env.images, tmp_path, max_iter=2, progress=False)
    np.testing.assert_array_equal(again.x_adv, reference.x_adv)
    assert entries(tmp_path) == sorted([h5.name, js.name])
    reread = cached_attack("pgd", env.bundle, env.images, tmp_path, max_iter=2, progress=False)
    np.testing.assert_array_equal(reread.x_adv, reference.x_adv)


# A cached attack in another process: killed during its write, or two of them at once.
WORKER = """
import os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import helpers  # noqa: F401
from conftest import tiny_cnn
from helpers import cache
from helpers.data import ImageSet
from helpers.models import ModelBundle

mode, cache_dir, out = sys.argv[2:5]
bundle = ModelBundle("tiny", tiny_cnn(), "conv2", (16, 16), 0.875, "bilinear", tuple(f"c{i}" for i in range(5)))
x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
images = ImageSet(x, ("a", "b", "c"), np.full(3, -1, np.int32), "3 test images")
if mode == "hang-in-write":  # write the arrays, then hang before the rename: the test kills us there
    write_arrays = cache._write_arrays
    def write_and_hang(path, arrays):
        write_arrays(path, arrays)
        open(out + ".writing", "w").close()
        time.sleep(600)
    cache._write_arrays = write_and_hang
if mode == "count":  # wait for the go signal, and say whether this process computed the attack
    run_attack = cache.run_attack
    def counted(*args, **kwargs):
        open(out + ".computed", "w").close()
        time.sleep(2)  # hold the lock long enough for the other process to wait on it
        return run_attack(*args, **kwargs)
    cache.run_attack = counted
    open(out + ".ready", "w").close()
    while not os.path.exists(cache_dir + ".go"):
        time.sleep(0.05)
result = cache.cached_attack("pgd", bundle, images, cache_dir, max_iter=2, progress=False)
np.save(out, result.x_adv)
"""


def start_worker(tmp_path: Path, mode: str, out: str) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen([sys.executable, str(script), str(TESTS), mode, str(tmp_path / "cache"),
                             str(tmp_path / out)])


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"worker exited early with {process.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {path.name}"
        time.sleep(0.05)


def test_a_kill_during_the_cache_write_leaves_nothing_behind(env, tmp_path):
    worker = start_worker(tmp_path, "hang-in-write", "killed")
    wait_for(tmp_path / "killed.writing", worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    folder = tmp_path / "cache"
    assert [n for n in entries(folder) if ".tmp~" in n]  # the kill did leave a temporary file
    result = cached_attack("pgd", env.bundle, env.images, folder, max_iter=2, progress=False)
    np.testing.assert_array_equal(result.x_adv, run_attack("pgd", env.bundle, env.x, max_iter=2).x_adv)
    assert [n.rsplit(".", 1)[1] for n in entries(folder)] == ["h5", "json"]  # no stray files


@pytest.mark.slow  # two fresh processes import TensorFlow: make test, not make unit
def test_concurrent_processes_compute_a_cache_entry_once(tmp_path):
    workers = [start_worker(tmp_path, "count", f"w{i}") for i in range(2)]
    for i, w in enumerate(workers):
        wait_for(tmp_path / f"w{i}.ready", w)
    (tmp_path / "cache.go").touch()
    assert [w.wait(300) for w in workers] == [0, 0]
    assert sum((tmp_path / f"w{i}.computed").exists() for i in range(2)) == 1  # one computed, one waited and read
    np.testing.assert_array_equal(np.load(tmp_path / "w0.npy"), np.load(tmp_path / "w1.npy"))
    assert [n.rsplit(".", 1)[1] for n in entries(tmp_path / "cache")] == ["h5", "json"]
