"""The saliency-map detector of Ye et al.: flag x as adversarial when the classifier labels the
subject emphasis image E(x) differently from x itself.

Per batch: one forward + Grad-CAM pass on x (giving the label c and the map H), then one forward
pass on E for each theta, all inside one ``tf.function``. The report also holds a continuous score,
the L1 distance between softmax(f(x)) and softmax(f(E)), for threshold decisions and ROC curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from helpers.emphasis import emphasis_tf, overlay_tf
from helpers.metrics import threshold_at_fpr
from helpers.models import ModelBundle, softmax
from helpers.runtime import progress_bar
from helpers.saliency import GradCAM
from helpers.transforms import noise_tf
from helpers.validation import check_batch_size, check_choice, check_images, check_theta

DECISIONS = ("label_change", "score")


class EmphasisEvaluator:
    """Labels and scores of the emphasis images of x for every (noise, theta) pair, batched.

    Per batch: one forward + Grad-CAM pass on x, the overlay built once, then one forward pass per
    (noise, theta) on E = clip(n(x) + theta * 255 * overlay(H)), all in one ``tf.function``.
    """

    def __init__(self, bundle: ModelBundle, thetas: Sequence[float], noises: Sequence[str] = ("none",),
                 colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet"):
        self.bundle = bundle
        self.thetas = tuple(check_theta(t) for t in thetas)
        self.noises = tuple(noises)
        if not self.thetas or not self.noises:
            raise ValueError("need at least one theta and one noise")
        self.colormap, self.overlay_order, self.zero_mean_reference = colormap, overlay_order, zero_mean_reference
        for noise in self.noises:  # validate the names now, not at the first batch
            noise_tf(tf.zeros((1, 1, 1, 3)), noise, zero_mean_reference)
        overlay_tf(tf.zeros((1, 1, 1)), (2, 2), colormap, overlay_order)
        self.gradcam = GradCAM(bundle.model, bundle.gradcam_layer)
        self._step = tf.function(self._batch, reduce_retracing=True)

    def _batch(self, x: tf.Tensor):
        logits, classes, cam = self.gradcam.compute(x, -tf.ones(tf.shape(x)[:1], tf.int32))
        p = tf.nn.softmax(logits)
        overlay = overlay_tf(cam, tuple(self.bundle.input_size), self.colormap, self.overlay_order)
        p_emph = []
        for noise in self.noises:
            x_noised = noise_tf(x, noise, self.zero_mean_reference)
            p_emph.append(tf.stack([tf.nn.softmax(self.bundle.model(emphasis_tf(x_noised, overlay, t),
                                                                    training=False)) for t in self.thetas]))
        p_emph = tf.stack(p_emph)  # (noises, thetas, batch, classes)
        score = tf.reduce_sum(tf.abs(p_emph - p), axis=-1)
        labels_emph = tf.argmax(p_emph, axis=-1, output_type=tf.int32)
        return classes, tf.reduce_max(p, axis=-1), labels_emph, tf.reduce_max(p_emph, axis=-1), score

    def __call__(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """``labels`` and ``confidence`` of x (N,); ``emphasis_labels``, ``emphasis_confidence`` and
        ``score`` (L1 distance of the softmax outputs), each (noises, thetas, N)."""
        x = check_images(x, size=self.bundle.input_size)
        batch_size = check_batch_size(batch_size)
        starts = range(0, len(x), batch_size)
        parts = [self._step(tf.constant(x[i:i + batch_size]))
                 for i in progress_bar(starts, "emphasis images", progress)]
        names = ("labels", "confidence", "emphasis_labels", "emphasis_confidence", "score")
        axes = (0, 0, 2, 2, 2)
        return {k: np.concatenate([np.asarray(p[j]) for p in parts], axis=a)
                for j, (k, a) in enumerate(zip(names, axes, strict=True))}


class SaliencyDetector:
    """Detector following ART's ``EvasionDetector`` contract: ``fit`` and ``detect``.

    ``theta``: a proportion in [0, 1], or a sequence of them evaluated in one call (sharing the
    Grad-CAM pass). Shapes depend only on this argument: for a number (or a 0-d array),
    ``is_adversarial`` and the per-theta report entries are ``(N,)``; for a sequence (a list or 1-d
    array, even of length 1) they are ``(T, N)``, T = len(theta). ``noise``: ``"none"``,
    ``"color_reverse"`` or ``"zero_mean"`` (see ``helpers.transforms``). ``colormap`` and
    ``overlay_order``: see ``helpers.emphasis``. ``decision``: ``"label_change"`` (the paper's rule)
    or ``"score"`` (score above the threshold set by :meth:`fit`).
    """

    def __init__(self, bundle: ModelBundle, theta: float | Sequence[float] = 0.1, noise: str = "none",
                 colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet",
                 decision: str = "label_change"):
        self._multi = np.ndim(theta) != 0
        if np.ndim(theta) > 1:
            raise ValueError(f"theta must be a number or a 1-d sequence of numbers, got shape {np.shape(theta)}")
        thetas = tuple(np.atleast_1d(np.asarray(theta, dtype=object)))
        if not thetas:
            raise ValueError("theta must be a number or a non-empty sequence of numbers")
        self.decision = check_choice(decision, DECISIONS, "decision")
        self.evaluator = EmphasisEvaluator(bundle, thetas, (noise,), colormap, overlay_order, zero_mean_reference)
        self.bundle, self.thetas, self.noise = bundle, self.evaluator.thetas, noise
        self.threshold: np.ndarray | None = None

    def _run(self, x: np.ndarray, batch_size: int, progress: bool) -> dict[str, np.ndarray]:
        report = self.evaluator(x, batch_size, progress)
        return {k: v[0] if v.ndim == 3 else v for k, v in report.items()}  # drop the single-noise axis

    def fit(self, x: np.ndarray, y: np.ndarray | None = None, fpr: float = 0.05, batch_size: int = 32,
            progress: bool = False) -> SaliencyDetector:
        """Set a score threshold per theta so that at most ``fpr`` of the clean inputs ``x`` score above it.

        ``y`` is accepted for ART compatibility and ignored (the detector needs no labels).
        """
        scores = self._run(x, batch_size, progress)["score"]
        self.threshold = np.array([threshold_at_fpr(s, fpr) for s in scores])
        return self

    def detect(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> tuple[dict, np.ndarray]:
        """Return ``(report, is_adversarial)`` for RGB 0..255 inputs.

        The report holds ``labels`` and ``confidence`` of x, ``emphasis_labels`` and
        ``emphasis_confidence`` of E, the ``score``, ``theta`` and ``threshold``.
        """
        report = self._run(x, batch_size, progress)
        if self.decision == "score":
            if self.threshold is None:
                raise RuntimeError("decision='score' needs a threshold: call fit(x_clean) first")
            flags = report["score"] > self.threshold[:, None]
        else:
            flags = report["emphasis_labels"] != report["labels"][None]
        report["theta"] = np.array(self.thetas)
        report["threshold"] = self.threshold
        if not self._multi:
            for k in ("emphasis_labels", "emphasis_confidence", "score"):
                report[k] = report[k][0]
            report["theta"] = self.thetas[0]
            report["threshold"] = None if self.threshold is None else self.threshold[0]
            flags = flags[0]
        return report, flags


class MaxSoftmaxDetector:
    """The trivial baseline with ART's detector contract: score 1 - max softmax probability of x, flagged
    above a threshold that :meth:`fit` sets on clean inputs. A high-confidence attack (C&W with
    confidence kappa) is built to defeat it."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self.threshold: float | None = None

    def _run(self, x: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
        p = softmax(self.bundle.logits(x, batch_size))
        return {"labels": p.argmax(1), "confidence": p.max(1), "score": 1.0 - p.max(1)}

    def fit(self, x: np.ndarray, y: np.ndarray | None = None, fpr: float = 0.05,
            batch_size: int = 32) -> MaxSoftmaxDetector:
        """Threshold the score so that at most ``fpr`` of the clean inputs ``x`` exceed it (``y`` ignored)."""
        self.threshold = threshold_at_fpr(self._run(x, batch_size)["score"], fpr)
        return self

    def detect(self, x: np.ndarray, batch_size: int = 32) -> tuple[dict, np.ndarray]:
        """``(report, is_adversarial)``; the report holds labels, confidence, score and threshold."""
        if self.threshold is None:
            raise RuntimeError("MaxSoftmaxDetector needs a threshold: call fit(x_clean) first")
        report = self._run(x, batch_size)
        report["threshold"] = self.threshold
        return report, report["score"] > self.threshold
