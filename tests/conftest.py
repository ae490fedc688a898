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
