"""The adaptive attacker (issue 19): ART's AutoProjectedGradientDescent (APGD, Croce & Hein 2020) on the
detector-aware model of :mod:`helpers.adaptive`, targeted and judged at every iterate by the real detector.

The ensemble, as AutoAttack composes it: for each of the ``n_targets`` best wrong classes of the
consensus (the detector-aware model's logits, f's label excluded; the 2nd and 3rd act as restarts),
APGD with the cross-entropy loss and with the targeted difference-of-logits-ratio loss (DLR,
``(max_{j != t} z_j - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, minimised), L-inf or L2, first step 2 eps.
Options (:class:`Objective`): the per-view margin loss (``"margin"``: sum over x and its views of
max(max_{j != t} z_{v,j} - z_{v,t}, -kappa) on f's raw logits), and the detector's score term (``score_weight``
times the L1 score a matched threshold is fitted on, :func:`helpers.adaptive.detector_score`), which
:func:`ensemble` adds as further members, so that the matched-threshold rule is attacked too.
Every point at which APGD evaluates its loss is also shown to a :class:`Judge`: the real detectors
(:class:`helpers.adaptive_report.Defence`, at their own rule and at the matched threshold) and f.
Per image the judge keeps the first example that fools f (label != y) and is not flagged; an image
is bypassed when any member of the ensemble bypassed (the per-image worst case). The attack never
relies on the last iterate, nor on the consensus' own idea of success.

Checks that can fail (Carlini et al. 2019; Tramer et al. 2020), computed by :func:`evaluate_adaptive`
and gating the result (:attr:`AdaptiveEvaluation.valid`):

- ``unbounded``: at eps = 1 (L-inf, the whole image space) every image is bypassed;
- ``iterations``: bypass does not decrease over the iteration sweep (same seed, more steps);
- ``budget``: bypass does not decrease over the eps sweep;
- ``plateau``: on the images still not bypassed, per loss, the running best loss improved in the last
  quarter of its evaluations by at most ``PLATEAU_TOLERANCE`` of its whole improvement (summed over the
  members and images; otherwise more steps were needed);
- ``transferred``: every adaptive variant bypasses at least as many images as APGD-CE made on f alone;
- ``black box``: the white-box ensemble bypasses at least as many images as Square on f.
"""

from __future__ import annotations

import json
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.adaptive import consensus_layer, detector_score, per_view_margin
from helpers.adaptive_report import (
    Defence,
    System,
    calibration_photographs,
    clustered_columns,
    unresolvable_note,
)
from helpers.art_classifier import CompiledTensorFlowV2Classifier, art_classifier
from helpers.attacks import run_attack
from helpers.metrics import Rate, grouped_split, resolvable, threshold_at_fpr
from helpers.models import ModelBundle
from helpers.names import ADAPTIVE_KINDS, LOSSES
from helpers.runtime import set_seed, write_atomically
from helpers.validation import accept_dark_images, check_choice, check_count, check_images, check_labels, check_number

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import AutoProjectedGradientDescent

DEFAULT_LOSSES = ("ce", "dlr")  # AutoAttack's; "margin" is an option
MARGIN_KAPPA = 1.0  # the per-view margin loss stops at a logit margin of kappa (as ADAPTIVE_CW_CONFIDENCE)
NORMS = ("linf", "l2")
RULES = ("own", "matched")
PLATEAU_TOLERANCE = 0.10  # share of the loss improvement still allowed in the last quarter (see plateaued)
CHECKS = ("unbounded", "iterations", "budget", "plateau", "transferred", "black box")


class TargetedDLR(keras.losses.Loss):
    """Targeted DLR on logits, to minimise: ``(max_{j != t} z_j - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``
    (Croce & Hein 2020 with the best other class in place of the true one; needs 4 classes or more).

    Args:
        reduction: Keras' loss reduction ('none': per image).
        name: the loss's name."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "targeted_dlr"):
        super().__init__(reduction=reduction, name=name)

    def call(self, y_true, y_pred):
        """The per-image loss.

        Args:
            y_true: (N, C) one-hot targets t.
            y_pred: (N, C) logits z.

        Returns:
            (N,) losses."""
        y_true = tf.cast(y_true, y_pred.dtype)
        z_t = tf.reduce_sum(y_pred * y_true, axis=1)
        z_other = tf.reduce_max(y_pred - 1e9 * y_true, axis=1)
        top = tf.sort(y_pred, axis=1, direction="DESCENDING")
        return (z_other - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


@dataclass(frozen=True)
class Objective:
    """The loss an APGD member minimises, per image, from f's raw logits on x and on every view
    (:meth:`helpers.adaptive.ConsensusLogits.view_logits`, (1 + V, N, C)) and the one-hot target (N, C):

    - ``loss`` ``"ce"``: the cross-entropy of the target under the consensus z (mean log-probability of x
      and the views); ``"dlr"``: :class:`TargetedDLR` on z; ``"margin"``: :func:`helpers.adaptive.per_view_margin`
      with ``kappa`` (every view must reach the target);
    - plus ``score_weight`` times :func:`helpers.adaptive.detector_score` (0: no score term).

    Attributes:
        loss: one of ``helpers.adaptive.LOSSES``.
        score_weight: the score term's weight, >= 0.
        kappa: the margin loss's logit margin, >= 0.

    Raises:
        ValueError: an unknown loss, or a negative weight or kappa.
        TypeError: a weight or kappa that is not a number.
    """

    loss: str = "ce"
    score_weight: float = 0.0
    kappa: float = MARGIN_KAPPA

    def __post_init__(self):
        check_choice(self.loss, LOSSES, "loss")
        check_number(self.score_weight, "score_weight", 0.0, np.inf)
        check_number(self.kappa, "kappa", 0.0, np.inf)

    @property
    def name(self) -> str:
        """e.g. ``"CE"``, ``"DLR+0.5L1"``, ``"MARGIN"``."""
        weight = "" if self.score_weight == 1 else f"{self.score_weight:g}"
        return self.loss.upper() + (f"+{weight}L1" if self.score_weight else "")

    def __call__(self, view_logits: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        """The loss of each image.

        Args:
            view_logits: (1 + V, N, C) raw logits.
            target: (N, C) one-hot targets.

        Returns:
            (N,) losses, to minimise."""
        target = tf.cast(target, view_logits.dtype)
        if self.loss == "margin":
            value = per_view_margin(view_logits, target, self.kappa)
        else:
            log_p = tf.nn.log_softmax(view_logits)
            z = (log_p[0] + tf.reduce_sum(log_p[1:], axis=0)) / tf.cast(tf.shape(log_p)[0], log_p.dtype)
            value = (-tf.reduce_sum(target * tf.nn.log_softmax(z), axis=-1) if self.loss == "ce"
                     else TargetedDLR(reduction="none")(target, z))
        if self.score_weight:
            value += self.score_weight * detector_score(view_logits)
        return value


def view_logits_fn(bundle: ModelBundle) -> Callable[[tf.Tensor], tf.Tensor]:
    """x (RGB 0..255) -> (1 + V, N, C) raw logits: a detector-aware model's x and views, or f alone (V = 0).

    Args:
        bundle: a detector-aware model of :mod:`helpers.adaptive`, or a plain model.

    Returns:
        the function."""
    try:
        return consensus_layer(bundle).view_logits
    except TypeError:  # a plain model: x is its only view
        return lambda x: bundle.model(x, training=False)[None]


def f_logits_fn(bundle: ModelBundle) -> Callable[[tf.Tensor], tf.Tensor]:
    """x (RGB 0..255) -> (N, C) the raw logits of f alone: the model a detector-aware model wraps, or the model.

    Args:
        bundle: a detector-aware model of :mod:`helpers.adaptive`, or a plain model.

    Returns:
        the function."""
    try:
        model = consensus_layer(bundle).model
    except TypeError:  # a plain model: it is f
        model = bundle.model
    return lambda x: model(x, training=False)


class ObservedClassifier(CompiledTensorFlowV2Classifier):
    """The compiled ART classifier whose loss is ``objective`` (:class:`Objective`) on ``view_logits``, and
    whose ``compute_loss`` also shows each point and its loss to ``observer`` (APGD evaluates its loss at
    every iterate it may keep).

    Its ``predict`` returns f's logits, not the consensus': ART's targeted APGD attacks only the images whose
    ``argmax(predict)`` is not the target yet, and an image whose consensus already favours the target (while f
    does not) must still be attacked towards it.

    Args:
        *args, **kwargs: those of :class:`~helpers.art_classifier.CompiledTensorFlowV2Classifier`.
        objective: the loss.
        view_logits: x (RGB 0..255) -> (1 + V, N, C) raw logits (:func:`view_logits_fn`).
        f_logits: x (RGB 0..255) -> (N, C) f's raw logits (:func:`f_logits_fn`); None: ``view_logits``' first."""

    observer = None

    def __init__(self, *args, objective: Objective, view_logits: Callable[[tf.Tensor], tf.Tensor],
                 f_logits: Callable[[tf.Tensor], tf.Tensor] | None = None, **kwargs):
        self.objective, self._view_logits = objective, view_logits
        self._f_logits = f_logits if f_logits is not None else (lambda x: view_logits(x)[0])
        super().__init__(*args, **kwargs)
        self._compiled_losses = tf.function(self._losses_tf, reduce_retracing=True)

    def _predict_tf(self, x: tf.Tensor) -> tf.Tensor:
        x_input, _ = self._apply_preprocessing(x, y=None, fit=False)
        return self._f_logits(x_input * 255.0)

    def _losses_tf(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        x_input, _ = self._apply_preprocessing(x, y=None, fit=False)
        return self.objective(self._view_logits(x_input * 255.0), y)

    def _loss_gradient_tf(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(self._losses_tf(x, y))  # a sum keeps each image's gradient its own
        return tape.gradient(loss, x)

    def compute_loss(self, x, y, reduction: str = "none", training_mode: bool = False, **kwargs):
        """Per-image ``objective`` values (``reduction`` ``"none"``), or their ``"mean"`` or ``"sum"``.

        Args:
            x: (N, H, W, 3) points in [0, 1].
            y: (N, C) one-hot targets.
            reduction: ``"none"``, ``"mean"`` or ``"sum"``.
            training_mode, **kwargs: ignored (ART's signature).

        Returns:
            (N,) losses, or their mean or sum.

        Raises:
            ValueError: an unknown reduction."""
        check_choice(reduction, ("none", "mean", "sum"), "reduction")
        loss = self._compiled_losses(tf.constant(np.asarray(x, np.float32)),
                                     tf.constant(np.asarray(y, np.float32))).numpy()
        if self.observer is not None:
            self.observer(np.asarray(x), loss)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


_OBSERVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def observed_classifier(bundle: ModelBundle, objective: str | Objective) -> ObservedClassifier:
    """One :class:`ObservedClassifier` per (model, objective) over the [0, 1] view of ``bundle`` (traced once).

    Args:
        bundle: the model the loss is computed on (a detector-aware model, or f).
        objective: an :class:`Objective`, or a loss name standing for ``Objective(loss)``.

    Returns:
        the classifier.

    Raises:
        ValueError: a score term on a model without views (nothing to score), or an unknown loss name."""
    objective = Objective(objective) if isinstance(objective, str) else objective
    per_model = _OBSERVED.setdefault(bundle.model, {})
    if objective not in per_model:
        if objective.score_weight:
            try:
                consensus_layer(bundle)
            except TypeError:
                raise ValueError(f"a score term needs a detector-aware model with views; {bundle.name!r} has none"
                                 ) from None
        views = view_logits_fn(bundle)
        base = art_classifier(bundle)
        per_model[objective] = ObservedClassifier(model=base.model, nb_classes=bundle.n_classes,
                                                  input_shape=base.input_shape, clip_values=(0.0, 1.0),
                                                  loss_object=keras.losses.CategoricalCrossentropy(from_logits=True),
                                                  objective=objective, view_logits=views,
                                                  f_logits=f_logits_fn(bundle))
    return per_model[objective]


def consensus_targets(adaptive: ModelBundle, x: np.ndarray, y: np.ndarray, n_targets: int = 3) -> np.ndarray:
    """(N, n_targets): the consensus' best wrong classes (``y`` excluded), best first.

    Args:
        adaptive: the detector-aware model.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        n_targets: targets per image.

    Returns:
        (N, n_targets) int32 class indices."""
    z = adaptive.logits(x).copy()
    z[np.arange(len(y)), y] = -np.inf
    return np.argsort(-z, axis=1, kind="stable")[:, :n_targets].astype(np.int32)


def to_bytes(x_adv: np.ndarray, x: np.ndarray, linf_255: float | None = None) -> np.ndarray:
    """The 8-bit image an attacker saves: ``x_adv`` rounded to whole grey levels in 0..255 (the model's pixel
    units), and, with an L-inf budget, moved to the nearest whole grey level within ``linf_255`` of the original
    ``x`` where rounding left it (none exists only below half a grey level: there it stays rounded).

    Args:
        x_adv: (N, H, W, 3) examples, RGB 0..255.
        x: (N, H, W, 3) their originals, RGB 0..255.
        linf_255: the L-inf budget in grey levels, or None.

    Returns:
        (N, H, W, 3) float32 whole numbers in 0..255."""
    out = np.clip(np.rint(x_adv), 0, 255)
    if linf_255 is not None:
        low = np.ceil(x - linf_255 - 1e-4)
        high = np.floor(x + linf_255 + 1e-4)
        out = np.where(low <= high, np.clip(out, low, high), out)
    return out.astype(np.float32)


def as_system(defences: Sequence[Defence] | System) -> System:
    """``defences`` as a :class:`~helpers.adaptive_report.System`: itself, or a system of the listed defences whose
    threshold is the one defence's own (a system of one); defences fitted one by one are refused, their union
    not being matched to any false-positive rate.

    Args:
        defences: a System, or Defence objects.

    Returns:
        the System.

    Raises:
        ValueError: several defences fitted separately, or none."""
    if isinstance(defences, System):
        return defences
    system = System(defences)
    fitted = [d for d in system.defences if d.threshold is not None]
    if len(system) == 1:
        system.threshold = system.defences[0].threshold
    elif fitted:
        raise ValueError(f"{len(fitted)} defences fitted one by one: fit one threshold for the system, "
                         "helpers.adaptive_report.System(defences).fit(x_clean, fpr, photographs)")
    return system


class Judge:
    """The real detectors and f, shown every point an attack reaches: per image and rule (``RULES``), the
    first example that fools f (label != ``y``) and is not flagged, and which attack found it.

    ``defences``: a :class:`~helpers.adaptive_report.System` (one matched threshold for all its detectors), or
    :class:`~helpers.adaptive_report.Defence` objects (:func:`as_system`); the matched rule is judged only when
    the system has a threshold, the own rule only when a defence has an own rule. Points are matched to their
    image by L-inf distance among ``current`` (the indices under attack), within ``eps`` (L-inf) of the original.

    Per image it also keeps the lowest detector score (the largest over the defences' configurations) of
    the points that fool f, and which attack reached it (``lowest``, ``lowest_by``): the image bypasses any
    matched threshold at or above it, so a threshold fitted later (a study, after the merge) still judges
    every point seen. ``score_goal``: an image is done (no further member attacks it) only once a point
    that fools f scores at most this (``None``: no such condition).

    Every example is judged as the 8-bit image an attacker must save (:func:`to_bytes`: rounded to whole grey
    levels, within ``linf_255`` of the original when given); that image is what ``x_found`` keeps.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) the attacked images, RGB 0..255.
        y: (N,) the labels attacked.
        batch_size: images per pass of f.
        score_goal: see above.
        linf_255: the L-inf budget in grey levels that rounding must not leave (None: round only).

    Raises:
        ValueError: no defence with an own rule and not all fitted (nothing to judge)."""

    def __init__(self, bundle: ModelBundle, defences: Sequence[Defence] | System, x: np.ndarray, y: np.ndarray,
                 batch_size: int = 16, score_goal: float | None = None, linf_255: float | None = None):
        self.system = as_system(defences)
        self.bundle, self.defences, self.batch_size = bundle, list(self.system), batch_size
        self.x, self.y, self.score_goal, self.linf_255 = x, y, score_goal, linf_255
        self.rules = [r for r, on in (("own", self.system.has_own_rule),
                                      ("matched", self.system.threshold is not None)) if on]
        if not self.rules:
            raise ValueError("the judge needs a defence with an own rule or a fitted matched threshold")
        n = len(x)
        self.found = {r: np.zeros(n, bool) for r in self.rules}
        self.x_found = {r: x.copy() for r in self.rules}
        self.found_by = {r: np.full(n, "", object) for r in self.rules}
        self.lowest, self.lowest_by = np.full(n, np.inf), np.full(n, "", object)
        self.current: np.ndarray = np.arange(n)
        self.attack = ""
        self.stop_early = False
        self.losses: dict[int, list[float]] = {}

    @property
    def done(self) -> np.ndarray:
        """Images bypassed at every rule judged (and, with a ``score_goal``, reached it)."""
        done = np.logical_and.reduce([self.found[r] for r in self.rules])
        return done if self.score_goal is None else done & (self.lowest <= self.score_goal)

    def flags(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Flags per rule of RGB 0..255 images (:meth:`~helpers.adaptive_report.System.flags`: own, any defence's
        own rule; matched, the largest score above the system's one threshold), and ``"score"``: the largest score.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            ``{"own", "matched"}``: (N,) bool; ``"score"``: (N,) float."""
        own, matched, score = self.system.flags(x)
        return {"own": own, "matched": np.zeros(len(x), bool) if matched is None else matched, "score": score}

    def origins(self, x01: np.ndarray) -> np.ndarray:
        """The image (index into ``x``) each [0, 1] point belongs to: the nearest of ``current`` (L-inf).

        Args:
            x01: (M, H, W, 3) points in [0, 1].

        Returns:
            (M,) image indices."""
        cand = self.x[self.current] / np.float32(255.0)
        dist = np.abs(x01[:, None] - cand[None]).reshape(len(x01), len(cand), -1).max(axis=2)
        return self.current[dist.argmin(axis=1)]

    def judge(self, x_adv: np.ndarray, index: np.ndarray, label: str | None = None) -> None:
        """Judge RGB 0..255 examples ``x_adv`` of images ``index`` as 8-bit images (:func:`to_bytes`); keep each
        image's first bypass per rule.

        Args:
            x_adv: (M, H, W, 3) examples, RGB 0..255.
            index: (M,) the image of each.
            label: the attack to credit; None: the current one (``attack``)."""
        x_adv = to_bytes(x_adv, self.x[index], self.linf_255)
        with accept_dark_images():
            fooled = self.bundle.predict(x_adv, self.batch_size)[0] != self.y[index]
            flags = self.flags(x_adv) if fooled.any() else {r: np.ones(len(x_adv), bool) for r in RULES}
        for row in np.flatnonzero(fooled):
            i = index[row]
            if flags["score"][row] < self.lowest[i]:
                self.lowest[i], self.lowest_by[i] = flags["score"][row], label or self.attack
        for r in self.rules:
            for row in np.flatnonzero(fooled & ~flags[r]):
                i = index[row]
                if not self.found[r][i]:
                    self.found[r][i], self.x_found[r][i] = True, x_adv[row]
                    self.found_by[r][i] = label or self.attack

    def __call__(self, x01: np.ndarray, loss: np.ndarray) -> None:
        """The observer of :class:`ObservedClassifier`: record each point's loss and judge it.

        Args:
            x01: (M, H, W, 3) points in [0, 1] of the images in ``current``.
            loss: (M,) their losses.

        Raises:
            BatchBypassed: once every image under attack (``current``) is bypassed at every rule, when
                ``stop_early`` is set: the rest of the run could not change what is kept."""
        index = self.origins(x01)
        for i, v in zip(index, np.ravel(loss), strict=True):
            self.losses.setdefault(int(i), []).append(float(v))
        self.judge(np.clip(x01, 0.0, 1.0).astype(np.float32) * np.float32(255.0), index)
        if self.stop_early and self.done[self.current].all():
            raise BatchBypassed


class BatchBypassed(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by :class:`Judge` inside an APGD run whose images are all bypassed: the judge keeps the first
    bypass per image and rule, so the remaining iterations could not change the outcome."""


@dataclass(frozen=True)
class Member:
    """One APGD run of the ensemble.

    Attributes:
        objective: its :class:`Objective`.
        rank: the consensus rank of its target (1: the best wrong class)."""

    objective: Objective
    rank: int

    @property
    def label(self) -> str:
        return f"APGD-{self.objective.name} target {self.rank}"


def ensemble(n_targets: int = 3, losses: Sequence[str] = DEFAULT_LOSSES, score_weight: float = 0.0,
             kappa: float = MARGIN_KAPPA) -> list[Member]:
    """AutoAttack's order: for each target rank, each loss; with ``score_weight`` > 0, then each loss again
    with the detector's score term (further members, which attack the matched-threshold rule too).

    Args:
        n_targets: target ranks, >= 1.
        losses: loss names (``helpers.adaptive.LOSSES``).
        score_weight: the score term's weight (0: no score members).
        kappa: the margin loss's logit margin.

    Returns:
        the :class:`Member` list.

    Raises:
        TypeError, ValueError: a bad ``n_targets``, loss, weight or kappa."""
    check_count(n_targets, "n_targets")
    objectives = [Objective(loss, 0.0, kappa) for loss in losses]
    objectives += [Objective(loss, score_weight, kappa) for loss in losses] if score_weight else []
    return [Member(o, r) for r in range(1, n_targets + 1) for o in objectives]


@dataclass(frozen=True)
class AttackBudget:
    """A perturbation budget; the first APGD step is 2 eps (Croce & Hein).

    Attributes:
        norm: one of ``NORMS``.
        eps: the budget in [0, 1] units (> 0; at most 1 for L-inf).
        max_iter: APGD's iterations, >= 1.

    Raises:
        ValueError: an unknown norm, eps <= 0, an L-inf eps > 1, or max_iter < 1.
        TypeError: eps not a number or max_iter not an integer."""

    norm: str = "linf"
    eps: float = 2 / 255
    max_iter: int = 20

    def __post_init__(self):
        check_choice(self.norm, NORMS, "norm")
        check_number(self.eps, "eps", 0.0, np.inf, low_open=True)
        check_count(self.max_iter, "max_iter")
        if self.norm == "linf" and self.eps > 1:
            raise ValueError(f"an L-inf eps is in [0, 1] units (2/255 = 2 grey levels); got {self.eps}")


@dataclass
class MemberTrace:
    """What one member saw.

    Attributes:
        member: its label.
        loss: its objective's name.
        losses: image index -> its loss at every evaluation."""

    member: str
    loss: str
    losses: dict[int, list[float]] = field(default_factory=dict)


def run_apgd(adaptive: ModelBundle, judge: Judge, budget: AttackBudget, members: Sequence[Member],
             targets: np.ndarray, batch_size: int = 8, seed: int = 0, stop_early: bool = True) -> list[MemberTrace]:
    """Run ``members`` on the adaptive model, each on the images ``judge`` has not bypassed yet, in batches;
    every loss evaluation goes to ``judge`` (whose 8-bit examples keep to ``budget`` when it names no budget).

    Args:
        adaptive: the detector-aware model.
        judge: the :class:`Judge` of the attacked images.
        budget: norm, eps and iterations.
        members: the ensemble's members.
        targets: (N, n_targets) target classes (:func:`consensus_targets`).
        batch_size: images per APGD batch.
        seed: seeded before each batch.
        stop_early: end a batch's run as soon as all its images are bypassed at every rule (the outcome is
            the same; the traces are shorter).

    Returns:
        each member's loss traces."""
    x01 = judge.x / np.float32(255.0)
    if judge.linf_255 is None:  # the 8-bit examples must stay within the budget run here
        judge.linf_255 = _linf_255(budget)
    traces = []
    for m in members:
        classifier = observed_classifier(adaptive, m.objective)
        attack = AutoProjectedGradientDescent(classifier, norm=np.inf if budget.norm == "linf" else 2, eps=budget.eps,
                                              eps_step=2 * budget.eps, max_iter=budget.max_iter, targeted=True,
                                              nb_random_init=1, batch_size=batch_size, loss_type=None, verbose=False)
        todo = np.flatnonzero(~judge.done)
        judge.attack, judge.losses = m.label, {}
        classifier.observer, judge.stop_early = judge, stop_early
        try:
            for start in range(0, len(todo), batch_size):
                idx = todo[start:start + batch_size]
                judge.current = idx
                set_seed(seed)
                onehot = np.eye(adaptive.n_classes, dtype=np.float32)[targets[idx, m.rank - 1]]
                try:
                    out = attack.generate(x01[idx], y=onehot)
                except BatchBypassed:  # every image of the batch is bypassed: nothing left to find
                    continue
                judge.judge(np.clip(out, 0, 1).astype(np.float32) * np.float32(255.0), idx)
        finally:
            classifier.observer, judge.stop_early = None, False
        traces.append(MemberTrace(m.label, m.objective.name, judge.losses))
    return traces


@dataclass(frozen=True)
class AttackOutcome:
    """One attack set's per-image outcome.

    Attributes:
        label: the attack set's name.
        budget: its :class:`AttackBudget`.
        bypassed: rule -> (N,) bool.
        found_by: rule -> (N,) the member that found each bypass ('' for none).
        seconds: its run time.
        traces: the members' loss traces.
        lowest: (N,) the lowest detector score of a point that fooled f (inf: none).
        lowest_by: (N,) the attack that reached it."""

    label: str
    budget: AttackBudget
    bypassed: dict[str, np.ndarray]
    found_by: dict[str, np.ndarray]
    seconds: float
    traces: tuple[MemberTrace, ...] = ()
    lowest: np.ndarray | None = None
    lowest_by: np.ndarray | None = None

    def count(self, rule: str = "own") -> int:
        """The number of images bypassed.

        Args:
            rule: one of the rules it was judged at.

        Returns:
            the count."""
        return int(self.bypassed[rule].sum())


def adaptive_attack(bundle: ModelBundle, adaptive: ModelBundle | dict[str, ModelBundle], defences: Sequence[Defence],
                    x: np.ndarray, y: np.ndarray, budget: AttackBudget = AttackBudget(), n_targets: int = 3,
                    losses: Sequence[str] = DEFAULT_LOSSES, batch_size: int = 8, seed: int = 0,
                    label: str = "adaptive APGD ensemble", score_weight: float = 0.0,
                    kappa: float = MARGIN_KAPPA, score_goal: float | None = None) -> AttackOutcome:
    """The per-image worst case over the ensemble (:func:`ensemble`) run on each adaptive model (a bundle, or
    a dict variant -> bundle, e.g. BPDA and through Grad-CAM), judged by ``defences`` on f (``bundle``).

    Args:
        bundle: f, the undefended model.
        adaptive: the detector-aware model(s) of :mod:`helpers.adaptive`.
        defences: the real detectors (fitted for the matched rule).
        x: (N, H, W, 3) float32 RGB 0..255; y: (N,) the labels attacked (true labels, f correct on them).
        budget: norm, eps and iterations.
        n_targets, losses, score_weight, kappa: the members (:func:`ensemble`).
        batch_size: images per APGD batch.
        seed: seeded before each batch.
        label: the attack set's name.
        score_goal: see :class:`Judge` (``None``: an image is done once bypassed at every rule judged).

    Returns:
        The :class:`AttackOutcome` (per image and rule: bypassed by any member of any variant).

    Raises:
        TypeError, ValueError: bad images, labels or members' settings (before any attack); ValueError also
            for defences with nothing to judge (:class:`Judge`).
    """
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    models = adaptive if isinstance(adaptive, dict) else {"": adaptive}
    members = ensemble(n_targets, losses, score_weight, kappa)
    judge = Judge(bundle, defences, x, y, batch_size, score_goal, _linf_255(budget))
    start, traces = time.perf_counter(), []
    for model in models.values():
        targets = consensus_targets(model, x, y, n_targets)
        traces += run_apgd(model, judge, budget, members, targets, batch_size, seed)
    return _outcome(judge, label, budget, time.perf_counter() - start, tuple(traces))


def _linf_255(budget: AttackBudget) -> float | None:
    return 255 * budget.eps if budget.norm == "linf" else None


def _outcome(judge: Judge, label: str, budget: AttackBudget, seconds: float, traces=()) -> AttackOutcome:
    return AttackOutcome(label, budget, {r: judge.found[r].copy() for r in judge.rules},
                         {r: judge.found_by[r].copy() for r in judge.rules}, seconds, traces, judge.lowest.copy(),
                         judge.lowest_by.copy())


def judged_outputs(bundle: ModelBundle, defences: Sequence[Defence], x: np.ndarray, y: np.ndarray,
                   x_adv: np.ndarray, label: str, budget: AttackBudget, seconds: float) -> AttackOutcome:
    """A non-adaptive attack's outcome: its final examples only, judged by f and the detectors.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) clean RGB images in 0..255.
        y: (N,) the labels attacked.
        x_adv: (N, H, W, 3) the attack's examples, RGB 0..255.
        label: the attack set's name.
        budget: its budget.
        seconds: its run time.

    Returns:
        the :class:`AttackOutcome`.

    Raises:
        ValueError: no defence to judge with (:class:`Judge`)."""
    judge = Judge(bundle, defences, x, y, linf_255=_linf_255(budget))
    judge.judge(x_adv, np.arange(len(x)), label)
    return _outcome(judge, label, budget, seconds)


def transferred_attack(bundle: ModelBundle, defences: Sequence[Defence], x: np.ndarray, y: np.ndarray,
                       budget: AttackBudget, batch_size: int = 8, seed: int = 0) -> AttackOutcome:
    """APGD-CE, untargeted, made on f alone (the detector unknown to it), its output judged.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        budget: norm, eps and iterations.
        batch_size: images per APGD batch.
        seed: the attack's seed.

    Returns:
        the :class:`AttackOutcome`."""
    set_seed(seed)
    attack = AutoProjectedGradientDescent(art_classifier(bundle), norm=np.inf if budget.norm == "linf" else 2,
                                          eps=budget.eps, eps_step=2 * budget.eps, max_iter=budget.max_iter,
                                          targeted=False, nb_random_init=1, batch_size=batch_size, loss_type=None,
                                          verbose=False)
    start = time.perf_counter()
    out = attack.generate(x / np.float32(255.0), y=np.eye(bundle.n_classes, dtype=np.float32)[y])
    x_adv = np.clip(out, 0, 1).astype(np.float32) * np.float32(255.0)
    return judged_outputs(bundle, defences, x, y, x_adv, "transferred APGD-CE on f", budget,
                          time.perf_counter() - start)


def square_attack(bundle: ModelBundle, defences: Sequence[Defence], x: np.ndarray, y: np.ndarray, eps: float,
                  max_iter: int, seed: int = 0) -> AttackOutcome:
    """Square (score-based black box, L-inf ``eps``, ``max_iter`` queries) on f, its output judged.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        eps: the L-inf budget in [0, 1] units.
        max_iter: Square's queries.
        seed: the attack's seed.

    Returns:
        the :class:`AttackOutcome`.

    Raises:
        ValueError, TypeError: bad parameters or inputs (:func:`helpers.attacks.run_attack`)."""
    r = run_attack("square", bundle, x, y, seed=seed, eps=eps, max_iter=max_iter)
    return judged_outputs(bundle, defences, x, y, r.x_adv, f"Square on f ({max_iter} queries)",
                          AttackBudget("linf", eps, max_iter), r.seconds)


def plateaued(traces: Sequence[MemberTrace], open_images: np.ndarray, tolerance: float = PLATEAU_TOLERANCE
              ) -> tuple[bool, str]:
    """The plateau rule, per loss (CE and DLR have different scales): over the members with that loss and the
    images in ``open_images`` (not bypassed), the running best of the loss (minimised) gains at most
    ``tolerance`` of its whole gain in the last quarter of its evaluations (sums over the traces).

    Args:
        traces: the members' loss traces.
        open_images: the indices of the images not bypassed.
        tolerance: the largest share allowed.

    Returns:
        (passed, detail)."""
    parts: dict[str, np.ndarray] = {}
    for i in open_images:
        for loss, v in plateau_parts(traces, int(i)).items():
            parts[loss] = parts.get(loss, np.zeros(3)) + v
    return plateau_verdict(parts, tolerance)


def plateau_parts(traces: Sequence[MemberTrace], image: int) -> dict[str, np.ndarray]:
    """One image's share of the plateau rule, per loss: (gain in the last quarter, whole gain, traces) of the
    running best loss, summed over the members' traces (a study keeps these per image).

    Args:
        traces: the members' loss traces.
        image: the image's index.

    Returns:
        loss name -> (3,) array."""
    parts: dict[str, np.ndarray] = {}
    for t in traces:
        values = t.losses.get(image, [])
        if len(values) < 2:
            continue
        best = np.minimum.accumulate(values)
        late = best[int(np.floor(0.75 * (len(best) - 1)))] - best[-1]
        parts[t.loss] = parts.get(t.loss, np.zeros(3)) + [late, best[0] - best[-1], 1]
    return parts


def plateau_verdict(parts: dict[str, np.ndarray], tolerance: float = PLATEAU_TOLERANCE) -> tuple[bool, str]:
    """(passed, detail) of the plateau rule from the summed :func:`plateau_parts` of the open images.

    Args:
        parts: loss name -> (late gain, whole gain, traces), summed.
        tolerance: the largest share allowed.

    Returns:
        (passed, detail)."""
    late = {k: v[0] for k, v in parts.items()}
    total = {k: v[1] for k, v in parts.items()}
    count = {k: int(v[2]) for k, v in parts.items()}
    share = {k: late[k] / total[k] if total[k] > 0 else 0.0 for k in late}
    detail = "; ".join(f"{k.upper()}: last quarter {100 * v:.0f}% of the gain over {count[k]} (attack, image) traces"
                       for k, v in share.items()) or "every image bypassed: nothing to check"
    return all(v <= tolerance for v in share.values()), f"{detail} (rule: at most {100 * tolerance:.0f}%)"


def check_unbounded(outcome: AttackOutcome, rule: str = "own") -> dict:
    """Check row: at an unbounded budget (eps = 1) every image is bypassed.

    Args:
        outcome: the attack set at eps = 1.
        rule: the rule judged.

    Returns:
        ``{"check", "passed", "detail"}``."""
    k, n = outcome.count(rule), len(outcome.bypassed[rule])
    return {"check": "unbounded", "passed": k == n, "detail": f"{k} of {n} bypassed at eps = {outcome.budget.eps:g}"}


def check_nondecreasing(name: str, outcomes: Sequence[AttackOutcome], rule: str = "own") -> dict:
    """Check row ``name``: bypass counts do not decrease along ``outcomes`` (ordered by a growing budget).

    Args:
        name: the check's name.
        outcomes: the sweep's attack sets, in budget order.
        rule: the rule judged.

    Returns:
        ``{"check", "passed", "detail"}``."""
    counts = [o.count(rule) for o in outcomes]
    steps = ", ".join(f"{o.budget.max_iter} it. {255 * o.budget.eps:g}/255: {c}" for o, c in
                      zip(outcomes, counts, strict=True))
    return {"check": name, "passed": bool(np.all(np.diff(counts) >= 0)), "detail": steps}


def check_at_least(name: str, strong: dict[str, AttackOutcome], weak: AttackOutcome, rule: str = "own") -> dict:
    """Check row ``name``: each of ``strong`` bypasses at least as many images as ``weak``.

    Args:
        name: the check's name.
        strong: name -> the attack sets that must do at least as well.
        weak: the attack set to beat.
        rule: the rule judged.

    Returns:
        ``{"check", "passed", "detail"}``."""
    below = {v: o.count(rule) for v, o in strong.items() if o.count(rule) < weak.count(rule)}
    return {"check": name, "passed": not below,
            "detail": "; ".join(f"{v or o.label}: {o.count(rule)}" for v, o in strong.items())
            + f" vs {weak.label}: {weak.count(rule)} of {len(weak.bypassed[rule])}"}


def check_plateau(outcome: AttackOutcome, rule: str = "own", tolerance: float = PLATEAU_TOLERANCE) -> dict:
    """Check row: :func:`plateaued` on the images ``outcome`` did not bypass.

    Args:
        outcome: the main attack set, with its traces.
        rule: the rule judged.
        tolerance: the largest share allowed.

    Returns:
        ``{"check", "passed", "detail"}``."""
    passed, detail = plateaued(outcome.traces, np.flatnonzero(~outcome.bypassed[rule]), tolerance)
    return {"check": "plateau", "passed": passed, "detail": detail}


# What each row of an evaluation's table is: the main ensemble, one variant alone, the transferred attack, the
# black box, the iteration and eps sweeps, the unbounded budget
ROLES = ("ensemble", "variant", "transferred", "black box", "iterations", "budget", "unbounded")


@dataclass(frozen=True)
class AdaptiveEvaluation:
    """The outcome of :func:`evaluate_adaptive`.

    Attributes:
        table: one row per attack set (:func:`evaluation_row`): its ``role`` in the evaluation (one of ``ROLES``)
            and its bypass per rule with photograph-clustered intervals.
        checks: (check, passed, detail) rows.
        outcome: the main ensemble's :class:`AttackOutcome`.
        clean_utility: rule -> the rate of images correct and not flagged, no attack.
        robust_accuracy: rule -> the rate of images correct, not flagged and not bypassed."""

    table: pd.DataFrame
    checks: pd.DataFrame
    outcome: AttackOutcome
    clean_utility: dict[str, Rate]
    robust_accuracy: dict[str, Rate]

    @property
    def valid(self) -> bool:
        return bool(self.checks["passed"].all())

    @property
    def failed(self) -> list[str]:
        return list(self.checks.loc[~self.checks["passed"], "check"])

    def summary(self, rule: str = "own") -> str:
        """"evaluation invalid: <checks>" when a check failed, else the bypass rate with its interval,
        the robust accuracy and the clean utility.

        Args:
            rule: the rule reported.

        Returns:
            the line."""
        if not self.valid:
            return invalid_message(self.checks)
        row = self.table[self.table["role"] == "ensemble"].iloc[0]
        robust, utility = self.robust_accuracy[rule], self.clean_utility[rule]
        return (f"adaptive bypass ({rule} rule): {row[f'bypass_{rule}_k']}/{row['n']} = "
                f"{100 * row[f'bypass_{rule}']:.1f}% [{100 * row[f'bypass_{rule}_ci_low']:.1f}, "
                f"{100 * row[f'bypass_{rule}_ci_high']:.1f}]; robust accuracy {robust.k}/{robust.n}, "
                f"clean utility {utility.k}/{utility.n}")


def evaluation_row(role: str, o: AttackOutcome, photographs: Sequence[str] | None = None) -> dict:
    """One row of :func:`evaluate_adaptive`'s table: the attack set's ``role`` (``ROLES``), budget, seconds and
    bypass per rule, with n, count, photographs and a 95% interval that counts views of one photograph as such
    (:func:`helpers.adaptive_report.clustered_columns`).

    Args:
        role: its role.
        o: its outcome.
        photographs: (N,) each attacked image's photograph (None: one each).

    Returns:
        the row."""
    bypassed = next(iter(o.bypassed.values()))
    row = {"role": role, "attack": o.label, "norm": o.budget.norm, "eps_255": 255 * o.budget.eps,
           "max_iter": o.budget.max_iter, "n": len(bypassed), "seconds": o.seconds}
    for r, b in o.bypassed.items():
        row |= clustered_columns(f"bypass_{r}", b, photographs) | {f"bypass_{r}_k": int(b.sum())}
    return row


def evaluate_adaptive(bundle: ModelBundle, adaptive: dict[str, ModelBundle], defences: Sequence[Defence],
                      x: np.ndarray, y: np.ndarray, budget: AttackBudget = AttackBudget(),
                      iteration_sweep: Sequence[int] = (), eps_sweep: Sequence[float] = (), n_unbounded: int = 2,
                      square_queries: int = 100, n_targets: int = 3, losses: Sequence[str] = DEFAULT_LOSSES,
                      score_weight: float = 0.0, kappa: float = MARGIN_KAPPA, batch_size: int = 8, seed: int = 0,
                      rule: str = "own", log: Callable[[str], None] | None = None,
                      photographs: Sequence[str] | None = None) -> AdaptiveEvaluation:
    """The adaptive evaluation with its checks (module docstring), gated: :attr:`AdaptiveEvaluation.valid`.

    Args:
        bundle: f; adaptive: variant name -> detector-aware model; defences: the real detectors (a
            :class:`~helpers.adaptive_report.System` for the matched rule: its one threshold).
        x, y: the attacked images (RGB 0..255) and their true labels (f correct on them).
        budget: the main attack's norm, eps and iterations.
        iteration_sweep: smaller ``max_iter`` values run too (bypass must not decrease up to ``budget``).
        eps_sweep: other budgets run too (bypass must not decrease with eps; ``budget.eps`` included).
        n_unbounded: the first images attacked again at eps = 1, at most ``len(x)`` (must all be bypassed; 0 skips
            the check).
        square_queries: Square's query budget on f (0 skips the black-box check).
        n_targets, losses, score_weight, kappa: the ensemble's members (:func:`ensemble`).
        rule: the rule (``RULES``) the checks judge.
        batch_size: images per APGD batch.
        seed: the attacks' seed.
        log: called with a line per finished attack set (e.g. ``print``), or ``None``.
        photographs: (N,) each attacked image's photograph, for intervals that count views of one photograph as
            such (None: one each).

    Returns:
        The :class:`AdaptiveEvaluation`.

    Raises:
        ValueError, TypeError: bad inputs (e.g. ``n_unbounded`` above ``len(x)``), before any attack.
    """
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    check_choice(rule, RULES, "rule")
    if not isinstance(adaptive, dict) or not adaptive:
        raise ValueError("adaptive must be a non-empty dict: variant name -> detector-aware model")
    for it in iteration_sweep:
        check_count(it, "iteration_sweep value")
    for e in eps_sweep:
        AttackBudget(budget.norm, e, budget.max_iter)
    if check_count(n_unbounded, "n_unbounded", minimum=0) > len(x):  # never cut silently: the check's detail counts
        raise ValueError(f"n_unbounded = {n_unbounded} images to attack at eps = 1, but only {len(x)} are attacked")
    check_count(square_queries, "square_queries", minimum=0)
    ensemble(n_targets, losses, score_weight, kappa)  # checks the members' settings before any attack
    kw = {"n_targets": n_targets, "losses": losses, "score_weight": score_weight, "kappa": kappa,
          "batch_size": batch_size, "seed": seed}
    n = len(x)

    def logged(o: AttackOutcome) -> AttackOutcome:
        if log is not None:
            log(f"{o.label}: {o.count(rule)} of {len(o.bypassed[rule])} bypassed ({rule} rule), {o.seconds:.0f} s")
        return o

    main = logged(adaptive_attack(bundle, adaptive, defences, x, y, budget, **kw))
    outcomes, checks = [("ensemble", main)], []
    per_variant = {v: logged(adaptive_attack(bundle, {v: m}, defences, x, y, budget, label=f"adaptive APGD ({v})",
                                             **kw))
                   for v, m in adaptive.items()} if len(adaptive) > 1 else {next(iter(adaptive)): main}
    outcomes += [("variant", o) for o in per_variant.values() if o is not main]
    transferred = logged(transferred_attack(bundle, defences, x, y, budget, batch_size, seed))
    outcomes.append(("transferred", transferred))
    checks.append(check_at_least("transferred", per_variant, transferred, rule))
    if square_queries and budget.norm == "linf":
        square = logged(square_attack(bundle, defences, x, y, budget.eps, square_queries, seed))
        outcomes.append(("black box", square))
        checks.append(check_at_least("black box", {main.label: main}, square, rule))
    if iteration_sweep:
        sweep = [logged(adaptive_attack(bundle, adaptive, defences, x, y, AttackBudget(budget.norm, budget.eps, it),
                                        label=f"adaptive APGD, {it} iterations", **kw))
                 for it in sorted(set(iteration_sweep) - {budget.max_iter})]
        outcomes += [("iterations", o) for o in sweep]
        checks.append(check_nondecreasing("iterations", [*sweep, main], rule))
    if eps_sweep:
        sweep = {e: logged(adaptive_attack(bundle, adaptive, defences, x, y,
                                           AttackBudget(budget.norm, e, budget.max_iter),
                                           label=f"adaptive APGD, eps {255 * e:g}/255", **kw))
                 for e in sorted(set(eps_sweep) - {budget.eps})}
        outcomes += [("budget", o) for o in sweep.values()]
        sweep[budget.eps] = main
        checks.append(check_nondecreasing("budget", [sweep[e] for e in sorted(sweep)], rule))
    if n_unbounded:
        free = logged(adaptive_attack(bundle, adaptive, defences, x[:n_unbounded], y[:n_unbounded],
                                      AttackBudget("linf", 1.0, budget.max_iter), label="adaptive APGD, eps = 1",
                                      **{**kw, "batch_size": 1}))
        outcomes.append(("unbounded", free))
        checks.append(check_unbounded(free, rule))
    checks.append(check_plateau(main, rule))
    groups = None if photographs is None else np.asarray(photographs, dtype=object)
    table = pd.DataFrame([evaluation_row(role, o, None if groups is None else groups[:len(o.bypassed[rule])])
                          for role, o in outcomes])
    flagged_clean = Judge(bundle, defences, x, y).flags(x)
    correct = bundle.predict(x, batch_size)[0] == y
    utility = {r: Rate(int((correct & ~flagged_clean[r]).sum()), n) for r in main.bypassed}
    robust = {r: Rate(int((correct & ~flagged_clean[r] & ~main.bypassed[r]).sum()), n) for r in main.bypassed}
    return AdaptiveEvaluation(table, pd.DataFrame(checks), main, utility, robust)


def save_evaluation(evaluation: AdaptiveEvaluation, results_dir: str | Path, model: str) -> tuple[Path, Path]:
    """Write the evaluation's table and checks as ``adaptive_ensemble_<model>.csv`` and
    ``adaptive_checks_<model>.csv`` in ``results_dir`` (atomically); the README's findings read the checks.

    Args:
        evaluation: the evaluation.
        results_dir: the folder (created if missing).
        model: the model's name, in the file names.

    Returns:
        the two paths."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    table = write_atomically(folder / f"adaptive_ensemble_{model}.csv",
                             lambda tmp: evaluation.table.to_csv(tmp, index=False, float_format="%.6g"))
    checks = write_atomically(folder / f"adaptive_checks_{model}.csv",
                              lambda tmp: evaluation.checks.to_csv(tmp, index=False))
    return table, checks


def invalid_message(checks: pd.DataFrame) -> str | None:
    """"evaluation invalid: <checks>" when any check failed, else ``None``: the gate on every finding.

    Args:
        checks: (check, passed, detail) rows.

    Returns:
        the message, or None."""
    failed = list(checks.loc[~checks["passed"].astype(bool), "check"])
    return "evaluation invalid: " + ", ".join(failed) if failed else None


# Per-image outcomes as rows (a study's shards; helpers.study), and the rates and checks computed from them
OUTCOME_COLUMNS = ["image", "image_id", "photograph", "true_label", "attack", "kind", "norm", "eps", "max_iter",
                   "label_attacked", "bypassed_own", "found_by_own", "lowest_score", "lowest_by", "clean_score",
                   "plateau", "seconds"]
KINDS = ADAPTIVE_KINDS  # the adaptive ensemble, and the attacks its checks compare it with


def outcome_rows(outcome: AttackOutcome, attack: str, kind: str, y: np.ndarray, clean_score: np.ndarray,
                 image: np.ndarray, image_id: Sequence[str], photograph: Sequence[str],
                 true_label: np.ndarray) -> pd.DataFrame:
    """One row per image of ``outcome`` (``OUTCOME_COLUMNS``): the attack set ``attack`` of ``kind`` (``KINDS``),
    its budget, the label attacked, bypassed at the own rule and by which member, the lowest detector score of
    a point that fooled f (inf: none) and by which member, the image's clean score, its plateau parts
    (:func:`plateau_parts`, JSON) and its share of the seconds.

    Args:
        outcome: the attack set's outcome.
        attack: its name.
        kind: one of ``KINDS``.
        y: (N,) the labels attacked.
        clean_score: (N,) the images' clean detector scores.
        image: (N,) the images' indices.
        image_id, photograph, true_label: (N,) the images' ids, photographs and true labels.

    Returns:
        the rows.

    Raises:
        ValueError: an unknown kind."""
    n = len(y)
    plateau = [json.dumps({k: [float(a) for a in v] for k, v in plateau_parts(outcome.traces, i).items()})
               for i in range(n)]
    return pd.DataFrame({
        "image": np.asarray(image, np.int64), "image_id": list(image_id), "photograph": list(photograph),
        "true_label": np.asarray(true_label, np.int64), "attack": attack, "kind": check_choice(kind, KINDS, "kind"),
        "norm": outcome.budget.norm, "eps": outcome.budget.eps, "max_iter": outcome.budget.max_iter,
        "label_attacked": np.asarray(y, np.int64), "bypassed_own": outcome.bypassed["own"].astype(bool),
        "found_by_own": outcome.found_by["own"].astype(str), "lowest_score": outcome.lowest.astype(float),
        "lowest_by": outcome.lowest_by.astype(str), "clean_score": np.asarray(clean_score, float),
        "plateau": plateau, "seconds": outcome.seconds / max(n, 1)}, columns=OUTCOME_COLUMNS)


@dataclass(frozen=True)
class MatchedSplit:
    """The matched rule of a table of outcome rows: the threshold fitted at ``fpr`` on the clean scores of the
    ``calibration`` images (a grouped split by photograph), judged on the others (``evaluated``); ``threshold``
    is nan, with a ``note``, when fpr x the calibration photographs is below ``MIN_CALIBRATION_FALSE_POSITIVES``.

    Attributes:
        images: all the images' indices.
        calibration: the calibration images' indices.
        threshold: the matched threshold, or nan.
        note: why there is no threshold, or ''."""

    images: np.ndarray
    calibration: np.ndarray
    threshold: float
    note: str

    @property
    def evaluated(self) -> np.ndarray:
        return self.images[~np.isin(self.images, self.calibration)]


def matched_split(rows: pd.DataFrame, fpr: float, seed: int) -> MatchedSplit:
    """The calibration half (``grouped_split`` of the photographs, ``seed``) and its threshold at ``fpr``, refused
    (nan, with a note) where fpr x the calibration *photographs* is below ``MIN_CALIBRATION_FALSE_POSITIVES``.

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``).
        fpr: the target false-positive rate.
        seed: the split's seed.

    Returns:
        the :class:`MatchedSplit`.

    Raises:
        TypeError, ValueError: ``fpr`` not a number in [0, 1) (where a threshold is fitted)."""
    per_image = rows.drop_duplicates("image").sort_values("image")
    photographs = per_image["photograph"].to_numpy()
    side = grouped_split(photographs, seed, 0.5)
    images, clean = per_image["image"].to_numpy(), per_image["clean_score"].to_numpy()
    m = calibration_photographs(int(side.sum()), photographs[side])  # the rule counts photographs, not views
    if not resolvable(fpr, m):
        return MatchedSplit(images, images[side], np.nan, unresolvable_note(fpr, m))
    return MatchedSplit(images, images[side], threshold_at_fpr(clean[side], fpr), "")


def outcome_from_rows(rows: pd.DataFrame, split: MatchedSplit, rule: str = "own") -> AttackOutcome:
    """One attack set's :class:`AttackOutcome` from its rows, at ``rule``: the own rule over all its images, the
    matched rule over the ``split``'s evaluated images (lowest score at most the threshold).

    Args:
        rows: one attack set's outcome rows.
        split: the matched split.
        rule: one of ``RULES``.

    Returns:
        the :class:`AttackOutcome` at that rule.

    Raises:
        ValueError: an unknown rule."""
    check_choice(rule, RULES, "rule")
    first = rows.iloc[0]
    if rule == "matched":
        rows = rows[rows["image"].isin(split.evaluated)]
        bypassed, by = (rows["lowest_score"] <= split.threshold).to_numpy(), rows["lowest_by"]
    else:
        bypassed, by = rows["bypassed_own"].to_numpy(bool), rows["found_by_own"]
    return AttackOutcome(str(first["attack"]), AttackBudget(first["norm"], float(first["eps"]), int(first["max_iter"])),
                         {rule: bypassed}, {rule: by.to_numpy(object)}, float(rows["seconds"].sum()))


def outcome_rates(rows: pd.DataFrame, fpr: float, seed: int) -> pd.DataFrame:
    """Per attack set of a table of outcome rows: bypass at the own rule (over its images) and at the matched
    rule (over the evaluated half of :func:`matched_split`), the threshold, the realised false-positive rate of
    the evaluated clean images, and the seconds; every rate with its n, its photographs and a 95% interval that
    counts views of one photograph as such (:func:`helpers.adaptive_report.clustered_columns`).

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``) of one or several attack sets.
        fpr: the target false-positive rate.
        seed: the split's seed.

    Returns:
        one row per attack set."""
    split = matched_split(rows, fpr, seed)
    per_image = rows.drop_duplicates("image").set_index("image")
    held = per_image.loc[split.evaluated]
    realised = held["clean_score"].to_numpy() > split.threshold if split.note == "" else np.zeros(0, bool)
    out = []
    for attack, g in rows.groupby("attack", sort=False):
        own, matched = outcome_from_rows(g, split, "own"), outcome_from_rows(g, split, "matched")
        row = {"attack": attack, "kind": g["kind"].iloc[0], "norm": own.budget.norm, "eps_255": 255 * own.budget.eps,
               "max_iter": own.budget.max_iter, "n": len(g),
               **clustered_columns("bypass_own", own.bypassed["own"], g["photograph"].to_numpy())}
        evaluated = g[g["image"].isin(split.evaluated)]["photograph"].to_numpy()
        flags = matched.bypassed["matched"] if split.note == "" else np.zeros(0, bool)
        row |= clustered_columns("bypass_matched", flags, evaluated if split.note == "" else None)
        row |= {"threshold": split.threshold,
                **clustered_columns("fpr_matched", realised, held["photograph"].to_numpy() if len(realised) else None),
                "note": split.note, "seconds": own.seconds}
        out.append(row)
    return pd.DataFrame(out)


def outcome_checks(rows: pd.DataFrame, fpr: float, seed: int, main: str = "adaptive", rule: str = "own"
                   ) -> pd.DataFrame:
    """The checks of :func:`evaluate_adaptive` from a table of outcome rows (a merged study): ``main`` (an
    ensemble) against the ensembles that differ from it only in ``max_iter`` (iterations) or in ``eps``
    (budget; L-inf eps = 1: unbounded), the ``transferred`` and ``square`` kinds, and the plateau rule on its
    stored plateau parts. A check without the attack sets it needs is left out.

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``).
        fpr: the target false-positive rate.
        seed: the split's seed.
        main: the main ensemble's attack name.
        rule: the rule judged.

    Returns:
        (check, passed, detail) rows.

    Raises:
        ValueError: ``main`` is not an ensemble of ``rows``.
    """
    split = matched_split(rows, fpr, seed)
    sets = {a: g for a, g in rows.groupby("attack", sort=False)}
    if main not in sets or sets[main]["kind"].iloc[0] != "ensemble":
        raise ValueError(f"no adaptive ensemble named {main!r} among the attack sets {sorted(sets)}")
    o = {a: outcome_from_rows(g, split, rule) for a, g in sets.items()}
    kind = {a: g["kind"].iloc[0] for a, g in sets.items()}
    m = o[main].budget
    ens = [a for a in o if kind[a] == "ensemble" and a != main and o[a].budget.norm == m.norm]
    checks = []
    free = [a for a in ens if m.norm == "linf" and o[a].budget.eps >= 1]
    for a in free:
        checks.append(check_unbounded(o[a], rule))
    iters = sorted((a for a in ens if o[a].budget.eps == m.eps and a not in free), key=lambda a: o[a].budget.max_iter)
    if iters:
        sweep = sorted([*iters, main], key=lambda a: o[a].budget.max_iter)
        checks.append(check_nondecreasing("iterations", [o[a] for a in sweep], rule))
    budget = [a for a in ens if o[a].budget.max_iter == m.max_iter and o[a].budget.eps != m.eps and a not in free]
    if budget:
        sweep = sorted([*budget, main], key=lambda a: o[a].budget.eps)
        checks.append(check_nondecreasing("budget", [o[a] for a in sweep], rule))
    for name, k in (("transferred", "transferred"), ("black box", "square")):
        for a in (a for a in o if kind[a] == k):
            checks.append(check_at_least(name, {main: o[main]}, o[a], rule))
    main_rows = sets[main] if rule == "own" else sets[main][sets[main]["image"].isin(split.evaluated)]
    parts: dict[str, np.ndarray] = {}
    for text, bypassed in zip(main_rows["plateau"], o[main].bypassed[rule], strict=True):
        for loss, v in ({} if bypassed else json.loads(text)).items():
            parts[loss] = parts.get(loss, np.zeros(3)) + np.asarray(v)
    passed, detail = plateau_verdict(parts)
    checks.append({"check": "plateau", "passed": passed, "detail": detail})
    return pd.DataFrame(checks)
