import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pylatexenc.latexwalker import LatexEnvironmentNode, LatexMacroNode, LatexWalker, LatexWalkerError

from helpers.experiments import attack_success
from helpers.experiments.attack_success import attack_tidy
from helpers.experiments.theta_sweep import selected_theta_layout
from helpers.labels import rate_cell
from helpers.scores import rule_rows
from helpers.tables import (
    auc_by_theta,
    display_name,
    export_table,
    folder_names,
    format_tidy,
    latex_text,
    method_layout,
    method_tidy,
    paper_layout,
    paper_reference,
    paper_tidy,
    rate_header,
    to_latex,
)

ROOT = Path(__file__).resolve().parents[1]
RUN = {"model": "tiny_model", "images": "4 views of 1 photograph", "parameters": {"seed": 7}}
METADATA = {"tiny_model": RUN}  # model -> its run's metadata


def latex_problems(tex: str) -> list[str]:
    """Non-ASCII characters and unbalanced braces (escaped \\{ and \\} do not count) of a LaTeX text."""
    problems = [f"non-ASCII {c!r}" for c in sorted(set(tex)) if ord(c) > 127]
    depth = 0
    for c in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            problems.append("a '}' closes nothing")
            break
    return problems + (["unclosed '{'"] if depth > 0 else [])


def test_format_tidy():
    rate = {"value": 80.0, "ci_low": 49.016, "ci_high": 94.332, "n": 10, "unit": "%"}
    assert format_tidy(pd.Series(rate)) == "80.0 [49, 94] (10)"
    assert format_tidy(pd.Series({**rate, "value": np.nan, "n": 0})) == "– (0)"
    assert format_tidy(pd.Series({**rate, "note": "not resolvable at n = 4"})) == "not resolvable at n = 4"
    assert format_tidy(pd.Series({**rate, "value": 0.9234, "ci_low": 0.8, "ci_high": 0.97, "unit": "AUC (0-1)"})) \
        == "0.92 [0.80, 0.97]"


def test_export_table_writes_csv_latex_and_a_tidy_twin(tmp_path):
    df = pd.DataFrame({"attack": ["fgsm", "c&w_l2"], "rate": [0.5, 1 / 3]})
    paths = export_table(df, "t", tmp_path, caption="Two rates.")
    assert [p.name for p in paths] == ["t.csv", "t.tex", "t_tidy.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), df.assign(rate=[0.5, 0.3333]))
    tex = paths[1].read_text()
    assert "\\toprule" in tex and "c\\&w\\_l2" in tex and tex.startswith("% requires \\usepackage{booktabs}")
    twin = pd.read_csv(paths[2])  # without a tidy table, each numeric column is melted into value
    assert twin[["attack", "metric"]].values.tolist() == [["fgsm", "rate"], ["c&w_l2", "rate"]]
    assert twin["value"].tolist() == [0.5, pytest.approx(1 / 3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.tex", "t_tidy.csv"]


def test_exported_table_states_units_method_and_run(tmp_path):
    rates = rates_fixture()
    table = paper_layout(rates, "zero_mean", ["fgsm"])
    paths = export_table(table, "t1", tmp_path, index=True, tidy=paper_tidy(rates, "zero_mean", ["fgsm"]),
                         caption="Rates by θ.", metadata=METADATA, header=rate_header(table.columns))
    csv, tex, twin = (p.read_text() for p in paths)
    assert csv.splitlines()[:3] == ["model,tiny_model,tiny_model", ",\"OSPA, % [95% CI] (n)\",\"FGSM, % [95% CI] (n)\"",
                                    "theta,,"]
    assert "Rates by $\\theta$." in tex and "Model: tiny\\_model; images: 4 views of 1 photograph; seed: 7." in tex
    assert "$\\theta$" in tex and latex_problems(tex) == []
    tidy = pd.read_csv(paths[2])
    assert {"value", "ci_low", "ci_high", "n", "unit", "interval", "theta", "attack", "model", "seed"} <= set(tidy)
    fgsm = tidy[(tidy["attack"] == "fgsm") & (tidy["theta"] == 0.3)].iloc[0]
    assert (fgsm["value"], fgsm["ci_low"], fgsm["ci_high"], fgsm["n"], fgsm["unit"]) == (50, 40, 60, 8, "%")
    assert fgsm["interval"] == "Wilson 95%" and fgsm["model"] == "tiny_model" and fgsm["seed"] == 7


def test_latex_text_is_ascii():
    assert latex_text("θ=0.1, 1 − max softmax, L∞ – ≠ 50%") == \
        "$\\theta$=0.1, 1 $-$ max softmax, L$\\infty$ -- $\\neq$ 50\\%"
    assert latex_text("café {x}_1") == "cafe \\{x\\}\\_1"
    with pytest.raises(ValueError, match="no ASCII LaTeX form"):
        latex_text("日本")
    assert latex_problems("a { b } \\{") == [] and latex_problems("θ {") == ["non-ASCII 'θ'", "unclosed '{'"]


def test_committed_latex_tables_are_ascii_with_balanced_braces():
    texs = sorted((ROOT / "figures").glob("**/*.tex"))
    assert texs
    for tex in texs:
        assert latex_problems(tex.read_text()) == [], tex.name
        assert tex.read_text().startswith("% requires \\usepackage{booktabs}"), tex.name
        assert (tex.parent / f"{tex.stem}_tidy.csv").exists(), f"{tex.stem} has no tidy twin"


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
    return pd.DataFrame(rows).assign(model="tiny_model")


def configurations_layout(rates: pd.DataFrame, attacks: list[str], mode: str) -> pd.DataFrame:
    """A table of configurations as the experiments build it: the rule rows, their tidy numbers, the layout."""
    return method_layout(method_tidy(rule_rows(rates, attacks, mode)), attacks, mode)


def test_layouts_place_each_number_once():
    rates = rates_fixture()
    table = paper_layout(rates, "zero_mean", ["fgsm", "pgd"])
    assert list(table.columns) == [("tiny_model", "OSPA"), ("tiny_model", "fgsm")] and list(table.index) == [0.1, 0.3]
    assert table.loc[0.3, ("tiny_model", "fgsm")] == "50.0 [40, 60] (8)"
    own = configurations_layout(rates, ["fgsm"], "own")["tiny_model"]  # the baseline has no own rule: no row
    assert list(own.index) == ["saliency (zero mean, θ = 0.1)", "saliency (zero mean, θ = 0.3)", "median 2×2"]
    assert own.iloc[2]["OSPA"] == "80.0 [50, 90] (10)" and own.iloc[2]["fgsm"] == "–"
    matched = configurations_layout(rates, ["fgsm"], "matched")["tiny_model"]
    assert matched.loc["median 2×2", "fgsm"] == "25.0 [10, 50] (4)"
    auc = configurations_layout(rates, ["fgsm"], "auc")["tiny_model"]
    assert auc.loc["1 − max softmax (baseline)", "fgsm"] == "0.90 [0.80, 0.97]"
    by_theta = auc_by_theta(rates, ["fgsm"])["tiny_model"]
    assert by_theta.loc[("zero_mean", 0.1), "fgsm"] == "0.70 [0.55, 0.82]"
    assert by_theta.xs("baseline", level="noise")["fgsm"].iloc[0] == "0.90 [0.80, 0.97]"
    selected = pd.DataFrame([{"noise": "none", "theta": 0.2, "attack": "clean", "metric": "ospa", "value": 0.5,
                              "ci_low": 0.2, "ci_high": 0.8, "n": 4},
                             {"noise": "none", "theta": 0.2, "attack": "fgsm", "metric": "detection_rate",
                              "value": 1.0, "ci_low": 0.5, "ci_high": 1.0, "n": 3}]).assign(model="m")
    layout = selected_theta_layout(selected, ["fgsm", "pgd"])
    assert layout.index.tolist() == ["none"]
    assert layout["m"].iloc[0].to_dict() == {"theta": 0.2, "OSPA": "50.0 [20, 80] (4)", "fgsm": "100.0 [50, 100] (3)"}
    with pytest.raises(ValueError, match="unknown rule mode 'best'"):
        rule_rows(rates, ["fgsm"], "best")
    with pytest.raises(ValueError, match="unknown layout mode 'best'"):
        method_layout(method_tidy(rates), ["fgsm"], "best")


def test_tables_are_formatted_from_their_tidy_numbers():
    rates = rates_fixture()
    tidy = method_tidy(rule_rows(rates, ["fgsm"], "auc"))
    base = tidy[tidy["detector"] == "baseline"].iloc[0]
    assert (base["value"], base["unit"], base["interval"]) == (0.9, "AUC (0-1)", "bootstrap 95%")
    own = method_tidy(rule_rows(rates, ["fgsm"], "own"))
    assert set(own["detector"]) == {"saliency", "feature_squeezing"}  # the baseline has no own rule
    assert own[own["metric"] == "ospa"]["value"].tolist() == [90, 60, 80]  # percent


def test_attack_table_in_percent_and_grey_levels():
    summary = pd.DataFrame([{"attack": "cw_l2", "n": 16, "successes": 12, "success_rate": 0.75,
                             "success_rate_ci_low": 0.5, "success_rate_ci_high": 0.9, "l2_mean": 0.2,
                             "l2_median": 0.1, "linf_mean": 2 / 255, "linf_median_255": 1.5}])
    tidy = attack_tidy(summary, "m").set_index("metric")
    assert tidy.loc["success_rate", ["value", "n", "unit", "model"]].tolist() == [75, 16, "%", "m"]
    assert tidy.loc["l2_mean", ["value", "n", "unit"]].tolist() == [pytest.approx(51), 12, "grey levels of 255"]
    row = attack_success.attack_table(SimpleNamespace(tidy=attack_tidy(summary, "m"))).iloc[0]
    assert row["attack"] == "C&W-L2" and row["success, % [95% CI] (n)"] == "75.0 [50, 90] (16)"
    assert row["L2 mean (/255)"] == 51.0 and row["L∞ mean (/255)"] == 2.0 and row["L∞ median (/255)"] == 1.5
    assert np.isclose(row["L2 median (/255)"], 25.5)


def test_each_model_is_a_column_group_equal_to_its_own_layout(tmp_path):
    one = rates_fixture()
    other = one.assign(value=one["value"] / 2)
    both = pd.concat([one.assign(model="lite0"), other.assign(model="lite2")], ignore_index=True)
    table = paper_layout(both, "zero_mean", ["fgsm"])
    assert list(table.columns) == [("lite0", "OSPA"), ("lite0", "fgsm"), ("lite2", "OSPA"), ("lite2", "fgsm")]
    for model, alone in (("lite0", one), ("lite2", other)):  # never pooled: a model's group is its own layout
        pd.testing.assert_frame_equal(table[model], paper_layout(alone.assign(model=model), "zero_mean",
                                                                 ["fgsm"])[model])
    own = configurations_layout(both, ["fgsm"], "own")
    alone = configurations_layout(other.assign(model="lite2"), ["fgsm"], "own")
    pd.testing.assert_frame_equal(own["lite2"], alone["lite2"])
    auc = auc_by_theta(both, ["fgsm"])
    assert auc.loc[("zero_mean", 0.1), ("lite2", "fgsm")] == "0.35 [0.55, 0.82]"  # halved value, same interval
    assert rate_header(table.columns) == {"OSPA": "OSPA, % [95% CI] (n)", "fgsm": "FGSM, % [95% CI] (n)"}
    tidy = paper_tidy(both, "zero_mean", ["fgsm"])
    metadata = {"lite0": RUN, "lite2": {**RUN, "images": "8 views of 2 photographs"}}
    paths = export_table(table, "t", tmp_path, index=True, tidy=tidy, header=rate_header(table.columns),
                         metadata=metadata, caption="Table I.")
    tex = paths[1].read_text()
    body = tex[tex.index("\n\\midrule\n"):tex.index("\n\\bottomrule")].splitlines()[2:]
    assert body[0] == "\\multicolumn{3}{l}{\\textit{lite0}} \\\\"
    assert "\\multicolumn{3}{l}{\\textit{lite2}} \\\\" in body
    assert "Model: lite0, lite2; images: lite0: 4 views of 1 photograph; lite2: 8 views of 2 photographs" in tex
    assert latex_problems(tex) == [] and latex_structure(tex) == []
    assert pd.read_csv(paths[0], header=[0, 1], index_col=0).shape == (2, 4)
    twin = pd.read_csv(paths[2])  # the tidy twin keeps each row's model, and its run's images
    assert twin.groupby("model").size().to_dict() == {"lite0": 4, "lite2": 4}
    assert twin.query("model == 'lite2' and metric == 'ospa' and theta == 0.3")["value"].item() == 30
    assert twin.groupby("model")["images"].first().to_dict() == {m: v["images"] for m, v in metadata.items()}


def test_metadata_needs_the_models_of_the_twin():
    rates = rates_fixture()
    table = paper_layout(rates, "zero_mean", ["fgsm"])
    with pytest.raises(ValueError, match=r"no metadata for any of its models \['tiny_model'\]"):
        export_table(table, "t", "unused", index=True, tidy=paper_tidy(rates, "zero_mean", ["fgsm"]),
                     caption="T.", metadata={"other": RUN})
    with pytest.raises(ValueError, match="no 'model' column"):
        export_table(table, "t", "unused", index=True, tidy=paper_tidy(rates, "zero_mean", ["fgsm"]).drop(
            columns="model"), caption="T.", metadata=METADATA)
    with pytest.raises(ValueError, match="no rates"):
        paper_layout(rates.iloc[:0], "zero_mean", ["fgsm"])


def latex_structure(tex: str) -> list[str]:
    """What a LaTeX parser (pylatexenc, strict) finds wrong with an exported table: unbalanced
    environments or braces, not exactly one table (or table*) / caption / label, no tabular, a rule other than
    booktabs', or rules out of the order toprule, (cmidrule), midrule, ..., bottomrule."""
    try:
        nodes, _, _ = LatexWalker(tex, tolerant_parsing=False).get_latex_nodes()
    except LatexWalkerError as exc:
        return [f"does not parse: {exc}"]
    environments, macros = [], []

    def walk(node_list):
        for node in node_list or []:
            if node.isNodeType(LatexEnvironmentNode):
                environments.append(node.environmentname)
            if node.isNodeType(LatexMacroNode):
                macros.append(node.macroname)
            for child in ("nodelist", "nodeargs"):
                walk([n for n in getattr(node, child, None) or [] if n is not None])
            if node.isNodeType(LatexMacroNode) and node.nodeargd is not None:
                walk([n for n in node.nodeargd.argnlist if n is not None])

    walk(nodes)
    floats = environments.count("table") + environments.count("table*")
    problems = [f"{floats} table floats"] if floats != 1 else []
    problems += ["no tabular"] if "tabular" not in environments else []  # a cell's lines are a nested tabular
    problems += [f"\\{m} appears {macros.count(m)} times" for m in ("caption", "label", "toprule", "bottomrule")
                 if macros.count(m) != 1]
    problems += [f"non-booktabs rule \\{m}" for m in ("cline", "hline") if m in macros]
    rules = [m for m in macros if m in ("toprule", "midrule", "cmidrule", "bottomrule")]
    if not rules or rules[0] != "toprule" or rules[-1] != "bottomrule" or "midrule" not in rules:
        problems.append(f"rules out of order: {rules}")
    elif "cmidrule" in rules and rules.index("cmidrule") > rules.index("midrule"):
        problems.append("a \\cmidrule below the header")
    return problems


def test_latex_structure_check_finds_what_is_wrong():
    good = to_latex(pd.DataFrame({"a": [1.5]}), caption="A.")
    assert latex_structure(good) == []
    assert "does not parse" in latex_structure(good.replace("\\end{tabular}", ""))[0]
    assert latex_structure(good.replace("\n\\midrule\n", "\n\\midrule\n\\cline{1-1}\n")) == \
        ["non-booktabs rule \\cline"]
    assert latex_structure(good.replace("\n\\midrule\n", "\n")) == ["rules out of order: ['toprule', 'bottomrule']"]
    assert latex_structure(good.replace("\\caption{A.}", "")) == ["\\caption appears 0 times"]


def test_committed_latex_tables_parse_as_booktabs_tables():
    texs = sorted((ROOT / "figures").glob("**/*.tex"))
    assert texs
    for tex in texs:
        text = tex.read_text()
        assert latex_structure(text) == [], tex.name
        caption = re.search(r"\\caption\{(.*)\}", text).group(1)
        assert not re.match(r"Tables? [IVX]", caption), f"{tex.name}: a hand-numbered caption"
        assert not re.search(r"(^|\s)(/|~/|\.\./)\S", caption), f"{tex.name}: a path in the caption"
        assert not re.search(r"bit\\_depth|color\\_reverse|zero\\_mean|nlm:", text), f"{tex.name}: an identifier"


def test_latex_table_groups_headers_shows_names_and_keeps_paths_out():
    columns = pd.MultiIndex.from_tuples([("efficientnet_lite0", "OSPA"), ("efficientnet_lite0", "fgsm"),
                                         ("other", "OSPA")], names=["source", None])
    index = pd.MultiIndex.from_tuples([("color_reverse", 0.1), ("color_reverse", 0.3), ("zero_mean", 0.1)],
                                      names=["noise", "theta"])
    df = pd.DataFrame([["90.0 [60, 98] (8)", "1", "2"]] * 3, index=index, columns=columns)
    tex = to_latex(df, index=True, caption="Table II: saliency map & colour reversing. Model: efficientnet_lite0; "
                   "images: 8 images from /home/me/images/; seed: 0.", label="t 2")
    assert latex_structure(tex) == []
    lines = tex.splitlines()
    header = lines[lines.index("\\toprule") + 1:lines.index("\\midrule")]
    assert header == ["source &  & \\multicolumn{2}{c}{EfficientNet-Lite0} & other \\\\",
                      "\\cmidrule(lr){3-4} \\cmidrule(lr){5-5}", "noise & $\\theta$ & OSPA & FGSM & OSPA \\\\"]
    body = lines[lines.index("\\midrule") + 1:lines.index("\\bottomrule")]
    assert body[0].startswith("colour reversing & 0.1 &") and body[1].startswith(" & 0.3 &")  # written once
    assert body[2] == "\\addlinespace" and body[3].startswith("zero mean & 0.1 &")
    assert "\\caption{Saliency map \\& colour reversing (the paper's Table II). Model: EfficientNet-Lite0; " \
        "images: 8 images from images; seed: 0.}" in tex
    assert "\\label{tab:t-2}" in tex
    with pytest.raises(ValueError, match="needs a caption"):
        to_latex(df, caption=" ")


def test_display_names_paths_and_paper_references():
    assert [display_name(s) for s in ("fgsm", "none", "theta", "joint (bit_depth:5, median:2x2, nlm:11-3-4)",
                                      "efficientnet_lite2 on vgg16")] \
        == ["FGSM", "no noise", "θ", "joint (bit depth 5, median 2×2, non-local means 11-3-4)",
            "EfficientNet-Lite2 on vgg16"]
    assert display_name("saliency + color_reverse") == "saliency + colour reversing"
    assert folder_names("16 images from /data/imagenet/val; eps 2/255; ../shared/sample-200/ and C:\\x\\pics") == \
        "16 images from val; eps 2/255; sample-200 and pics"
    assert paper_reference("Tables I-III: ours. More.") == "Ours (the paper's Tables I-III). More."
    assert paper_reference("Table IV: each squeezer") == "Each squeezer (the paper's Table IV)."
    assert paper_reference("The paper's Table II next to ours.") == "The paper's Table II next to ours."


def rates(*ns):
    return [rate_cell(0.5, 0.2, 0.8, n) for n in ns]


def test_latex_rates_are_value_over_interval_with_a_constant_n_in_the_caption(tmp_path):
    df = pd.DataFrame({"a, % [95% CI] (n)": rates(4, 4), "b": rates(4, 4)})
    tex = to_latex(df, caption="Rates.")
    assert "\\caption{Rates. n = 4 in every rate.}" in tex
    assert "\\begin{tabular}[t]{@{}r@{}}50.0 \\\\ {\\scriptsize [20, 80]}\\end{tabular}" in tex
    assert "(4)" not in tex and "a & b \\\\" in tex  # the header's rate format is the caption's
    paths = export_table(df, "t", tmp_path, caption="Rates.")
    assert pd.read_csv(paths[0])["a, % [95% CI] (n)"].tolist() == ["50.0 [20, 80] (4)"] * 2  # the CSV keeps n
    with pytest.raises(ValueError, match="'u': a LaTeX table needs a caption"):
        export_table(df, "u", tmp_path)
    assert not (tmp_path / "u.csv").exists()  # refused before anything is written


def test_latex_n_goes_into_a_header_where_constant_per_column_else_into_each_cell():
    tex = to_latex(pd.DataFrame({"a": rates(4, 4), "c": rates(5, 6)}), caption="Rates.")
    assert "(n = 4)" in tex and "[20, 80] (5)" in tex and "[20, 80] (6)" in tex and "[20, 80] (4)" not in tex
    assert "in every rate" not in tex


def test_latex_places_a_narrow_table_in_a_column_and_a_wide_one_across_the_page():
    narrow = to_latex(pd.DataFrame({"a": rates(4), "b": rates(4)}), caption="Rates.")
    wide = to_latex(pd.DataFrame({f"attack {k}": rates(4) for k in range(12)}), caption="Rates.")
    assert "\\begin{table}\n" in narrow and "\\begin{table*}\n" in wide and "\\end{table*}" in wide


def test_latex_stacks_models_as_row_groups_and_abbreviates_long_labels_with_a_key():
    one = pd.DataFrame({"OSPA": rates(4, 4)}, index=pd.Index(["feature squeezing (non-local means 11-3-4)",
                                                              "saliency (colour reversing, θ = 0.1)"], name="method"))
    df = pd.concat({"efficientnet_lite0": one, "efficientnet_lite2": one}, axis=1, names=["model", None])
    tex = to_latex(df, index=True, caption="Rates.")
    assert tex.count("EfficientNet-Lite0") == 1 and tex.count("EfficientNet-Lite2") == 1  # a row group each
    assert "\\multicolumn{2}{l}{\\textit{EfficientNet-Lite2}} \\\\" in tex  # a row group, not a column group
    assert "FS (NLM 11-3-4)" in tex and "saliency (CR, $\\theta$~=~0.1)" in tex
    assert "CR: colour reversing" in tex and "FS: feature squeezing; NLM: non-local means" in tex
    single = to_latex(pd.concat({"efficientnet_lite0": one}, axis=1, names=["model", None]), index=True,
                      caption="Rates.")
    assert "EfficientNet-Lite0" not in single  # one model: the caption's run sentence names it


def test_a_printed_table_shows_display_names_and_keeps_numbers_and_rate_cells():
    from helpers.tables import for_reading
    cell = rate_cell(0.5, 0.2, 0.8, 4)
    df = pd.DataFrame({("efficientnet_lite0", "fgsm"): [cell], ("efficientnet_lite0", "theta"): [0.1],
                       ("efficientnet_lite0", "noise"): ["color_reverse"]},
                      index=pd.Index(["zero_mean"], name="noise"))
    shown = for_reading(df)
    assert shown.columns.tolist() == [("EfficientNet-Lite0", "FGSM"), ("EfficientNet-Lite0", "θ"),
                                      ("EfficientNet-Lite0", "noise")]
    assert shown.index.tolist() == ["zero mean"] and shown.index.name == "noise"
    assert shown.iloc[0].tolist() == [cell, 0.1, "colour reversing"]
