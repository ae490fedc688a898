"""The adaptive evaluation of notebook 08: which attack sets to run, how each detector judges them
(at its own rule and at a matched false-positive rate), the bypass table, the attacker's loss per
step, and the sanity checks of Carlini et al. 2019 ("On evaluating adversarial robustness").

A *defence* here is one detector with ART's contract guarding the undefended model f. It flags x at
its own operating point (the paper's label-change rule, any of its configurations; none for a
score-only detector) and at a matched false-positive rate: its largest score over its
configurations above a threshold fitted on clean images held apart from the reported ones.
An example *bypasses* a defence when it fools f (within the attack's budget) and is not flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.adaptive import detector_aware_bundle
from helpers.art_classifier import art_classifier
from helpers.attack_settings import SETTINGS, with_overrides
from helpers.attacks import AttackResult
from helpers.cache import cached_attack
from helpers.data import ImageSet
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector
from helpers.labels import attack_label, rate_text
from helpers.metrics import Rate, design_effect, grouped_split, rate_row, resolvable, threshold_at_fpr
from helpers.models import ModelBundle
from helpers.names import ADAPTIVE_ATTACKS
from helpers.runtime import write_atomically
from helpers.validation import check_count, check_images, check_labels, check_number

# Attack budgets of notebook 08 by ``attack_settings``, as overrides on ``helpers.attacks.SETTINGS`` of the same
# name; eps is set per run, and a PGD step is 2.5 * eps / max_iter (Madry et al.). "default" fits a 2-core CPU;
# "paper" is full scale (GPU).
ADAPTIVE_OVERRIDES: dict[str, dict[str, dict]] = {
    "default": {
        "pgd": {"max_iter": 5, "num_random_init": 0},
        "pgd_l2": {"max_iter": 5, "num_random_init": 0},
        "cw_l2": {"targeted": False, "binary_search_steps": 1, "max_iter": 10},
        "square": {"max_iter": 50},
        "hopskipjump": {"max_iter": 3, "max_eval": 50, "init_eval": 10, "init_size": 20},
    },
    "paper": {"pgd": {}, "pgd_l2": {}, "cw_l2": {"targeted": False}, "square": {"max_iter": 5000}, "hopskipjump": {}},
}
ADAPTIVE_SETTINGS: dict[str, dict[str, dict]] = {
    name: {attack: p for attack, p in with_overrides(SETTINGS[name], overrides).items() if attack in overrides}
    for name, overrides in ADAPTIVE_OVERRIDES.items()}
# A matched threshold needs at least this many expected false positives among its calibration images
MIN_CALIBRATION_FALSE_POSITIVES = 5
NON_ADAPTIVE, BPDA, GRADCAM = "non-adaptive", "adaptive (BPDA)", "adaptive (through Grad-CAM)"
HIGH_CONFIDENCE = "non-adaptive, high confidence"
# C&W's confidence on an adaptive model: a margin in the consensus' log-probability units; at 0 C&W stops
# at the consensus' boundary, where the views still disagree (helpers.adaptive)
ADAPTIVE_CW_CONFIDENCE = 1.0


def pgd_params(settings: dict, eps: float) -> dict:
    """PGD parameters at budget ``eps``: the settings' iterations, step 2.5 * eps / max_iter.

    Args:
        settings: PGD's parameters, with ``max_iter``.
        eps: the budget in [0, 1] units.

    Returns:
        the parameters with ``eps`` and ``eps_step``."""
    return {**settings, "eps": eps, "eps_step": 2.5 * eps / settings["max_iter"]}


@dataclass(frozen=True)
class AttackRun:
    """One adversarial set of the evaluation.

    Attributes:
        label: its name in tables (and its key in :func:`run_all`'s results).
        attack: a ``helpers.attacks`` name.
        mode: ``NON_ADAPTIVE``, ``BPDA``, ``GRADCAM``, or a black-box description.
        target: the defence it adapts to, ``""`` for none.
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget within which success counts, [0, 1] units (nan: none).
        model: the model attacked: f, or an adaptive model of ``helpers.adaptive``.
        params: the attack's parameters.
        detector: the detector that a black box answers through (HopSkipJump), else ``None``."""

    label: str
    attack: str
    mode: str
    target: str
    norm: str
    eps: float
    model: ModelBundle
    params: dict = field(default_factory=dict)
    detector: object = None


class Defence:
    """A detector guarding f: flags at its own rule and at a threshold matched to ``fpr`` on clean images.

    Args:
        name: its name in tables.
        detector: a detector of ``helpers.detectors``.
        batch_size: images per pass.

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


def calibration_photographs(n: int, photographs: Sequence[str] | None = None) -> int:
    """The number of calibration photographs among ``n`` images (each its own photograph when None).

    Args:
        n: the images.
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
        n: the calibration images.
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

    Args:
        fpr: the target false-positive rate.
        m: the calibration photographs.

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
        defence: a :class:`Defence` or :class:`System`.
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


def within_budget(result: AttackResult, norm: str, eps: float) -> np.ndarray:
    """Success on f and, when ``eps`` is a number, the perturbation within it (L2 or L-inf, [0, 1] units).

    Args:
        result: the attack's result.
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget in [0, 1] units, or nan for none.

    Returns:
        (N,) bool."""
    if np.isnan(eps):
        return result.success.copy()
    size = result.l2 if norm == "l2" else result.linf
    return result.success & (size <= eps * (1 + 1e-4))


def _rate(prefix: str, k: int, n: int) -> dict:
    r = rate_row(Rate(int(k), int(n)))
    return {prefix: r["value"], f"{prefix}_ci_low": r["ci_low"], f"{prefix}_ci_high": r["ci_high"], f"{prefix}_n": n}


def clustered_columns(prefix: str, flags: np.ndarray, photographs: Sequence[str] | None = None) -> dict:
    """The share of True ``flags`` as columns ``prefix``, ``prefix_ci_low``, ``prefix_ci_high``, ``prefix_n`` and
    ``prefix_photographs``, its 95% interval counting views of one photograph as such (Wilson at the effective
    sample size, :func:`helpers.metrics.design_effect`; plain Wilson with one view per photograph).

    Args:
        prefix: the column prefix.
        flags: (N,) bool.
        photographs: (N,) each item's photograph, or None (one each).

    Returns:
        the five columns."""
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


def bypass_table(bundle: ModelBundle, runs: Sequence[AttackRun], results: dict[str, AttackResult],
                 defences: Sequence[Defence], x_clean: np.ndarray, y: np.ndarray,
                 photographs: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (attack set, defence), plus a ``clean`` row per defence (its false-positive rates on the
    reported clean images): ``success`` (fooled f within the budget, over n), ``detection_own`` /
    ``detection_matched`` (flagged, over the successful examples), ``bypass_own`` / ``bypass_matched``
    (successful and not flagged, over n), each with a 95% interval counting views of one photograph as such
    (:func:`clustered_columns`), its n and photographs; median L2 and L-inf (grey levels) of the successful
    examples; median queries of black-box attacks. ``results`` are keyed by ``run.label``; success is judged on
    f (``bundle``) against ``y``, never on an adaptive model. A defence without a matched threshold (not
    resolvable, :func:`resolvable_fit`) has no matched rates (n = 0), nor a score-only one an own rule.

    Args:
        bundle: f.
        runs: the attack sets.
        results: ``run.label`` -> its result.
        defences: the defences.
        x_clean: (N, H, W, 3) the clean images attacked, RGB 0..255.
        y: (N,) the labels attacked.
        photographs: (N,) each image's photograph (None: one each).

    Returns:
        the tidy table.

    Raises:
        TypeError, ValueError: bad images or labels (:mod:`helpers.validation`)."""
    x_clean = check_images(x_clean, "x_clean", bundle.input_size)
    y = check_labels(y, len(x_clean), bundle.n_classes)
    groups = np.arange(len(x_clean)).astype(str) if photographs is None else np.asarray(photographs, dtype=object)
    rows = []
    for d in defences:
        own, matched = _defence_flags(d, x_clean)
        row = {"label": "clean", "attack": "clean", "mode": "", "target": "", "norm": "", "eps": np.nan,
               "defence": d.name, "n": len(x_clean)}
        for rule, flags in (("own", own), ("matched", matched)):
            row |= clustered_columns(f"fpr_{rule}", flags if flags is not None else np.zeros(0, bool),
                                     groups if flags is not None else None)
        rows.append(row)
    for run in runs:
        r = results[run.label]
        labels = bundle.predict(r.x_adv)[0]
        fooled = AttackResult(r.name, r.x_adv, labels != y, y, labels, None, r.l2, r.linf, r.params, r.seconds)
        ok = within_budget(fooled, run.norm, run.eps)
        n, k = len(ok), int(ok.sum())
        sizes = {"l2_median": float(np.median(r.l2[ok])) if k else np.nan,
                 "linf_median_255": float(np.median(r.linf[ok]) * 255) if k else np.nan,
                 "queries_median": float(np.median(r.queries)) if r.queries is not None else np.nan}
        for d in defences:
            row = {"label": run.label, "attack": run.attack, "mode": run.mode, "target": run.target,
                   "norm": run.norm, "eps": run.eps, "defence": d.name, "n": n,
                   **clustered_columns("success", ok, groups)}
            for rule, flags in zip(("own", "matched"), _defence_flags(d, r.x_adv), strict=True):
                none = np.zeros(0, bool)
                row |= clustered_columns(f"detection_{rule}", none if flags is None else flags[ok],
                                         None if flags is None else groups[ok])
                row |= clustered_columns(f"bypass_{rule}", none if flags is None else ok & ~flags,
                                         None if flags is None else groups)
            rows.append(row | sizes)
    return pd.DataFrame(rows)


def _defence_flags(d: Defence, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(own, matched) flags of a defence; None for a rule it does not have (no own rule; no threshold)."""
    own, score = d.scores(x)
    return (own if d.has_own_rule else None), (score > d.threshold if d.threshold is not None else None)


def loss_trace(model: ModelBundle, x: np.ndarray, y: np.ndarray, eps: float, steps: int,
               eps_step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The attacker's loss at every step of an L-inf PGD without random start (ART's BIM update on the
    [0, 1] view: ascend the cross-entropy of ``y`` by ``eps_step`` times its gradient's sign, project
    onto the ``eps`` ball and [0, 1]).

    Args:
        model: the model attacked (f, or an adaptive model: then the consensus of f and of every view).
        x: (N, H, W, 3) RGB images in 0..255.
        y: (N,) the labels attacked.
        eps: the L-inf budget in [0, 1] units.
        steps: PGD steps.
        eps_step: the step; None: 2.5 * eps / steps.

    Returns:
        the examples (RGB 0..255) and the loss, (steps + 1, N): the log-probability of ``y`` under
        ``model`` (log softmax of its logits), which the attacker drives down.

    Raises:
        TypeError, ValueError: bad images or labels (:mod:`helpers.validation`)."""
    x = check_images(x, size=model.input_size)
    y = check_labels(y, len(x), model.n_classes)
    eps_step = 2.5 * eps / steps if eps_step is None else eps_step
    classifier = art_classifier(model)
    onehot = np.eye(model.n_classes, dtype=np.float32)[y]
    x0 = (x / 255.0).astype(np.float32)
    x01, trace = x0.copy(), []
    for step in range(steps + 1):
        z = model.logits(x01 * np.float32(255.0))
        z = z - z.max(axis=1, keepdims=True)
        trace.append((z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(len(y)), y])
        if step == steps:
            break
        grad = classifier.loss_gradient(x01, onehot)
        x01 = np.clip(x01 + np.float32(eps_step) * np.sign(grad), 0.0, 1.0)
        x01 = np.clip(x01, x0 - np.float32(eps), x0 + np.float32(eps)).astype(np.float32)
    return x01 * np.float32(255.0), np.array(trace)


def carlini_checks(table: pd.DataFrame, trace: np.ndarray, rule: str = "own") -> pd.DataFrame:
    """The sanity checks of Carlini et al. 2019 from :func:`bypass_table` and :func:`loss_trace`: one row
    per check with ``passed`` (bool) and the numbers behind it (``detail``).

    Args:
        table: :func:`bypass_table`'s rows.
        trace: (steps + 1, N) :func:`loss_trace`'s loss.
        rule: ``"own"`` or ``"matched"`` operating point for the bypass checks.

    Returns:
        (check, passed, detail) rows."""
    pgd = table[(table["attack"] == "pgd") & (table["mode"] != "")]
    rows = []
    top = pgd[pgd["eps"] == pgd["eps"].max()].drop_duplicates("label")
    full = top[top["success"] == 1.0]
    rows.append({"check": "success reaches 100% as ε grows", "passed": len(full) == len(top),
                 "detail": f"at ε = {255 * pgd['eps'].max():g}/255: " + "; ".join(
                     f"{m} vs {t or 'f'} {int(round(s * n))}/{n}" for m, t, s, n in
                     top[["mode", "target", "success", "n"]].itertuples(index=False))})
    mean = trace.mean(axis=1)
    rows.append({"check": "the adaptive loss goes down", "passed": bool(mean[-1] < mean[0]),
                 "detail": f"mean log-probability of the true label {mean[0]:.2f} → {mean[-1]:.2f} over "
                           f"{len(mean) - 1} steps, non-increasing at {int((np.diff(mean) <= 0).sum())} of "
                           f"{len(mean) - 1}"})
    adaptive = pgd[pgd["mode"].isin([BPDA, GRADCAM]) & (pgd["target"] == pgd["defence"])]
    best = adaptive.groupby(["defence", "eps"])[f"bypass_{rule}"].max()
    large = best.xs(best.index.get_level_values("eps").max(), level="eps")
    rows.append({"check": "at large ε the adaptive attack bypasses the detector", "passed": bool((large == 1).all()),
                 "detail": "; ".join(f"{d}: {100 * v:.0f}%" for d, v in large.items())})
    plain = pgd[(pgd["mode"] == NON_ADAPTIVE)].groupby(["defence", "eps"])[f"bypass_{rule}"].max()
    plain = plain.reindex(best.index)
    holds = best >= plain
    rows.append({"check": "adaptive at least as strong as the best transferred non-adaptive attack",
                 "passed": bool(holds.all()),
                 "detail": f"holds for {int(holds.sum())} of {len(holds)} (defence, ε) pairs" + "".join(
                     f"; not for {d} at {255 * e:g}/255 ({100 * best[d, e]:.0f}% vs {100 * plain[d, e]:.0f}%)"
                     for d, e in holds.index[~holds.to_numpy()])})
    return pd.DataFrame(rows)


def save_bypass_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the tidy bypass table as CSV (atomically).

    Args:
        table: :func:`bypass_table`'s rows.
        path: the CSV file.

    Returns:
        ``path`` as a Path."""
    return write_atomically(Path(path), lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))


def load_bypass_table(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`save_bypass_table` (empty text columns read back as "").

    Args:
        path: the CSV file.

    Returns:
        the table."""
    return pd.read_csv(path).fillna({c: "" for c in ("mode", "target", "norm")})


def _cells(table: pd.DataFrame, metric: str) -> list[str]:
    cols = [metric, f"{metric}_ci_low", f"{metric}_ci_high", f"{metric}_n"]
    return [rate_text(*values) for values in table[cols].to_numpy()]


def bypass_layout(table: pd.DataFrame) -> pd.DataFrame:
    """The bypass table for reading: rates as 'value [CI] (n)' in percent, sizes rounded.

    Args:
        table: :func:`bypass_table`'s rows.

    Returns:
        one row per (attack set, defence), without the clean rows."""
    sets = table[table["attack"] != "clean"]
    out = pd.DataFrame({"attack set": sets["label"], "defence": sets["defence"],
                        "success": _cells(sets, "success")})
    for metric in ("detection_own", "bypass_own", "detection_matched", "bypass_matched"):
        out[metric.replace("_", " ")] = _cells(sets, metric)
    out["L2 median"] = sets["l2_median"].round(3).to_numpy()
    out["L∞ median /255"] = sets["linf_median_255"].round(2).to_numpy()
    out["queries median"] = sets["queries_median"].to_numpy()
    return out.reset_index(drop=True)


def paper_vs_adaptive(table: pd.DataFrame, attack: str = "pgd") -> pd.DataFrame:
    """"The paper's setting vs adaptive": per defence and budget, the detection rate of the attack made
    on the undefended model (the paper's evaluation), and the bypass rate of that attack and of each
    attack adapted to the defence, at the defence's own operating point and at the matched FPR.

    Args:
        table: :func:`bypass_table`'s rows.
        attack: the attack compared.

    Returns:
        one row per (defence, budget), rates as text."""
    rows = []
    sub = table[table["attack"] == attack]
    for (defence, eps), g in sub.groupby(["defence", "eps"], sort=False, dropna=False):
        g = g[(g["mode"] == NON_ADAPTIVE) | (g["target"] == defence)]
        plain = g[g["mode"] == NON_ADAPTIVE]
        if plain.empty or len(g) == 1:
            continue
        unit = "none (minimal L2)" if np.isnan(eps) else f"{255 * eps:g}/255" if g["norm"].iloc[0] == "linf" \
            else f"{eps:g} (L2)"
        row = {"defence": defence, "attack": attack_label(attack), "ε": unit,
               "paper's setting: detection (own)": _cells(plain, "detection_own")[0],
               "paper's setting: detection (matched FPR)": _cells(plain, "detection_matched")[0]}
        for rule in ("own", "matched"):
            row |= {f"bypass ({rule}): {m}": c for m, c in zip(g["mode"], _cells(g, f"bypass_{rule}"), strict=True)}
        rows.append(row)
    return pd.DataFrame(rows)


VERSUS_RATES = ("detection_own", "detection_matched", "bypass_own", "bypass_matched")


def paper_vs_adaptive_tidy(table: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """The numbers behind :func:`paper_vs_adaptive` for ``attacks``, in long form: a row per attack set, defence
    and rate (``VERSUS_RATES``), in percent with its Wilson 95% interval and n (the tidy twin of its table).

    Args:
        table: :func:`bypass_table`'s rows (fractions).
        attacks: the attacks the table shows (e.g. ``("pgd", "pgd_l2", "cw_l2")``).

    Returns:
        Columns defence, attack, mode, target, norm, eps, metric, value, ci_low, ci_high, n, unit, interval."""
    own_target = (table["mode"] == NON_ADAPTIVE) | (table["target"] == table["defence"])
    sub = table[table["attack"].isin(attacks) & own_target]
    ids = ["defence", "attack", "mode", "target", "norm", "eps"]
    parts = [sub[ids].assign(metric=m, value=100 * sub[m], ci_low=100 * sub[f"{m}_ci_low"],
                             ci_high=100 * sub[f"{m}_ci_high"], n=sub[f"{m}_n"]) for m in VERSUS_RATES]
    return pd.concat(parts, ignore_index=True).assign(unit="%", interval="Wilson 95%")


def hold_out(images: ImageSet, n: int, seed: int = 0) -> tuple[ImageSet, ImageSet, ImageSet]:
    """The first ``n`` images (attacked and reported), and the images of *other* photographs split by
    photograph (``helpers.metrics.grouped_split``) into calibration (matched thresholds only) and test (the
    realised false-positive rate): no view of one photograph on two sides.

    Args:
        images: the loaded images.
        n: the images attacked, >= 1.
        seed: the split's seed.

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
        defences: the defences.
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
        system: the :class:`System`.
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


def evaluation_runs(bundle: ModelBundle, adaptive: dict[str, dict[str, ModelBundle]], settings: dict[str, dict],
                    eps_linf: Sequence[float], eps_l2: float, cw_confidence: float, black_box_eps: float,
                    guarded: tuple[str, object], adaptive_attacks: Sequence[str] = ADAPTIVE_ATTACKS
                    ) -> list[AttackRun]:
    """Notebook 08's attack sets. White box: PGD at each L-inf budget and PGD-L2 at ``eps_l2``, on f
    (non-adaptive) and on each adaptive model; C&W-L2 on f with confidence 0 and ``cw_confidence``. Black
    box: SquareAttack and HopSkipJump on f, and HopSkipJump on f guarded by a detector.

    Args:
        bundle: f.
        adaptive: defence name -> mode -> adaptive model (:func:`adaptive_models`).
        settings: the attacks' parameters (``ADAPTIVE_SETTINGS[...]``).
        eps_linf: PGD's L-inf budgets, [0, 1] units.
        eps_l2: PGD-L2's budget, and HopSkipJump's for success.
        cw_confidence: the high-confidence C&W's kappa.
        black_box_eps: SquareAttack's L-inf budget.
        guarded: (defence name, detector) that HopSkipJump's black box answers through.
        adaptive_attacks: which of ``ADAPTIVE_ATTACKS`` also run on the adaptive models (the per-defence
            adaptive attacks; the ensemble of :mod:`helpers.adaptive_attack` is the strong one).

    Returns:
        the :class:`AttackRun` list.

    Raises:
        ValueError: an attack in ``adaptive_attacks`` that is not in ``ADAPTIVE_ATTACKS``."""
    unknown = sorted(set(adaptive_attacks) - set(ADAPTIVE_ATTACKS))
    if unknown:
        raise ValueError(f"adaptive_attacks: unknown {unknown}; expected some of {list(ADAPTIVE_ATTACKS)}")
    runs = []
    for attack, norm, budgets in (("pgd", "linf", eps_linf), ("pgd_l2", "l2", [eps_l2])):
        for eps in budgets:
            budget = f"{255 * eps:g}/255" if norm == "linf" else f"{eps:g}"
            name = f"{attack_label(attack)} ε={budget}"
            params = pgd_params(settings[attack], eps)
            runs.append(AttackRun(name, attack, NON_ADAPTIVE, "", norm, eps, bundle, params))
            runs += [AttackRun(f"{name} {mode} vs {defence}", attack, mode, defence, norm, eps, model, params)
                     for defence, models in adaptive.items() for mode, model in models.items()
                     if attack in adaptive_attacks]
    for kappa, mode in ((0.0, NON_ADAPTIVE), (cw_confidence, HIGH_CONFIDENCE)):
        runs.append(AttackRun(f"C&W-L2 κ={kappa:g}", "cw_l2", mode, "", "l2", np.nan, bundle,
                              {**settings["cw_l2"], "confidence": kappa}))
    cw = {**settings["cw_l2"], "confidence": ADAPTIVE_CW_CONFIDENCE}
    runs += [AttackRun(f"C&W-L2 κ={ADAPTIVE_CW_CONFIDENCE:g} {mode} vs {defence}", "cw_l2", mode, defence, "l2",
                       np.nan, model, cw) for defence, models in adaptive.items() for mode, model in
             list(models.items())[:1] if "cw_l2" in adaptive_attacks]
    runs.append(AttackRun(f"Square ε={255 * black_box_eps:g}/255", "square", "black box (scores)", "", "linf",
                          black_box_eps, bundle, {**settings["square"], "eps": black_box_eps}))
    runs.append(AttackRun("HopSkipJump", "hopskipjump", "black box (labels)", "", "l2", eps_l2, bundle,
                          settings["hopskipjump"]))
    name, detector = guarded
    runs.append(AttackRun(f"HopSkipJump vs {name}", "hopskipjump", "black box (labels + rejected)", name, "l2",
                          eps_l2, bundle, settings["hopskipjump"], detector))
    return runs


def run_all(runs: Sequence[AttackRun], images: ImageSet, y: np.ndarray, cache_dir: str | Path, seed: int = 0,
            batch_size: int = 16) -> dict[str, AttackResult]:
    """Each run's adversarial set through the attack cache (keyed on the attacked model, which names the
    adaptive settings, and on the guarding detector), attacking f's labels ``y``.

    Args:
        runs: the attack sets.
        images: the attacked images.
        y: (N,) f's labels, attacked.
        cache_dir: the attack cache's folder.
        seed: the attacks' seed.
        batch_size: images per ART batch.

    Returns:
        ``run.label`` -> its result."""
    return {run.label: cached_attack(run.attack, run.model, images, cache_dir, y, seed=seed, batch_size=batch_size,
                                     detector=run.detector, **run.params) for run in runs}


MODES = {"bpda": BPDA, "gradcam": GRADCAM}  # adaptive variant -> mode label


def adaptive_models(bundle: ModelBundle, detectors: dict[str, object],
                    variants: Sequence[str] = ("bpda", "gradcam")) -> dict[str, dict[str, ModelBundle]]:
    """Defence name -> mode -> the detector-aware model (``helpers.adaptive``): each variant for a saliency
    detector (every theta and its noise), BPDA through the squeezers for Feature Squeezing; none for a
    detector without views (the 1 - max softmax baseline: its attack is a high-confidence C&W).

    Args:
        bundle: f.
        detectors: defence name -> detector.
        variants: keys of ``MODES``.

    Returns:
        defence name -> mode -> model.

    Raises:
        KeyError: an unknown variant."""
    models = {}
    for name, d in detectors.items():
        if isinstance(d, SaliencyDetector):
            models[name] = {MODES[v]: detector_aware_bundle(bundle, d, v) for v in variants}
        elif isinstance(d, FeatureSqueezingDetector):
            models[name] = {BPDA: detector_aware_bundle(bundle, d)}
    return models
