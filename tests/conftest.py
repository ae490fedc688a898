import os

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import keras
import numpy as np
import pytest

from helpers.data import sample_images
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
