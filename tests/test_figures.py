"""Each figure, built from small synthetic inputs and saved, is a journal width (3.5 or 7.16 in) and
has no visible text below 7 pt; the committed figures have journal widths too."""

import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend
from PIL import Image

from helpers import figures, plotting
from helpers.experiments import attack_success, comparison, theta_sweep
from helpers.experiments.ablation import saliency_methods_figure
from helpers.experiments.emphasis_image import emphasis_figure
from helpers.experiments.gradcam_saliency import saliency_pairs_figure
from helpers.experiments.noise_preprocessing import noise_figure
from helpers.figures import panel_title
from helpers.plotting import (
    DOUBLE_COLUMN,
    FIGURE_WIDTHS,
    MAX_PNG_BYTES,
    MIN_FONT_PT,
    SINGLE_COLUMN,
    figure,
    save_figure,
    smallest_font,
    use_style,
    visible_texts,
)

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)
N, SIZE = 3, 16


def fake_bundle():
    names = ["tiger cat, Felis", "espresso", "a very long class name indeed, x", "tabby"]
    return SimpleNamespace(class_names=names, predict=lambda x: (np.ones(len(x), int), np.full(len(x), 0.5)))


def images(n=N):
    return RNG.uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


def score_table(attacks=("fgsm", "pgd")):
    """A score table: saliency (two noises, thetas 0 and 0.3), a squeezer and the baseline on ``attacks``."""
    rows = []
    configs = [{"detector": "saliency", "noise": noise, "theta": t, "squeezer": ""}
               for noise in ("none", "zero_mean") for t in (0.0, 0.3)]
    configs += [{"detector": "feature_squeezing", "noise": "", "theta": np.nan,
                 "squeezer": "bit_depth:5+median:2x2+nlm:11-3-4"},
                {"detector": "baseline", "noise": "", "theta": np.nan, "squeezer": ""}]
    for method in configs:
        for attack, shift, n in (("clean", 0.0, 8), *((a, 0.5 - k % 2, 6 - k % 2) for k, a in enumerate(attacks))):
            score = RNG.normal(shift, 1.0, n)
            rows += [{**method, "model": "m", "image": i, "image_id": f"img{i}", "photograph": f"img{i}",
                      "true_label": 0, "attack": attack, "label": 0, "transformed_label": 0, "score": s,
                      "flag": (s > 0.3) if method["detector"] != "baseline" else pd.NA} for i, s in enumerate(score)]
    return pd.DataFrame(rows).astype({"theta": "float64", "flag": "boolean"})


def result(name, scale, x):
    delta = RNG.uniform(-scale, scale, x.shape).astype(np.float32)
    return SimpleNamespace(name=name, x_adv=x + delta, success=np.array([True, False]), adv_labels=np.array([2, 0]),
                           l2=np.array([0.5, 0.4]), linf=np.abs(delta).reshape(2, -1).max(1) / 255)


def roc_comparison(scores: pd.DataFrame, attacks: list[str]) -> dict[str, plt.Figure]:
    """Notebook 07's ROC figures of a score table, drawn from its facts."""
    result = comparison_result(scores, attacks)
    return comparison.figures(result, comparison.facts(result))["figure_roc_comparison"]


def comparison_result(scores: pd.DataFrame, attacks: list[str]) -> comparison.Result:
    params = {"attacks": attacks, "theta": 0.3, "joint": ["bit_depth:5", "median:2x2", "nlm:11-3-4"],
              "colormap": "jet", "overlay_order": "coarse", "zero_mean_reference": "imagenet", "channel_order": "rgb",
              "fpr": 0.05, "seed": 0, "batch_size": 16}
    return comparison.from_scores(scores, {m: {} for m in dict.fromkeys(scores["model"])}, params)


def sweep_figures(scores: pd.DataFrame, attacks: list[str]) -> dict[str, dict[str, plt.Figure]]:
    """Notebook 05's figures of a score table (its saliency and baseline rows), drawn from its facts."""
    params = {"attacks": attacks, "thetas": [0.0, 0.3], "noises": ["none", "zero_mean"], "colormap": "jet",
              "overlay_order": "coarse", "zero_mean_reference": "imagenet", "roc_thetas": [0.3], "fpr": 0.05,
              "seed": 0, "batch_size": 16}
    sweep = scores[scores["detector"] != "feature_squeezing"]
    result = theta_sweep.from_scores(sweep, {m: {} for m in dict.fromkeys(sweep["model"])}, params)
    return theta_sweep.figures(result, theta_sweep.facts(result))


def builders():
    bundle, x, maps = fake_bundle(), images(), RNG.uniform(0, 1, (N, SIZE, SIZE))
    pred = (np.array([0, 1, 2]), np.array([0.9, 0.8, 0.7]))
    other = (np.array([0, 3, 2]), np.array([0.4, 0.3, 0.2]))
    ids = [f"dir/image_{i}" for i in range(N)]
    thetas = [0.1, 0.3, 0.5]
    scores = score_table()
    sweep = pd.DataFrame([{"attack": a, "eps_255": e, "n": 16, "success_rate": r, "success_rate_ci_low": r / 2,
                           "success_rate_ci_high": min(1, r + 0.2)} for a in ("fgsm", "pgd")
                          for e, r in ((1, 0.2), (2, 0.5), (4, 1.0))])
    x2 = images(2)
    results = {name: result(name, s, x2) for name, s in (("fgsm", 2), ("pgd", 2), ("cw_l2", 0.5), ("deepfool", 4))}
    return {
        "figure1": lambda: saliency_pairs_figure(bundle, x, x, maps, maps, pred, other, ids, maps, other, x),
        "figure2": lambda: emphasis_figure(bundle, x, maps, RNG.uniform(0, 1, (N, SIZE, SIZE, 3)),
                                                   np.stack([x] * 3), thetas, pred,
                                                   (np.stack([other[0]] * 3), np.stack([other[1]] * 3)), ids),
        "figure4": lambda: noise_figure(bundle, {k: x for k in ("none", "color_reverse", "zero_mean")},
                                                {k: pred for k in ("none", "color_reverse", "zero_mean")},
                                                ["a benign", "a adv.", "b benign"]),
        "epsilon": lambda: attack_success.sweep_figure(SimpleNamespace(sweep=sweep)),
        "examples": lambda: attack_success.examples_figure(bundle, x2, results, 0),
        "tradeoff": lambda: sweep_figures(scores, ["fgsm", "pgd"])["figure_tradeoff_ospa_vs_detection"]["m"],
        "roc_theta": lambda: sweep_figures(scores, ["fgsm", "pgd"])["figure_roc_theta"]["m"],
        "roc_comparison": lambda: roc_comparison(scores, ["fgsm", "pgd"])["m"],
    }


@pytest.mark.parametrize("name", list(builders()))
def test_saved_figure_has_a_journal_width_and_no_text_below_7pt(name, tmp_path):
    use_style()
    fig = builders()[name]()
    assert smallest_font(fig) >= MIN_FONT_PT, [(t.get_text(), t.get_fontsize()) for t in visible_texts(fig)
                                               if t.get_fontsize() < MIN_FONT_PT]
    page = fig.bbox.padded(1)  # every text lies on the page (constrained layout did not run out of room)
    renderer = fig.canvas.get_renderer()
    outside = [t.get_text() for t in visible_texts(fig) if not page.contains(*t.get_window_extent(renderer).p0)
               or not page.contains(*t.get_window_extent(renderer).p1)]
    assert outside == []
    pdf, png = save_figure(fig, name, tmp_path)
    width_pt = float(re.search(rb"/MediaBox \[ *0 0 ([\d.]+)", pdf.read_bytes()).group(1))
    assert any(np.isclose(width_pt / 72, w, atol=0.01) for w in FIGURE_WIDTHS), width_pt / 72
    with Image.open(png) as image:
        assert any(abs(image.size[0] - w * 300) <= 1 for w in FIGURE_WIDTHS), image.size
    plt.close(fig)


def test_roc_legends_give_auc_with_interval_and_short_names():
    use_style()
    fig = builders()["roc_comparison"]()
    legends = [t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()]
    assert all(re.search(r"AUC \d\.\d\d \[\d\.\d\d, \d\.\d\d\]", t) for t in legends)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("FGSM") and "n = 8 clean, 6 adversarial" in titles[0]
    assert not any("CW_L2" in t.get_text() or "bit_depth" in t.get_text() for t in visible_texts(fig))
    assert any(isinstance(c, Legend) for ax in fig.axes for c in ax.get_children())
    plt.close(fig)


def test_smallest_font_sees_legends_and_ticks():
    use_style()
    fig, axes = figure(3.5, 2.0)
    axes[0, 0].plot([0, 1], label="x")
    axes[0, 0].legend(fontsize=6)
    assert smallest_font(fig) == 6
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].tick_params(labelsize=5)
    assert smallest_font(fig) == 5
    plt.close(fig)
    with pytest.raises(ValueError, match="figure width must be one of"):
        figure(5.0, 2.0)


def test_attack_examples_use_one_shared_scale():
    use_style()
    x = images(2)
    results = {name: result(name, s, x) for name, s in (("fgsm", 2), ("deepfool", 4))}
    fig = attack_success.examples_figure(fake_bundle(), x, results, 0)
    largest = float(np.abs(results["deepfool"].x_adv[0] - x[0]).max())  # the larger perturbation sets the scale
    texts = " ".join(t.get_text() for t in visible_texts(fig))
    assert f"x_adv − x\n×{127.5 / largest:.0f}" in texts and f"shared scale ±{largest:.1f}" in texts
    plt.close(fig)


def test_committed_figures_are_journal_widths():
    for pdf in sorted((ROOT / "figures").glob("*.pdf")):
        width_pt = float(re.search(rb"/MediaBox \[ *0 0 ([\d.]+)", pdf.read_bytes()).group(1))
        assert any(np.isclose(width_pt / 72, w, atol=0.01) for w in FIGURE_WIDTHS), (pdf.name, width_pt / 72)


def long_ids(n):
    """ImageNet-style file names, long enough to run into the next panel if not cut."""
    return [f"/data/imagenet/val/n0{2977058 + i}_cash_machine_with_a_long_name_{i}.JPEG" for i in range(n)]


def grid_builders(n):
    """Every image-grid figure for ``n`` images, as page -> Figure, with its number of pages."""
    bundle, x, maps = fake_bundle(), images(n), RNG.uniform(0, 1, (n, SIZE, SIZE))
    pred = (np.arange(n) % 4, np.full(n, 0.9))
    other = ((np.arange(n) + 1) % 4, np.full(n, 0.4))
    ids, thetas = long_ids(n), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    pairs = np.stack([v for pair in zip(x, x[::-1], strict=True) for v in pair])
    labels = np.repeat(pred[0], 2), np.repeat(pred[1], 2)
    columns = [f"{plotting.image_label(i)}\n{kind}" for i in ids for kind in ("benign", "adv.")]
    rows_pages = plotting.page_count(n, plotting.MAX_GRID_ROWS)
    return {
        "figure1": (lambda p: saliency_pairs_figure(bundle, x, x, maps, maps, pred, other, ids, maps, other,
                                                            x, page=p), rows_pages),
        "figure2": (lambda p: emphasis_figure(bundle, x, maps, RNG.uniform(0, 1, (n, SIZE, SIZE, 3)),
                                                      np.stack([x] * len(thetas)), thetas, pred,
                                                      (np.stack([other[0]] * len(thetas)),
                                                       np.stack([other[1]] * len(thetas))), ids, page=p), rows_pages),
        "figure4": (lambda p: noise_figure(bundle, {k: pairs for k in ("none", "color_reverse", "zero_mean")},
                                                   {k: labels for k in ("none", "color_reverse", "zero_mean")},
                                                   columns, page=p),
                    plotting.page_count(2 * n, plotting.MAX_GRID_COLUMNS)),
        "saliency_methods": (lambda p: saliency_methods_figure(
            bundle, x, {"Grad-CAM": maps, "Grad-CAM++": maps, "LayerCAM": maps}, pred, ids,
            {"Grad-CAM++": [f"r = {v:.2f} with Grad-CAM" for v in RNG.uniform(-1, 1, n)]}, page=p), rows_pages),
    }


def layout_problems(fig) -> list[str]:
    """Overlapping texts (renderer bounding boxes, 1 px of slack), texts off the page and axes that
    collapsed (an image panel narrower or lower than 10 px, any axes shorter than 10 px) in a drawn figure."""
    renderer = fig.canvas.get_renderer()
    texts = [(t.get_text(), t.get_window_extent(renderer).shrunk(0.98, 0.98)) for t in visible_texts(fig)]
    problems = [f"{a!r} overlaps {b!r}" for k, (a, box_a) in enumerate(texts) for b, box_b in texts[k + 1:]
                if box_a.x0 + 1 < box_b.x1 and box_b.x0 + 1 < box_a.x1 and box_a.y0 + 1 < box_b.y1
                and box_b.y0 + 1 < box_a.y1]
    page = fig.bbox.padded(1)
    problems += [f"{t!r} off the page" for t, box in texts if not (page.contains(box.x0, box.y0)
                                                                    and page.contains(box.x1, box.y1))]
    problems += [f"axes {k} collapsed to {box.width:.0f} x {box.height:.0f} px" for k, ax in enumerate(fig.axes)
                 for box in [ax.get_window_extent(renderer)]
                 if max(box.width, box.height) < 10 or (ax.images and min(box.width, box.height) < 10)]
    return problems


# 16 and 64 images (several pages) take most of make unit's time on 2 cores: make test only
@pytest.mark.parametrize("n", [1, 4, *(pytest.param(n, marks=pytest.mark.slow) for n in (16, 64))])
def test_image_grids_lay_themselves_out_for_any_number_of_images(n):
    use_style()
    for name, (make, pages) in grid_builders(n).items():
        for page in sorted({0, pages - 1}):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. 'constrained_layout not applied because axes sizes collapsed'
                fig = make(page)
                fig.canvas.draw()
            assert layout_problems(fig) == [], (name, n, page)
            assert len(fig.axes) <= plotting.MAX_GRID_ROWS * plotting.MAX_GRID_COLUMNS + 2
            texts = " ".join(" ".join(t.get_text() for t in visible_texts(fig)).split())
            if pages > 1:  # the paging is stated
                assert f"of {2 * n if name == 'figure4' else n} (page {page + 1} of {pages})" in texts, name
            assert ".JPEG" not in texts and "n0297" not in texts  # short row labels
            plt.close(fig)
        with pytest.raises(ValueError, match=f"page {pages} does not exist"):
            make(pages)


def test_layout_check_sees_overlaps_and_collapsed_axes():
    use_style()
    fig, axes = figure(SINGLE_COLUMN, 2.0)
    axes[0, 0].text(0.5, 0.5, "one text")
    axes[0, 0].text(0.5, 0.5, "another")
    fig.canvas.draw()
    assert layout_problems(fig) == ["'one text' overlaps 'another'"]
    plt.close(fig)
    fig = plt.figure(figsize=(SINGLE_COLUMN, 2.0))
    thin = fig.add_axes((0.1, 0.1, 0.01, 0.8))
    thin.imshow(np.zeros((2, 2)))
    thin.set_xticks([])
    thin.set_yticks([])
    fig.canvas.draw()
    assert len(layout_problems(fig)) == 1 and layout_problems(fig)[0].startswith("axes 0 collapsed to ")
    plt.close(fig)


def test_row_labels_are_short_and_paging_is_stated():
    assert plotting.image_label("/data/val/n02977058_cash_machine.JPEG") == "cash machine"
    assert plotting.image_label("skimage/chelsea#view2") == "chelsea#view2"
    assert plotting.image_label("C:\\pics\\a_very_long_photograph_name.png", 10) == "a very lo…"
    assert plotting.page_items(16, 6, 2) == (range(12, 16), "Images 13-16 of 16 (page 3 of 3).")
    assert plotting.page_items(3, 6, 0) == (range(0, 3), "")
    with pytest.raises(ValueError, match="page 1 does not exist: 3 images make 1 page"):
        plotting.page_items(3, 6, 1)


def test_figure4_marks_compare_each_column_with_its_unnoised_input():
    use_style()
    x = images(4)  # columns: benign a, adversarial a, benign b, adversarial b
    preds = {"none": (np.array([0, 1, 2, 3]), np.full(4, 0.9)),  # the attack changed a's label (0 -> 1)
             "color_reverse": (np.array([0, 1, 2, 2]), np.full(4, 0.9))}  # adversarial a keeps its label 1
    fig = noise_figure(fake_bundle(), {k: x for k in preds}, preds, ["a", "a adv.", "b", "b adv."])
    titles = [ax.get_title().split("\n")[-1] for ax in fig.axes[4:8]]
    assert titles == ["(0.90) =", "(0.90) =", "(0.90) =", "(0.90) ≠"]  # not ≠ against the benign label 0
    plt.close(fig)
    with pytest.raises(ValueError, match="un-noised inputs"):
        noise_figure(fake_bundle(), {"color_reverse": x}, {"color_reverse": preds["none"]}, list("abcd"))


def legend_texts(fig: plt.Figure) -> list[str]:
    """Every legend entry of a figure's axes (a panel's own, or the legend row under the panels)."""
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_roc_legends_show_the_rate_tables_auc_not_a_recomputed_one():
    use_style()
    result = comparison_result(score_table(), ["fgsm"])
    facts = comparison.facts(result)
    auc = facts.rows["auc"]
    facts.rows["auc"] = auc.assign(value=0.123, ci_low=0.1, ci_high=0.2)  # numbers no bootstrap would give
    fig = comparison.roc_figure(facts, "m")
    legends = legend_texts(fig)
    assert len(legends) == len(auc[auc["attack"] == "fgsm"]) and all("AUC 0.12 [0.10, 0.20]" in t for t in legends)
    plt.close(fig)


def test_a_figure_per_model_each_from_its_own_rows():
    scores = score_table()
    two = pd.concat([scores, scores.assign(model="other", score=scores["score"] + 1)], ignore_index=True)
    figs = roc_comparison(two, ["fgsm"])
    assert list(figs) == ["m", "other"]
    legends = {m: legend_texts(f) for m, f in figs.items()}
    assert legends["other"] == legends["m"]  # the same shift on every score: the same ROC curves and AUCs
    alone = roc_comparison(scores, ["fgsm"])["m"]
    assert legend_texts(alone) == legends["m"]
    assert list(sweep_figures(two, ["fgsm"])["figure_tradeoff_ospa_vs_detection"]) == ["m", "other"]
    plt.close("all")


def test_error_bars_are_the_distances_to_the_interval():
    value, (below, above) = figures.error_bars([0.5, 0.2], [0.25, 0.2], [0.75, 0.3], 100)
    np.testing.assert_allclose(value, [50, 20])
    np.testing.assert_allclose(below, [25, 0])
    np.testing.assert_allclose(above, [25, 10])


def test_roc_theta_legends_lie_outside_the_data():
    use_style()
    fig = builders()["roc_theta"]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert layout_problems(fig) == []
    plt.close(fig)


LARGE = ["fgsm", "bim", "pgd", "pgd_l2", "cw_l2", "cw_l2_kappa", "deepfool"]


def chart_builders(attacks: list[str]) -> dict:
    """Every chart (not an image grid) of the suite on a run of ``attacks``: notebooks 04, 05, 07, 08."""
    from test_adaptive_report import ensemble_table, full_table

    from helpers.experiments.adaptive import bypass_vs_eps_figure
    scores = score_table(tuple(attacks))
    sweep = pd.DataFrame([{"attack": a, "eps_255": e, "n": 16, "success_rate": r, "success_rate_ci_low": r / 2,
                           "success_rate_ci_high": min(1, r + 0.2)} for a in attacks[:3]
                          for e, r in ((0.25, 0.1), (1, 0.2), (2, 0.5), (4, 1.0))])
    return {
        "epsilon": lambda: attack_success.sweep_figure(SimpleNamespace(sweep=sweep)),
        "tradeoff": lambda: sweep_figures(scores, attacks)["figure_tradeoff_ospa_vs_detection"]["m"],
        **{f"roc_theta{k}": (lambda k=k: sweep_figures(scores, attacks)[k]["m"]) for k in sweep_figures(
            scores, attacks) if k.startswith("figure_roc_theta")},
        "roc_comparison": lambda: roc_comparison(scores, attacks)["m"],
        "adaptive": lambda: bypass_vs_eps_figure(full_table(), ["s"], ensemble=ensemble_table(4, 3)),
    }


@pytest.mark.parametrize("attacks", [["fgsm", "pgd"], LARGE], ids=["small", "large"])
def test_every_chart_lays_out_without_overlaps_or_text_off_the_page(attacks):
    use_style()
    for name, make in chart_builders(attacks).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tight layout notes are not the point here
            fig = make()
            fig.canvas.draw()
        assert layout_problems(fig) == [], name
        plt.close(fig)


@pytest.mark.slow
@pytest.mark.parametrize("results", ["data/results", "data/results/two_models"])
def test_the_charts_of_the_committed_runs_lay_out_without_overlaps_or_text_off_the_page(results):
    """Notebooks 05, 07 and 10's charts drawn again from the committed score tables (real legends, real AUCs)."""
    from helpers.experiments import ablation
    from helpers.experiments.runs import load_run
    use_style()
    for name, module in (("theta_sweep", theta_sweep), ("comparison", comparison), ("saliency_ablation", ablation)):
        paths = sorted((ROOT / results).glob(f"scores_{name}_*.parquet"))
        if not paths:
            continue
        scores, metadata = load_run(paths)
        result = module.from_scores(scores, metadata, next(iter(metadata.values()))["parameters"])
        for figure_name, by_model in module.figures(result, module.facts(result)).items():
            for model, fig in by_model.items():
                fig.canvas.draw()
                assert layout_problems(fig) == [], (figure_name, model)
                plt.close(fig)


def test_figure4_marks_a_failed_attack_where_its_adversarial_example_would_be():
    use_style()
    x = images(4)
    preds = {"none": (np.array([0, 0, 2, 3]), np.full(4, 0.9)),
             "color_reverse": (np.array([0, 1, 2, 2]), np.full(4, 0.9))}
    fig = noise_figure(fake_bundle(), {k: x for k in preds}, preds, ["a", "a adv.", "b", "b adv."],
                       failed=[False, True, False, False])
    titles = [ax.get_title() for ax in fig.axes[:8]]
    assert titles[1].endswith("attack failed") and not titles[5].endswith(("=", "≠"))  # column 2: no example
    assert titles[7].endswith("≠") and "'attack failed'" in " ".join(t.get_text() for t in visible_texts(fig))
    plt.close(fig)


def test_a_long_class_name_wraps_in_a_panel_title_instead_of_being_cut():
    bundle = SimpleNamespace(class_names=["refrigerator, icebox", "a very long class name indeed"])
    assert panel_title(bundle, 0, 0.5) == "refrigerator\n(0.50)"
    assert panel_title(bundle, 1, 0.5, "≠") == "a very long\nclass name ind…\n(0.50) ≠"  # two lines at most
    assert panel_title(bundle, 0, 0.5, "(failed)") == "refrigerator\n(0.50)\n(failed)"  # a word: a line of its own


def test_a_page_of_photographs_is_stored_under_a_megabyte(tmp_path):
    use_style()
    fig, axes = figure(DOUBLE_COLUMN, 9.0)
    axes[0, 0].imshow(RNG.uniform(0, 255, (600, 600, 3)).astype(np.uint8))  # incompressible pixels
    png = save_figure(fig, "photos", tmp_path)[1]
    plt.close(fig)
    assert png.stat().st_size <= MAX_PNG_BYTES
    with Image.open(png) as image:
        assert image.size[0] == round(300 * DOUBLE_COLUMN) and image.mode == "P"  # the width kept, a palette


def test_committed_png_pages_are_under_a_megabyte():
    assert {p.name: p.stat().st_size for p in (ROOT / "figures").glob("**/*.png")
            if p.stat().st_size > MAX_PNG_BYTES} == {}
