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
    x, y = _checked(bundle, adaptive, budget, x, y)
    main_budget = AttackBudget(norm, eps, budget.max_iter, step)
    sweep_budgets = [AttackBudget(norm, e, budget.max_iter, step) for e in sorted(set(eps_sweep) - {eps})]
    c = _Context(bundle, adaptive, defences, x, y, seed, batch_size, log,
                 {"n_targets": budget.n_targets, "losses": budget.losses, "score_weight": score_weight,
                  "kappa": kappa, "untargeted": budget.untargeted, "batch_size": batch_size})
    groups = None if photographs is None else np.asarray(photographs, dtype=object)
    main = c.logged(adaptive_attack(bundle, adaptive, defences, x, y, main_budget, seed=seed, **c.kw))
    outcomes = [("ensemble", main), *_variant_runs(c, main_budget)]
    checks = []
    for role, o in _check_runs(c, main, budget, main_budget):
        if o is not None:
            outcomes.append((role, o))
        checks += [check_gain(role, main, o, r) if o is not None else
                   {"check": role, "rule": r, "passed": True, "detail": "every image bypassed: nothing left to gain"}
                   for r in main.bypassed]
    sweep = [(b.eps, c.logged(adaptive_attack(bundle, adaptive, defences, x, y, b, seed=seed,
                                              label=f"adaptive APGD, eps {255 * b.eps:g}/255", **c.kw)))
             for b in sweep_budgets]
    outcomes += [("budget", o) for _, o in sweep]
    if sweep:
        by_eps = sorted([(eps, main), *sweep], key=lambda t: t[0])
        checks += [check_nondecreasing("budget", [o for _, o in by_eps], r) for r in main.bypassed]
    free = _unbounded_run(c, budget, step)
    if free is not None:
        outcomes.append(("unbounded", free))
        checks += [check_unbounded(free, r) for r in main.bypassed]
    worst = _worst_cases(outcomes, sweep, eps)
    reported, table = worst[eps], _table(worst, outcomes, groups)
    utility, robust = _utility_and_robust(c, list(main.bypassed), reported)
    return AdaptiveEvaluation(table, pd.DataFrame(checks), reported, utility, robust)


def _checked(bundle: ModelBundle, adaptive: dict[str, ModelBundle], budget: EnsembleBudget, x: np.ndarray,
             y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`evaluate_adaptive`'s images and labels, checked with its models and budget before any attack."""
    x = check_images(x, size=bundle.input_size)
    y = check_labels(y, len(x), bundle.n_classes)
    if not isinstance(adaptive, dict) or not adaptive:
        raise ValueError("adaptive must be a non-empty dict: variant name -> detector-aware model")
    if not isinstance(budget, EnsembleBudget):
        raise TypeError(f"budget must be an EnsembleBudget (e.g. EnsembleBudget.of('default')), got {budget!r}")
    return x, y


@dataclass(frozen=True)
class _Context:
    """What every attack set of one :func:`evaluate_adaptive` shares: f, the detector-aware models, the real
    detectors, the images and labels, the seed, the batch size, the log and the ensemble's keyword arguments."""

    bundle: ModelBundle
    adaptive: dict[str, ModelBundle]
    defences: Sequence[Defence]
    x: np.ndarray
    y: np.ndarray
    seed: int
    batch_size: int
    log: Callable[[str], None] | None
    kw: dict

    def logged(self, o: AttackOutcome, index: np.ndarray | None = None) -> AttackOutcome:
        """``o``, its line logged; run on the images ``index`` only, it is placed on all of them."""
        if self.log is not None:
            counts = ", ".join(f"{o.count(r)} of {len(o.bypassed[r])} ({r} rule)" for r in o.bypassed)
            self.log(f"{o.label}: {counts} bypassed, {o.seconds:.0f} s")
        return o if index is None else on_images(o, index, len(self.x))


def _variant_runs(c: _Context, main_budget: AttackBudget) -> list[tuple[str, AttackOutcome]]:
    """With several variants, each one alone at the budget."""
    if len(c.adaptive) <= 1:
        return []
    return [("variant", c.logged(adaptive_attack(c.bundle, {v: m}, c.defences, c.x, c.y, main_budget, seed=c.seed,
                                                 label=f"adaptive APGD ({v})", **c.kw)))
            for v, m in c.adaptive.items()]


def _check_runs(c: _Context, main: AttackOutcome, budget: EnsembleBudget,
                main_budget: AttackBudget) -> list[tuple[str, AttackOutcome | None]]:
    """The checks' attack sets, each on the images the ensemble ``main`` left (``None`` where it left none): more
    iterations, further random starts, the transferred attack and, under L-inf, the black box."""
    bundle, adaptive, defences, x, y, seed, kw = c.bundle, c.adaptive, c.defences, c.x, c.y, c.seed, c.kw
    norm, eps, step = main_budget.norm, main_budget.eps, main_budget.step

    def on_left(run: Callable[[np.ndarray], AttackOutcome]) -> AttackOutcome | None:
        left = np.flatnonzero(~np.logical_and.reduce(list(main.bypassed.values())))
        return c.logged(run(left), left) if len(left) else None

    longer = AttackBudget(norm, eps, budget.sweep_factor * budget.max_iter, step)
    runs = [("iterations", on_left(lambda i: adaptive_attack(
        bundle, adaptive, defences, x[i], y[i], longer, seed=seed,
        label=f"adaptive APGD, {longer.max_iter} iterations", **kw)))]
    runs += [("restart", on_left(lambda i, k=k: adaptive_attack(
        bundle, adaptive, defences, x[i], y[i], main_budget, seed=seed + k, label=f"adaptive APGD, start {k + 1}",
        **kw))) for k in range(1, budget.restarts + 1)]
    runs.append(("transferred", on_left(lambda i: transferred_attack(bundle, defences, x[i], y[i], main_budget,
                                                                    c.batch_size, seed))))
    if budget.square_queries and norm == "linf":
        runs.append(("black box", on_left(lambda i: square_attack(
            bundle, next(iter(adaptive.values())), defences, x[i], y[i], eps, budget.square_queries, c.batch_size,
            seed))))
    return runs


def _unbounded_run(c: _Context, budget: EnsembleBudget, step: float) -> AttackOutcome | None:
    """The ensemble at eps = 1 on the first ``budget.unbounded_images`` images (``None`` for none)."""
    k = min(budget.unbounded_images, len(c.x))
    if not k:
        return None
    return c.logged(adaptive_attack(c.bundle, c.adaptive, c.defences, c.x[:k], c.y[:k],
                                    AttackBudget("linf", 1.0, budget.max_iter, step), seed=c.seed,
                                    label="adaptive APGD, eps = 1", **{**c.kw, "batch_size": 1}))


def _worst_cases(outcomes: list[tuple[str, AttackOutcome]], sweep: list[tuple[float, AttackOutcome]],
                 eps: float) -> dict[float, AttackOutcome]:
    """eps -> the per-image worst case over every attack set at that eps or below, at ``eps`` and each of the
    sweep's."""
    at_eps = [o for role, o in outcomes if role not in ("budget", "unbounded")]  # every attack set at eps
    return {e: worst_case([*(at_eps if e >= eps else []), *(o for e2, o in sweep if e2 <= e)],
                          f"worst case, eps {255 * e:g}/255") for e in sorted({eps, *(e for e, _ in sweep)})}


def _table(worst: dict[float, AttackOutcome], outcomes: list[tuple[str, AttackOutcome]],
           groups: np.ndarray | None) -> pd.DataFrame:
    """The evaluation's table: the worst cases, then every attack set (:func:`evaluation_row`)."""
    rows = [("worst case", o) for o in worst.values()] + outcomes
    return pd.DataFrame([evaluation_row(role, o, None if groups is None else groups[:len(o.bypassed[next(iter(
        o.bypassed))])]) for role, o in rows])


def _utility_and_robust(c: _Context, rules: list[str],
                        reported: AttackOutcome) -> tuple[dict[str, Rate], dict[str, Rate]]:
    """Per rule, the clean utility (correct and not flagged) and the robust accuracy (and not bypassed)."""
    flagged_clean = Judge(c.bundle, c.defences, c.x, c.y).flags(c.x)
    correct = c.bundle.predict(c.x, c.batch_size)[0] == c.y
    n = len(c.x)
    utility = {r: Rate(int((correct & ~flagged_clean[r]).sum()), n) for r in rules}
    robust = {r: Rate(int((correct & ~flagged_clean[r] & ~reported.bypassed[r]).sum()), n) for r in rules}
    return utility, robust


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
