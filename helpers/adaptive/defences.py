"""The defences an adaptive evaluation judges with: a detector guarding f (:class:`Defence`), flagging at its own
rule (the paper's label change in any configuration; none for a score-only detector) and at a threshold matched
to a false-positive rate on clean images held apart; the system of several detectors with one matched threshold
(:class:`System`); the split of the clean images by photograph (:func:`hold_out`) and the realised false-positive
rates on the untouched split.

An example *bypasses* a defence when it fools f (within the attack's budget) and is not flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from helpers.data import ImageSet
from helpers.metrics import Rate, design_effect, grouped_split, rate_row, resolvable, threshold_at_fpr
from helpers.validation import check_count, check_images, check_number

# A matched threshold needs at least this many expected false positives among its calibration images
MIN_CALIBRATION_FALSE_POSITIVES = 5


class Defence:
    """A detector guarding f: flags at its own rule and at a threshold matched to ``fpr`` on clean images.

    Args:
        name: its name in tables.
        detector: a detector of ``helpers.detectors``.

    Attributes:
        has_own_rule: whether it flags by label change.
        threshold: the matched threshold; None before :meth:`fit`.
        note: why it has no threshold ('' otherwise; :func:`resolvable_fit`)."""

    def __init__(self, name: str, detector, batch_size: int = 16):
        self.name, self.detector, self.batch_size = name, detector, batch_size
        self.has_own_rule = "label_change" in detector.decisions and detector.decision == "label_change"
        self.threshold: float | None = None
        self.note = ""

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(own_flags, score)`` per image: label change in any configuration (all False without an own
        rule), and the largest score over the configurations.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (N,) bool and (N,) float."""
        report = self.detector.evaluate(x, self.batch_size)
        own = np.asarray(report["label_changed"], bool).reshape(-1, len(x)).any(axis=0)
        return own & self.has_own_rule, np.asarray(report["score"], float).reshape(-1, len(x)).max(axis=0)

    def fit(self, x_clean: np.ndarray, fpr: float = 0.05, photographs: Sequence[str] | None = None) -> Defence:
        """The matched threshold: at most ``fpr`` of ``x_clean`` (held apart from reported images) above it.

        Args:
            x_clean: (N, H, W, 3) clean calibration images, RGB 0..255.
            fpr: the target false-positive rate, in [0, 1).
            photographs: (N,) each image's photograph (None: one each); the rule below counts photographs.

        Returns:
            the defence, fitted.

        Raises:
            TypeError, ValueError: ``fpr`` not a number in [0, 1).
            ValueError: fpr x n_calibration < ``MIN_CALIBRATION_FALSE_POSITIVES``, n_calibration the calibration
                *photographs* (the threshold would be one of the few largest clean scores, its true FPR anywhere
                in a wide interval; views of one photograph are no new draws)."""
        check_calibration(fpr, len(x_clean), photographs)
        self.threshold = threshold_at_fpr(self.scores(x_clean)[1], fpr)
        return self

    def flags(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """``(own, matched)`` flags per image; ``own`` is ``None`` for a score-only detector.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (N,) bool or None, and (N,) bool.

        Raises:
            RuntimeError: before :meth:`fit`."""
        if self.threshold is None:
            raise RuntimeError(f"defence {self.name!r}: call fit(x_clean) for the matched threshold first")
        own, score = self.scores(x)
        return (own if self.has_own_rule else None), score > self.threshold


class FunctionDetector:
    """A detector of your own, as the judge sees it: a score (higher: more adversarial) and, optionally, a decision
    rule of its own (the part the paper's label change plays for the saliency detector); the matched rule is a
    threshold on the score fitted on clean images (:meth:`Defence.fit`).

    Args:
        score: (N, H, W, 3) RGB 0..255 images -> (N,) finite scores (numpy in, numpy out; any code).
        rule: (N, H, W, 3) images -> (N,) bool flags of its own rule, or None (a score-only detector).

    Attributes:
        decisions, decision: what :class:`Defence` reads: ``"label_change"`` stands for the own rule."""

    decisions = ("label_change", "score")

    def __init__(self, score: Callable[[np.ndarray], np.ndarray],
                 rule: Callable[[np.ndarray], np.ndarray] | None = None):
        if not callable(score) or (rule is not None and not callable(rule)):
            raise TypeError("score (and rule, when given) must be callables of a batch of images")
        self.score, self.rule = score, rule
        self.decision = "label_change" if rule is not None else "score"

    def evaluate(self, x: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
        """The report :class:`Defence` reads: ``score`` and ``label_changed`` (the own rule's flags; all False
        without one), in batches.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.
            batch_size: images per call of ``score`` and ``rule``.

        Returns:
            ``{"score": (N,) float, "label_changed": (N,) bool}``.

        Raises:
            ValueError: a score or rule output that is not one finite value per image."""
        x = check_images(x)
        parts = [(self._checked(self.score, x[i:i + batch_size], float),
                  self._checked(self.rule, x[i:i + batch_size], bool) if self.rule is not None
                  else np.zeros(len(x[i:i + batch_size]), bool)) for i in range(0, len(x), batch_size)]
        return {"score": np.concatenate([p[0] for p in parts]), "label_changed": np.concatenate([p[1] for p in parts])}

    @staticmethod
    def _checked(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dtype: type) -> np.ndarray:
        out = np.asarray(fn(x))
        if out.shape != (len(x),):
            raise ValueError(f"{getattr(fn, '__name__', 'the detector')} must return one value per image, shape "
                             f"({len(x)},); got {out.shape}")
        if dtype is float and not np.isfinite(out.astype(float)).all():
            raise ValueError(f"{getattr(fn, '__name__', 'the score')} returned a non-finite score")
        return out.astype(dtype)


def user_defence(name: str, score: Callable[[np.ndarray], np.ndarray],
                 rule: Callable[[np.ndarray], np.ndarray] | None = None, batch_size: int = 16) -> Defence:
    """A :class:`Defence` of your own detector (:class:`FunctionDetector`), for the judge of the adaptive
    evaluation: fit its matched threshold with :meth:`Defence.fit` or in a :class:`System`.

    Args:
        name: its name in tables.
        score: images -> (N,) scores, higher for more adversarial.
        rule: images -> (N,) bool own-rule flags, or None.

    Returns:
        the defence (unfitted)."""
    return Defence(name, FunctionDetector(score, rule), batch_size)


def calibration_photographs(n: int, photographs: Sequence[str] | None = None) -> int:
    """The number of calibration photographs among ``n`` images (each its own photograph when None).

    Args:
        photographs: (n,) each image's photograph, or None.

    Returns:
        the count of distinct photographs.

    Raises:
        ValueError: ``photographs`` of another length."""
    if photographs is None:
        return n
    if len(photographs) != n:
        raise ValueError(f"photographs must name one photograph per image ({n}), got {len(photographs)}")
    return len(set(np.asarray(photographs, dtype=object).tolist()))


def check_calibration(fpr: float, n: int, photographs: Sequence[str] | None = None) -> int:
    """Refuse a matched threshold that ``n`` calibration images of ``photographs`` cannot place at ``fpr``:
    fpr x n_calibration photographs < ``MIN_CALIBRATION_FALSE_POSITIVES``.

    Args:
        fpr: the target false-positive rate, in [0, 1).
        photographs: (n,) their photographs, or None (one each).

    Returns:
        the number of calibration photographs.

    Raises:
        TypeError, ValueError: ``fpr`` not a number in [0, 1), or too few photographs (the message names both)."""
    check_number(fpr, "fpr", 0.0, 1.0, high_open=True)
    m = calibration_photographs(n, photographs)
    if not resolvable(fpr, m):
        raise ValueError(f"a matched threshold at fpr = {fpr:g} needs fpr x n_calibration >= "
                         f"{MIN_CALIBRATION_FALSE_POSITIVES}; got n_calibration = {m} photographs "
                         f"(fpr x n_calibration = {fpr * m:g}): hold more clean photographs apart or raise fpr")
    return m


def unresolvable_note(fpr: float, m: int) -> str:
    """The note that replaces a matched rate whose threshold ``m`` calibration photographs cannot place.

    Returns:
        e.g. 'not resolvable at n = 2 calibration photographs (fpr 0.2 x 2 < 5)'."""
    return f"not resolvable at n = {m} calibration photographs (fpr {fpr:g} x {m} < {MIN_CALIBRATION_FALSE_POSITIVES})"


class System:
    """Detectors guarding f together, with **one** matched threshold: an input is flagged at the own rule when
    any detector flags it, and at the matched rule when the largest of the detectors' scores exceeds the
    system's threshold, fitted on that largest score of clean calibration images so that the *system's*
    false-positive rate is the target (the union of thresholds fitted one by one would exceed it). The scores
    compared are the detectors' own (for the saliency detector and Feature Squeezing both an L1 distance
    between softmax outputs, as the attacker's score term and the study's ``clean_score``).

    Args:
        defences: the :class:`Defence` objects (their own thresholds are not used here).
        name: its name in tables.

    Attributes:
        threshold: the system's matched threshold; None before :meth:`fit` or where not resolvable.
        note: why there is no threshold ('' otherwise).
        has_own_rule: whether any detector flags by label change."""

    def __init__(self, defences: Sequence[Defence], name: str = "system"):
        self.defences, self.name = list(defences), name
        if not self.defences:
            raise ValueError("a system needs at least one defence")
        self.threshold: float | None = None
        self.note = ""
        self.has_own_rule = any(d.has_own_rule for d in self.defences)

    def __iter__(self):
        return iter(self.defences)

    def __len__(self) -> int:
        return len(self.defences)

    def __getitem__(self, i: int) -> Defence:
        return self.defences[i]

    def detector_scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each detector's ``(own_flags, score)`` (:meth:`Defence.scores`), stacked.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (D, N) bool and (D, N) float."""
        parts = [d.scores(x) for d in self.defences]
        return np.array([o for o, _ in parts], bool).reshape(len(parts), len(x)), \
            np.array([s for _, s in parts], float).reshape(len(parts), len(x))

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(own_flags, score)``: flagged by any detector's own rule, and the largest score of any detector.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (N,) bool and (N,) float."""
        own, score = self.detector_scores(x)
        return own.any(axis=0), score.max(axis=0)

    def fit(self, x_clean: np.ndarray, fpr: float = 0.05, photographs: Sequence[str] | None = None) -> System:
        """The system's threshold: at most ``fpr`` of ``x_clean``'s largest scores above it.

        Args:
            x_clean: (N, H, W, 3) clean calibration images, RGB 0..255.
            fpr: the target false-positive rate, in [0, 1).
            photographs: (N,) each image's photograph (None: one each).

        Returns:
            the system, fitted.

        Raises:
            TypeError, ValueError: as :func:`check_calibration` (too few calibration photographs)."""
        check_calibration(fpr, len(x_clean), photographs)
        self.threshold, self.note = threshold_at_fpr(self.scores(x_clean)[1], fpr), ""
        return self

    def flags(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(own, matched, score)`` per image; ``matched`` is None without a threshold.

        Args:
            x: (N, H, W, 3) RGB images in 0..255.

        Returns:
            (N,) bool, (N,) bool or None, (N,) float."""
        own, score = self.scores(x)
        return own, (score > self.threshold if self.threshold is not None else None), score


def resolvable_fit(defence: Defence | System, x_clean: np.ndarray, fpr: float,
                   photographs: Sequence[str] | None = None) -> str:
    """Fit ``defence``'s matched threshold where ``x_clean``'s photographs can place it at ``fpr``; else leave it
    unfitted and say why (also in ``defence.note``).

    Args:
        x_clean: (N, H, W, 3) clean calibration images, RGB 0..255.
        fpr: the target false-positive rate, in [0, 1).
        photographs: (N,) each image's photograph (None: one each).

    Returns:
        '' when fitted, else the note (:func:`unresolvable_note`)."""
    check_number(fpr, "fpr", 0.0, 1.0, high_open=True)
    m = calibration_photographs(len(x_clean), photographs)
    defence.note = "" if resolvable(fpr, m) else unresolvable_note(fpr, m)
    if not defence.note:
        defence.fit(x_clean, fpr, photographs)
    return defence.note


def _rate(prefix: str, k: int, n: int) -> dict:
    r = rate_row(Rate(int(k), int(n)))
    return {prefix: r["value"], f"{prefix}_ci_low": r["ci_low"], f"{prefix}_ci_high": r["ci_high"], f"{prefix}_n": n}


def clustered_columns(prefix: str, flags: np.ndarray, photographs: Sequence[str] | None = None) -> dict:
    """The share of True ``flags`` as columns ``prefix``, ``prefix_ci_low``, ``prefix_ci_high``, ``prefix_n`` and
    ``prefix_photographs``, its 95% interval counting views of one photograph as such (Wilson at the effective
    sample size, :func:`helpers.metrics.design_effect`; plain Wilson with one view per photograph).

    Args:
        flags: (N,) bool.
        photographs: (N,) each item's photograph, or None (one each)."""
    flags = np.asarray(flags, bool).ravel()
    k, n = int(flags.sum()), flags.size
    if photographs is None or n == 0:
        rate = Rate(k, n)
    else:
        groups = np.asarray(photographs, dtype=object).ravel()
        rate = Rate(k, n, len(set(groups.tolist())), design_effect(flags, groups))
    r = rate_row(rate)
    return {prefix: r["value"], f"{prefix}_ci_low": r["ci_low"], f"{prefix}_ci_high": r["ci_high"], f"{prefix}_n": n,
            f"{prefix}_photographs": r["n_photographs"] if n else 0}


def hold_out(images: ImageSet, n: int, seed: int = 0) -> tuple[ImageSet, ImageSet, ImageSet]:
    """The first ``n`` images (attacked and reported), and the images of *other* photographs split by
    photograph (``helpers.metrics.grouped_split``) into calibration (matched thresholds only) and test (the
    realised false-positive rate): no view of one photograph on two sides.

    Args:
        n: the images attacked, >= 1.

    Returns:
        (attacked, calibration, test).

    Raises:
        TypeError: ``n`` is not an integer.
        ValueError: ``n`` < 1 or not fewer than the images, or no image of another photograph is left for
            either split."""
    check_count(n, "n")
    if n >= len(images):
        raise ValueError(f"need more than n = {n} images to hold some apart, got {len(images)}")
    groups = images.photographs
    attacked = images.take(np.arange(n), f"{n} of {images.description}")
    rest = np.flatnonzero(~np.isin(groups, groups[:n]))
    side = grouped_split(groups[rest], seed, 0.5)
    if not side.any() or side.all():
        raise ValueError(f"need clean images of at least 2 photographs other than the {len(set(groups[:n]))} "
                         f"attacked ones; {len(set(groups[rest]))} left of {images.description}")
    calibration, test = (images.take(rest[m], f"{m.sum()} clean images of {len(set(groups[rest[m]]))} other "
                                              f"photographs ({what})") for m, what in
                         ((side, "calibration"), (~side, "test: realised FPR")))
    return attacked, calibration, test


def realised_fpr(defences: Sequence[Defence], x_test: np.ndarray, photographs: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """Per defence, the share of the untouched clean ``x_test`` flagged at each rule (its own threshold for the
    matched rule; no rate, with the defence's ``note``, where it has none), with photograph-clustered intervals.

    Args:
        x_test: (N, H, W, 3) untouched clean images, RGB 0..255.
        photographs: (N,) each image's photograph (None: one each).

    Returns:
        one row per defence."""
    rows = []
    for d in defences:
        own, score = d.scores(x_test)
        row = {"defence": d.name, "n": len(x_test), "threshold": d.threshold, "note": getattr(d, "note", "")}
        row |= clustered_columns("fpr_own", own if d.has_own_rule else own[:0], photographs if d.has_own_rule
                                 else None)
        matched = score > d.threshold if d.threshold is not None else own[:0]
        rows.append(row | clustered_columns("fpr_matched", matched, photographs if len(matched) else None))
    return pd.DataFrame(rows)


def system_fpr(system: System, x_test: np.ndarray, photographs: Sequence[str] | None = None) -> pd.DataFrame:
    """The realised false-positive rates of ``system`` on the untouched clean ``x_test``, at both rules: one row
    per detector (its own rule; its score above the *system's* threshold, i.e. its share of the system's matched
    flags) and a last row ``system`` (any detector), with photograph-clustered intervals, the threshold and the
    system's note (no matched rate where it has no threshold).

    Args:
        x_test: (N, H, W, 3) untouched clean images, RGB 0..255.
        photographs: (N,) each image's photograph (None: one each).

    Returns:
        one row per detector, then ``system``."""
    own, score = system.detector_scores(x_test)
    t = system.threshold
    names = [d.name for d in system.defences] + [system.name]
    has_own = [d.has_own_rule for d in system.defences] + [system.has_own_rule]
    rows = []
    for name, o, s, has in zip(names, [*own, own.any(axis=0)], [*score, score.max(axis=0)], has_own, strict=True):
        row = {"defence": name, "n": len(x_test), "threshold": t, "note": system.note}
        row |= clustered_columns("fpr_own", o if has else o[:0], photographs if has else None)
        matched = s > t if t is not None else o[:0]
        rows.append(row | clustered_columns("fpr_matched", matched, photographs if len(matched) else None))
    return pd.DataFrame(rows)
