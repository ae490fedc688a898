"""Bad input, as a new user would give it: one line per case.

Each ``Bad`` case calls a public helper with one thing wrong and asserts the error type and that
the message names the offending thing (a regular expression). Cases whose right answer is a
result, not an error (16-bit, palette or CMYK files; damaged caches), are checked against an
independent computation below the matrix. Adding a case is adding one line to a list.
"""

from __future__ import annotations

import hashlib
import inspect
import signal
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.attacks import resolve_params, run_attack
from helpers.cache import cached_attack
from helpers.data import ImageSet, load_folder, load_images, sample_images
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import emphasis_images
from helpers.metrics import threshold_at_fpr
from helpers.models import WeightsUnavailableError, load_model
from helpers.params import check_params
from helpers.saliency import GradCAM
from helpers.scores import COLUMNS, load_scores, save_scores
from helpers.squeeze import squeezer
from helpers.transforms import apply_noise

TESTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bad:
    """``call(env)`` must raise ``error`` with a message matching ``match``."""

    call: Callable[[SimpleNamespace], object]
    error: type[Exception]
    match: str


def cases(table: dict[str, Bad]) -> list:
    return [pytest.param(case, id=name) for name, case in table.items()]


def with_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (CRC fixed), pixel data unchanged."""
    ihdr = png[12:16] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:29]
    return png[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + png[33:]


@pytest.fixture(scope="module")
def env(tiny, tmp_path_factory):
    """What the cases act on: the tiny model (16x16 input), a valid batch x, a detector, a folder."""
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    folder = tmp_path_factory.mktemp("bad_files")
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(folder / "good.png")
    png = (folder / "good.png").read_bytes()
    (folder / "zero_bytes.jpg").write_bytes(b"")
    (folder / "not_an_image.jpg").write_text("hello, I am text")
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(folder / "big.jpg", quality=95)
    (folder / "truncated.jpg").write_bytes((folder / "big.jpg").read_bytes()[:400])
    (folder / "huge.png").write_bytes(with_size(png, 100_000, 100_000))  # claims 10^10 pixels
    Image.fromarray(np.full((20, 20), 90, np.uint8)).save(folder / "grey.png")
    files = {p.name: p for p in folder.iterdir()}
    one_file = {}
    for name, path in files.items():
        sub = tmp_path_factory.mktemp(name.replace(".", "_"))
        (sub / name).write_bytes(path.read_bytes())
        one_file[name] = sub
    return SimpleNamespace(bundle=tiny, x=x, detector=SaliencyDetector(tiny, theta=0.2), folder=folder,
                           one_file=one_file, tmp=tmp_path_factory.mktemp("misc"),
                           images=ImageSet(x, ("a", "b", "c"), np.full(3, -1, np.int32), "3 test images"))


# Arrays: rank, channels, dtype, range, NaN/Inf, empty batch, size, lists; through several entry points.
ARRAYS = {
    "rank 3": Bad(lambda e: e.detector.detect(e.x[0]), ValueError, r"x must have rank 4 .*\(16, 16, 3\)"),
    "rank 5": Bad(lambda e: e.bundle.logits(e.x[None]), ValueError, r"rank 4"),
    "grayscale": Bad(lambda e: e.detector.detect(e.x[..., :1]), ValueError, r"1 channel \(grayscale\)"),
    "RGBA": Bad(lambda e: e.detector.detect(np.concatenate([e.x, e.x[..., :1]], -1)), ValueError, "RGBA"),
    "channels first": Bad(lambda e: e.bundle.logits(e.x.transpose(0, 3, 1, 2)), ValueError, "3 channels"),
    "bool dtype": Bad(lambda e: e.detector.detect(e.x > 100), TypeError, "numeric dtype.*bool"),
    "string dtype": Bad(lambda e: e.detector.detect(e.x.astype(str)), TypeError, "numeric dtype"),
    "object dtype": Bad(lambda e: e.detector.detect(e.x.astype(object)), TypeError, "numeric dtype.*object"),
    "negative values": Bad(lambda e: e.detector.detect(e.x - 10), ValueError, r"\[0, 255\].*range \[-9.9"),
    "above 255": Bad(lambda e: run_attack("fgsm", e.bundle, e.x * 2), ValueError, r"\[0, 255\]"),
    "[0, 1] units, detector": Bad(lambda e: e.detector.detect(e.x / 255), ValueError, r"\[0, 1\] data.*x \* 255"),
    "[0, 1] units, attack": Bad(lambda e: run_attack("fgsm", e.bundle, e.x / 255), ValueError, r"\[0, 1\] data"),
    "[0, 1] units, Grad-CAM": Bad(lambda e: GradCAM(e.bundle.model, "conv2")(e.x / 255), ValueError, r"\[0, 1\]"),
    "[0, 1] units, squeezing": Bad(lambda e: FeatureSqueezingDetector(e.bundle, ["median:2x2"], "label_change")
                                   .detect(e.x / 255), ValueError, r"\[0, 1\] data"),
    "NaN": Bad(lambda e: e.detector.detect(np.where(e.x > 250, np.nan, e.x)), ValueError, "NaN"),
    "Inf": Bad(lambda e: e.bundle.predict(np.where(e.x > 250, np.inf, e.x)), ValueError, "NaN or Inf"),
    "empty batch": Bad(lambda e: e.detector.detect(e.x[:0]), ValueError, "empty batch"),
    "empty batch, attack": Bad(lambda e: run_attack("pgd", e.bundle, e.x[:0]), ValueError, "empty batch"),
    "wrong size": Bad(lambda e: e.detector.detect(np.zeros((1, 32, 32, 3)) + 9), ValueError, "16x16 pixels"),
    "nested list": Bad(lambda e: e.detector.detect(e.x.tolist()), TypeError, "numpy array"),
    "noise on a list": Bad(lambda e: apply_noise(e.x.tolist(), "zero_mean"), TypeError, "numpy array"),
    "emphasis of [0, 1] data": Bad(lambda e: emphasis_images(e.x / 255, np.ones((3, 2, 2)), 0.1), ValueError,
                                   r"x_noised looks like \[0, 1\]"),
    "labels out of range": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0, 1, 9])), ValueError,
                               r"y must be class indices in \[0, 4\]"),
    "labels as floats": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0.0, 1, 2])), TypeError,
                            "y must hold integer"),
    "labels, wrong count": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0, 1])), ValueError,
                               r"y must have shape \(3,\)"),
}

# Parameters: names, types and ranges for models, attacks, noises, theta, eps, fpr, n and batch size.
PARAMETERS = {
    "unknown model": Bad(lambda e: load_model("vgg19"), ValueError, "unknown model name 'vgg19'.*'vgg16'"),
    "lite0 with other weights": Bad(lambda e: load_model("efficientnet_lite0", "w.h5"), ValueError,
                                    "weights must be 'imagenet'"),
    "missing weights file": Bad(lambda e: load_model("vgg16", "/no/such.h5"), WeightsUnavailableError,
                                "/no/such.h5"),
    "missing .keras file": Bad(lambda e: load_model("/no/model.keras", preprocessing="tf"),
                               WeightsUnavailableError, "model file not found: /no/model.keras"),
    ".keras without preprocessing": Bad(lambda e: load_model("m.keras"), ValueError, "preprocessing=.*caffe"),
    "unknown preprocessing": Bad(lambda e: load_model("m.keras", preprocessing="imagenet"), ValueError,
                                 "unknown preprocessing 'imagenet'"),
    "unknown attack": Bad(lambda e: run_attack("jsma", e.bundle, e.x), ValueError, "unknown attack 'jsma'.*'fgsm'"),
    "unknown attack parameter": Bad(lambda e: resolve_params("fgsm", {"epsilon": 0.1}), ValueError,
                                    r"unknown parameter\(s\) \['epsilon'\] for attack 'fgsm'; valid: eps"),
    "eps as a string": Bad(lambda e: resolve_params("fgsm", {"eps": "0.01"}), TypeError, "fgsm eps must be a number"),
    "eps zero": Bad(lambda e: resolve_params("pgd", {"eps": 0.0}), ValueError, r"pgd eps must lie in \(0, inf\]"),
    "eps in grey levels": Bad(lambda e: resolve_params("bim", {"eps": 8}), ValueError, r"\[0, 1\] units.*2/255"),
    "max_iter a float": Bad(lambda e: resolve_params("pgd", {"max_iter": 2.5}), TypeError, "max_iter must be an int"),
    "max_iter zero": Bad(lambda e: resolve_params("cw_l2", {"max_iter": 0}), ValueError, "max_iter must be .* >= 1"),
    "targeted as a string": Bad(lambda e: resolve_params("cw_l2", {"targeted": "yes"}), TypeError,
                                "targeted must be True or False"),
    "negative confidence": Bad(lambda e: resolve_params("cw_l2", {"confidence": -1.0}), ValueError, "confidence"),
    "unknown noise": Bad(lambda e: SaliencyDetector(e.bundle, noise="blur"), ValueError,
                         "unknown noise 'blur'.*'color_reverse'"),
    "unknown zero-mean reference": Bad(lambda e: apply_noise(e.x, "zero_mean", "black"), ValueError,
                                       "unknown zero_mean_reference 'black'.*'imagenet'"),
    "unknown colour map": Bad(lambda e: SaliencyDetector(e.bundle, colormap="viridis"), ValueError,
                              "unknown colour map 'viridis'"),
    "unknown overlay order": Bad(lambda e: SaliencyDetector(e.bundle, overlay_order="late"), ValueError,
                                 "unknown overlay order 'late'"),
    "unknown decision": Bad(lambda e: SaliencyDetector(e.bundle, decision="vote"), ValueError, "unknown decision"),
    "unknown squeezer": Bad(lambda e: squeezer("blur:3"), ValueError, "unknown squeezer 'blur:3'"),
    "theta as a string": Bad(lambda e: SaliencyDetector(e.bundle, theta="0.1"), TypeError, "theta must be a number"),
    "theta above 1": Bad(lambda e: SaliencyDetector(e.bundle, theta=1.5), ValueError, r"theta must lie in \[0, 1\]"),
    "theta negative": Bad(lambda e: SaliencyDetector(e.bundle, theta=[0.1, -0.1]), ValueError, "theta must lie"),
    "theta NaN": Bad(lambda e: SaliencyDetector(e.bundle, theta=float("nan")), ValueError, "theta must lie"),
    "theta empty": Bad(lambda e: SaliencyDetector(e.bundle, theta=[]), ValueError, "non-empty sequence"),
    "theta 2-d": Bad(lambda e: SaliencyDetector(e.bundle, theta=[[0.1]]), ValueError, "1-d sequence"),
    "fpr as a string": Bad(lambda e: e.detector.fit(e.x, fpr="0.05"), TypeError, "fpr must be a number"),
    "fpr of 1": Bad(lambda e: threshold_at_fpr([0.1, 0.2], 1.0), ValueError, r"fpr must lie in \[0, 1\)"),
    "fpr negative": Bad(lambda e: threshold_at_fpr([0.1, 0.2], -0.1), ValueError, "fpr must lie"),
    "n as a word": Bad(lambda e: sample_images("two"), TypeError, "n must be an integer, got 'two'"),
    "n zero": Bad(lambda e: sample_images(0), ValueError, r"n must lie in \[1, "),
    "n above the photographs": Bad(lambda e: sample_images(10_000), ValueError, "n must lie in.*photographs"),
    "n above the folder": Bad(lambda e: load_folder(e.one_file["good.png"], n=5), ValueError,
                              "n=5 images requested but folder .* holds only 1"),
    "n a float": Bad(lambda e: load_folder(e.folder, n=2.0), TypeError, "n must be an integer"),
    "batch size zero": Bad(lambda e: e.detector.detect(e.x, batch_size=0), ValueError, "batch_size must be .* >= 1"),
    "batch size a float": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, batch_size=1.5), TypeError, "batch_size"),
    "batch size True": Bad(lambda e: e.bundle.logits(e.x, batch_size=True), TypeError, "batch_size"),
    "unknown on_error": Bad(lambda e: load_folder(e.folder, on_error="ignore"), ValueError, "unknown on_error"),
    "unknown colour policy": Bad(lambda e: load_folder(e.folder, color_policy="gray"), ValueError,
                                 "unknown color_policy 'gray'"),
}

# Files: missing, empty, truncated, zero-byte, non-image, huge dimensions.
FILES = {
    "missing folder": Bad(lambda e: load_folder(e.tmp / "nope"), FileNotFoundError, "image folder not found.*nope"),
    "a file, not a folder": Bad(lambda e: load_folder(e.folder / "good.png"), ValueError, "is a file, not a folder"),
    "empty folder": Bad(lambda e: load_folder(e.tmp), ValueError, "no JPEG or PNG images in folder"),
    "zero-byte file": Bad(lambda e: load_folder(e.one_file["zero_bytes.jpg"]), ValueError,
                          "cannot read image .*zero_bytes.jpg"),
    "text named .jpg": Bad(lambda e: load_folder(e.one_file["not_an_image.jpg"]), ValueError,
                           "cannot read image .*not_an_image.jpg"),
    "truncated PNG": Bad(lambda e: load_folder(e.one_file["truncated.png"]), ValueError,
                         "cannot read image .*truncated.png"),
    "truncated JPEG": Bad(lambda e: load_folder(e.one_file["truncated.jpg"]), ValueError,
                          "cannot read image .*truncated.jpg.*truncated"),
    "huge dimensions": Bad(lambda e: load_folder(e.one_file["huge.png"]), ValueError,
                           r"cannot read image .*huge.png.*10000000000 pixels"),
    "one bad file among good ones": Bad(lambda e: load_folder(e.folder), ValueError, "cannot read image"),
    "grey refused on request": Bad(lambda e: load_folder(e.one_file["grey.png"], color_policy="error"), ValueError,
                                   r"grey.png: image mode L is not RGB \(color_policy='error'\)"),
}


@pytest.mark.parametrize("case", cases(ARRAYS) + cases(PARAMETERS) + cases(FILES))
def test_bad_input_gets_a_clear_error(env, case):
    with pytest.raises(case.error, match=case.match):
        case.call(env)


# Notebook parameters (the full matrix is in test_params.py): the cases users hit first.
NOTEBOOK = {
    "attacks: [nosuch]": Bad(lambda e: check_params({"attacks": ["nosuch"]}), ValueError,
                             "parameter attacks = \\['nosuch'\\].*'fgsm', 'bim'"),
    "attack_settings: paperr": Bad(lambda e: check_params({"attack_settings": "paperr"}), ValueError,
                                   "parameter attack_settings = 'paperr'.*'default', 'paper'"),
    "attack_params: {fgsmm: ...}": Bad(lambda e: check_params({"attack_params": {"fgsmm": {"eps": 0.1}}}),
                                       ValueError, "parameter attack_params .*unknown attack 'fgsmm'"),
    "attack_params: {fgsm: {epss}}": Bad(lambda e: check_params({"attack_params": {"fgsm": {"epss": 0.1}}}),
                                         ValueError, r"attack_params .*unknown parameter\(s\) \['epss'\]"),
    "noises: [blur]": Bad(lambda e: check_params({"noises": ["none", "blur"]}), ValueError,
                          "parameter noises .*'blur'.*'color_reverse'"),
    "n_images: two": Bad(lambda e: check_params({"n_images": "two"}), TypeError, "parameter n_images = 'two'"),
    "eps: '0.01'": Bad(lambda e: check_params({"eps": "0.01"}), TypeError, "parameter eps = '0.01'.*2/255"),
    "fpr: '0.05'": Bad(lambda e: check_params({"fpr": "0.05"}), TypeError, r"parameter fpr = '0.05'.*\[0, 1\)"),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK))
def test_bad_notebook_parameter_gets_a_clear_error(env, case):
    with pytest.raises(case.error, match=case.match):
        case.call(env)


# Files whose right answer is an image, each a uniform colour so that the expected pixel is known.
def uniform(mode: str, value) -> Image.Image:
    return Image.new(mode, (24, 20), value)


def palette() -> Image.Image:
    img = uniform("P", 3)
    img.putpalette([0, 0, 0] * 3 + [200, 40, 10] + [0, 0, 0] * 252)
    img.info["transparency"] = 0
    return img


HANDLED = {  # name: (image, file name, expected RGB of every pixel)
    "16-bit grey": (uniform("I;16", 40000), "a.png", [40000 / 257] * 3),
    "8-bit grey": (uniform("L", 77), "a.png", [77] * 3),
    "grey + alpha": (uniform("LA", (77, 10)), "a.png", [77] * 3),
    "1-bit": (uniform("1", 1), "a.png", [255] * 3),
    "palette with transparency": (palette(), "a.png", [200, 40, 10]),
    "RGBA": (uniform("RGBA", (10, 20, 30, 0)), "a.png", [10, 20, 30]),
    "CMYK JPEG": (uniform("CMYK", (0, 0, 0, 0)), "a.jpg", [255, 255, 255]),
}


@pytest.mark.parametrize("name", HANDLED)
def test_non_rgb_files_give_the_right_pixels(tmp_path, name):
    img, file_name, expected = HANDLED[name]
    img.save(tmp_path / file_name)
    with pytest.warns(UserWarning, match="1 of 1 images were not RGB"):
        loaded = load_folder(tmp_path, size=(8, 8))
    np.testing.assert_allclose(loaded.x[0], np.broadcast_to(np.float32(expected), (8, 8, 3)), atol=1.0)


# Caches: a damaged entry is regenerated (never reused), with the same result and no stray file.
def cache_entries(folder: Path) -> list[str]:
    """The files in a cache folder (its lock folder .locks/ aside): entries and any stray file."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


def flip_middle(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + n] = bytes(b ^ 0xFF for b in data[middle:middle + n])
    path.write_bytes(bytes(data))


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
    assert cache_entries(tmp_path) == sorted([h5.name, js.name])
    reread = cached_attack("pgd", env.bundle, env.images, tmp_path, max_iter=2, progress=False)
    np.testing.assert_array_equal(reread.x_adv, reference.x_adv)


DAMAGE_TO_WEIGHTS_CACHE = {  # name: what it does to the cache folder; a damaged file is reported
    "flip 10 kB in the middle": lambda d: flip_middle(d / "efficientnet_lite0.weights.h5", 10_000),
    "truncate": lambda d: (d / "efficientnet_lite0.weights.h5").write_bytes(
        (d / "efficientnet_lite0.weights.h5").read_bytes()[:5_000_000]),
    "garbage": lambda d: (d / "efficientnet_lite0.weights.h5").write_bytes(b"corrupt"),
    "delete checksum": lambda d: (d / "efficientnet_lite0.weights.h5.sha256").unlink(),
    "delete weights": lambda d: (d / "efficientnet_lite0.weights.h5").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE_TO_WEIGHTS_CACHE)
def test_a_damaged_weights_cache_is_regenerated(tmp_path, monkeypatch, photos, lite0, damage):
    monkeypatch.setenv("SALIENCY_DETECTOR_CACHE", str(tmp_path))
    reference = lite0.logits(photos.x[:2])
    load_model("efficientnet_lite0")
    DAMAGE_TO_WEIGHTS_CACHE[damage](tmp_path)
    if damage.startswith("delete"):
        bundle = load_model("efficientnet_lite0")
    else:
        with pytest.warns(UserWarning, match=r"weights cache .*efficientnet_lite0.weights.h5 is unusable"):
            bundle = load_model("efficientnet_lite0")
    np.testing.assert_array_equal(bundle.logits(photos.x[:2]), reference)
    cached = tmp_path / "efficientnet_lite0.weights.h5"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == (tmp_path / f"{cached.name}.sha256").read_text().strip()
    expected = [".efficientnet_lite0.lock", cached.name, f"{cached.name}.sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


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
    assert [n for n in cache_entries(folder) if ".tmp~" in n]  # the kill did leave a temporary file
    result = cached_attack("pgd", env.bundle, env.images, folder, max_iter=2, progress=False)
    np.testing.assert_array_equal(result.x_adv, run_attack("pgd", env.bundle, env.x, max_iter=2).x_adv)
    assert [n.rsplit(".", 1)[1] for n in cache_entries(folder)] == ["h5", "json"]  # no stray files


@pytest.mark.slow  # two fresh processes import TensorFlow: make test, not make unit
def test_concurrent_processes_compute_a_cache_entry_once(tmp_path):
    workers = [start_worker(tmp_path, "count", f"w{i}") for i in range(2)]
    for i, w in enumerate(workers):
        wait_for(tmp_path / f"w{i}.ready", w)
    (tmp_path / "cache.go").touch()
    assert [w.wait(300) for w in workers] == [0, 0]
    assert sum((tmp_path / f"w{i}.computed").exists() for i in range(2)) == 1  # one computed, one waited and read
    np.testing.assert_array_equal(np.load(tmp_path / "w0.npy"), np.load(tmp_path / "w1.npy"))
    assert [n.rsplit(".", 1)[1] for n in cache_entries(tmp_path / "cache")] == ["h5", "json"]


# Issue 18: the next 22 bad inputs, each a line below (numbered as in the issue), and the ART parameter contract.
@pytest.fixture(scope="module")
def more(tmp_path_factory):
    """One folder per file case: labels.csv variants, a dangling link, a 1x1 image."""
    folders = {}

    def folder(name: str, labels: str | None = None, encoding: str = "utf-8") -> Path:
        path = folders[name] = tmp_path_factory.mktemp(name.replace(" ", "_"))
        Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(path / "good.png")
        if labels is not None:
            (path / "labels.csv").write_text(labels, encoding=encoding)
        return path

    folder("label 5000", "file,label\ngood.png,5000\n")
    folder("listed twice", "file,label\ngood.png,3\nother.png,1\ngood.png,4\n")
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(folders["listed twice"] / "other.png")
    folder("BOM", "file,label\ngood.png,3\n", encoding="utf-8-sig")
    (folder("dangling link") / "gone.png").symlink_to(folders["dangling link"] / "deleted.png")
    Image.fromarray(np.full((1, 1, 3), 90, np.uint8)).save(folder("1x1") / "dot.png")
    return folders


def never_scores(detector):
    """The detector, failing the test if it scores anything (arguments are checked before any work)."""
    detector.evaluate = lambda *a, **k: pytest.fail("scored before checking its arguments")
    return detector


ISSUE_18 = {
    "4 label 5000": Bad(lambda e: load_images(e.more["label 5000"], e.bundle, None), ValueError,
                        r"not classes of the model, which has 5 \(0..4\): \['good.png: 5000'\]"),
    "5 a file listed twice": Bad(lambda e: load_folder(e.more["listed twice"]), ValueError,
                                 r"line 4: file 'good.png' is listed again \(first on line 2, label 3; here label 4\)"),
    "6 dangling link": Bad(lambda e: load_folder(e.more["dangling link"]), ValueError, "cannot read image .*gone.png"),
    "11 decompression bomb": Bad(lambda e: load_folder(e.one_file["huge.png"]), ValueError,
                                 r"huge.png.*PIL.Image.MAX_IMAGE_PIXELS = <pixels>"),
    "12 decision score, no fit": Bad(lambda e: never_scores(SaliencyDetector(e.bundle, decision="score")).detect(e.x),
                                     RuntimeError, "needs a threshold: call fit"),
    "13 fpr -0.1": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=-0.1), ValueError,
                       r"fpr must lie in \[0, 1\), got -0.1"),
    "14 fpr 1.0": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=1.0), ValueError, "fpr must lie"),
    "15 fpr 1.5": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=1.5), ValueError, "fpr must lie"),
    "16 fpr NaN": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=np.nan), ValueError, "got nan"),
    "17 fpr '0.05'": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr="0.05"), TypeError,
                         "fpr must be a number, got '0.05'"),
    "18 squeezing fpr -0.1": Bad(lambda e: never_scores(FeatureSqueezingDetector(e.bundle, ["median:2x2"]))
                                 .fit(e.x, fpr=-0.1), ValueError, "fpr must lie"),
    "18 squeezing fpr 1.5": Bad(lambda e: never_scores(FeatureSqueezingDetector(e.bundle, ["median:2x2"]))
                                .fit(e.x, fpr=1.5), ValueError, "fpr must lie"),
    "19 a 1-byte weights file": Bad(lambda e: load_model("vgg16", weights=e.one_byte), WeightsUnavailableError,
                                    r"one_byte.h5 is not an HDF5 file .*1 bytes"),
    "set_params: unknown name": Bad(lambda e: SaliencyDetector(e.bundle).set_params(thetas=[0.3]), ValueError,
                                    r"no parameter\(s\) \['thetas'\]; settable: \['decision', 'theta'"),
}


@pytest.fixture
def env18(env, more, monkeypatch):
    """``env`` with the issue-18 folders, and a model constructor that fails the test if a model is built."""
    one_byte = env.tmp / "one_byte.h5"
    one_byte.write_bytes(b"g")
    monkeypatch.setattr(keras.applications, "VGG16", lambda *a, **k: pytest.fail("built the model first"))
    return SimpleNamespace(**vars(env), more=more, one_byte=one_byte)


@pytest.mark.parametrize("case", cases(ISSUE_18))
def test_issue_18_bad_input_gets_a_clear_error_before_any_work(env18, case):
    with pytest.raises(case.error, match=case.match):
        case.call(env18)


def test_3_an_image_below_the_minimum_size_is_counted_and_named(more):
    with pytest.warns(UserWarning, match=r"1 of 2 images are smaller than 32 px on their short side .*dot.png \(1x1\)"):
        load_folder(more["1x1"], size=(16, 16))


def test_6_a_dangling_link_is_skipped_like_any_unreadable_file(more):
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable images of 2 .*gone.png"):
        assert load_folder(more["dangling link"], size=(16, 16), on_error="skip").ids == ("good.png",)


def test_9_labels_csv_with_a_byte_order_mark(more):
    assert load_folder(more["BOM"], size=(16, 16)).labels.tolist() == [3]


def test_2_a_misspelled_papermill_parameter_is_refused_with_the_closest_name():
    history = ["", "import numpy as np\n", "n_images = 8\nthetas = [0.1]\nseed = 0\n",
               "# Parameters\nn_imagse = 2\nthetaz = [0.9]\n", "check_params(globals())\n"]
    with pytest.raises(ValueError, match=r"'n_imagse' \(did you mean 'n_images'\?\); 'thetaz' \(did you mean "
                                         r"'thetas'\?\)"):
        check_params({"In": history, "n_images": 8, "thetas": [0.1], "seed": 0, "n_imagse": 2, "thetaz": [0.9]})
    history[3] = "# Parameters\nn_images = 2\n"  # a declared name passes
    assert check_params({"In": history, "n_images": 2, "thetas": [0.1], "seed": 0})["n_images"] == 2


@pytest.mark.notebook
def test_2_papermill_fails_on_a_misspelled_parameter(tmp_path, monkeypatch):
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("n_images = 8\nthetas = [0.1]", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from helpers.params import check_params\nparams = check_params(globals())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))
    with pytest.raises(pm.PapermillExecutionError, match=r"'n_imagse' \(did you mean 'n_images'\?\)"):
        pm.execute_notebook(tmp_path / "tiny.ipynb", tmp_path / "out.ipynb", parameters={"n_imagse": 2},
                            kernel_name="python3", progress_bar=False)


def test_set_params_names_the_constructor_arguments_and_rebuilds(tiny, env):
    for cls in (SaliencyDetector, FeatureSqueezingDetector, ConfidenceDetector):
        assert set(cls.defence_params) <= set(inspect.signature(cls).parameters), cls.__name__
    detector = SaliencyDetector(tiny, theta=0.2).fit(env.x, fpr=0.0)
    before = detector.evaluate(env.x)["score"]
    detector.set_params(noise="zero_mean")
    expected = SaliencyDetector(tiny, theta=0.2, noise="zero_mean").evaluate(env.x)["score"]
    assert np.abs(expected - before).max() > 1e-3  # the noise changes the scores: the check below can fail
    np.testing.assert_allclose(detector.evaluate(env.x)["score"], expected, rtol=1e-6)
    assert detector.get_params()["noise"] == "zero_mean" and detector.threshold is None  # fitted for the old noise
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        detector.set_params(noise="blur")
    assert detector.noise == "zero_mean"  # a refused value changes nothing
    squeezing = FeatureSqueezingDetector(tiny, ["bit_depth:1"])
    squeezing.set_params(squeezers=["median:2x2"])
    np.testing.assert_array_equal(squeezing.evaluate(env.x)["distances"],
                                  FeatureSqueezingDetector(tiny, ["median:2x2"]).evaluate(env.x)["distances"])


def test_7_a_damaged_score_table_is_named(tmp_path):
    table = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    path = save_scores(table, tmp_path / "shard.parquet", {"parameters": {}})
    data = bytearray(path.read_bytes())
    data[-40:-8] = bytes(b ^ 0xFF for b in data[-40:-8])  # the footer (schema, metadata) before its length
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match="cannot read score table .*shard.parquet"):
        load_scores(path)
