import pandas as pd
import pytest

from helpers.tables import (
    auc_by_theta,
    export_table,
    format_auc,
    format_cell,
    method_label,
    method_layout,
    paper_layout,
    selected_theta_layout,
)


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


def rates_fixture() -> pd.DataFrame:
    """A small rate table: saliency at two thetas (one noise), a squeezer, the baseline."""
    rows = []
    for theta, ospa, det in ((0.1, 0.9, 0.2), (0.3, 0.6, 0.5)):
        key = {"detector": "saliency", "noise": "zero_mean", "theta": theta, "squeezer": ""}
        rows += [{**key, "attack": "clean", "metric": "ospa", "value": ospa, "ci_low": ospa - 0.1,
                  "ci_high": ospa + 0.05, "n": 10},
                 {**key, "attack": "fgsm", "metric": "detection_rate", "value": det, "ci_low": det - 0.1,
                  "ci_high": det + 0.1, "n": 8},
                 {**key, "attack": "fgsm", "metric": "auc", "value": 0.7, "ci_low": 0.55, "ci_high": 0.82, "n": 18}]
    fs = {"detector": "feature_squeezing", "noise": "", "theta": float("nan"), "squeezer": "median:2x2"}
    base = {"detector": "baseline", "noise": "", "theta": float("nan"), "squeezer": ""}
    rows += [{**fs, "attack": "clean", "metric": "ospa", "value": 0.8, "ci_low": 0.5, "ci_high": 0.9, "n": 10},
             {**fs, "attack": "fgsm", "metric": "tpr_at_fpr", "value": 0.25, "ci_low": 0.1, "ci_high": 0.5, "n": 4},
             {**fs, "attack": "clean", "metric": "fpr_heldout", "value": 0.0, "ci_low": 0.0, "ci_high": 0.4, "n": 5},
             {**base, "attack": "fgsm", "metric": "auc", "value": 0.9, "ci_low": 0.8, "ci_high": 0.97, "n": 18}]
    return pd.DataFrame(rows)


def test_method_labels():
    assert method_label("saliency", "color_reverse", 0.1) == "saliency + colour reversing, θ=0.1"
    assert method_label("saliency", "none", 0.3) == "saliency, θ=0.3"
    assert method_label("feature_squeezing", squeezer="joint (a, b)") == "joint (a, b)"
    assert method_label("baseline") == "1 − max softmax (baseline)"
    assert format_auc(0.9234, 0.8, 0.97) == "0.92 [0.80, 0.97]"


def test_layouts_place_each_number_once():
    rates = rates_fixture()
    table = paper_layout(rates, "zero_mean", ["fgsm", "pgd"])
    assert list(table.columns) == ["OSPA", "fgsm"] and list(table.index) == [0.1, 0.3]
    assert table.loc[0.3, "fgsm"] == "50.0 [40, 60] (8)"
    own = method_layout(rates, ["fgsm"], "own")  # the baseline has no own rule: no row
    assert list(own["method"]) == ["saliency + zero mean, θ=0.1", "saliency + zero mean, θ=0.3", "median:2x2"]
    assert own.iloc[2]["OSPA"] == "80.0 [50, 90] (10)" and own.iloc[2]["fgsm"] == "–"
    matched = method_layout(rates, ["fgsm"], "matched")
    assert matched.set_index("method").loc["median:2x2", "fgsm"] == "25.0 [10, 50] (4)"
    auc = method_layout(rates, ["fgsm"], "auc").set_index("method")
    assert auc.loc["1 − max softmax (baseline)", "fgsm"] == "0.90 [0.80, 0.97]"
    by_theta = auc_by_theta(rates, ["fgsm"])
    assert by_theta.loc[("zero_mean", 0.1), "fgsm"] == "0.70 [0.55, 0.82]"
    assert by_theta.xs("baseline", level="noise")["fgsm"].iloc[0] == "0.90 [0.80, 0.97]"
    selected = pd.DataFrame([{"noise": "none", "theta": 0.2, "attack": "clean", "metric": "ospa", "value": 0.5,
                              "ci_low": 0.2, "ci_high": 0.8, "n": 4},
                             {"noise": "none", "theta": 0.2, "attack": "fgsm", "metric": "detection_rate",
                              "value": 1.0, "ci_low": 0.5, "ci_high": 1.0, "n": 3}])
    row = selected_theta_layout(selected, ["fgsm", "pgd"]).iloc[0]
    assert row.to_dict() == {"noise": "none", "theta": 0.2, "OSPA": "50.0 [20, 80] (4)",
                             "fgsm": "100.0 [50, 100] (3)"}
    with pytest.raises(ValueError, match="unknown layout mode 'best'"):
        method_layout(rates, ["fgsm"], "best")
