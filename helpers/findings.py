"""The notebooks' result paragraphs, written from the results: a re-run on another model or data
set rewrites them, so no sentence can go stale. Each function returns Markdown for
``IPython.display.Markdown``; the notebooks' fixed text explains the method only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from helpers.labels import rate_text


def said(row: pd.Series | None) -> str:
    """A rate-table row in prose.

    Args:
        row: a :func:`helpers.scores.rate_table` row (fractions), or None.

    Returns:
        :func:`helpers.labels.rate_text`'s sentence form, e.g. '31.2% [18, 49] (n = 32)'; 'not measured' for no
        row."""
    if row is None:
        return "not measured"
    return rate_text(row["value"], row["ci_low"], row["ci_high"], row["n"], prose=True,
                     n_photographs=row.get("n_photographs"), note=row.get("note") or "")


def find_rate(rates: pd.DataFrame, metric: str, attack: str, **method) -> pd.Series | None:
    """The first rate-table row of ``metric`` on ``attack`` and the configuration columns ``method``.

    Args:
        rates: a :func:`helpers.scores.rate_table`.
        metric: the row's ``metric``.
        attack: the row's ``attack`` ('clean' for OSPA).
        method: column -> value (``theta`` compared with a tolerance).

    Returns:
        the row, or None."""
    hit = rates[(rates["metric"] == metric) & (rates["attack"] == attack)]
    for key, value in method.items():
        hit = hit[np.isclose(hit[key], value)] if key == "theta" else hit[hit[key] == value]
    return hit.iloc[0] if len(hit) else None


def direction(lo: float, hi: float, up: str = "rises", down: str = "falls") -> str:
    """The verb of a change from ``lo`` to ``hi``.

    Args:
        up, down: the verbs for a rise and a fall.

    Returns:
        ``up``, ``down`` or 'stays'."""
    return up if hi > lo else down if hi < lo else "stays"


def verb(count: int, singular: str, plural: str) -> str:
    """The verb agreeing with a count: 1 holds, 0 or 2 hold.

    Returns:
        ``singular`` for 1, else ``plural``."""
    return singular if count == 1 else plural


def each_model(models: Sequence[str], write: Callable[[str], str]) -> str:
    """``write(model)`` for each model; with several models each statement ('- ...') starts with its model's
    name.

    Args:
        write: a model -> its Markdown statements."""
    texts = {model: write(model) for model in models}
    if len(texts) == 1:
        return next(iter(texts.values()))
    return "\n".join(re.sub(r"^- ", f"- **{model}:** ", text, flags=re.MULTILINE) for model, text in texts.items())


def rate_prose(row: pd.Series, metric: str) -> str:
    """A rate column of a table ('bypass_own', ...: the value, ``_ci_low``, ``_ci_high``, ``_n`` and, where the table
    has it, ``_photographs``) in prose: '75.0% [30, 95] (n = 4)'."""
    photographs = row.get(f"{metric}_photographs")
    return rate_text(row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"], row[f"{metric}_n"], prose=True,
                     n_photographs=None if photographs is None or pd.isna(photographs) else photographs)




