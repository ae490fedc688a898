import numpy as np
import pandas as pd
import pytest

from helpers.experiments import squeezing
from helpers.experiments.paper_tables import claims_check, claims_table, side_by_side, side_by_side_tidy
from helpers.paper import paper_setting, paper_tables_1_3, paper_tables_4_5
from helpers.tables import export_table


def rate(detector="saliency", noise="", theta=np.nan, squeezer="", attack="clean", metric="ospa", value=0.5,
         model="ours"):
    return {"model": model, "detector": detector, "noise": noise, "theta": theta, "squeezer": squeezer,
            "attack": attack, "metric": metric, "value": value, "ci_low": value - 0.1,
            "ci_high": min(value + 0.05, 1.0), "n": 10}


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
    claims = claims_check(ours).set_index(["claim", "model"])
    first = claims.index[0][0]
    assert claims.loc[(first, "vgg16"), ["left", "right", "verdict"]].tolist() == [94.8, 69.5, "holds"]
    assert claims.loc[(first, "ours"), ["left", "right", "verdict"]].tolist() == [90.0, 95.0, "not resolved"]
    assert claims.loc[(first, "ours"), ["left_low", "left_high", "right_low", "right_high"]].tolist() == \
        pytest.approx([80.0, 95.0, 85.0, 100.0])  # 90 [80, 95] against 95 [85, 100]: the intervals overlap
    assert claims["verdict"].iloc[5] == "not measured"  # the second claim, ours: FGSM detection not measured
    table = claims_table(claims_check(ours))
    assert list(table.columns) == ["claim", "vgg16", "resnet50", "ours"] and len(table) == 6
    assert table.iloc[0]["vgg16"] == "holds (94.8 vs 69.5)"
    assert table.iloc[0]["ours"] == "not resolved (90.0 [80, 95] vs 95.0 [85, 100])"
    assert table.iloc[1]["ours"].startswith("not measured")
    table = side_by_side(ours)
    assert list(table.columns) == [("VGG16 (paper), %", "OSPA"), ("ResNet50 (paper), %", "OSPA"),
                                   ("ours, % [95% CI] (n)", "OSPA")]
    assert table.loc[("none", 0.1)].tolist() == ["94.8", "85.2", "90.0 [80, 95] (10)"]
    tidy = side_by_side_tidy(ours).query("theta == 0.1").set_index("source")
    assert tidy.loc["paper VGG16", "value"] == 94.8 and np.isnan(tidy.loc["paper ResNet50", "n"])
    assert tidy.loc["ours", ["value", "ci_low", "ci_high", "n", "unit"]].tolist() == [90, 80, 95, 10, "%"]


def test_each_model_has_its_own_column_group_next_to_the_papers(tmp_path):
    one = pd.DataFrame([rate(noise="none", theta=0.1, value=0.9), rate(noise="none", theta=0.5, value=0.95)])
    other = one.assign(value=[0.6, 0.3], ci_low=[0.5, 0.2], ci_high=[0.7, 0.4])
    both = pd.concat([one.assign(model="lite0"), other.assign(model="lite2")], ignore_index=True)
    one, other = one.assign(model="lite0"), other.assign(model="lite2")
    table = side_by_side(both)
    assert list(table.columns.get_level_values(0)) == ["VGG16 (paper), %", "ResNet50 (paper), %",
                                                       "lite0, % [95% CI] (n)", "lite2, % [95% CI] (n)"]
    for model, alone in (("lite0", one), ("lite2", other)):  # each group: that model's rates on their own
        assert table[f"{model}, % [95% CI] (n)"].equals(side_by_side(alone)[f"{model}, % [95% CI] (n)"])
    tidy = side_by_side_tidy(both)
    assert tidy.query("source == 'ours'")["model"].tolist() == ["lite0", "lite2", "lite0", "lite2"]
    run = {"images": "4 views", "parameters": {"seed": 3}}
    twin = pd.read_csv(export_table(table, "t", tmp_path, index=True, tidy=tidy, caption="T.",
                                    metadata={"lite0": run, "lite2": run})[2])
    assert twin.query("source == 'ours'").groupby("model")["images"].first().to_dict() == {"lite0": "4 views",
                                                                                      "lite2": "4 views"}
    assert twin[twin["source"] != "ours"][["images", "seed"]].isna().all().all()  # the paper's rows: not our run
    claims = claims_table(claims_check(both))
    assert list(claims.columns) == ["claim", "vgg16", "resnet50", "lite0", "lite2"]
    assert claims.iloc[0]["lite0"] == claims_table(claims_check(one)).iloc[0]["lite0"] == \
        "not resolved (90.0 [80, 95] vs 95.0 [85, 100])"
    assert claims.iloc[0]["lite2"] == claims_table(claims_check(other)).iloc[0]["lite2"] == \
        "holds (60.0 [50, 70] vs 30.0 [20, 40])"


JOINT = ["bit_depth:5", "median:2x2", "nlm:11-3-4"]
JOINT_ID, JOINT_LABEL = "+".join(JOINT), "feature squeezing (bit depth 5, median 2×2, non-local means 11-3-4)"


def test_table_iv_side_by_side():
    assert [paper_setting(s) for s in ("bit_depth:5", "median:2x2", "nlm:11-3-4")] == ["5-bit", "2x2", "11-3-4"]
    fs = {"detector": "feature_squeezing"}
    ours = pd.DataFrame([rate(**fs, squeezer="bit_depth:1", value=0.47),
                         rate(**fs, squeezer="bit_depth:1", attack="fgsm", metric="detection_rate", value=0.7),
                         rate(**fs, squeezer=JOINT_ID, value=0.6),
                         rate(**fs, squeezer=JOINT_ID, attack="fgsm", metric="detection_rate", value=0.45)])
    side = squeezing.table_iv(ours, tuple(JOINT))["ours"]
    assert side.loc["bit depth 1", "paper OSPA"] == 13.0 and side.loc["bit depth 1", "ours FGSM"] == 70.0
    assert side.loc[JOINT_LABEL, "paper FGSM"] == 50.6 and side.loc[JOINT_LABEL, "ours OSPA"] == 60.0
    assert np.isnan(side.loc["2x2", "ours OSPA"])  # a squeezer we did not run keeps the paper's name
    both = pd.concat([ours.assign(model="a"), ours.assign(model="b", value=ours["value"] / 2)], ignore_index=True)
    grouped = squeezing.table_iv(both, tuple(JOINT))
    assert grouped.loc["bit depth 1", ("a", "ours FGSM")] == 70.0
    assert grouped.loc["bit depth 1", ("b", "ours FGSM")] == 35.0
    assert grouped.loc["bit depth 1", ("b", "paper OSPA")] == 13.0

