import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import keras
import numpy as np
import pytest
from PIL import Image

from helpers.data import ImageSet, sample_images
from helpers.detectors import SaliencyDetector
from helpers.models import ModelBundle, load_model


@pytest.fixture(scope="session")
def lite0() -> ModelBundle:
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def photos(lite0):
    return sample_images(6, lite0.input_size, lite0.crop_fraction, lite0.resize_method)


def tiny_cnn(size: int = 16, n_classes: int = 5, seed: int = 0) -> keras.Model:
    """A small random CNN on RGB 0..255 input returning logits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, name="logits")(x))


@pytest.fixture(scope="session")
def tiny() -> ModelBundle:
    model = tiny_cnn()
    return ModelBundle("tiny", model, "conv2", (16, 16), 0.875, "bilinear", tuple(f"c{i}" for i in range(5)))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16x16 RGB 0..255 textures in 5 classes (horizontal, vertical, two diagonal stripes, a checkerboard)
    with random period, phase, colour, contrast and noise: a task the tiny CNN learns in seconds."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    y = rng.integers(0, 5, n)
    period = rng.uniform(3, 6, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    wave = np.sin(2 * np.pi * np.stack([i, j, i + j, i - j, i])[y] / period + phase)
    checker = np.sin(2 * np.pi * i / period + phase) * np.sin(2 * np.pi * j / period + phase)
    wave = np.where((y == 4)[:, None, None], checker, wave)
    x = rng.uniform(60, 200, (n, 1, 1, 3)) + rng.uniform(30, 60, (n, 1, 1, 1)) * wave[..., None]
    return np.clip(x + rng.normal(0, 8, x.shape), 0, 255).astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="session")
def toy() -> ModelBundle:
    """The tiny CNN trained on :func:`stripes` (about 94% accurate; 3 s): a model whose attacks and
    detectors behave like real ones (confident clean labels, fragile adversarial ones)."""
    keras.utils.set_random_seed(0)  # fit's shuffling too: the same model whichever tests ran before in the process
    model = tiny_cnn(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*stripes(2000, seed=0), epochs=6, batch_size=64, verbose=0)
    return ModelBundle("toy", model, "conv2", (16, 16), 0.875, "bilinear", tuple(f"c{i}" for i in range(5)))


@pytest.fixture
def make_env() -> dict[str, str]:
    """The environment less what an enclosing make passes down (``make test`` runs the tests): a make started with
    it prints its commands only, as the user's would, without "make[1]: Entering directory" lines."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


# Bad input, one line per case (test_bad_inputs.py, and the modules' own files for their cases).
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


@pytest.fixture(scope="module")
def odd_folders(tmp_path_factory):
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


def flip_middle(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + n] = bytes(b ^ 0xFF for b in data[middle:middle + n])
    path.write_bytes(bytes(data))
