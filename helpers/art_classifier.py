"""ART's ``TensorFlowV2Classifier`` with compiled gradients, over a [0, 1] view of a bundle.

Stock ART computes ``loss_gradient`` and ``class_gradient`` eagerly, and ``class_gradient`` runs
one backward pass per distinct label (per class when ``label=None``: 1000 for ImageNet). Here both
run as ``tf.function``: one forward and one backward pass per call, whatever the labels, with the
same values as stock ART (the same loss object, the same per-sample logits). ``predict`` runs its
preprocessing and forward pass as one ``tf.function`` traced once for any batch size (an attack's
line search predicts on subsets of every size), in chunks of ``batch_size``.
"""

from __future__ import annotations

import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from helpers.models import ModelBundle

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.estimators.classification import TensorFlowV2Classifier

# label=None asks for the gradient of every class: allowed only for small output spaces.
MAX_CLASSES_FOR_ALL_GRADIENTS = 32


class CompiledTensorFlowV2Classifier(TensorFlowV2Classifier):
    """``TensorFlowV2Classifier`` whose ``loss_gradient``/``class_gradient`` run compiled.

    Needs ART preprocessing written in TensorFlow (``all_framework_preprocessing``; the default
    identity standardisation is), which is then compiled along; training-mode gradients fall back
    to stock ART.

    Args:
        *args, **kwargs: those of ART's ``TensorFlowV2Classifier``.

    Raises:
        ValueError: preprocessing that is not TensorFlow-native.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.all_framework_preprocessing:
            raise ValueError("CompiledTensorFlowV2Classifier needs TensorFlow-native ART preprocessing; "
                             "use TensorFlowV2Classifier for numpy preprocessing defences")
        self._compiled_loss_gradient = tf.function(self._loss_gradient_tf, reduce_retracing=True)
        self._compiled_class_gradient = tf.function(self._class_gradient_tf, reduce_retracing=True)
        any_batch = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self._compiled_predict = tf.function(self._predict_tf, input_signature=[any_batch])

    def _predict_tf(self, x: tf.Tensor) -> tf.Tensor:
        x_input, _ = self._apply_preprocessing(x, y=None, fit=False)
        return self._model(x_input, training=False)

    def _loss_gradient_tf(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            x_input, y = self._apply_preprocessing(x, y=y, fit=False)
            predictions = self._model(x_input, training=False)
            target = tf.argmax(y, axis=1) if self._reduce_labels else y
            loss = self._loss_object(target, predictions)
        return tape.gradient(loss, x)

    def _class_gradient_tf(self, x: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            x_input, _ = self._apply_preprocessing(x, y=None, fit=False)
            logits = self._model(x_input, training=False)
            # Each sample's own selected output: summing over the batch keeps gradients per sample.
            selected = tf.reduce_sum(tf.gather(logits, labels, axis=1, batch_dims=1))
        return tape.gradient(selected, x)

    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs) -> np.ndarray:
        """Model outputs for ``x``, by the compiled forward pass in chunks of ``batch_size`` (stock ART
        ignores ``batch_size``).

        Args:
            x: (N, H, W, 3) images in the classifier's units ([0, 1] for :func:`art_classifier`).
            training_mode: True: stock ART's uncompiled prediction.
            **kwargs: passed to stock ART in training mode.

        Returns:
            (N, n_classes) outputs after ART's postprocessing."""
        if training_mode:
            return super().predict(x, batch_size=batch_size, training_mode=training_mode, **kwargs)
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, self.nb_classes), np.float32)
        preds = np.concatenate([self._compiled_predict(tf.constant(x[i:i + batch_size])).numpy()
                                for i in range(0, len(x), batch_size)])
        return self._apply_postprocessing(preds=preds, fit=False)

    def loss_gradient(self, x, y, training_mode: bool = False, **kwargs):
        """Gradient of the loss w.r.t. ``x`` (numpy in, numpy out; tensor in, tensor out).

        Args:
            x: (N, H, W, 3) inputs.
            y: (N, n_classes) one-hot labels (or (N,) indices where ART reduces labels).
            training_mode: True: stock ART's uncompiled gradient.
            **kwargs: passed to stock ART in training mode.

        Returns:
            the gradient, of ``x``'s shape."""
        if training_mode:
            return super().loss_gradient(x, y, training_mode=training_mode, **kwargs)
        grads = self._compiled_loss_gradient(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        return grads.numpy() if isinstance(x, np.ndarray) else grads

    def class_gradient(self, x, label=None, training_mode: bool = False, **kwargs) -> np.ndarray:
        """Per-sample gradient of the selected class outputs: shape (N, 1, ...) for a label or an
        array of labels, (N, n_classes, ...) for ``label=None`` (small models only).

        Args:
            x: (N, H, W, 3) inputs.
            label: one class, (N,) classes, or None for every class.
            training_mode: True: stock ART's uncompiled gradient.
            **kwargs: passed to stock ART in training mode.

        Returns:
            (N, 1, H, W, 3), or (N, n_classes, H, W, 3) for ``label=None``.

        Raises:
            ValueError: ``label=None`` with more than ``MAX_CLASSES_FOR_ALL_GRADIENTS`` classes, or a label
                outside [0, n_classes - 1]."""
        if training_mode:
            return super().class_gradient(x, label=label, training_mode=training_mode, **kwargs)
        x = tf.convert_to_tensor(x)
        n = int(x.shape[0])
        if label is None:
            if self.nb_classes > MAX_CLASSES_FOR_ALL_GRADIENTS:
                raise ValueError(f"class_gradient(label=None) would need one backward pass per class "
                                 f"({self.nb_classes}); pass the labels you need")
            grads = [self._compiled_class_gradient(x, tf.fill([n], i)) for i in range(self.nb_classes)]
            return np.stack([g.numpy() for g in grads], axis=1)
        labels = np.broadcast_to(np.asarray(label, dtype=np.int32).reshape(-1), (n,))
        if labels.min() < 0 or labels.max() >= self.nb_classes:
            raise ValueError(f"labels must lie in [0, {self.nb_classes - 1}]")
        return self._compiled_class_gradient(x, tf.constant(labels)).numpy()[:, None]


_CLASSIFIERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def art_classifier(bundle: ModelBundle, compiled: bool = True) -> TensorFlowV2Classifier:
    """An ART classifier over a [0, 1] view of the bundle's 0..255 model (a x255 layer in front),
    so that ART's defaults and the literature's epsilons keep their meaning. One classifier is kept
    per model, so its compiled functions are traced once, not at every attack.

    Args:
        compiled: True: :class:`CompiledTensorFlowV2Classifier`; False: stock ART (for comparison).

    Returns:
        the ART classifier, inputs (N, H, W, 3) in [0, 1], clip values (0, 1)."""
    per_model = _CLASSIFIERS.setdefault(bundle.model, {})
    if compiled not in per_model:
        per_model[compiled] = _build_classifier(bundle, compiled)
    return per_model[compiled]


def _build_classifier(bundle: ModelBundle, compiled: bool) -> TensorFlowV2Classifier:
    h, w = bundle.input_size
    inputs = keras.Input((h, w, 3), name="rgb_0_1")
    logits = bundle.model(keras.layers.Rescaling(255.0, name="to_0_255")(inputs))
    model01 = keras.Model(inputs, logits, name=f"{bundle.name}_0_1")
    cls = CompiledTensorFlowV2Classifier if compiled else TensorFlowV2Classifier
    return cls(model=model01, nb_classes=bundle.n_classes, input_shape=(h, w, 3), clip_values=(0.0, 1.0),
               loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
