"""The judge of the adaptive evaluation and what it keeps: every point an attack reaches is shown to a
:class:`Judge`, which runs f and the real detectors on it as the 8-bit image an attacker saves (:func:`to_bytes`)
and keeps, per image and rule (own, matched), the first example that fools f and is not flagged
(:class:`AttackOutcome`); the per-image worst case over attack sets (:func:`worst_case`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from helpers.adaptive.defences import Defence, System
from helpers.models import ModelBundle
from helpers.validation import accept_dark_images, check_choice, check_count, check_number

NORMS = ("linf", "l2")
RULES = ("own", "matched")


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
    """``defences`` as a :class:`~helpers.adaptive.defences.System`: itself, or a system of the listed defences whose
    threshold is the one defence's own (a system of one); defences fitted one by one are refused, their union
    not being matched to any false-positive rate.

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
                         "helpers.adaptive.defences.System(defences).fit(x_clean, fpr, photographs)")
    return system


class Judge:
    """The real detectors and f, shown every point an attack reaches: per image and rule (``RULES``), the
    first example that fools f (label != ``y``) and is not flagged, and which attack found it.

    ``defences``: a :class:`~helpers.adaptive.defences.System` (one matched threshold for all its detectors), or
    :class:`~helpers.adaptive.defences.Defence` objects (:func:`as_system`); the matched rule is judged only when
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
        x: (N, H, W, 3) the attacked images, RGB 0..255.
        y: (N,) the labels attacked.
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
        """Flags per rule of RGB 0..255 images (:meth:`~helpers.adaptive.defences.System.flags`: own, any defence's
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
class AttackOutcome:
    """One attack set's per-image outcome.

    Attributes:
        label: the attack set's name.
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
            rule: one of the rules it was judged at."""
        return int(self.bypassed[rule].sum())


def linf_grey_levels(budget: AttackBudget) -> float | None:
    """The L-inf budget in grey levels that a saved 8-bit example must keep to.

    Returns:
        255 eps for an L-inf budget, None for L2."""
    return 255 * budget.eps if budget.norm == "linf" else None


def outcome_of(judge: Judge, label: str, budget: AttackBudget, seconds: float) -> AttackOutcome:
    """What ``judge`` kept, as the :class:`AttackOutcome` of the attack set ``label`` (copies).

    Args:
        judge: the judge, after the attack."""
    return AttackOutcome(label, budget, {r: judge.found[r].copy() for r in judge.rules},
                         {r: judge.found_by[r].copy() for r in judge.rules}, seconds, judge.lowest.copy(),
                         judge.lowest_by.copy(), judge.evaluations)


def on_images(outcome: AttackOutcome, index: np.ndarray, n: int) -> AttackOutcome:
    """``outcome`` of the images ``index`` (of ``n``) as an outcome of all ``n`` (the others not bypassed).

    Args:
        outcome: an attack set's outcome on ``len(index)`` images.
        index: their positions among the ``n``.
        n: the number of images."""
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
        label: the worst case's name."""
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
