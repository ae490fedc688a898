"""The adaptive evaluation (:func:`evaluate_adaptive`): the ensemble against a system of detectors, the attacks of
the checks on the images it left, the eps sweep and the unbounded budget, the per-image worst case reported at
each eps (monotone in eps by construction), and the checks at every rule, gating the result
(:attr:`AdaptiveEvaluation.valid`). docs/adaptive.md states the threat model and the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.adaptive.checks import check_gain, check_nondecreasing, check_unbounded, failed_checks, invalid_message
from helpers.adaptive.defences import Defence, clustered_columns
from helpers.adaptive.judge import AttackBudget, AttackOutcome, Judge, on_images, worst_case
from helpers.adaptive.members import (
    MARGIN_KAPPA,
    EnsembleBudget,
    adaptive_attack,
    square_attack,
    transferred_attack,
)
from helpers.metrics import Rate
from helpers.models import ModelBundle
from helpers.runtime import write_atomically
from helpers.validation import check_images, check_labels

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
        the robust accuracy and the clean utility."""
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
        table: :func:`evaluate_adaptive`'s table."""
    eps = table.loc[table["role"] == "ensemble", "eps_255"].iloc[0]
    return table[(table["role"] == "worst case") & np.isclose(table["eps_255"], eps)].iloc[0]


def evaluation_row(role: str, o: AttackOutcome, photographs: Sequence[str] | None = None) -> dict:
    """One row of :func:`evaluate_adaptive`'s table: the attack set's ``role`` (``ROLES``), budget, seconds and
    bypass per rule, with n, count, photographs and a 95% interval that counts views of one photograph as such
    (:func:`helpers.adaptive.defences.clustered_columns`).

    Args:
        photographs: (N,) each attacked image's photograph (None: one each)."""
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
            :class:`~helpers.adaptive.defences.System` for the matched rule: its one threshold).
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
        results_dir: the folder (created if missing).
        model: the model's name, in the file names.

    Returns:
        (the table's path, the checks' path)."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    table = write_atomically(folder / f"adaptive_ensemble_{model}.csv",
                             lambda tmp: evaluation.table.to_csv(tmp, index=False, float_format="%.6g"))
    checks = write_atomically(folder / f"adaptive_checks_{model}.csv",
                              lambda tmp: evaluation.checks.to_csv(tmp, index=False))
    return table, checks
