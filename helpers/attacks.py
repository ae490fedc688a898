"""Adversarial attacks through ART, at a [0, 1] boundary.

Images are RGB 0..255 everywhere in ``helpers``; ART's defaults and the literature's epsilons
assume inputs in [0, 1], so ART sees a [0, 1] view of the model (a x255 scaling layer in front of
it). Epsilons are given in [0, 1] units; ``eps * 255`` is the same budget in pixel units
(e.g. eps = 2/255 ~ 0.0078 in [0, 1] units is 2 grey levels).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from helpers.models import ModelBundle
from helpers.validation import check_batch_size, check_images, check_labels

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import FastGradientMethod
    from art.estimators.classification import TensorFlowV2Classifier


@dataclass(frozen=True)
class AttackResult:
    """Adversarial examples (float32, 0..255, not rounded) and which of them succeeded."""

    name: str
    x_adv: np.ndarray
    success: np.ndarray
    y: np.ndarray
    adv_labels: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())


def art_classifier(bundle: ModelBundle):
    """ART ``TensorFlowV2Classifier`` over a [0, 1] view of the bundle's 0..255 model."""
    h, w = bundle.input_size
    inputs = keras.Input((h, w, 3), name="rgb_0_1")
    logits = bundle.model(keras.layers.Rescaling(255.0, name="to_0_255")(inputs))
    model01 = keras.Model(inputs, logits, name=f"{bundle.name}_0_1")
    return TensorFlowV2Classifier(
        model=model01, nb_classes=bundle.n_classes, input_shape=(h, w, 3), clip_values=(0.0, 1.0),
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True))


def fgsm(bundle: ModelBundle, x: np.ndarray, y: np.ndarray | None = None, eps: float = 2 / 255,
         batch_size: int = 32) -> AttackResult:
    """Untargeted FGSM (Goodfellow et al.), L-inf budget ``eps`` in [0, 1] units.

    ``y``: the labels to move away from; by default the model's own predictions on ``x``.
    Success means the adversarial label differs from ``y``.
    """
    x = check_images(x, size=bundle.input_size)
    batch_size = check_batch_size(batch_size)
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"eps must lie in (0, 1] ([0, 1] units), got {eps}")
    y = bundle.predict(x, batch_size)[0] if y is None else check_labels(y, len(x), bundle.n_classes)
    attack = FastGradientMethod(art_classifier(bundle), norm=np.inf, eps=eps, batch_size=batch_size)
    x_adv = attack.generate(x / 255.0, y=np.eye(bundle.n_classes, dtype=np.float32)[y])
    x_adv = np.clip(x_adv.astype(np.float32) * 255.0, 0.0, 255.0)
    adv_labels = bundle.predict(x_adv, batch_size)[0]
    return AttackResult("fgsm", x_adv, adv_labels != y, y.astype(np.int32), adv_labels,
                        {"eps": eps, "eps_255": eps * 255.0, "norm": "inf"})
