"""The checks that can fail (Carlini et al. 2019; Tramer et al. 2020), one module for the notebook and the study:
another attack (more iterations, another start, APGD-CE made on f, Square on the system) may bypass at most
``MAX_GAIN`` images the ensemble missed (:func:`check_gain`); at an unbounded budget every image is bypassed
(:func:`check_unbounded`); bypass does not decrease as eps grows (:func:`check_nondecreasing`). A failed check
replaces every rate by "evaluation invalid: ..." (:func:`invalid_message`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.adaptive.judge import AttackOutcome

# Images another attack of a check may bypass beyond the ensemble's: one may be chance, more means the ensemble
# had not converged on them
MAX_GAIN = 1


def check_gain(name: str, main: AttackOutcome, other: AttackOutcome, rule: str = "own", allowed: int = MAX_GAIN
               ) -> dict:
    """Check row ``name``: ``other`` (run on the images ``main`` left, or on all) bypasses at most ``allowed``
    images that ``main`` did not.

    Args:
        main: the ensemble's outcome (N images).
        other: the other attack's outcome, on the same N images (:func:`helpers.adaptive.judge.on_images` for a subset).
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

    Returns:
        ``{"check", "rule", "passed", "detail"}``."""
    k, n = outcome.count(rule), len(outcome.bypassed[rule])
    return {"check": "unbounded", "rule": rule, "passed": k == n,
            "detail": f"{k} of {n} bypassed at eps = {outcome.budget.eps:g}"}


def check_nondecreasing(name: str, outcomes: Sequence[AttackOutcome], rule: str = "own") -> dict:
    """Check row ``name``: bypass counts do not decrease along ``outcomes`` (ordered by a growing budget).

    Args:
        outcomes: the sweep's attack sets, in budget order.

    Returns:
        ``{"check", "rule", "passed", "detail"}``."""
    counts = [o.count(rule) for o in outcomes]
    steps = ", ".join(f"{o.budget.max_iter} it. {255 * o.budget.eps:g}/255: {c}" for o, c in
                      zip(outcomes, counts, strict=True))
    return {"check": name, "rule": rule, "passed": bool(np.all(np.diff(counts) >= 0)), "detail": steps}


def failed_checks(checks: pd.DataFrame) -> list[str]:
    """The failed checks, each named with its rule where the table has one (``"iterations (matched rule)"``).

    Args:
        checks: (check, [rule,] passed, detail) rows."""
    failed = checks[~checks["passed"].astype(bool)]
    if "rule" not in failed:
        return list(failed["check"])
    return [f"{c} ({r} rule)" for c, r in zip(failed["check"], failed["rule"], strict=True)]


def invalid_message(checks: pd.DataFrame) -> str | None:
    """"evaluation invalid: <checks>" when any check failed, else ``None``: the gate on every finding.

    Args:
        checks: (check, [rule,] passed, detail) rows."""
    failed = failed_checks(checks)
    return "evaluation invalid: " + ", ".join(failed) if failed else None
