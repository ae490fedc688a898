"""Result tables: rates formatted with their Wilson intervals, and export as CSV and LaTeX (atomic writes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.runtime import write_atomically


def format_cell(value: float, ci_low: float, ci_high: float, n: int) -> str:
    """A rate as '87.5 [64, 97] (16)': percent, Wilson 95% interval, number of cases; '– (0)' when n = 0."""
    if pd.isna(value):
        return "– (0)"
    return f"{100 * value:.1f} [{100 * ci_low:.0f}, {100 * ci_high:.0f}] ({int(n)})"


def export_table(df: pd.DataFrame, name: str, folder: str | Path, index: bool = False,
                 float_format: str = "%.4g", formats: tuple[str, ...] = ("csv", "tex")) -> list[Path]:
    """Write ``name.csv`` and ``name.tex`` (booktabs LaTeX) into ``folder``, each atomically."""
    render = {"csv": lambda: df.to_csv(index=index, float_format=float_format),
              "tex": lambda: df.to_latex(index=index, float_format=float_format, escape=True)}
    return [write_atomically(Path(folder) / f"{name}.{ext}", lambda tmp, ext=ext: Path(tmp).write_text(render[ext]()))
            for ext in formats]
