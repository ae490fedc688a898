"""Every LaTeX table the suite writes compiles in a two-column paper without an error or an overfull box: the
committed ones here, those of the notebooks' small runs in ``tests/test_notebooks.py``. Without pdflatex (TeX Live
with booktabs) these tests skip and say so; ``.ci/run`` installs it where it is missing."""

from pathlib import Path

import pandas as pd
import pytest
from latex import PDFLATEX, latex_problems

from helpers.labels import rate_cell
from helpers.tables import to_latex

ROOT = Path(__file__).resolve().parents[1]
needs_tex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not found: install TeX Live with booktabs "
                               "(apt-get install texlive-latex-base texlive-latex-recommended) to compile tables")
COMMITTED = sorted((ROOT / "figures").glob("**/*.tex"))


@needs_tex
@pytest.mark.parametrize("table", COMMITTED, ids=[str(t.relative_to(ROOT / "figures")) for t in COMMITTED])
def test_committed_table_compiles_and_fits_the_page(table, tmp_path):
    assert latex_problems(table, tmp_path) == []


@needs_tex
def test_the_check_sees_a_table_that_runs_off_the_page_and_one_that_does_not_compile(tmp_path):
    wide = tmp_path / "wide.tex"
    wide.write_text("\\begin{table}\\caption{Wide.}\\begin{tabular}{l}" + "x" * 400 + "\\end{tabular}\\end{table}\n")
    assert latex_problems(wide, tmp_path)[0].startswith("overfull by")
    broken = tmp_path / "broken.tex"
    broken.write_text("\\begin{table}\\caption{Broken.}\\begin{tabular}{l}\\undefinedmacro\\end{tabular}\\end{table}\n")
    assert "Undefined control sequence." in latex_problems(broken, tmp_path)


@needs_tex
@pytest.mark.parametrize("columns", [2, 6, 8])
def test_a_table_of_rates_fits_a_column_or_the_page_at_any_width(columns, tmp_path):
    rows = pd.Index(["feature squeezing (bit depth 5, median 2×2, non-local means 11-3-4)",
                     "saliency (colour reversing, θ = 0.1, 0.3)", "1 − max softmax (baseline)"], name="method")
    df = pd.DataFrame({f"attack {k}": [rate_cell(0.5, 0.2, 0.8, 16 + i) for i in range(3)] for k in range(columns)},
                      index=rows)
    table = tmp_path / "t.tex"
    table.write_text(to_latex(df, index=True, caption="Rates."))
    assert latex_problems(table, tmp_path) == []
    assert ("\\begin{table*}" in table.read_text()) == (columns > 2)


def test_a_table_too_wide_for_any_page_warns(tmp_path):
    df = pd.DataFrame({f"attack {k}": [rate_cell(0.5, 0.2, 0.8, 16 + i) for i in range(3)] for k in range(20)})
    with pytest.warns(UserWarning, match="wider than a page's text"):
        to_latex(df, caption="Rates.", label="huge")


# widths pdflatex gave at \scriptsize (10 pt article; \sbox, \the\wd) for the texts of a table that overflowed a column
MEASURED_SCRIPTSIZE_PT = {"C&W-L2 κ>0": 46.66, "(n = 16)": 30.17, "100.0": 18.21, "[68, 100]": 29.42,
                          "saliency (CR, θ = 0.1)": 78.62, "median 2×2, NLM": 65.13, "FS (bit depth 5,": 56.77,
                          "OSPA": 21.19, "method": 26.28, "abcdefghij": 35.77, "0123456789": 39.86}


def test_the_width_estimate_is_within_ten_percent_of_pdflatex():
    from helpers.tables import _CHAR_PT, _text_pt
    ratios = {text: _text_pt(text, _CHAR_PT["scriptsize"]) / pt for text, pt in MEASURED_SCRIPTSIZE_PT.items()}
    assert all(0.9 <= r <= 1.12 for r in ratios.values()), ratios
    total = sum(_text_pt(t, _CHAR_PT["scriptsize"]) for t in MEASURED_SCRIPTSIZE_PT)
    assert 0.95 <= total / sum(MEASURED_SCRIPTSIZE_PT.values()) <= 1.08
