"""Every number the README's findings and the notebooks' printed findings state is a value of a committed tidy
table (``figures/*_tidy.csv``, ``data/results/*.csv``): prose formats results, it never computes new ones.

A rate with its interval ('43.8% [18, 73] (n = 16 views of 8 photographs)', or a cell '43.8 [18, 73] (16)') must
be one row of one table (value, interval and n together); an AUC with its interval likewise; any other number
must be a value of some table (fractions are also read in percent, budgets in grey levels)."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.readme import README_END, README_START

ROOT = Path(__file__).resolve().parents[1]
RATE = re.compile(r"(\d+(?:\.\d+)?)%? \[(\d+), (\d+)\] \((?:n = )?(\d+)(?: views of (\d+) photographs)?\)")
AUC = re.compile(r"(\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\]")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")
# Names and method constants that hold digits but state no result: models, squeezers, attack and norm names, the
# interval's level, the baseline's name, notebook and table numbers, the expected false positives a threshold needs.
NOT_RESULTS = re.compile(r"efficientnet_lite\d|Lite\d|bit depth \d+|median \d+×\d+|non-local means [\d-]+|"
                         r"C&W-L2|PGD-L2|\(L2\)|L∞|95%|1 − max softmax|notebooks? \d\d(?:-\d\d)?|Tables? [IVX-]+|"
                         r"under \d+ expected false positives|/255")
# The notebooks whose printed findings are checked (08's adaptive evaluation is checked by its own tests).
NOTEBOOKS = ("05_theta_sweep", "06_feature_squeezing", "07_comparison", "10_saliency_ablation")


def committed_tables() -> list[pd.DataFrame]:
    paths = [*sorted((ROOT / "figures").glob("*_tidy.csv")), *sorted((ROOT / "data" / "results").glob("*.csv"))]
    return [pd.read_csv(p) for p in paths]


def interval_rows(tables: list[pd.DataFrame]) -> list[tuple[float, float, float, float, float]]:
    """(value, ci_low, ci_high, n, n_photographs) of every row with an interval, in percent and as they are;
    a table of several rates holds each as columns ``<rate>``, ``<rate>_ci_low``, ``<rate>_ci_high``, ``<rate>_n``
    (and ``<rate>_photographs``)."""
    rows = []
    for t in tables:
        groups = [("value", "ci_low", "ci_high", "n")] if {"value", "ci_low", "ci_high", "n"} <= set(t.columns) else []
        groups += [(c[:-7], c, f"{c[:-7]}_ci_high", f"{c[:-7]}_n") for c in t.columns if c.endswith("_ci_low")]
        for value, lo, hi, n in groups:
            if not {value, lo, hi, n} <= set(t.columns):
                continue
            photos_column = "n_photographs" if value == "value" else f"{value}_photographs"
            photos = t[photos_column] if photos_column in t else pd.Series(np.nan, t.index)
            for v, low, high, k, p in zip(t[value], t[lo], t[hi], t[n], photos, strict=True):
                rows += [(s * v, s * low, s * high, k, p) for s in (1.0, 100.0)]
    return rows


def table_values(tables: list[pd.DataFrame]) -> np.ndarray:
    values = [pd.to_numeric(t[c], errors="coerce").to_numpy(float) for t in tables for c in t.columns]
    values = np.concatenate(values)
    values = values[np.isfinite(values)]
    return np.unique(np.concatenate([values, 100 * values, 255 * values]))


def _close(text: str, value: float) -> bool:
    """Whether ``value`` prints as ``text`` at ``text``'s precision."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-9


def unfound(text: str, tables: list[pd.DataFrame]) -> list[str]:
    """The numbers of ``text`` that no committed table holds."""
    intervals, values, missing = interval_rows(tables), table_values(tables), []
    for m in RATE.finditer(text):
        v, lo, hi, n, photos = m.groups()
        if not any(_close(v, r[0]) and _close(lo, r[1]) and _close(hi, r[2]) and int(n) == r[3]
                   and (photos is None or int(photos) == r[4]) for r in intervals):
            missing.append(m.group())
    text = RATE.sub(" ", text)
    for m in AUC.finditer(text):
        if not any(_close(m[1], r[0]) and _close(m[2], r[1]) and _close(m[3], r[2]) for r in intervals):
            missing.append(m.group())
    text = NOT_RESULTS.sub(" ", AUC.sub(" ", text))
    missing += [n for n in NUMBER.findall(text) if not np.any([_close(n, v) for v in values])]
    return missing


def printed_findings(notebook: str) -> str:
    """The Markdown a committed notebook's findings cell printed."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    return "\n".join("".join(o["data"]["text/markdown"]) for c in cells if c["cell_type"] == "code"
                     and "findings(" in "".join(c["source"]) for o in c.get("outputs", [])
                     if "text/markdown" in o.get("data", {}))


def test_every_number_of_the_readme_findings_is_in_a_committed_table():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(README_START) + len(README_START):text.index(README_END)]
    assert unfound(block, committed_tables()) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_number_of_a_notebooks_printed_findings_is_in_a_committed_table(notebook):
    text = printed_findings(notebook)
    assert text, f"{notebook} printed no findings"
    assert unfound(text, committed_tables()) == []


def test_the_check_finds_a_number_that_is_in_no_table():
    tables = [pd.DataFrame({"value": [0.438], "ci_low": [0.18], "ci_high": [0.73], "n": [16], "n_photographs": [8]})]
    assert unfound("FGSM 43.8% [18, 73] (n = 16 views of 8 photographs)", tables) == []
    assert unfound("FGSM 43.8% [18, 74] (n = 16 views of 8 photographs)", tables) != []  # the interval differs
    assert unfound("best of 97 configurations", tables) == ["97"]
    assert unfound("median 2×2 on efficientnet_lite0", tables) == []  # names are not results
    wide = [pd.DataFrame({"fpr_own": [0.538], "fpr_own_ci_low": [0.11], "fpr_own_ci_high": [0.92], "fpr_own_n": [26],
                          "fpr_own_photographs": [2]})]
    assert unfound("53.8% [11, 92] (n = 26 views of 2 photographs)", wide) == []
    assert unfound("53.8% [11, 92] (n = 26 views of 3 photographs)", wide) != []  # a rate's own photographs
