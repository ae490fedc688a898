import math

import numpy as np
import pandas as pd
import pytest

from helpers.attacks import AttackResult
from helpers.evaluation import attack_summary
from helpers.tables import export_table, format_cell


def result(success, l2, linf, seconds=2.0):
    n = len(success)
    return AttackResult("x", np.zeros((n, 2, 2, 3), np.float32), np.array(success), np.zeros(n, np.int32),
                        np.ones(n, np.int32), None, np.array(l2, np.float32), np.array(linf, np.float32), {}, seconds)


def test_attack_summary_uses_successful_examples_only():
    summary = attack_summary({"a": result([True, False, True, True], [1.0, 9.0, 2.0, 6.0], [0.01, 0.5, 0.02, 0.03]),
                              "none": result([False, False], [1.0, 1.0], [0.1, 0.1])})
    a, none = summary.iloc[0], summary.iloc[1]
    assert a["n"] == 4 and a["successes"] == 3 and a["success_rate"] == 0.75
    assert a["l2_mean"] == pytest.approx(3.0) and a["l2_median"] == pytest.approx(2.0)
    assert a["linf_median_255"] == pytest.approx(0.02 * 255)
    assert a["seconds_per_image"] == 0.5
    assert 0.3 < a["success_rate_ci_low"] < 0.75 < a["success_rate_ci_high"] <= 1.0
    assert none["success_rate"] == 0.0 and math.isnan(none["l2_mean"])


def test_format_cell():
    assert format_cell(0.8, 0.49016, 0.94332, 10) == "80.0 [49, 94] (10)"
    assert format_cell(float("nan"), float("nan"), float("nan"), 0) == "– (0)"


def test_export_table_writes_csv_and_latex(tmp_path):
    df = pd.DataFrame({"attack": ["fgsm", "c&w_l2"], "rate": [0.5, 1 / 3]})
    paths = export_table(df, "t", tmp_path)
    assert [p.name for p in paths] == ["t.csv", "t.tex"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), df.assign(rate=[0.5, 0.3333]))
    tex = paths[1].read_text()
    assert "\\toprule" in tex and "c\\&w\\_l2" in tex
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.tex"]
