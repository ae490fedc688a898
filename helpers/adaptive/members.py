"""The adaptive attacker's members (Croce & Hein 2020's AutoAttack, made detector-aware): ART's
AutoProjectedGradientDescent on the detector-aware model of :mod:`helpers.adaptive.model`, untargeted (APGD-CE)
and targeted at the consensus' best wrong classes (cross-entropy, targeted DLR, per-view margin; optionally plus
the detector's score), every point it evaluates judged by a :class:`~helpers.adaptive.judge.Judge`; the budgets
(:class:`EnsembleBudget`: ``"quick"``, ``"standard"``); and the checks' attacks: APGD-CE made on f alone
(:func:`transferred_attack`) and Square on the defended system (:func:`square_attack`), judged at every point.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers.adaptive.defences import Defence
from helpers.adaptive.judge import AttackBudget, AttackOutcome, BatchBypassed, Judge, linf_grey_levels, outcome_of
from helpers.adaptive.model import consensus_layer, detector_score, per_view_margin, surrogate_of
from helpers.art_classifier import CompiledTensorFlowV2Classifier, art_classifier
from helpers.attack_settings import resolve_ensemble_budget
from helpers.models import ModelBundle
from helpers.names import LOSSES
from helpers.runtime import set_seed
from helpers.validation import check_choice, check_count, check_images, check_labels, check_number

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack


DEFAULT_LOSSES = ("ce", "dlr")  # AutoAttack's; "margin" is an option
MARGIN_KAPPA = 1.0  # the per-view margin loss stops at a logit margin of kappa (as ADAPTIVE_CW_CONFIDENCE)


SQUARE_P_INIT = 0.8  # AutoAttack's Square: the first square's share of the image


class TargetedDLR(keras.losses.Loss):
    """Targeted DLR on logits, to minimise: ``(max_{j != t} z_j - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``
    (Croce & Hein 2020 with the best other class in place of the true one; needs 4 classes or more).

    Args:
        reduction: Keras' loss reduction ('none': per image)."""

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
    (:meth:`helpers.adaptive.model.ConsensusLogits.view_logits`, (1 + V, N, C)) and the one-hot target (N, C):

    - ``loss`` ``"ce"``: the cross-entropy of the target under the consensus z (mean log-probability of x
      and the views); ``"dlr"``: :class:`TargetedDLR` on z; ``"margin"``: :func:`helpers.adaptive.model.per_view_margin`
      with ``kappa`` (every view must reach the target);
    - plus ``score_weight`` times :func:`helpers.adaptive.model.detector_score` (0: no score term).

    Attributes:
        loss: one of ``helpers.names.LOSSES``.
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

    def __call__(self, view_logits: tf.Tensor, target: tf.Tensor, score: tf.Tensor | None = None) -> tf.Tensor:
        """The loss of each image.

        Args:
            view_logits: (1 + V, N, C) raw logits.
            target: (N, C) one-hot targets.
            score: (N,) the detector's score for the score term (a surrogate,
                :func:`helpers.adaptive.model.scored_bundle`); None: the views' L1 score.

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
            value += self.score_weight * (detector_score(view_logits) if score is None else score)
        return value


def view_logits_fn(bundle: ModelBundle) -> Callable[[tf.Tensor], tf.Tensor]:
    """x (RGB 0..255) -> (1 + V, N, C) raw logits: a detector-aware model's x and views, or f alone (V = 0).

    Args:
        bundle: a detector-aware model of :mod:`helpers.adaptive.model`, or a plain model."""
    try:
        return consensus_layer(bundle).view_logits
    except TypeError:  # a plain model: x is its only view
        return lambda x: bundle.model(x, training=False)[None]


def f_logits_fn(bundle: ModelBundle) -> Callable[[tf.Tensor], tf.Tensor]:
    """x (RGB 0..255) -> (N, C) the raw logits of f alone: the model a detector-aware model wraps, or the model.

    Args:
        bundle: a detector-aware model of :mod:`helpers.adaptive.model`, or a plain model."""
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
        view_logits: x (RGB 0..255) -> (1 + V, N, C) raw logits (:func:`view_logits_fn`).
        f_logits: x (RGB 0..255) -> (N, C) f's raw logits (:func:`f_logits_fn`); None: ``view_logits``' first.
        black_box: ``predict`` returns the consensus' logits (mean log-probability of x and its views) and shows
            every point it is asked about to ``observer`` (Square on the defended system).
        surrogate: x (RGB 0..255) -> (N,) a detector's score for the objective's score term, or None (the views'
            L1 score)."""

    observer = None

    def __init__(self, *args, objective: Objective, view_logits: Callable[[tf.Tensor], tf.Tensor],
                 f_logits: Callable[[tf.Tensor], tf.Tensor] | None = None, black_box: bool = False,
                 surrogate: Callable[[tf.Tensor], tf.Tensor] | None = None, **kwargs):
        self.objective, self._view_logits, self.black_box = objective, view_logits, black_box
        self._surrogate = surrogate
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
        x255 = x_input * 255.0
        score = None if self._surrogate is None or not self.objective.score_weight else self._surrogate(x255)
        return self.objective(self._view_logits(x255), y, score)

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

    Raises:
        ValueError: a score term on a model without views (nothing to score), or an unknown loss name."""
    objective = Objective(objective) if isinstance(objective, str) else objective
    per_model, key = _OBSERVED.setdefault(bundle.model, {}), (objective, black_box)
    surrogate = surrogate_of(bundle)
    if key not in per_model:
        if objective.score_weight and surrogate is None:
            try:
                consensus_layer(bundle)
            except TypeError:
                raise ValueError(f"a score term needs a detector-aware model with views or a score surrogate "
                                 f"(helpers.adaptive.model.scored_bundle); {bundle.name!r} has neither") from None
        views = view_logits_fn(bundle)
        base = art_classifier(bundle)
        per_model[key] = ObservedClassifier(model=base.model, nb_classes=bundle.n_classes,
                                            input_shape=base.input_shape, clip_values=(0.0, 1.0),
                                            loss_object=keras.losses.CategoricalCrossentropy(from_logits=True),
                                            objective=objective, view_logits=views, f_logits=f_logits_fn(bundle),
                                            black_box=black_box, surrogate=surrogate)
    return per_model[key]


def consensus_targets(adaptive: ModelBundle, x: np.ndarray, y: np.ndarray, n_targets: int = 3) -> np.ndarray:
    """(N, n_targets): the consensus' best wrong classes (``y`` excluded), best first.

    Args:
        adaptive: the detector-aware model.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.

    Returns:
        (N, n_targets) int32 class indices."""
    z = adaptive.logits(x).copy()
    z[np.arange(len(y)), y] = -np.inf
    return np.argsort(-z, axis=1, kind="stable")[:, :n_targets].astype(np.int32)


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
        losses: the targeted members' loss names (``helpers.names.LOSSES``).
        score_weight: the score term's weight (0: no score members).
        kappa: the margin loss's logit margin.
        untargeted: whether the untargeted APGD-CE member runs first.

    Raises:
        TypeError, ValueError: a bad ``n_targets``, loss, weight or kappa."""
    check_count(n_targets, "n_targets")
    objectives = [Objective(loss, 0.0, kappa) for loss in losses]
    objectives += [Objective(loss, score_weight, kappa) for loss in losses] if score_weight else []
    first = [Member(Objective("ce"), 0)] if untargeted else []
    return first + [Member(o, r) for r in range(1, n_targets + 1) for o in objectives]


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
            **overrides: fields of the budget and their values.

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
        targets: (N, n_targets) target classes (:func:`consensus_targets`; unused by untargeted members).
        seed: seeded before each batch (APGD starts at a random point of the ball).
        stop_early: end a batch's run as soon as all its images are bypassed at every rule (the outcome is
            the same; fewer points are judged)."""
    x01 = judge.x / np.float32(255.0)
    if judge.linf_255 is None:  # the 8-bit examples must stay within the budget run here
        judge.linf_255 = linf_grey_levels(budget)
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
        adaptive: the detector-aware model(s) of :mod:`helpers.adaptive.model`.
        defences: the real detectors (fitted for the matched rule).
        x: (N, H, W, 3) float32 RGB 0..255; y: (N,) the labels attacked (true labels, f correct on them).
        budget: norm, eps, iterations and first step.
        n_targets, losses, score_weight, kappa, untargeted: the members (:func:`ensemble`).
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
    judge = Judge(bundle, defences, x, y, batch_size, score_goal, linf_grey_levels(budget))
    start = time.perf_counter()
    for model in models.values():
        targets = consensus_targets(model, x, y, n_targets)
        run_apgd(model, judge, budget, members, targets, batch_size, seed)
    return outcome_of(judge, label, budget, time.perf_counter() - start)


def transferred_attack(bundle: ModelBundle, defences: Sequence[Defence], x: np.ndarray, y: np.ndarray,
                       budget: AttackBudget, batch_size: int = 8, seed: int = 0) -> AttackOutcome:
    """APGD-CE, untargeted, made on f alone (the detector unknown to it), every iterate judged by the real
    detectors like the ensemble's.

    Args:
        bundle: f.
        defences: the real detectors.
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        budget: norm, eps, iterations and first step."""
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    judge = Judge(bundle, defences, x, y, batch_size, linf_255=linf_grey_levels(budget))
    start = time.perf_counter()
    run_apgd(bundle, judge, budget, [Member(Objective("ce"), 0)], np.zeros((len(x), 1), np.int32), batch_size, seed)
    return outcome_of(judge, "transferred APGD-CE on f", budget, time.perf_counter() - start)


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
        queries: Square's iterations (one query per image each)."""
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    budget = AttackBudget("linf", eps, queries)
    judge = Judge(bundle, defences, x, y, batch_size, linf_255=linf_grey_levels(budget))
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
    return outcome_of(judge, judge.attack, budget, time.perf_counter() - start)
