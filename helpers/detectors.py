"""Detectors that compare the classifier with itself: x is flagged when f labels a transformed x
differently (the paper's rule), or when a score exceeds a threshold fitted on clean inputs.

- :class:`SaliencyDetector` (Ye et al.): the transform is the subject emphasis image
  E = clip(n(x) + theta * 255 * overlay(H), 0, 255); one transform per theta.
- :class:`FeatureSqueezingDetector` (Xu et al.): the transforms are the squeezers; the joint
  detector flags when any squeezer changes the label, and scores the largest distance.
- :class:`ConfidenceDetector`: the trivial baseline score 1 - max softmax of x (no transform).

All follow ART's ``EvasionDetector`` contract through :class:`Detector`, which holds what they
share: ``fit(x, y=None, fpr=0.05)`` (a score threshold per configuration at that false-positive
rate on clean inputs), the two decision rules, and ``detect(x) -> (report, is_adversarial)``.
Subclasses only score: :meth:`Detector.evaluate` returns, for K configurations (thetas; one for
Feature Squeezing), ``labels`` (N,), ``score`` (K, N) and ``label_changed`` (K, N).
"""

from __future__ import annotations

import abc
import time
import warnings
import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.emphasis import emphasis_tf, overlay_tf
from helpers.metrics import threshold_at_fpr
from helpers.models import ModelBundle, softmax
from helpers.runtime import progress_bar
from helpers.saliency import make_saliency
from helpers.squeeze import JOINT_IMAGENET, squeezer
from helpers.transforms import noise_tf
from helpers.validation import (
    accept_dark_images,
    check_batch_size,
    check_choice,
    check_images,
    check_number,
    check_theta,
)

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.defences.detector.evasion import EvasionDetector

DECISIONS = ("label_change", "score")


def l1_distance(p: np.ndarray, p_transformed: np.ndarray) -> np.ndarray:
    """The consistency score: L1 distance between softmax outputs, over the last axis.

    Args:
        p: (..., n_classes) softmax of x.
        p_transformed: (..., n_classes) softmax of the transformed x (broadcast against ``p``)."""
    return np.abs(p_transformed - p).sum(axis=-1)


def baseline_score(confidence: np.ndarray) -> np.ndarray:
    """The trivial score: 1 - max softmax probability of the input.

    Args:
        confidence: the max softmax probabilities.

    Returns:
        the scores, of the same shape."""
    return 1.0 - np.asarray(confidence)


def joint_squeezing(label_changed: np.ndarray, distances: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Xu et al.'s joint detector from per-squeezer results (squeezers along ``axis``): flagged when
    any squeezer changes the label; score = the largest distance.

    Args:
        label_changed: bool, per squeezer and input.
        distances: per squeezer and input.

    Returns:
        (flagged, score) with ``axis`` reduced."""
    return np.any(label_changed, axis=axis), np.max(distances, axis=axis)


class Detector(EvasionDetector, abc.ABC):
    """ART ``EvasionDetector`` with the shared decision rules; subclasses implement :meth:`evaluate`.

    ``decision``: ``"label_change"`` (the paper's rule; needs no fit) or ``"score"`` (score above the
    threshold that :meth:`fit` sets). Shapes: ``is_adversarial`` and the per-configuration report
    entries are ``(N,)`` for a detector with one configuration given as a scalar, else ``(K, N)``.

    Args:
        decision: one of ``decisions``.

    Attributes:
        threshold: (K,) the fitted score thresholds; None before :meth:`fit`.

    Raises:
        ValueError: an unknown decision.
    """

    defence_params = ["decision"]
    decisions: tuple[str, ...] = DECISIONS
    _per_configuration: tuple[str, ...] = ("score", "label_changed")  # report entries with a leading K axis

    def __init__(self, decision: str):
        super().__init__()
        self.decision = decision
        self.threshold: np.ndarray | None = None
        self._check_params()

    def _check_params(self) -> None:
        check_choice(self.decision, self.decisions, "decision")

    def set_params(self, **kwargs) -> None:
        """ART's contract, kept whole: only names in ``defence_params`` (the constructor's arguments)
        are set, anything else is refused, and the detector is rebuilt from the new values, so that
        what ``__init__`` built from them (the emphasis evaluator, the squeezers) follows. A fitted
        threshold is kept when only ``decision`` changes (it belongs to the scores, not the rule).

        Args:
            **kwargs: parameter name -> new value.

        Raises:
            ValueError: a name that is not a parameter, or a value the constructor refuses (nothing
                is changed then).
        """
        unknown = sorted(set(kwargs) - set(self.defence_params))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {unknown}; settable: {self.defence_params}")
        rebuilt = type(self)(self.bundle, **{**self.get_params(), **kwargs})
        if set(kwargs) <= {"decision"}:
            rebuilt.threshold = self.threshold
        self.__dict__.update(rebuilt.__dict__)

    @property
    def multi(self) -> bool:
        """Whether results keep a leading configuration axis (K, N)."""
        return False

    @abc.abstractmethod
    def evaluate(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """``labels`` (N,), ``score`` (K, N) and ``label_changed`` (K, N) for RGB 0..255 inputs, plus
        detector-specific entries.

        Args:
            x: (N, H, W, 3) RGB images in 0..255."""

    def fit(self, x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 32, nb_epochs: int = 0, *,
            fpr: float = 0.05, progress: bool = False, **kwargs) -> Detector:
        """Set a score threshold per configuration so that at most ``fpr`` of the clean inputs ``x``
        score above it. ``y`` and ``nb_epochs`` (ART's signature) are ignored: nothing is trained.

        Args:
            x: (N, H, W, 3) clean RGB images in 0..255.
            y, nb_epochs, **kwargs: ignored (ART's signature).
            fpr: the target false-positive rate, in [0, 1).

        Returns:
            the detector, fitted.

        Raises:
            TypeError, ValueError: ``fpr`` is not a number in [0, 1) (checked before any scoring).
        """
        check_number(fpr, "fpr", 0.0, 1.0, high_open=True)
        scores = self.evaluate(x, batch_size, progress)["score"]
        self.threshold = np.array([threshold_at_fpr(s, fpr) for s in scores])
        return self

    def detect(self, x: np.ndarray, batch_size: int = 32, progress: bool = False,
               **kwargs) -> tuple[dict, np.ndarray]:
        """``(report, is_adversarial)``: the report holds :meth:`evaluate`'s entries and ``threshold``.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.
            **kwargs: ignored (ART's signature).

        Returns:
            the report and the bool flags, (N,) or (K, N) (see the class docstring).

        Raises:
            RuntimeError: ``decision="score"`` before :meth:`fit` (checked before any scoring).
        """
        if self.decision == "score" and self.threshold is None:
            raise RuntimeError("decision='score' needs a threshold: call fit(x_clean) first")
        report = self.evaluate(x, batch_size, progress)
        flags = report["score"] > self.threshold[:, None] if self.decision == "score" else report["label_changed"]
        report["threshold"] = self.threshold
        if not self.multi:
            report = {k: v[0] if k in self._per_configuration else v for k, v in report.items()}
            report["threshold"] = None if self.threshold is None else self.threshold[0]
            flags = flags[0]
        return report, flags


class EmphasisEvaluator:
    """Labels and scores of the emphasis images of x for every (noise, theta) pair, batched.

    Per batch: one forward + saliency pass on x (``saliency_method``, Grad-CAM by default), the
    overlay built once, then one forward pass per (noise, theta) on E = clip(n(x) + theta * 255 *
    overlay(H)), all in one ``tf.function``.

    Args:
        thetas: proportions θ in [0, 1], at least one.
        noises: names of ``helpers.transforms.NOISES``, at least one.
        colormap, overlay_order: see ``helpers.emphasis``.
        zero_mean_reference: see ``helpers.transforms``.
        saliency_method: a name of ``helpers.saliency.SALIENCY_METHODS``.

    Raises:
        TypeError, ValueError: a theta that is not a number in [0, 1]; no theta or no noise; an unknown
            noise, reference, colour map, overlay order or saliency method.
    """

    def __init__(self, bundle: ModelBundle, thetas: Sequence[float], noises: Sequence[str] = ("none",),
                 colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet",
                 saliency_method: str = "gradcam"):
        self.bundle = bundle
        self.thetas = tuple(check_theta(t) for t in thetas)
        self.noises = tuple(noises)
        if not self.thetas or not self.noises:
            raise ValueError("need at least one theta and one noise")
        self.colormap, self.overlay_order, self.zero_mean_reference = colormap, overlay_order, zero_mean_reference
        for noise in self.noises:  # validate the names now, not at the first batch
            noise_tf(tf.zeros((1, 1, 1, 3)), noise, zero_mean_reference)
        overlay_tf(tf.zeros((1, 1, 1)), (2, 2), colormap, overlay_order)
        self.saliency_method = saliency_method
        self.saliency = make_saliency(saliency_method, bundle.model, bundle.gradcam_layer)
        self._step = tf.function(self._batch, reduce_retracing=True)

    def _batch(self, x: tf.Tensor):
        logits, classes, cam = self.saliency.compute(x, -tf.ones(tf.shape(x)[:1], tf.int32))
        p = tf.nn.softmax(logits)
        overlay = overlay_tf(cam, tuple(self.bundle.input_size), self.colormap, self.overlay_order)
        p_emph = []
        for noise in self.noises:
            x_noised = noise_tf(x, noise, self.zero_mean_reference)
            p_emph.append(tf.stack([tf.nn.softmax(self.bundle.model(emphasis_tf(x_noised, overlay, t),
                                                                    training=False)) for t in self.thetas]))
        p_emph = tf.stack(p_emph)  # (noises, thetas, batch, classes)
        score = tf.reduce_sum(tf.abs(p_emph - p), axis=-1)  # l1_distance, inside the compiled step
        labels_emph = tf.argmax(p_emph, axis=-1, output_type=tf.int32)
        return classes, tf.reduce_max(p, axis=-1), labels_emph, tf.reduce_max(p_emph, axis=-1), score

    def __call__(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """``labels`` and ``confidence`` of x (N,); ``emphasis_labels``, ``emphasis_confidence``,
        ``score`` (L1 distance of the softmax outputs) and ``label_changed``, each (noises, thetas, N).

        Args:
            x: (N, H, W, 3) RGB images in 0..255, of the model's input size.

        Raises:
            TypeError, ValueError: bad images or batch size (:mod:`helpers.validation`)."""
        x = check_images(x, size=self.bundle.input_size)
        batch_size = check_batch_size(batch_size)
        starts = range(0, len(x), batch_size)
        parts = [self._step(tf.constant(x[i:i + batch_size]))
                 for i in progress_bar(starts, "emphasis images", progress)]
        names = ("labels", "confidence", "emphasis_labels", "emphasis_confidence", "score")
        axes = (0, 0, 2, 2, 2)
        out = {k: np.concatenate([np.asarray(p[j]) for p in parts], axis=a)
               for j, (k, a) in enumerate(zip(names, axes, strict=True))}
        out["label_changed"] = out["emphasis_labels"] != out["labels"]
        return out


_EVALUATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def emphasis_evaluator(bundle: ModelBundle, thetas: Sequence[float], noises: Sequence[str] = ("none",),
                       colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet",
                       saliency_method: str = "gradcam") -> EmphasisEvaluator:
    """The :class:`EmphasisEvaluator` of these settings, one per model and settings in this process, so
    that its compiled step is traced once: a study scores every block of images with the same one.

    Raises:
        TypeError, ValueError: as :class:`EmphasisEvaluator`."""
    key = (tuple(thetas), tuple(noises), colormap, overlay_order, zero_mean_reference,
           saliency_method)
    per_model = _EVALUATORS.setdefault(bundle.model, {})
    if key not in per_model:
        per_model[key] = EmphasisEvaluator(bundle, *key)
    return per_model[key]


class SaliencyDetector(Detector):
    """The saliency-map detector of Ye et al.

    ``theta``: a proportion in [0, 1], or a sequence of them evaluated in one call (sharing the
    Grad-CAM pass). Shapes depend only on this argument: for a number (or a 0-d array),
    ``is_adversarial`` and the per-theta report entries are ``(N,)``; for a sequence (a list or 1-d
    array, even of length 1) they are ``(T, N)``, T = len(theta). ``noise``: ``"none"``,
    ``"color_reverse"`` or ``"zero_mean"`` (see ``helpers.transforms``). ``colormap`` and
    ``overlay_order``: see ``helpers.emphasis``. ``saliency_method``: the map H, ``"gradcam"`` (the
    paper's), ``"gradcam++"``, ``"xgradcam"`` or ``"layercam"`` (see ``helpers.saliency``).

    Args:
        theta, noise, colormap, overlay_order, saliency_method: see above.
        zero_mean_reference: see ``helpers.transforms``.
        decision: ``"label_change"`` (the paper's) or ``"score"``.

    Raises:
        TypeError, ValueError: theta not a number or 1-d sequence of numbers in [0, 1], an empty
            sequence, or an unknown name (:class:`EmphasisEvaluator`).
    """

    defence_params = ["decision", "theta", "noise", "colormap", "overlay_order", "zero_mean_reference",
                      "saliency_method"]
    _per_configuration = ("score", "label_changed", "emphasis_labels", "emphasis_confidence")

    def __init__(self, bundle: ModelBundle, theta: float | Sequence[float] = 0.1, noise: str = "none",
                 colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet",
                 decision: str = "label_change", saliency_method: str = "gradcam"):
        if np.ndim(theta) > 1:
            raise ValueError(f"theta must be a number or a 1-d sequence of numbers, got shape {np.shape(theta)}")
        thetas = tuple(np.atleast_1d(np.asarray(theta, dtype=object)))
        if not thetas:
            raise ValueError("theta must be a number or a non-empty sequence of numbers")
        super().__init__(decision)
        self._multi = np.ndim(theta) != 0
        self.evaluator = EmphasisEvaluator(bundle, thetas, (noise,), colormap, overlay_order, zero_mean_reference,
                                           saliency_method)
        self.bundle, self.theta, self.thetas, self.noise = bundle, theta, self.evaluator.thetas, noise
        self.saliency_method = saliency_method
        self.colormap, self.overlay_order, self.zero_mean_reference = colormap, overlay_order, zero_mean_reference

    @property
    def multi(self) -> bool:
        return self._multi

    def evaluate(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """The emphasis images' labels and scores for this detector's noise.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            :class:`EmphasisEvaluator`'s entries without the noise axis ((T, N) per theta), and ``theta``.

        Raises:
            TypeError, ValueError: bad images or batch size (:mod:`helpers.validation`)."""
        report = self.evaluator(x, batch_size, progress)
        report = {k: v[0] if v.ndim == 3 else v for k, v in report.items()}  # drop the single-noise axis
        report["theta"] = np.array(self.thetas) if self._multi else self.thetas[0]
        return report


class FeatureSqueezingDetector(Detector):
    """Feature Squeezing (Xu et al.): the joint detector over ``squeezers`` (``helpers.squeeze``).

    ``decision="score"`` (default, Xu et al.): the largest L1 distance above the threshold fitted
    on clean inputs; ``"label_change"`` (the paper's Table IV): any squeezer changes the label.
    The report adds per-squeezer ``squeezed_labels``, ``distances`` and ``squeezer_changed``, each (S, N).

    Args:
        squeezers: squeezer specs, at least one.
        decision: ``"score"`` or ``"label_change"``.
        channel_order: non-local means' channel order (``helpers.squeeze``).

    Raises:
        ValueError: no squeezer, an unknown spec or an unknown decision.
    """

    defence_params = ["decision", "squeezers", "channel_order"]

    def __init__(self, bundle: ModelBundle, squeezers: Sequence[str] = JOINT_IMAGENET, decision: str = "score",
                 channel_order: str = "rgb"):
        if not squeezers:
            raise ValueError("need at least one squeezer")
        super().__init__(decision)
        self.bundle, self.squeezers, self.channel_order = bundle, tuple(squeezers), channel_order
        self._squeeze = [squeezer(s, channel_order) for s in self.squeezers]

    def evaluate(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """Labels of x and of its squeezed versions, and the joint detector's score.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            ``labels``, ``confidence`` (N,); ``squeezed_labels``, ``distances``, ``squeezer_changed``
            (S, N); ``label_changed`` and ``score`` (1, N).

        Raises:
            TypeError, ValueError: bad images or batch size (:mod:`helpers.validation`)."""
        x = check_images(x, size=self.bundle.input_size)
        batch_size = check_batch_size(batch_size)
        p = softmax(self.bundle.logits(x, batch_size))
        with accept_dark_images():  # a coarse squeezer (e.g. 1-bit depth) can turn an image black
            p_sq = np.stack([softmax(self.bundle.logits(f(x), batch_size))
                             for f in progress_bar(self._squeeze, "squeezers", progress)])
        labels, squeezed = p.argmax(-1), p_sq.argmax(-1)
        distances, squeezer_changed = l1_distance(p, p_sq), squeezed != labels
        changed, score = joint_squeezing(squeezer_changed, distances)
        return {"labels": labels, "confidence": p.max(-1), "squeezed_labels": squeezed, "distances": distances,
                "squeezer_changed": squeezer_changed, "label_changed": changed[None], "score": score[None]}


class ConfidenceDetector(Detector):
    """The trivial baseline: score 1 - max softmax of x, thresholded by :meth:`fit` (score only).

    Args:
        decision: ``"score"``, the only one.

    Raises:
        ValueError: another decision."""

    decisions = ("score",)

    def __init__(self, bundle: ModelBundle, decision: str = "score"):
        super().__init__(decision)
        self.bundle = bundle

    def evaluate(self, x: np.ndarray, batch_size: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
        """The baseline score of x.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.
            progress: ignored.

        Returns:
            ``labels``, ``confidence`` (N,); ``score`` and ``label_changed`` (all False) (1, N).

        Raises:
            TypeError, ValueError: bad images or batch size (:mod:`helpers.validation`)."""
        labels, confidence = self.bundle.predict(x, batch_size)
        return {"labels": labels, "confidence": confidence, "score": baseline_score(confidence)[None],
                "label_changed": np.zeros((1, len(labels)), bool)}


def detector_costs(bundle: ModelBundle, x: np.ndarray, detectors: dict[str, Detector], repeats: int = 3,
                   batch_size: int = 32) -> pd.DataFrame:
    """Milliseconds per image of inference and of each detector's ``detect`` on ``x``, measured in one
    run (best of ``repeats`` after a warm-up, calls interleaved), and the ratio to inference.

    Args:
        x: (N, H, W, 3) RGB images in 0..255.
        detectors: name -> detector.
        repeats: timed runs per call.

    Returns:
        one row per run ('inference' first) with ``detector``, ``ms_per_image``, ``ratio_to_inference``."""
    runs = {"inference": lambda: bundle.logits(x, batch_size)}
    runs |= {name: lambda d=d: d.detect(x, batch_size) for name, d in detectors.items()}
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) / len(x) for name, t in times.items()}
    return pd.DataFrame({"detector": list(best), "ms_per_image": [1000 * v for v in best.values()],
                         "ratio_to_inference": [v / best["inference"] for v in best.values()]})
