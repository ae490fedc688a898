"""Notebook 08: the paper's (non-adaptive) and black-box attacks against the saliency detector, Feature Squeezing
and the 1 − max softmax baseline, each at its own rule and at a matched false-positive rate, and the one adaptive
attacker, the AutoAttack-style ensemble against the whole system with its checks (``helpers.adaptive``,
called as it is)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.adaptive.checks import invalid_message
from helpers.adaptive.defences import Defence, System, hold_out, realised_fpr, resolvable_fit, system_fpr
from helpers.adaptive.evaluation import AdaptiveEvaluation, evaluate_adaptive, reported_row, save_evaluation
from helpers.adaptive.members import EnsembleBudget
from helpers.adaptive.model import detector_aware_bundle
from helpers.adaptive.protocol import (
    ADAPTIVE_SETTINGS,
    AttackRun,
    bypass_layout,
    bypass_table,
    evaluation_runs,
    load_bypass_table,
    paper_vs_adaptive,
    paper_vs_adaptive_tidy,
    run_all,
    save_bypass_table,
)
from helpers.data import ImageSet, keep_correct, load_images
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.experiments.export import Table
from helpers.figures import error_bars
from helpers.findings import rate_prose
from helpers.labels import BASELINE_LABEL, DetectorKey, attack_label, rate_text
from helpers.models import ModelBundle, load_model
from helpers.plotting import DOUBLE_COLUMN, figure, use_style
from helpers.runtime import set_seed, write_atomically

SHOWN = ("pgd", "pgd_l2", "cw_l2")  # the attacks of the paper-vs-adaptive table
ENSEMBLE_COLUMNS = ["role", "attack", "eps_255", "max_iter", "n", "bypass_own", "bypass_matched", "seconds",
                    "points"]
VERSUS_CAPTION = ("The paper's protocol against an adaptive attacker, per defence, attack and budget ε: the detection "
                  "rate of the paper's setting (own rule, matched FPR) and the bypass rate (successful adversarial "
                  "examples the detector passes) of the attack made on the undefended model, and the worst-case "
                  "bypass of the whole system (every detector at once, own rule) by the adaptive APGD ensemble, in "
                  "percent [95% confidence interval counting views of one photograph as such]; – where the ensemble "
                  "did not run.")


@dataclass(frozen=True)
class Setup:
    """What the attacks run on.

    Attributes:
        calibration: the clean images held apart to fit the matched thresholds.
        test: the clean images held apart to measure the realised false-positive rate.
        y: (N,) the labels attacked: true labels on a labelled folder, else the model's own.
        labelled: whether the images are labelled.
        detectors: label -> detector.
        defences: the detectors fitted as :class:`~helpers.adaptive.defences.Defence` objects.
        runs: the non-adaptive and black-box attack sets.
        system: the :class:`~helpers.adaptive.defences.System` the ensemble attacks at once: a saliency detector per
            noise of ``noise`` and ``system_noises`` (each at every θ) and joint Feature Squeezing, with one matched
            threshold for all of them (fitted where the calibration photographs can place it)."""

    bundle: ModelBundle
    attacked: ImageSet
    calibration: ImageSet
    test: ImageSet
    y: np.ndarray
    labelled: bool
    detectors: dict[str, Any]
    defences: list[Defence]
    runs: list[AttackRun]
    system: System


@dataclass(frozen=True)
class Result:
    """One evaluation: the bypass table (every attack set against every detector), the ensemble's
    evaluation (its table and checks), the adaptive variants, the run's metadata and parameters.

    Attributes:
        table: :func:`helpers.adaptive.protocol.bypass_table`'s rows.
        evaluation: the ensemble's :class:`~helpers.adaptive.evaluation.AdaptiveEvaluation`.
        variants: the names of the bypass table's defences that the ensemble attacked (in the system), in order.
        metadata: model -> its run's metadata.
        fpr: the realised false-positive rates on the untouched split (:func:`fpr_table`)."""

    table: pd.DataFrame
    evaluation: AdaptiveEvaluation
    variants: list[str]
    metadata: dict[str, dict]
    config: dict[str, Any]
    fpr: pd.DataFrame | None = None


def detector_names(config: Mapping[str, Any]) -> tuple[str, str]:
    """The labels of the saliency detector (every θ) and of joint Feature Squeezing.

    Args:
        config: the checked parameters (``noise``, ``thetas``, ``squeezers``).

    Returns:
        (saliency label, Feature Squeezing label)."""
    return (saliency_name(config, config["noise"]),
            DetectorKey("feature_squeezing", squeezers=tuple(config["squeezers"])).label)


def saliency_name(config: Mapping[str, Any], noise: str) -> str:
    """The label of the saliency detector with ``noise`` at every θ of ``config``.

    Args:
        config: the checked parameters (``thetas``).

    Returns:
        e.g. 'saliency (colour reversing, θ = 0.1, 0.3)'."""
    return DetectorKey("saliency", noise, tuple(config["thetas"])).label


def saliency_detector(bundle: ModelBundle, config: Mapping[str, Any], noise: str) -> SaliencyDetector:
    """The saliency detector of ``config`` (every θ, its colour map, overlay order, zero-mean reference) with
    ``noise``."""
    return SaliencyDetector(bundle, config["thetas"], noise, config["colormap"], config["overlay_order"],
                            config["zero_mean_reference"])


def prepare(config: Mapping[str, Any]) -> Setup:
    """Seed and style, the model, ``n_images`` attacked images and ``calibration_images`` held apart (correctly
    classified ones only, on a labelled folder), the three detectors fitted at ``fpr`` and the attack sets.

    Args:
        config: the checked parameters of notebook 08.

    Raises:
        ValueError: too few images held apart once split by photograph (naming ``n_images``, ``calibration_images``
            and ``fpr``)."""
    c, bs = config, config["batch_size"]
    set_seed(c["seed"])
    use_style()
    pd.set_option("display.width", 200)
    bundle = load_model(c["model"], c["weights"], **c["model_options"])
    images = load_images(c["image_source"], bundle, c["n_images"] + c["calibration_images"], seed=c["seed"])
    labelled = bool((images.labels >= 0).all())
    if labelled:  # only the images f classifies correctly, attacked away from their true label
        images = keep_correct(images, bundle, bs)[0]
    attacked, calibration, test = _held_apart(images, c)
    y = attacked.labels if labelled else bundle.predict(attacked.x, bs)[0]
    settings = {name: {**p, **c["attack_params"].get(name, {})}
                for name, p in ADAPTIVE_SETTINGS[c["attack_settings"]].items()}
    saliency, squeezing = detector_names(c)
    detectors = {saliency: saliency_detector(bundle, c, c["noise"]),
                 squeezing: FeatureSqueezingDetector(bundle, c["squeezers"], "label_change", c["channel_order"]),
                 BASELINE_LABEL: ConfidenceDetector(bundle)}
    defences = [fitted(Defence(name, d, bs), calibration, c["fpr"]) for name, d in detectors.items()]
    runs = evaluation_runs(bundle, settings, [e / 255 for e in c["sweep_eps_255"]], c["eps_l2"], c["cw_confidence"],
                           c["black_box_eps_255"] / 255, (saliency, detectors[saliency]))
    extra = [fitted(Defence(saliency_name(c, n), saliency_detector(bundle, c, n), bs), calibration, c["fpr"])
             for n in dict.fromkeys(c["system_noises"]) if n != c["noise"]]  # the ensemble's further targets
    system = fitted(System([*(d for d in defences if d.name in (saliency, squeezing)), *extra]), calibration, c["fpr"])
    return Setup(bundle, attacked, calibration, test, y, labelled, detectors, defences, runs, system)


def _held_apart(images: ImageSet, c: Mapping[str, Any]) -> tuple[ImageSet, ImageSet, ImageSet]:
    """``hold_out`` of the loaded images, its errors naming the parameters: the split by photograph is known only
    now (views of the attacked photographs and misclassified images left out); ``check_params`` checked the rest.
    Whether the calibration photographs can place a matched threshold is reported, not refused (``fitted``)."""
    try:
        return hold_out(images, c["n_images"], c["seed"])
    except ValueError as exc:
        raise ValueError(f"parameters n_images = {c['n_images']} and calibration_images = {c['calibration_images']}: "
                         f"{exc}") from None


def fitted(defence: Defence | System, calibration: ImageSet, fpr: float) -> Defence | System:
    """``defence`` with its matched threshold fitted at ``fpr`` on ``calibration`` where its photographs can place
    it (:func:`~helpers.adaptive.defences.resolvable_fit`; otherwise unfitted, with its ``note``).

    Args:
        defence: a Defence or System."""
    resolvable_fit(defence, calibration.x, fpr, calibration.photographs)
    return defence


def fpr_table(setup: Setup, fpr: float) -> pd.DataFrame:
    """The realised false-positive rates on the untouched test split, with photograph-clustered intervals: each
    detector alone at its own rule and its own matched threshold (``scope`` ``alone``), then each detector of the
    system and the system at the system's rules and one threshold (``scope`` ``system``, the last row the system).

    Args:
        fpr: the target false-positive rate (column ``target_fpr``)."""
    s = setup
    alone = [*s.defences, *(d for d in s.system if d not in s.defences)]
    parts = [realised_fpr(alone, s.test.x, s.test.photographs).assign(scope="alone"),
             system_fpr(s.system, s.test.x, s.test.photographs).assign(scope="system")]
    table = pd.concat(parts, ignore_index=True).assign(target_fpr=fpr)
    return table[["scope", "defence", "target_fpr", *(c for c in table.columns if c not in ("scope", "defence",
                                                                                             "target_fpr"))]]


def fpr_text(table: pd.DataFrame) -> str:
    """:func:`fpr_table` for reading: rates as 'value [CI] (n)' in percent, and the notes.

    Args:
        table: :func:`fpr_table`'s rows."""
    out = pd.DataFrame({"scope": table["scope"], "defence": table["defence"]})
    for rule in ("own", "matched"):
        cols = [f"fpr_{rule}", f"fpr_{rule}_ci_low", f"fpr_{rule}_ci_high", f"fpr_{rule}_n"]
        out[f"FPR {rule}"] = [rate_text(*v) for v in table[cols].to_numpy()]
    out["photographs"] = table["fpr_own_photographs"].where(table["fpr_own_n"] > 0, table["fpr_matched_photographs"])
    out["note"] = table["note"].fillna("")
    return out.to_string(index=False)


def setup_text(setup: Setup, config: Mapping[str, Any]) -> str:
    """The images attacked and held apart, the settings, and the realised FPRs on the test split (:func:`fpr_table`)."""
    s = setup
    return (f"{s.bundle.name}: {s.attacked.description} attacked ({'true' if s.labelled else 'own'} labels); "
            f"{s.calibration.description}; {s.test.description}; {config['attack_settings']} settings; "
            f"{len(s.runs)} attack sets\nrealised false-positive rates on the untouched test split (percent, "
            "95% interval counting views of one photograph as such):\n" + fpr_text(fpr_table(s, config["fpr"])))


def run(config: Mapping[str, Any], setup: Setup | None = None) -> Result:
    """Every attack set against every detector (``results_dir``: ``adaptive_<model>.csv``), then the ensemble
    against the whole system (``Setup.system``: the saliency detector of every noise asked for and Feature
    Squeezing together), with its checks
    (``adaptive_ensemble_<model>.csv``, ``adaptive_checks_<model>.csv``), and the realised false-positive rates
    on the untouched split beside them (``adaptive_fpr_<model>.csv``, :func:`fpr_table`).

    Args:
        config: the checked parameters of notebook 08.
        setup: the prepared models and images (default: :func:`prepare` of ``config``)."""
    c, bs = config, config["batch_size"]
    s = prepare(c) if setup is None else setup
    results = run_all(s.runs, s.attacked, s.y, c["cache_dir"], seed=c["seed"], batch_size=bs)
    table = bypass_table(s.bundle, s.runs, results, s.defences, s.attacked.x, s.y, s.attacked.photographs)
    save_bypass_table(table, f"{c['results_dir']}/adaptive_{s.bundle.name}.csv")
    models = {v: detector_aware_bundle(s.bundle, [d.detector for d in s.system], v, c["emphasis_clip"])
              for v in c["variants"]}
    evaluation = evaluate_adaptive(
        s.bundle, models, s.system, s.attacked.x, s.y, c["adaptive_eps_255"] / 255, "linf",
        EnsembleBudget.of(c["attack_settings"], **c["adaptive_budget"]), [e / 255 for e in c["check_eps_255"]],
        c["score_weight"], batch_size=bs, seed=c["seed"], photographs=s.attacked.photographs)
    save_evaluation(evaluation, c["results_dir"], s.bundle.name)
    fpr = fpr_table(s, c["fpr"])
    write_atomically(Path(c["results_dir"]) / f"adaptive_fpr_{s.bundle.name}.csv",
                     lambda tmp: fpr.to_csv(tmp, index=False, float_format="%.6g"))
    metadata = {s.bundle.name: {"model": s.bundle.name, "images": s.attacked.description,
                                "parameters": {"seed": c["seed"]}}}
    in_system = [d.name for d in s.defences if d.name in {e.name for e in s.system}]
    return Result(table, evaluation, in_system, metadata, dict(c), fpr)


def clean_rates(result: Result) -> pd.DataFrame:
    """Each detector's false-positive rates (own rule, matched) on the attacked images' clean versions."""
    return result.table[result.table["attack"] == "clean"].set_index("defence")[["fpr_own", "fpr_matched", "n"]]


def bypass_text(result: Result) -> str:
    """The clean false-positive rates, then every attack set against every detector, as printed."""
    return ("false-positive rates on the attacked images' clean versions:\n"
            f"{clean_rates(result).round(3).to_string()}\n\n{bypass_layout(result.table).to_string(index=False)}")


def check_text(result: Result) -> str:
    """What holds on any CPU of :func:`bypass_text`: the clean rates' columns and detectors, and the bypass
    layout's shape and columns."""
    clean, layout = clean_rates(result), bypass_layout(result.table)
    return "\n".join(str(v) for v in (clean.columns.tolist(), clean.index.tolist(), layout.shape,
                                        layout.columns.tolist()))


def tables(result: Result) -> dict[str, Table]:
    """The paper's setting against adaptive attacks, per defence, attack and budget (LaTeX without each n).

    Returns:
        name -> :class:`~helpers.experiments.export.Table`."""
    ensemble, system = result.evaluation.table, result.variants
    versus = pd.concat([paper_vs_adaptive(result.table, a, ensemble, system) for a in SHOWN], ignore_index=True)
    model = next(iter(result.metadata))
    return {"table_adaptive_paper_vs_adaptive": Table(
        versus, VERSUS_CAPTION, paper_vs_adaptive_tidy(result.table, SHOWN, ensemble, system).assign(model=model),
        index=False, compact=True)}


def figures(result: Result) -> dict[str, dict[str, plt.Figure]]:
    """The bypass rate against ε per defence and adaptive variant (name -> {"": figure}).

    Returns:
        name -> {"": figure}."""
    return {"figure_adaptive_bypass_vs_eps": {"": bypass_vs_eps_figure(result.table, result.variants,
                                                                        ensemble=result.evaluation.table)}}


def ensemble_columns(result: Result) -> list[str]:
    """The columns of ``ENSEMBLE_COLUMNS`` that the ensemble's table has (no matched rule without a threshold)."""
    return [c for c in ENSEMBLE_COLUMNS if c in result.evaluation.table.columns]


def ensemble_text(result: Result) -> str:
    """The ensemble's table, its checks and its summary at each rule, as printed."""
    e = result.evaluation
    columns = ensemble_columns(result)
    realised = "" if result.fpr is None else (
        "realised false-positive rates of the system on the untouched split (each rule, its one threshold):\n"
        + fpr_text(result.fpr[result.fpr["scope"] == "system"]) + "\n\n")
    return (f"{e.table[columns].round(3).to_string(index=False)}\n\n{realised}{e.checks.to_string(index=False)}\n\n"
            + "\n".join(e.summary(rule) for rule in ("own", "matched") if rule in e.outcome.bypassed))


def findings(result: Result) -> str:
    """The headline sentences (Markdown): bypass per defence and budget, the black-box and high-confidence
    attacks, the ensemble and its checks.

    Returns:
        the Markdown list, or "evaluation invalid: <checks>"."""
    return adaptive_findings(result.table, result.evaluation.checks, result.variants, result.config["fpr"],
                             result.evaluation.table, result.fpr)


def bypass_vs_eps_figure(table: pd.DataFrame, defences: Sequence[str], attack: str = "pgd",
                         ensemble: pd.DataFrame | None = None) -> plt.Figure:
    """Bypass rate against the L-inf budget: one column per defence, rows = its own operating point and the matched
    false-positive rate; the non-adaptive attack transferred from f (:func:`helpers.adaptive.protocol.bypass_table`)
    and, at the own rule, the adaptive ensemble's worst-case bypass of the whole system (``ensemble``: the table of
    :func:`helpers.adaptive.evaluation.evaluate_adaptive`), 95% bars counting views of one photograph as such.

    Args:
        table: :func:`helpers.adaptive.protocol.bypass_table`'s rows.
        defences: the defences, one column each (the detectors of the system the ensemble attacked).
        ensemble: the ensemble's table, or None."""
    rules = {"own": "own operating point (label change)", "matched": "matched false-positive rate"}
    sub = table[(table["attack"] == attack) & (table["norm"] == "linf") & (table["mode"] == "non-adaptive")]
    worst = None if ensemble is None else ensemble[(ensemble["role"] == "worst case") & (ensemble["norm"] == "linf")]
    ticks = sorted({round(float(e), 3) for e in (*(255 * sub["eps"]), *([] if worst is None else worst["eps_255"]))})
    fig, axes = figure(DOUBLE_COLUMN, 6.2, nrows=len(rules), ncols=len(defences), sharex=True, sharey=True)
    for c, defence in enumerate(defences):
        for r, (rule, title) in enumerate(rules.items()):
            ax = axes[r, c]
            lines = [("non-adaptive (transferred from f)", sub[sub["defence"] == defence].assign(
                eps_255=lambda t: 255 * t["eps"]), "o")]
            if worst is not None and rule == "own":
                lines.append(("adaptive ensemble vs the system", worst, "s"))
            lines = [(name, g, marker) for name, g, marker in lines if g[f"bypass_{rule}_n"].gt(0).any()]
            if not lines:  # e.g. a matched threshold the calibration photographs could not place
                ax.text(0.5, 0.5, "no rate: no threshold", transform=ax.transAxes, ha="center", va="center")
            for i, (name, g, marker) in enumerate(lines):
                g = g.sort_values("eps_255")
                dodge = 2 ** (0.07 * (i - (len(lines) - 1) / 2))  # side by side on the log axis
                value, err = error_bars(g[f"bypass_{rule}"], g[f"bypass_{rule}_ci_low"], g[f"bypass_{rule}_ci_high"],
                                        100)
                ax.errorbar(g["eps_255"] * dodge, value, yerr=err, marker=marker, capsize=2, elinewidth=0.7,
                            label=f"{name} (n = {int(g['n'].max())})")
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [f"{e:g}" for e in ticks])
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            ax.set_title(textwrap.fill(defence, 40) + f"\n{title}")
            if c == 0:
                ax.set_ylabel("bypass rate (%): fooled f, not flagged")
        ax.set_xlabel("L∞ budget ε (grey levels, /255)")
        ax.legend(*axes[0, c].get_legend_handles_labels(), frameon=False, loc="upper center",
                  bbox_to_anchor=(0.5, -0.2))  # below the data, once per column, with every line of the column
    return fig


def adaptive_findings(table: pd.DataFrame, checks: pd.DataFrame, defences: Sequence[str], fpr: float,
                      ensemble: pd.DataFrame | None = None, realised: pd.DataFrame | None = None) -> str:
    """Notebook 08: bypass rates of transferred and adaptive attacks per defence and budget, the
    high-confidence C&W against the baseline, the black-box attacks, and the Carlini et al. checks.

    Args:
        table: :func:`helpers.adaptive.protocol.bypass_table`.
        checks: rows with ``check``, ``passed`` and ``detail``.
        defences: the defences' names, in order.
        ensemble: the adaptive ensemble's table (:func:`ensemble_line`), stated first when given.
        realised: the realised false-positive rates (``helpers.experiments.adaptive.fpr_table``); a matched rate is
            stated only beside its realised rate (or as not resolvable), so none without it.

    Returns:
        Markdown statements; only "evaluation invalid: <checks>" when a check failed."""
    invalid = invalid_message(checks)
    if invalid:
        return invalid
    lines = [] if ensemble is None else [ensemble_line(ensemble, checks, realised)]
    alone = {} if realised is None else {r["defence"]: r for _, r in realised[realised["scope"] == "alone"].iterrows()}
    for d in defences:
        fpr_own = (f"; its own rule flags {rate_prose(alone[d], 'fpr_own')} of the untouched clean split"
                   if d in alone and alone[d]["fpr_own_n"] else "")
        for attack in ("pgd", "pgd_l2"):
            if ((table["attack"] == attack) & (table["defence"] == d)).any():
                lines.append(f"- *{d}, {attack_label(attack)} made on f (non-adaptive), bypass at its own operating "
                             f"point* (fooled f and not flagged, over all attacked images{fpr_own}): "
                             f"{_pgd_line(table, d, attack, 'own')}.")
        pgd = table[(table["attack"] == "pgd") & (table["defence"] == d) & (table["mode"] == "non-adaptive")]
        if len(pgd) and d in alone:
            head = f"- *{d} at a matched {100 * fpr:g}% false-positive rate"
            if alone[d]["note"] or not alone[d]["fpr_matched_n"]:
                lines.append(f"{head}:* {alone[d]['note'] or 'no threshold'}.")
                continue
            top = pgd[pgd["eps"] == pgd["eps"].max()].iloc[0]
            lines.append(f"{head}* (its threshold's realised false-positive rate on the untouched split "
                         f"{rate_prose(alone[d], 'fpr_matched')}): PGD made on f at ε = {255 * top['eps']:.4g}/255 "
                         f"bypasses {rate_prose(top, 'bypass_matched')}.")
    cw = table[table["attack"] == "cw_l2"]
    for d, g in cw[cw["target"] == ""].groupby("defence", sort=False):  # C&W on f, at confidence 0 and kappa
        if not g["bypass_own_n"].any() and d in alone:  # a score-only detector: the matched rate is its only rule
            if alone[d]["note"] or not alone[d]["fpr_matched_n"]:
                lines.append(f"- *High-confidence C&W against {d}* (a matched {100 * fpr:g}% false-positive rate): "
                             f"{alone[d]['note'] or 'no threshold'}.")
                continue
            cells = "; ".join(f"{r['label']} {rate_prose(r, 'bypass_matched')} (success "
                              f"{rate_prose(r, 'success')}, L2 median {r['l2_median']:.3f})" for _, r in g.iterrows())
            lines.append(f"- *High-confidence C&W against {d}* (bypass at a matched {100 * fpr:g}% false-positive "
                         f"rate; realised on the untouched split {rate_prose(alone[d], 'fpr_matched')}): {cells}.")
    for label, g in table[table["queries_median"].notna()].groupby("label", sort=False):
        r = g.iloc[0]
        size = f"{255 * r['eps']:.4g}/255 (L∞)" if r["norm"] == "linf" else f"{r['eps']:g} (L2)"
        budget = f" within ε = {size}" if not np.isnan(r["eps"]) else ""
        text = (f"- *{label}* (black box, median {r['queries_median']:.0f} queries): success{budget} "
                f"{rate_prose(r, 'success')}")
        if r["target"]:
            hit = g[g["defence"] == r["target"]].iloc[0]
            text += f"; bypass of {r['target']} {rate_prose(hit, 'bypass_own')}"
            if r["target"] in alone and alone[r["target"]]["fpr_own_n"]:
                text += (f" (its own rule flags {rate_prose(alone[r['target']], 'fpr_own')} of the untouched clean "
                         "split)")
        lines.append(text + ".")
    passed = int(checks["passed"].sum())
    lines.append(f"- *Sanity checks (Carlini et al. 2019):* {passed} of {len(checks)} pass. " + " ".join(
        f"{c['check'].capitalize()}: {'yes' if c['passed'] else 'no'} ({c['detail']})." for _, c in checks.iterrows()))
    return "\n".join(lines)


def _pgd_line(table: pd.DataFrame, defence: str, attack: str, rule: str) -> str:
    """The bypass of ``attack`` made on f against ``defence`` at each budget, as prose."""
    rows = table[(table["attack"] == attack) & (table["defence"] == defence) & (table["mode"] == "non-adaptive")]
    parts = []
    for eps, g in rows.groupby("eps"):
        unit = f"{255 * eps:.4g}/255" if attack == "pgd" else f"{eps:g} (L2)"
        parts.append(f"ε = {unit}: {rate_prose(g.iloc[0], f'bypass_{rule}')}")
    return "; ".join(parts)


# --- the README's lines -------------------------------------------------------------------------------------

RULE_NAMES = {"own": "detectors' own rule", "matched": "matched threshold"}


def ensemble_line(table: pd.DataFrame, checks: pd.DataFrame, fpr: pd.DataFrame | None = None) -> str:
    """The adaptive ensemble's headline: its worst-case bypass of the whole system at each rule (over every member,
    variant and check attack at the budget), next to the realised false-positive rate of the same rule on the
    untouched clean split (the system's, then each detector's); or "evaluation invalid: <checks>" when a sanity
    check failed. The matched rule is
    stated only with its realised rate: as "not resolvable" where its threshold could not be placed, and not at
    all without ``fpr``.

    Args:
        table: :func:`helpers.adaptive.evaluation.evaluate_adaptive`'s table (rows told apart by ``role``).
        checks: its check rows (``check``, ``passed``, ``detail``).
        fpr: the realised false-positive rates (``helpers.experiments.adaptive.fpr_table``: rows of scope
            ``system``), or None."""
    head = "- Adaptive APGD ensemble (notebook 08) against the saliency detector and Feature Squeezing together"
    invalid = invalid_message(checks)
    if invalid:
        return f"{head}: {invalid}."
    main = reported_row(table)
    first = table[table["role"] == "ensemble"].iloc[0]
    budget = f"{main['eps_255']:g}/255 (L∞)" if main["norm"] == "linf" else f"{main['eps_255'] / 255:g} (L2)"
    system = None if fpr is None else fpr[fpr["scope"] == "system"]
    cells = []
    for rule in (r for r in RULE_NAMES if f"bypass_{r}" in table.columns or r == "matched"):
        if system is None:
            if rule == "own":
                cells.append(f"at the {RULE_NAMES[rule]} {rate_prose(main, 'bypass_own')}")
            continue
        cells.append(_ensemble_cell(main, system, rule))
    missing = "" if system is not None else " (no realised false-positive rate recorded: no matched rate stated)"
    return (f"{head}, ε = {budget}, {first['max_iter']} iterations per member: worst-case bypass (fools f, flagged "
            f"by no detector) {'; '.join(cells)}{missing}; all {len(checks)} sanity checks pass.")
def _ensemble_cell(main: pd.Series, system: pd.DataFrame, rule: str) -> str:
    """One rule's part of :func:`ensemble_line`: the bypass rates and the realised false-positive rates."""
    whole = system.iloc[-1]
    name = RULE_NAMES[rule]
    if rule == "matched":
        name += f" (one for the system, target {100 * whole['target_fpr']:g}% false-positive rate)"
        if whole["note"] or f"bypass_{rule}" not in main.index or whole["fpr_matched_n"] == 0:
            why = whole["note"] or "no threshold"
            return f"at the matched threshold (target {100 * whole['target_fpr']:g}% false-positive rate): {why}"
    each = "; ".join(f"{r['defence']}: {rate_prose(r, f'fpr_{rule}')}" for _, r in system.iloc[:-1].iterrows()
                     if r[f"fpr_{rule}_n"])
    return (f"at the {name} {rate_prose(main, f'bypass_{rule}')}, the system's realised false-positive rate on the "
            f"untouched split {rate_prose(whole, f'fpr_{rule}')} ({each})")
def adaptive_readme_lines(table: pd.DataFrame, realised: pd.DataFrame | None = None) -> list[str]:
    """README lines from notebook 08's bypass table: per defence with an own rule, PGD made on the undefended model
    (non-adaptive) at the largest L-inf budget, at the defence's own operating point, and that rule's realised
    false-positive rate on the untouched clean split where ``realised`` has it. (The adaptive attacker's numbers are
    :func:`ensemble_line`'s.)

    Args:
        table: :func:`helpers.adaptive.protocol.bypass_table`'s rows.
        realised: the realised false-positive rates (``helpers.experiments.adaptive.fpr_table``), or None.

    Returns:
        one Markdown list item per defence."""
    pgd = table[(table["attack"] == "pgd") & (table["mode"] == "non-adaptive")]
    eps = pgd["eps"].max()
    alone = {} if realised is None else {r["defence"]: r for _, r in realised[realised["scope"] == "alone"].iterrows()}
    lines = []
    for _, plain in pgd[(pgd["eps"] == eps) & (pgd["bypass_own_n"] > 0)].iterrows():
        d = plain["defence"]
        fpr = (f"; its own rule flags {rate_prose(alone[d], 'fpr_own')} of the untouched clean split"
               if d in alone and alone[d]["fpr_own_n"] else "")
        lines.append(f"- Transferred attacks (notebook 08), {d}: PGD at ε = {255 * eps:.4g}/255 made on the "
                     f"undefended model bypasses it (fools f, not flagged) in {rate_prose(plain, 'bypass_own')}{fpr}.")
    return lines


def readme_lines(results_dir: str | Path, model: str) -> list[str]:
    """The README's lines of notebook 08, formatted from what it saved for ``model`` (none where it saved nothing):
    the transferred attacks per defence, then the ensemble's worst case; or "evaluation invalid: <checks>"."""
    results = Path(results_dir)
    adaptive, checks = results / f"adaptive_{model}.csv", results / f"adaptive_checks_{model}.csv"
    realised, ensemble = results / f"adaptive_fpr_{model}.csv", results / f"adaptive_ensemble_{model}.csv"
    invalid = invalid_message(pd.read_csv(checks)) if checks.is_file() else None
    fpr = pd.read_csv(realised).fillna({"note": ""}) if realised.is_file() else None
    if invalid:  # notebook 08's checks failed: no rates
        return [f"- Adaptive attacks (notebook 08): {invalid}."]
    lines = adaptive_readme_lines(load_bypass_table(adaptive), fpr) if adaptive.is_file() else []
    if ensemble.is_file() and checks.is_file():
        lines.append(ensemble_line(pd.read_csv(ensemble), pd.read_csv(checks), fpr))
    return lines
