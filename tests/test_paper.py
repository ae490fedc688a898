import numpy as np
import pandas as pd

from helpers.paper import (
    claims_check,
    paper_setting,
    paper_tables_1_3,
    paper_tables_4_5,
    side_by_side,
    side_by_side_tidy,
    table_iv_side_by_side,
    table_v,
)


def rate(detector="saliency", noise="", theta=np.nan, squeezer="", attack="clean", metric="ospa", value=0.5):
    return {"detector": detector, "noise": noise, "theta": theta, "squeezer": squeezer, "attack": attack,
            "metric": metric, "value": value, "ci_low": value - 0.1, "ci_high": min(value + 0.05, 1.0), "n": 10}


def test_all_five_tables_are_transcribed():
    paper = paper_tables_1_3()
    assert len(paper) == 3 * 6 * 2 * 3
    cell = paper[(paper.noise == "zero_mean") & (paper.theta == 0.3) & (paper.model == "vgg16")
                 & (paper.metric == "fgsm")]
    assert cell["value"].item() == 82.2
    later = paper_tables_4_5()
    assert set(later["table"]) == {"IV", "V"}
    assert later.query("table == 'V' and method == 'saliency_zero_mean' and metric == 'fgsm'")["value"].item() == 82.8


def test_claims_and_side_by_side_read_only_saliency_rows():
    ours = pd.DataFrame([rate(noise="none", theta=0.1, value=0.9), rate(noise="none", theta=0.5, value=0.95),
                         rate("feature_squeezing", squeezer="median:2x2", value=0.1)])
    claims = claims_check(ours)
    assert claims.iloc[0]["vgg16"] == "yes (94.8 vs 69.5)"
    assert claims.iloc[0]["ours"] == "no (90.0 vs 95.0)"
    assert claims.iloc[1]["ours"].startswith("n/a")
    table = side_by_side(ours)
    assert table.iloc[0]["OSPA paper (VGG16 / ResNet50), %"] == "94.8 / 85.2"
    assert table.iloc[0]["OSPA ours, % [95% CI] (n)"] == "90.0 [80, 95] (10)"
    tidy = side_by_side_tidy(ours).query("theta == 0.1").set_index("source")
    assert tidy.loc["paper VGG16", "value"] == 94.8 and np.isnan(tidy.loc["paper ResNet50", "n"])
    assert tidy.loc["ours", ["value", "ci_low", "ci_high", "n", "unit"]].tolist() == [90, 80, 95, 10, "%"]


def test_table_iv_and_v_side_by_side():
    assert [paper_setting(s) for s in ("bit_depth:5", "median:2x2", "nlm:11-3-4")] == ["5-bit", "2x2", "11-3-4"]
    fs = {"detector": "feature_squeezing"}
    ours = pd.DataFrame([rate(**fs, squeezer="bit_depth:1", value=0.47),
                         rate(**fs, squeezer="bit_depth:1", attack="fgsm", metric="detection_rate", value=0.7),
                         rate(**fs, squeezer="joint", value=0.6),
                         rate(**fs, squeezer="joint", attack="fgsm", metric="detection_rate", value=0.45)])
    side = table_iv_side_by_side(ours, {"joint": ["bit_depth:5", "median:2x2", "nlm:11-3-4"]}).set_index("squeezer")
    assert side.loc["bit_depth:1", "paper OSPA"] == 13.0 and side.loc["bit_depth:1", "ours FGSM"] == 70.0
    assert side.loc["joint", "paper FGSM"] == 50.6 and side.loc["joint", "ours OSPA"] == 60.0
    assert np.isnan(side.loc["2x2", "ours OSPA"])  # a squeezer we did not run keeps the paper's name
    paper, mine = table_v(ours[ours.squeezer == "joint"].assign(squeezer="feature squeezing"), ["fgsm"])
    assert paper.loc["feature_squeezing", "cw_l2"] == 91.5
    assert mine.loc["feature squeezing"].tolist() == [60.0, 45.0]
