"""Result tables: rates with Wilson intervals, and export as CSV and LaTeX (atomic writes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.metrics import wilson_interval
from helpers.runtime import write_atomically


def rate_columns(successes: int, n: int, prefix: str) -> dict[str, float | int]:
    """``{prefix}``, ``{prefix}_ci_low``, ``{prefix}_ci_high`` (Wilson 95%) and ``n``: NaN when n = 0."""
    lo, hi = wilson_interval(int(successes), int(n))
    rate = successes / n if n else float("nan")
    return {prefix: rate, f"{prefix}_ci_low": lo, f"{prefix}_ci_high": hi}


def percent_with_ci(rate: float, low: float, high: float) -> str:
    """'87.5 [52.9, 97.8]' in percent, or '–' for an undefined rate."""
    if pd.isna(rate):
        return "–"
    return f"{100 * rate:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def export_table(df: pd.DataFrame, name: str, folder: str | Path, index: bool = False,
                 float_format: str = "%.4g", formats: tuple[str, ...] = ("csv", "tex")) -> list[Path]:
    """Write ``name.csv`` and ``name.tex`` (booktabs LaTeX) into ``folder``, each atomically."""
    render = {"csv": lambda: df.to_csv(index=index, float_format=float_format),
              "tex": lambda: df.to_latex(index=index, float_format=float_format, escape=True)}
    return [write_atomically(Path(folder) / f"{name}.{ext}", lambda tmp, ext=ext: Path(tmp).write_text(render[ext]()))
            for ext in formats]
