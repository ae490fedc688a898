"""Batched class activation maps from one target layer's activations A (N, h, w, k) and the gradients
G = dy^c/dA of the explained class's logit y^c, one class per sample, normalised per image to [0, 1]:

- ``"gradcam"`` (Selvaraju et al. 2017, the paper's map): H = ReLU(sum_k w_k A^k), w_k = mean_ij G^k_ij.
- ``"gradcam++"`` (Chattopadhay et al. 2018): w_k = sum_ij alpha^k_ij ReLU(G^k_ij) with
  alpha = G^2 / (2 G^2 + sum_ij A^k * G^3), the powers of G standing for the higher derivatives of
  exp(y^c) (0 where G = 0), as in pytorch-grad-cam.
- ``"xgradcam"`` (Fu et al. 2020): w_k = sum_ij G^k_ij A^k_ij / sum_ij A^k_ij.
- ``"layercam"`` (Jiang et al. 2021): H = ReLU(sum_k ReLU(G^k) * A^k), element-wise, no pooling.

All four come from the same forward + backward pass: the base class :class:`CAM` runs it, each
method defines only its channel weights (or, LayerCAM, its map), as pytorch-grad-cam's methods do.
The gradient of each sample's own selected logit is taken (the sum over the batch of the selected
logits), so a batched call equals per-image calls. Compiled with ``tf.function``; the backward pass
only runs through the layers after the target layer (global pooling and dense for CNNs).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers.models import find_gradcam_layer, is_model, softmax
from helpers.validation import check_batch_size, check_choice, check_images, check_labels

NORMALISE_EPSILON = 1e-8


def _contains(model: keras.Model, name: str) -> bool:
    return any(layer.name == name or (is_model(layer) and _contains(layer, name)) for layer in model.layers)


def features_and_logits_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model returning ``[A, logits]``: the target layer's activations and the model's output.

    A target inside a nested model is supported when the outer model is a chain of single-input
    layers (e.g. preprocessing -> backbone -> head); the rebuilt model is checked numerically.

    Args:
        model: the classifier, logits out.
        layer_name: the target layer's name, in ``model`` or a nested model.

    Returns:
        the Keras model, outputs [(N, h, w, k) activations, (N, n_classes) logits].

    Raises:
        ValueError: the layer is not in the model, or a nested one cannot be reached (the outer model is
            not a chain of single-input layers, or the rebuilt model computes other logits).
    """
    if not _contains(model, layer_name):
        raise ValueError(f"layer {layer_name!r} not found in model {model.name}")
    top = [layer for layer in model.layers if layer.name == layer_name]
    if top:
        return keras.Model(model.input, [top[0].output, model.output])
    host = next(layer for layer in model.layers if is_model(layer) and _contains(layer, layer_name))
    inner = features_and_logits_model(host, layer_name)
    error = ValueError(f"cannot reach nested layer {layer_name!r}: the outer model is not a simple chain; "
                       "pass a flat model or a layer of the outer model")
    inputs = keras.Input(model.input_shape[1:])
    x, features = inputs, None
    try:
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if layer is host:
                features, x = inner(x)
            else:
                x = layer(x)
        rebuilt = keras.Model(inputs, [features, x])
    except Exception as exc:  # a multi-input layer called on one tensor, etc.
        raise error from exc
    probe = np.random.default_rng(0).uniform(0, 255, (1, *model.input_shape[1:])).astype(np.float32)
    if not np.allclose(rebuilt(probe)[1], model(probe), rtol=1e-4, atol=1e-4):
        raise error
    return rebuilt


@dataclass(frozen=True)
class SaliencyMaps:
    """Saliency output for a batch: logits of the input, the explained classes, coarse maps in [0, 1].

    Attributes:
        logits: (N, n_classes) the model's logits for the input.
        classes: (N,) int32 the explained class of each input.
        coarse: (N, h, w) the maps at the target layer's resolution, each normalised to [0, 1]."""

    logits: np.ndarray
    classes: np.ndarray
    coarse: np.ndarray

    @property
    def confidence(self) -> np.ndarray:
        """Softmax probability of each explained class."""
        return softmax(self.logits)[np.arange(len(self.classes)), self.classes]

    def upsampled(self, size: tuple[int, int]) -> np.ndarray:
        """Bilinear upsampling of the coarse maps to ``size`` (values stay in [0, 1]).

        Args:
            size: (H, W) in pixels.

        Returns:
            (N, H, W) maps."""
        return tf.image.resize(self.coarse[..., None], size, method="bilinear").numpy()[..., 0]


class CAM:
    """A batched class activation map for a Keras model returning logits: the shared forward +
    backward pass. Subclasses define :meth:`weights` (one weight per channel) or :meth:`cam`.

    Args:
        model: the classifier, RGB 0..255 in, logits out.
        layer: the target layer name; by default the last layer with a 4-D output.

    Raises:
        ValueError: no layer with a 4-D output, or ``layer`` not reachable
            (:func:`features_and_logits_model`)."""

    method = ""  # the name in SALIENCY_METHODS
    title = ""  # the name in figures and tables

    def __init__(self, model: keras.Model, layer: str | None = None):
        self.model = model
        self.layer = layer or find_gradcam_layer(model)
        self._features_logits = features_and_logits_model(model, self.layer)
        self._compiled = tf.function(self.compute, reduce_retracing=True)

    def weights(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        """Channel weights (N, k) from activations and gradients (N, h, w, k).

        Args:
            activations: (N, h, w, k) the target layer's activations A.
            grads: (N, h, w, k) the gradients G = dy^c/dA.

        Returns:
            (N, k) channel weights.

        Raises:
            NotImplementedError: in the base class."""
        raise NotImplementedError

    def cam(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        """Unnormalised maps (N, h, w): ReLU of the weighted sum of the activation channels.

        Args:
            activations: (N, h, w, k) the target layer's activations A.
            grads: (N, h, w, k) the gradients G = dy^c/dA.

        Returns:
            (N, h, w) maps, >= 0."""
        return tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, self.weights(activations, grads)))

    def compute(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """TF-level maps: ``(logits, classes, coarse maps)``; a class < 0 means the predicted one.

        Args:
            x: (N, H, W, 3) float32 RGB in 0..255.
            classes: (N,) int32 classes to explain (< 0: the predicted class).

        Returns:
            (N, n_classes) logits, (N,) explained classes, (N, h, w) maps normalised per image to [0, 1]."""
        with tf.GradientTape() as tape:
            features, logits = self._features_logits(x, training=False)
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            classes = tf.where(classes < 0, predicted, classes)
            selected = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
        grads = tape.gradient(selected, features)
        cam = self.cam(features, grads)
        cam = cam / (tf.reduce_max(cam, axis=(1, 2), keepdims=True) + NORMALISE_EPSILON)
        return logits, classes, cam

    def __call__(self, x: np.ndarray, classes: np.ndarray | None = None, batch_size: int = 32) -> SaliencyMaps:
        """Maps of ``classes`` (default: each input's predicted class) for RGB 0..255 images.

        Args:
            x: (N, H, W, 3) RGB images in 0..255, of the model's input size.
            classes: (N,) class indices; None: each input's predicted class.

        Raises:
            TypeError, ValueError: ``x``, ``classes`` or ``batch_size`` fail the checks of
                :mod:`helpers.validation`."""
        x = check_images(x, size=tuple(self.model.input_shape[1:3]))
        batch_size = check_batch_size(batch_size)
        n_classes = int(self.model.output_shape[-1])
        classes = np.full(len(x), -1, np.int32) if classes is None else check_labels(classes, len(x), n_classes)
        parts = [self._compiled(tf.constant(x[i:i + batch_size]), tf.constant(classes[i:i + batch_size]))
                 for i in range(0, len(x), batch_size)]
        logits, cls, cam = (np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(3))
        return SaliencyMaps(logits, cls, cam)


class GradCAM(CAM):
    """Grad-CAM: w_k = mean_ij G^k_ij."""

    method = "gradcam"
    title = "Grad-CAM"

    def weights(self, activations, grads):
        """w_k = mean_ij G^k_ij.

        Args:
            activations: (N, h, w, k) activations A (unused).
            grads: (N, h, w, k) gradients G.

        Returns:
            (N, k) channel weights."""
        return tf.reduce_mean(grads, axis=(1, 2))


class GradCAMPlusPlus(CAM):
    """Grad-CAM++: w_k = sum_ij alpha^k_ij ReLU(G^k_ij), alpha = G^2 / (2 G^2 + sum_ij A^k * G^3)."""

    method = "gradcam++"
    title = "Grad-CAM++"
    epsilon = 1e-6  # pytorch-grad-cam's

    def weights(self, activations, grads):
        """w_k = sum_ij alpha^k_ij ReLU(G^k_ij) (0 where G = 0).

        Args:
            activations: (N, h, w, k) activations A.
            grads: (N, h, w, k) gradients G.

        Returns:
            (N, k) channel weights."""
        g2 = tf.square(grads)
        g3 = g2 * grads
        sum_activations = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
        alpha = g2 / (2.0 * g2 + sum_activations * g3 + self.epsilon)
        alpha = tf.where(grads != 0, alpha, tf.zeros_like(alpha))
        return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))


class XGradCAM(CAM):
    """XGrad-CAM: w_k = sum_ij G^k_ij A^k_ij / sum_ij A^k_ij."""

    method = "xgradcam"
    title = "XGrad-CAM"
    epsilon = 1e-7  # pytorch-grad-cam's

    def weights(self, activations, grads):
        """w_k = sum_ij G^k_ij A^k_ij / sum_ij A^k_ij.

        Args:
            activations: (N, h, w, k) activations A.
            grads: (N, h, w, k) gradients G.

        Returns:
            (N, k) channel weights."""
        sum_activations = tf.reduce_sum(activations, axis=(1, 2))
        return tf.reduce_sum(grads * activations, axis=(1, 2)) / (sum_activations + self.epsilon)


class LayerCAM(CAM):
    """LayerCAM: H = ReLU(sum_k ReLU(G^k) * A^k), a weight per position instead of per channel."""

    method = "layercam"
    title = "LayerCAM"

    def cam(self, activations, grads):
        """H = ReLU(sum_k ReLU(G^k) * A^k).

        Args:
            activations: (N, h, w, k) activations A.
            grads: (N, h, w, k) gradients G.

        Returns:
            (N, h, w) maps, >= 0."""
        return tf.nn.relu(tf.reduce_sum(tf.nn.relu(grads) * activations, axis=-1))


SALIENCY_METHODS: dict[str, type[CAM]] = {c.method: c for c in (GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM)}
SALIENCY_TITLES: dict[str, str] = {name: c.title for name, c in SALIENCY_METHODS.items()}


def make_saliency(method: str, model: keras.Model, layer: str | None = None) -> CAM:
    """The saliency map ``method`` (a name in ``SALIENCY_METHODS``; ``"gradcam"`` is the paper's) for ``model``.

    Args:
        model: the classifier, logits out.
        layer: the target layer; None: the last layer with a 4-D output.

    Raises:
        ValueError: an unknown method, or a target layer that cannot be found."""
    return SALIENCY_METHODS[check_choice(method, SALIENCY_METHODS, "saliency method")](model, layer)


def map_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation between paired saliency maps (N, ...) -> (N,); 1 means the same pattern.

    Args:
        a, b: (N, ...) paired maps.

    Returns:
        (N,) correlations; nan where a map is constant.

    Raises:
        ValueError: shapes differ or have fewer than 2 axes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"maps must have the same shape (N, ...), got {a.shape} and {b.shape}")
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    denom = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(1) / denom, np.nan)
