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

Checks that can fail (Carlini et al. 2019; Tramer et al. 2020), computed by :func:`evaluate_adaptive` for every
rule reported, gating the result (:attr:`AdaptiveEvaluation.valid`). Each attack of a check runs on the images the
ensemble left (the cost follows the robust images) and is judged at every point it reaches, like the ensemble:

- ``iterations``: the ensemble again with ``sweep_factor`` times the iterations bypasses at most ``MAX_GAIN`` more
  images (otherwise it had not converged);
- ``restart``: another random start (another seed) bypasses at most ``MAX_GAIN`` more images;
- ``transferred``: APGD-CE on f alone (the detector unknown to it) bypasses at most ``MAX_GAIN`` more images;
- ``black box``: Square on the defended system (the consensus' margin, every query judged) bypasses at most
  ``MAX_GAIN`` more images;
- ``unbounded``: at eps = 1 (L-inf, the whole image space) every image attacked is bypassed (up to
  ``unbounded_images`` of them, all when fewer);
- ``budget``: with an eps sweep, bypass does not decrease as eps grows (each eps run on its own; what is reported
  is the worst case over every eps up to the budget, monotone by construction).

The budgets (:class:`EnsembleBudget`): ``"quick"`` (the CPU default) and ``"standard"`` (AutoAttack's standard
version adapted to detectors), ``helpers.attack_settings.ENSEMBLE_BUDGETS``.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from helpers.attack_settings import resolve_ensemble_budget
from helpers.metrics import Rate, grouped_split, resolvable, threshold_at_fpr
from helpers.models import ModelBundle
from helpers.names import ADAPTIVE_KINDS, LOSSES
from helpers.runtime import set_seed, write_atomically
from helpers.validation import accept_dark_images, check_choice, check_count, check_images, check_labels, check_number

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack

DEFAULT_LOSSES = ("ce", "dlr")  # AutoAttack's; "margin" is an option
MARGIN_KAPPA = 1.0  # the per-view margin loss stops at a logit margin of kappa (as ADAPTIVE_CW_CONFIDENCE)
NORMS = ("linf", "l2")
RULES = ("own", "matched")
MAX_GAIN = 1  # images another attack of a check may bypass beyond the ensemble's (Croce & Hein's tolerance)
CHECKS = ("iterations", "restart", "transferred", "black box", "unbounded", "budget")
SQUARE_P_INIT = 0.8  # AutoAttack's Square: the first square's share of the image


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
        f_logits: x (RGB 0..255) -> (N, C) f's raw logits (:func:`f_logits_fn`); None: ``view_logits``' first.
        black_box: ``predict`` returns the consensus' logits (mean log-probability of x and its views) and shows
            every point it is asked about to ``observer`` (Square on the defended system)."""

    observer = None

    def __init__(self, *args, objective: Objective, view_logits: Callable[[tf.Tensor], tf.Tensor],
                 f_logits: Callable[[tf.Tensor], tf.Tensor] | None = None, black_box: bool = False, **kwargs):
        self.objective, self._view_logits, self.black_box = objective, view_logits, black_box
        self._f_logits = f_logits if f_logits is not None else (lambda x: view_logits(x)[0])
        super().__init__(*args, **kwargs)
        self._compiled_losses = tf.function(self._losses_tf, reduce_retracing=True)

    def _predict_tf(self, x: tf.Tensor) -> tf.Tensor:
        x_input, _ = self._apply_preprocessing(x, y=None, fit=False)
        if self.black_box:
            return tf.reduce_mean(tf.nn.log_softmax(self._view_logits(x_input * 255.0)), axis=0)
        return self._f_logits(x_input * 255.0)

    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs) -> np.ndarray:
        """The logits of ``x`` ([0, 1] points): f's, or the consensus' when ``black_box`` (then each point is also
        shown to ``observer``).

        Args:
            x: (N, H, W, 3) points in [0, 1].
            batch_size, training_mode, **kwargs: those of the base class.

        Returns:
            (N, C) logits."""
        out = super().predict(x, batch_size, training_mode, **kwargs)
        if self.black_box and self.observer is not None:
            self.observer(np.asarray(x))
        return out

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
            self.observer(np.asarray(x))
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


_OBSERVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def observed_classifier(bundle: ModelBundle, objective: str | Objective, black_box: bool = False
                        ) -> ObservedClassifier:
    """One :class:`ObservedClassifier` per (model, objective, black box) over the [0, 1] view of ``bundle`` (traced
    once).

    Args:
        bundle: the model the loss is computed on (a detector-aware model, or f).
        objective: an :class:`Objective`, or a loss name standing for ``Objective(loss)``.
        black_box: see :class:`ObservedClassifier`.

    Returns:
        the classifier.

    Raises:
        ValueError: a score term on a model without views (nothing to score), or an unknown loss name."""
    objective = Objective(objective) if isinstance(objective, str) else objective
    per_model, key = _OBSERVED.setdefault(bundle.model, {}), (objective, black_box)
    if key not in per_model:
        if objective.score_weight:
            try:
                consensus_layer(bundle)
            except TypeError:
                raise ValueError(f"a score term needs a detector-aware model with views; {bundle.name!r} has none"
                                 ) from None
        views = view_logits_fn(bundle)
        base = art_classifier(bundle)
        per_model[key] = ObservedClassifier(model=base.model, nb_classes=bundle.n_classes,
                                            input_shape=base.input_shape, clip_values=(0.0, 1.0),
                                            loss_object=keras.losses.CategoricalCrossentropy(from_logits=True),
                                            objective=objective, view_logits=views, f_logits=f_logits_fn(bundle),
                                            black_box=black_box)
    return per_model[key]


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
        self.evaluations = 0  # the points judged

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

    def __call__(self, x01: np.ndarray) -> None:
        """The observer of :class:`ObservedClassifier`: judge each point.

        Args:
            x01: (M, H, W, 3) points in [0, 1] of the images in ``current``.

        Raises:
            BatchBypassed: once every image under attack (``current``) is bypassed at every rule, when
                ``stop_early`` is set: the rest of the run could not change what is kept."""
        index = self.origins(x01)
        self.evaluations += len(x01)
        self.judge(np.clip(x01, 0.0, 1.0).astype(np.float32) * np.float32(255.0), index)
        if self.stop_early and self.done[self.current].all():
            raise BatchBypassed


class BatchBypassed(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by :class:`Judge` inside an attack's run whose images are all bypassed: the judge keeps the first
    bypass per image and rule, so the remaining iterations could not change the outcome."""


@dataclass(frozen=True)
class Member:
    """One APGD run of the ensemble.

    Attributes:
        objective: its :class:`Objective`.
        rank: the consensus rank of its target (1: the best wrong class); 0: untargeted (away from the label
            attacked, the objective's loss maximised)."""

    objective: Objective
    rank: int

    @property
    def targeted(self) -> bool:
        return self.rank > 0

    @property
    def label(self) -> str:
        return f"APGD-{self.objective.name}" + (f" target {self.rank}" if self.targeted else "")


def ensemble(n_targets: int = 3, losses: Sequence[str] = DEFAULT_LOSSES, score_weight: float = 0.0,
             kappa: float = MARGIN_KAPPA, untargeted: bool = False) -> list[Member]:
    """AutoAttack's order: with ``untargeted``, APGD-CE away from the label attacked first; then for each target
    rank, each loss; with ``score_weight`` > 0, then each loss again with the detector's score term (further
    members, which attack the matched-threshold rule too).

    Args:
        n_targets: target ranks, >= 1.
        losses: the targeted members' loss names (``helpers.adaptive.LOSSES``).
        score_weight: the score term's weight (0: no score members).
        kappa: the margin loss's logit margin.
        untargeted: whether the untargeted APGD-CE member runs first.

    Returns:
        the :class:`Member` list.

    Raises:
        TypeError, ValueError: a bad ``n_targets``, loss, weight or kappa."""
    check_count(n_targets, "n_targets")
    objectives = [Objective(loss, 0.0, kappa) for loss in losses]
    objectives += [Objective(loss, score_weight, kappa) for loss in losses] if score_weight else []
    first = [Member(Objective("ce"), 0)] if untargeted else []
    return first + [Member(o, r) for r in range(1, n_targets + 1) for o in objectives]


@dataclass(frozen=True)
class AttackBudget:
    """A perturbation budget; the first APGD step is ``step`` x eps (2, Croce & Hein's).

    Attributes:
        norm: one of ``NORMS``.
        eps: the budget in [0, 1] units (> 0; at most 1 for L-inf).
        max_iter: APGD's iterations (Square's queries), >= 1.
        step: the first step in units of eps, > 0.

    Raises:
        ValueError: an unknown norm, eps <= 0, an L-inf eps > 1, max_iter < 1 or step <= 0.
        TypeError: eps or step not a number, or max_iter not an integer."""

    norm: str = "linf"
    eps: float = 2 / 255
    max_iter: int = 20
    step: float = 2.0

    def __post_init__(self):
        check_choice(self.norm, NORMS, "norm")
        check_number(self.eps, "eps", 0.0, np.inf, low_open=True)
        check_count(self.max_iter, "max_iter")
        check_number(self.step, "step", 0.0, np.inf, low_open=True)
        if self.norm == "linf" and self.eps > 1:
            raise ValueError(f"an L-inf eps is in [0, 1] units (2/255 = 2 grey levels); got {self.eps}")


@dataclass(frozen=True)
class EnsembleBudget:
    """The adaptive evaluation's budget (``helpers.attack_settings.ENSEMBLE_BUDGETS``: ``"quick"``, ``"standard"``).

    Attributes:
        max_iter: APGD's iterations per member.
        n_targets: the consensus' best wrong classes attacked with the targeted ``losses``.
        losses: the targeted members' losses.
        untargeted: whether an untargeted APGD-CE member runs first.
        square_queries: Square's queries on the defended system (0: no black-box check).
        sweep_factor: the upward iteration check runs ``sweep_factor`` x ``max_iter`` iterations.
        restarts: further random starts of the restart check (0: no such check).
        unbounded_images: images attacked at eps = 1 (all attacked images when fewer; 0: no such check)."""

    max_iter: int = 10
    n_targets: int = 3
    losses: tuple[str, ...] = DEFAULT_LOSSES
    untargeted: bool = True
    square_queries: int = 100
    sweep_factor: int = 5
    restarts: int = 1
    unbounded_images: int = 10

    @classmethod
    def of(cls, settings: str = "default", **overrides) -> EnsembleBudget:
        """The budget of ``attack_settings`` ``settings`` (``"default"``: quick, ``"paper"``: standard), with
        ``overrides``.

        Args:
            settings: ``"default"`` or ``"paper"``.
            **overrides: fields of the budget and their values.

        Returns:
            the budget.

        Raises:
            TypeError, ValueError: unknown settings or names, or bad values
                (:func:`helpers.attack_settings.resolve_ensemble_budget`)."""
        b = resolve_ensemble_budget(settings, overrides)
        return cls(**{**b, "losses": tuple(b["losses"])})


def run_apgd(adaptive: ModelBundle, judge: Judge, budget: AttackBudget, members: Sequence[Member],
             targets: np.ndarray, batch_size: int = 8, seed: int = 0, stop_early: bool = True) -> None:
    """Run ``members`` on the adaptive model, each on the images ``judge`` has not bypassed yet, in batches;
    every loss evaluation goes to ``judge`` (whose 8-bit examples keep to ``budget`` when it names no budget).

    Args:
        adaptive: the detector-aware model (or f, for an attack that does not know the detector).
        judge: the :class:`Judge` of the attacked images.
        budget: norm, eps, iterations and first step.
        members: the ensemble's members.
        targets: (N, n_targets) target classes (:func:`consensus_targets`; unused by untargeted members).
        batch_size: images per APGD batch.
        seed: seeded before each batch (APGD starts at a random point of the ball).
        stop_early: end a batch's run as soon as all its images are bypassed at every rule (the outcome is
            the same; fewer points are judged)."""
    x01 = judge.x / np.float32(255.0)
    if judge.linf_255 is None:  # the 8-bit examples must stay within the budget run here
        judge.linf_255 = _linf_255(budget)
    for m in members:
        classifier = observed_classifier(adaptive, m.objective)
        attack = AutoProjectedGradientDescent(classifier, norm=np.inf if budget.norm == "linf" else 2, eps=budget.eps,
                                              eps_step=budget.step * budget.eps, max_iter=budget.max_iter,
                                              targeted=m.targeted, nb_random_init=1, batch_size=batch_size,
                                              loss_type=None, verbose=False)
        todo = np.flatnonzero(~judge.done)
        judge.attack = m.label
        classifier.observer, judge.stop_early = judge, stop_early
        try:
            for start in range(0, len(todo), batch_size):
                idx = todo[start:start + batch_size]
                judge.current = idx
                set_seed(seed)
                label = targets[idx, m.rank - 1] if m.targeted else judge.y[idx]
                try:
                    out = attack.generate(x01[idx], y=np.eye(adaptive.n_classes, dtype=np.float32)[label])
                except BatchBypassed:  # every image of the batch is bypassed: nothing left to find
                    continue
                judge.judge(np.clip(out, 0, 1).astype(np.float32) * np.float32(255.0), idx)
        finally:
            classifier.observer, judge.stop_early = None, False


@dataclass(frozen=True)
class AttackOutcome:
    """One attack set's per-image outcome.

    Attributes:
        label: the attack set's name.
        budget: its :class:`AttackBudget`.
        bypassed: rule -> (N,) bool.
        found_by: rule -> (N,) the member that found each bypass ('' for none).
        seconds: its run time.
        lowest: (N,) the lowest detector score of a point that fooled f (inf: none).
        lowest_by: (N,) the attack that reached it.
        evaluations: the points judged."""

    label: str
    budget: AttackBudget
    bypassed: dict[str, np.ndarray]
    found_by: dict[str, np.ndarray]
    seconds: float
    lowest: np.ndarray | None = None
    lowest_by: np.ndarray | None = None
    evaluations: int = 0

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
                    kappa: float = MARGIN_KAPPA, score_goal: float | None = None, untargeted: bool = False
                    ) -> AttackOutcome:
    """The per-image worst case over the ensemble (:func:`ensemble`) run on each adaptive model (a bundle, or
    a dict variant -> bundle, e.g. BPDA and through Grad-CAM), judged by ``defences`` on f (``bundle``).

    Args:
        bundle: f, the undefended model.
        adaptive: the detector-aware model(s) of :mod:`helpers.adaptive`.
        defences: the real detectors (fitted for the matched rule).
        x: (N, H, W, 3) float32 RGB 0..255; y: (N,) the labels attacked (true labels, f correct on them).
        budget: norm, eps, iterations and first step.
        n_targets, losses, score_weight, kappa, untargeted: the members (:func:`ensemble`).
        batch_size: images per APGD batch.
        seed: seeded before each batch (another seed: another random start).
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
    members = ensemble(n_targets, losses, score_weight, kappa, untargeted)
    judge = Judge(bundle, defences, x, y, batch_size, score_goal, _linf_255(budget))
    start = time.perf_counter()
    for model in models.values():
        targets = consensus_targets(model, x, y, n_targets)
        run_apgd(model, judge, budget, members, targets, batch_size, seed)
    return _outcome(judge, label, budget, time.perf_counter() - start)


def _linf_255(budget: AttackBudget) -> float | None:
    return 255 * budget.eps if budget.norm == "linf" else None


def _outcome(judge: Judge, label: str, budget: AttackBudget, seconds: float) -> AttackOutcome:
    return AttackOutcome(label, budget, {r: judge.found[r].copy() for r in judge.rules},
                         {r: judge.found_by[r].copy() for r in judge.rules}, seconds, judge.lowest.copy(),
                         judge.lowest_by.copy(), judge.evaluations)


def transferred_attack(bundle: ModelBundle, defences: Sequence[Defence], x: np.ndarray, y: np.ndarray,
                       budget: AttackBudget, batch_size: int = 8, seed: int = 0) -> AttackOutcome:
    """APGD-CE, untargeted, made on f alone (the detector unknown to it), every iterate judged by the real
    detectors like the ensemble's.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        budget: norm, eps, iterations and first step.
        batch_size: images per APGD batch.
        seed: the attack's seed.

    Returns:
        the :class:`AttackOutcome`."""
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    judge = Judge(bundle, defences, x, y, batch_size, linf_255=_linf_255(budget))
    start = time.perf_counter()
    run_apgd(bundle, judge, budget, [Member(Objective("ce"), 0)], np.zeros((len(x), 1), np.int32), batch_size, seed)
    return _outcome(judge, "transferred APGD-CE on f", budget, time.perf_counter() - start)


def square_attack(bundle: ModelBundle, adaptive: ModelBundle, defences: Sequence[Defence], x: np.ndarray,
                  y: np.ndarray, eps: float, queries: int, batch_size: int = 8, seed: int = 0) -> AttackOutcome:
    """Square (score-based black box, L-inf ``eps``, ``queries`` queries, AutoAttack's ``p_init``) on the defended
    system: its scores are the consensus' logits of the detector-aware model ``adaptive`` (x and every view must
    agree), and every query is judged by f and the real detectors.

    Args:
        bundle: f.
        adaptive: the detector-aware model of the defences.
        defences: the real detectors.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        eps: the L-inf budget in [0, 1] units.
        queries: Square's iterations (one query per image each).
        batch_size: images per batch.
        seed: the attack's seed.

    Returns:
        the :class:`AttackOutcome`."""
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    budget = AttackBudget("linf", eps, queries)
    judge = Judge(bundle, defences, x, y, batch_size, linf_255=_linf_255(budget))
    judge.attack = f"Square on the system ({queries} queries)"
    classifier = observed_classifier(adaptive, "ce", black_box=True)
    attack = SquareAttack(classifier, norm=np.inf, eps=eps, max_iter=queries, p_init=SQUARE_P_INIT, nb_restarts=1,
                          batch_size=batch_size, verbose=False)
    start, x01 = time.perf_counter(), x / np.float32(255.0)
    classifier.observer, judge.stop_early = judge, True
    try:
        for first in range(0, len(x), batch_size):
            idx = np.arange(first, min(first + batch_size, len(x)))
            judge.current = idx
            set_seed(seed)
            try:
                attack.generate(x01[idx], y=np.eye(bundle.n_classes, dtype=np.float32)[y[idx]])
            except BatchBypassed:
                continue
    finally:
        classifier.observer, judge.stop_early = None, False
    return _outcome(judge, judge.attack, budget, time.perf_counter() - start)


def check_gain(name: str, main: AttackOutcome, other: AttackOutcome, rule: str = "own", allowed: int = MAX_GAIN
               ) -> dict:
    """Check row ``name``: ``other`` (run on the images ``main`` left, or on all) bypasses at most ``allowed``
    images that ``main`` did not.

    Args:
        name: the check's name.
        main: the ensemble's outcome (N images).
        other: the other attack's outcome, on the same N images (:func:`on_images` for a subset).
        rule: the rule judged.
        allowed: the largest gain that passes.

    Returns:
        ``{"check", "rule", "passed", "detail"}``."""
    gain = int((other.bypassed[rule] & ~main.bypassed[rule]).sum())
    left = int((~main.bypassed[rule]).sum())
    return {"check": name, "rule": rule, "passed": gain <= allowed,
            "detail": f"{other.label}: {gain} more of the {left} images the ensemble left (at most {allowed})"}


def check_unbounded(outcome: AttackOutcome, rule: str = "own") -> dict:
    """Check row: at an unbounded budget (eps = 1) every image is bypassed.

    Args:
        outcome: the attack set at eps = 1.
        rule: the rule judged.

    Returns:
        ``{"check", "rule", "passed", "detail"}``."""
    k, n = outcome.count(rule), len(outcome.bypassed[rule])
    return {"check": "unbounded", "rule": rule, "passed": k == n,
            "detail": f"{k} of {n} bypassed at eps = {outcome.budget.eps:g}"}


def check_nondecreasing(name: str, outcomes: Sequence[AttackOutcome], rule: str = "own") -> dict:
    """Check row ``name``: bypass counts do not decrease along ``outcomes`` (ordered by a growing budget).

    Args:
        name: the check's name.
        outcomes: the sweep's attack sets, in budget order.
        rule: the rule judged.

    Returns:
        ``{"check", "rule", "passed", "detail"}``."""
    counts = [o.count(rule) for o in outcomes]
    steps = ", ".join(f"{o.budget.max_iter} it. {255 * o.budget.eps:g}/255: {c}" for o, c in
                      zip(outcomes, counts, strict=True))
    return {"check": name, "rule": rule, "passed": bool(np.all(np.diff(counts) >= 0)), "detail": steps}


def on_images(outcome: AttackOutcome, index: np.ndarray, n: int) -> AttackOutcome:
    """``outcome`` of the images ``index`` (of ``n``) as an outcome of all ``n`` (the others not bypassed).

    Args:
        outcome: an attack set's outcome on ``len(index)`` images.
        index: their positions among the ``n``.
        n: the number of images.

    Returns:
        the :class:`AttackOutcome` on ``n`` images."""
    def spread(a: np.ndarray, fill) -> np.ndarray:
        out = np.full(n, fill, dtype=a.dtype)
        out[index] = a
        return out

    return replace(outcome, bypassed={r: spread(b, False) for r, b in outcome.bypassed.items()},
                   found_by={r: spread(b, "") for r, b in outcome.found_by.items()},
                   lowest=spread(outcome.lowest, np.inf), lowest_by=spread(outcome.lowest_by, ""))


def worst_case(outcomes: Sequence[AttackOutcome], label: str) -> AttackOutcome:
    """The per-image worst case over attack sets on the same images: bypassed when any bypassed (credited to the
    first that did), the lowest score of any, the largest budget, the seconds and points summed.

    Args:
        outcomes: attack sets on the same N images (the first credits first).
        label: the worst case's name.

    Returns:
        the :class:`AttackOutcome`."""
    first = outcomes[0]
    bypassed, found_by = {}, {}
    for r in first.bypassed:
        bypassed[r] = np.logical_or.reduce([o.bypassed[r] for o in outcomes])
        found_by[r] = np.full(len(bypassed[r]), "", object)
        for o in reversed(outcomes):
            found_by[r] = np.where(o.bypassed[r], o.found_by[r], found_by[r])
    scores = np.stack([o.lowest for o in outcomes])
    best = scores.argmin(axis=0)
    lowest_by = np.stack([o.lowest_by for o in outcomes])[best, np.arange(scores.shape[1])]
    budget = max((o.budget for o in outcomes), key=lambda b: b.eps)
    return AttackOutcome(label, budget, bypassed, found_by, sum(o.seconds for o in outcomes), scores.min(axis=0),
                         lowest_by, sum(o.evaluations for o in outcomes))


# What each row of an evaluation's table is: the reported worst case (at each eps of the grid), the ensemble's
# first run, one variant alone, the checks' attacks (on the images the ensemble left), the eps sweep's runs, the
# unbounded budget
ROLES = ("worst case", "ensemble", "variant", "iterations", "restart", "transferred", "black box", "budget",
         "unbounded")


@dataclass(frozen=True)
class AdaptiveEvaluation:
    """The outcome of :func:`evaluate_adaptive`.

    Attributes:
        table: one row per attack set (:func:`evaluation_row`): its ``role`` in the evaluation (one of ``ROLES``)
            and its bypass per rule with photograph-clustered intervals.
        checks: (check, rule, passed, detail) rows.
        outcome: the reported :class:`AttackOutcome`: the per-image worst case over every attack set at the
            budget's eps or below.
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
        return failed_checks(self.checks)

    def summary(self, rule: str = "own") -> str:
        """"evaluation invalid: <checks>" when a check failed, else the bypass rate with its interval,
        the robust accuracy and the clean utility.

        Args:
            rule: the rule reported.

        Returns:
            the line."""
        if not self.valid:
            return invalid_message(self.checks)
        row = reported_row(self.table)
        robust, utility = self.robust_accuracy[rule], self.clean_utility[rule]
        return (f"adaptive bypass ({rule} rule): {row[f'bypass_{rule}_k']}/{row['n']} = "
                f"{100 * row[f'bypass_{rule}']:.1f}% [{100 * row[f'bypass_{rule}_ci_low']:.1f}, "
                f"{100 * row[f'bypass_{rule}_ci_high']:.1f}]; robust accuracy {robust.k}/{robust.n}, "
                f"clean utility {utility.k}/{utility.n}")


def reported_row(table: pd.DataFrame) -> pd.Series:
    """The row of an evaluation's table that is reported: the worst case at the budget (its smallest eps row
    of role ``"worst case"`` whose eps is the ensemble's).

    Args:
        table: :func:`evaluate_adaptive`'s table.

    Returns:
        the row."""
    eps = table.loc[table["role"] == "ensemble", "eps_255"].iloc[0]
    return table[(table["role"] == "worst case") & np.isclose(table["eps_255"], eps)].iloc[0]


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
           "max_iter": o.budget.max_iter, "n": len(bypassed), "seconds": o.seconds, "points": o.evaluations}
    for r, b in o.bypassed.items():
        row |= clustered_columns(f"bypass_{r}", b, photographs) | {f"bypass_{r}_k": int(b.sum())}
    return row


def evaluate_adaptive(bundle: ModelBundle, adaptive: dict[str, ModelBundle], defences: Sequence[Defence],
                      x: np.ndarray, y: np.ndarray, eps: float = 2 / 255, norm: str = "linf",
                      budget: EnsembleBudget = EnsembleBudget(), eps_sweep: Sequence[float] = (),
                      score_weight: float = 0.0, kappa: float = MARGIN_KAPPA, batch_size: int = 8, seed: int = 0,
                      log: Callable[[str], None] | None = None, photographs: Sequence[str] | None = None,
                      step: float = 2.0) -> AdaptiveEvaluation:
    """The adaptive evaluation with its checks (module docstring) at every rule judged, gated:
    :attr:`AdaptiveEvaluation.valid`.

    Args:
        bundle: f; adaptive: variant name -> detector-aware model; defences: the real detectors (a
            :class:`~helpers.adaptive_report.System` for the matched rule: its one threshold).
        x, y: the attacked images (RGB 0..255) and their true labels (f correct on them).
        eps, norm: the budget (``eps`` in [0, 1] units).
        budget: the ensemble's members and the checks' sizes (:class:`EnsembleBudget`).
        eps_sweep: other budgets run too (each on all images; bypass must not decrease with eps; the worst case
            is reported at each eps of ``eps_sweep`` and ``eps``, over every run at that eps or below).
        score_weight, kappa: the ensemble's score members and margin (:func:`ensemble`).
        batch_size: images per APGD batch.
        seed: the attacks' seed (the restart check uses seed + 1, + 2, ...).
        log: called with a line per finished attack set (e.g. ``print``), or ``None``.
        photographs: (N,) each attacked image's photograph, for intervals that count views of one photograph as
            such (None: one each).
        step: the first APGD step in units of eps (2: Croce & Hein's; a smaller one weakens the attack).

    Returns:
        The :class:`AdaptiveEvaluation`.

    Raises:
        ValueError, TypeError: bad inputs, before any attack.
    """
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    if not isinstance(adaptive, dict) or not adaptive:
        raise ValueError("adaptive must be a non-empty dict: variant name -> detector-aware model")
    if not isinstance(budget, EnsembleBudget):
        raise TypeError(f"budget must be an EnsembleBudget (e.g. EnsembleBudget.of('default')), got {budget!r}")
    main_budget = AttackBudget(norm, eps, budget.max_iter, step)
    sweep_budgets = [AttackBudget(norm, e, budget.max_iter, step) for e in sorted(set(eps_sweep) - {eps})]
    kw = {"n_targets": budget.n_targets, "losses": budget.losses, "score_weight": score_weight, "kappa": kappa,
          "untargeted": budget.untargeted, "batch_size": batch_size}
    ensemble(budget.n_targets, budget.losses, score_weight, kappa)  # checks the members' settings before any attack
    n, groups = len(x), None if photographs is None else np.asarray(photographs, dtype=object)

    def logged(o: AttackOutcome, index: np.ndarray | None = None) -> AttackOutcome:
        if log is not None:
            counts = ", ".join(f"{o.count(r)} of {len(o.bypassed[r])} ({r} rule)" for r in o.bypassed)
            log(f"{o.label}: {counts} bypassed, {o.seconds:.0f} s")
        return o if index is None else on_images(o, index, n)

    def on_left(run: Callable[[np.ndarray], AttackOutcome]) -> AttackOutcome | None:
        left = np.flatnonzero(~np.logical_and.reduce(list(main.bypassed.values())))
        return logged(run(left), left) if len(left) else None

    main = logged(adaptive_attack(bundle, adaptive, defences, x, y, main_budget, seed=seed, **kw))
    outcomes = [("ensemble", main)]
    if len(adaptive) > 1:
        outcomes += [("variant", logged(adaptive_attack(bundle, {v: m}, defences, x, y, main_budget, seed=seed,
                                                         label=f"adaptive APGD ({v})", **kw)))
                     for v, m in adaptive.items()]
    longer = AttackBudget(norm, eps, budget.sweep_factor * budget.max_iter, step)
    check_runs = [("iterations", on_left(lambda i: adaptive_attack(
        bundle, adaptive, defences, x[i], y[i], longer, seed=seed,
        label=f"adaptive APGD, {longer.max_iter} iterations", **kw)))]
    check_runs += [("restart", on_left(lambda i, k=k: adaptive_attack(
        bundle, adaptive, defences, x[i], y[i], main_budget, seed=seed + k, label=f"adaptive APGD, start {k + 1}",
        **kw))) for k in range(1, budget.restarts + 1)]
    check_runs.append(("transferred", on_left(lambda i: transferred_attack(bundle, defences, x[i], y[i], main_budget,
                                                                          batch_size, seed))))
    if budget.square_queries and norm == "linf":
        check_runs.append(("black box", on_left(lambda i: square_attack(
            bundle, next(iter(adaptive.values())), defences, x[i], y[i], eps, budget.square_queries, batch_size,
            seed))))
    checks = []
    for role, o in check_runs:
        if o is not None:
            outcomes.append((role, o))
        checks += [check_gain(role, main, o, r) if o is not None else
                   {"check": role, "rule": r, "passed": True, "detail": "every image bypassed: nothing left to gain"}
                   for r in main.bypassed]
    sweep = [(b.eps, logged(adaptive_attack(bundle, adaptive, defences, x, y, b, seed=seed,
                                            label=f"adaptive APGD, eps {255 * b.eps:g}/255", **kw)))
             for b in sweep_budgets]
    outcomes += [("budget", o) for _, o in sweep]
    if sweep:
        by_eps = sorted([(eps, main), *sweep], key=lambda t: t[0])
        checks += [check_nondecreasing("budget", [o for _, o in by_eps], r) for r in main.bypassed]
    k = min(budget.unbounded_images, n)
    if k:
        free = logged(adaptive_attack(bundle, adaptive, defences, x[:k], y[:k], AttackBudget("linf", 1.0,
                                      budget.max_iter, step), seed=seed, label="adaptive APGD, eps = 1",
                                      **{**kw, "batch_size": 1}))
        outcomes.append(("unbounded", free))
        checks += [check_unbounded(free, r) for r in main.bypassed]
    at_eps = [o for role, o in outcomes if role not in ("budget", "unbounded")]  # every attack set at eps
    worst = {e: worst_case([*(at_eps if e >= eps else []), *(o for e2, o in sweep if e2 <= e)],
                           f"worst case, eps {255 * e:g}/255") for e in sorted({eps, *(e for e, _ in sweep)})}
    reported = worst[eps]
    rows = [("worst case", o) for o in worst.values()] + outcomes
    table = pd.DataFrame([evaluation_row(role, o, None if groups is None else groups[:len(o.bypassed[next(iter(
        o.bypassed))])]) for role, o in rows])
    flagged_clean = Judge(bundle, defences, x, y).flags(x)
    correct = bundle.predict(x, batch_size)[0] == y
    utility = {r: Rate(int((correct & ~flagged_clean[r]).sum()), n) for r in main.bypassed}
    robust = {r: Rate(int((correct & ~flagged_clean[r] & ~reported.bypassed[r]).sum()), n) for r in main.bypassed}
    return AdaptiveEvaluation(table, pd.DataFrame(checks), reported, utility, robust)


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


def failed_checks(checks: pd.DataFrame) -> list[str]:
    """The failed checks, each named with its rule where the table has one (``"iterations (matched rule)"``).

    Args:
        checks: (check, [rule,] passed, detail) rows.

    Returns:
        the names, in order."""
    failed = checks[~checks["passed"].astype(bool)]
    if "rule" not in failed:
        return list(failed["check"])
    return [f"{c} ({r} rule)" for c, r in zip(failed["check"], failed["rule"], strict=True)]


def invalid_message(checks: pd.DataFrame) -> str | None:
    """"evaluation invalid: <checks>" when any check failed, else ``None``: the gate on every finding.

    Args:
        checks: (check, [rule,] passed, detail) rows.

    Returns:
        the message, or None."""
    failed = failed_checks(checks)
    return "evaluation invalid: " + ", ".join(failed) if failed else None


# Per-image outcomes as rows (a study's shards; helpers.study), and the rates and checks computed from them
OUTCOME_COLUMNS = ["image", "image_id", "photograph", "true_label", "attack", "kind", "norm", "eps", "max_iter",
                   "label_attacked", "bypassed_own", "found_by_own", "lowest_score", "lowest_by", "clean_score",
                   "seconds"]
KINDS = ADAPTIVE_KINDS  # the adaptive ensemble, and the attacks its checks compare it with


def outcome_rows(outcome: AttackOutcome, attack: str, kind: str, y: np.ndarray, clean_score: np.ndarray,
                 image: np.ndarray, image_id: Sequence[str], photograph: Sequence[str],
                 true_label: np.ndarray) -> pd.DataFrame:
    """One row per image of ``outcome`` (``OUTCOME_COLUMNS``): the attack set ``attack`` of ``kind`` (``KINDS``),
    its budget, the label attacked, bypassed at the own rule and by which member, the lowest detector score of
    a point that fooled f (inf: none) and by which member, the image's clean score and its share of the seconds.

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
    return pd.DataFrame({
        "image": np.asarray(image, np.int64), "image_id": list(image_id), "photograph": list(photograph),
        "true_label": np.asarray(true_label, np.int64), "attack": attack, "kind": check_choice(kind, KINDS, "kind"),
        "norm": outcome.budget.norm, "eps": outcome.budget.eps, "max_iter": outcome.budget.max_iter,
        "label_attacked": np.asarray(y, np.int64), "bypassed_own": outcome.bypassed["own"].astype(bool),
        "found_by_own": outcome.found_by["own"].astype(str), "lowest_score": outcome.lowest.astype(float),
        "lowest_by": outcome.lowest_by.astype(str), "clean_score": np.asarray(clean_score, float),
        "seconds": outcome.seconds / max(n, 1)}, columns=OUTCOME_COLUMNS)


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
    """The checks of :func:`evaluate_adaptive` from a table of outcome rows (a merged study, every set run on every
    image): ``main`` (an ensemble) against the ensembles that differ from it only in a larger ``max_iter``
    (iterations) or in ``eps`` (budget; L-inf eps = 1: unbounded), and the ``transferred`` and ``square`` kinds
    (each may bypass at most ``MAX_GAIN`` images that ``main`` did not). A check without the attack sets it needs
    is left out.

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``).
        fpr: the target false-positive rate.
        seed: the split's seed.
        main: the main ensemble's attack name.
        rule: the rule judged.

    Returns:
        (check, rule, passed, detail) rows.

    Raises:
        ValueError: ``main`` is not an ensemble of ``rows``.
    """
    split = matched_split(rows, fpr, seed)
    sets = {a: g.sort_values("image") for a, g in rows.groupby("attack", sort=False)}
    if main not in sets or sets[main]["kind"].iloc[0] != "ensemble":
        raise ValueError(f"no adaptive ensemble named {main!r} among the attack sets {sorted(sets)}")
    o = {a: outcome_from_rows(g, split, rule) for a, g in sets.items()}
    kind = {a: g["kind"].iloc[0] for a, g in sets.items()}
    m = o[main].budget
    ens = [a for a in o if kind[a] == "ensemble" and a != main and o[a].budget.norm == m.norm]
    checks = []
    for a in (a for a in ens if o[a].budget.eps == m.eps and o[a].budget.max_iter > m.max_iter):
        checks.append(check_gain("iterations", o[main], o[a], rule))
    for name, k in (("transferred", "transferred"), ("black box", "square")):
        for a in (a for a in o if kind[a] == k):
            checks.append(check_gain(name, o[main], o[a], rule))
    free = [a for a in ens if m.norm == "linf" and o[a].budget.eps >= 1]
    for a in free:
        checks.append(check_unbounded(o[a], rule))
    budget = [a for a in ens if o[a].budget.max_iter == m.max_iter and o[a].budget.eps != m.eps and a not in free]
    if budget:
        sweep = sorted([*budget, main], key=lambda a: o[a].budget.eps)
        checks.append(check_nondecreasing("budget", [o[a] for a in sweep], rule))
    return pd.DataFrame(checks, columns=["check", "rule", "passed", "detail"])
