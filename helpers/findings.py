"""The notebooks' result paragraphs, written from the results: a re-run on another model or data
set rewrites them, so no sentence can go stale. Each function returns Markdown for
``IPython.display.Markdown``; the notebooks' fixed text explains the method only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.adaptive.checks import invalid_message
from helpers.adaptive.evaluation import reported_row
from helpers.adaptive.protocol import load_bypass_table
from helpers.attack_report import full_success_budgets
from helpers.labels import attack_label, method_label, noise_label, rate_text
from helpers.metrics import MIN_EXPECTED_FALSE_POSITIVES
from helpers.runtime import write_atomically
from helpers.scores import METHOD, load_scores


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
        lo, hi: the numbers before and after.
        up, down: the verbs for a rise and a fall.

    Returns:
        ``up``, ``down`` or 'stays'."""
    return up if hi > lo else down if hi < lo else "stays"


def verb(count: int, singular: str, plural: str) -> str:
    """The verb agreeing with a count: 1 holds, 0 or 2 hold.

    Args:
        count: the count.
        singular, plural: the two forms.

    Returns:
        ``singular`` for 1, else ``plural``."""
    return singular if count == 1 else plural


def each_model(models: Sequence[str], write: Callable[[str], str]) -> str:
    """``write(model)`` for each model; with several models each statement ('- ...') starts with its model's
    name.

    Args:
        models: the models, in order.
        write: a model -> its Markdown statements.

    Returns:
        the statements of every model."""
    texts = {model: write(model) for model in models}
    if len(texts) == 1:
        return next(iter(texts.values()))
    return "\n".join(re.sub(r"^- ", f"- **{model}:** ", text, flags=re.MULTILINE) for model, text in texts.items())


def saliency_shift_findings(success: np.ndarray, r_adversarial: np.ndarray, r_control: np.ndarray) -> str:
    """Notebook 01: how far the attack moves the Grad-CAM map, against a random-noise control.

    Args:
        success: (N,) bool, whether FGSM changed each label.
        r_adversarial: (N,) correlations between each benign and adversarial map.
        r_control: (N,) correlations between each benign map and the random-noise control's.

    Returns:
        the paragraph."""
    moved = np.nanmedian(r_adversarial) < np.nanmedian(r_control)
    return (f"FGSM changed the label of {int(success.sum())} of {len(success)} images. The median correlation "
            f"between the benign and the adversarial map is {np.nanmedian(r_adversarial):.2f}, against "
            f"{np.nanmedian(r_control):.2f} for the random-sign control of the same size: the adversarial map "
            + ("moves more than the control's, the inconsistency the detector exploits."
               if moved else "does not move more than the control's on these images."))


def emphasis_findings(thetas: Sequence[float], flagged: np.ndarray) -> str:
    """Notebook 02: how many benign images change label in their emphasis image, per theta.

    Args:
        thetas: the T thetas.
        flagged: (T, N) bool, whether each benign image's emphasis image changes label.

    Returns:
        the paragraph."""
    n = flagged.shape[1]
    counts = ", ".join(f"θ = {t:g}: {int(f.sum())} of {n}" for t, f in zip(thetas, flagged, strict=True))
    return (f"Benign images whose emphasis image changes label (false alarms of the detector): {counts}. "
            "The θ sweep (notebook 05) measures this trade-off with intervals.")


def noise_findings(labels: dict[str, np.ndarray], benign: np.ndarray, adversarial: np.ndarray,
                   success: np.ndarray) -> str:
    """Notebook 03: per noise, benign images that keep their label and *successful* adversarial
    examples that lose their adversarial label.

    Args:
        labels: noise -> (2N,) labels, benign and adversarial inputs interleaved.
        benign: (N,) the benign inputs' labels without noise.
        adversarial: (N,) the adversarial inputs' labels without noise.
        success: (N,) whether the attack fooled the model on each image (a failed attack's output is no
            adversarial example).

    Returns:
        the paragraph."""
    success = np.asarray(success, bool)
    parts = []
    for noise, lab in labels.items():
        if noise == "none":
            continue
        kept = int((lab[::2] == benign).sum())
        left = int(((lab[1::2] != adversarial) & success).sum())
        parts.append(f"{noise}: {kept} of {len(benign)} benign images keep their label, {left} of "
                     f"{int(success.sum())} adversarial examples leave their adversarial label")
    failed = int((~success).sum())
    counted = f" ({failed} of {success.size} attacks failed and are not counted)" if failed else ""
    return "; ".join(parts) + f"{counted}. An illustration on a few images; rates with intervals are in notebook 05."


def attack_findings(summary: pd.DataFrame, sweep: pd.DataFrame) -> str:
    """Notebook 04: success of each attack and the budget at which the L-inf attacks reach 100%.

    Args:
        summary: :func:`helpers.attack_report.attack_summary`'s rows.
        sweep: :func:`helpers.attack_report.epsilon_sweep`'s rows.

    Returns:
        Markdown list items."""
    lines = ["- *Success at the default settings:* " + "; ".join(
        f"{attack_label(r['attack'])} {int(r['successes'])}/{int(r['n'])} "
        f"(median L2 {255 * r['l2_median']:.1f} grey levels)"
        for _, r in summary.iterrows()) + "."]
    for _, r in full_success_budgets(sweep).iterrows():
        if not np.isnan(r["from_eps_255"]):
            reached = f"100% from {r['from_eps_255']:g}/255 on"
        elif r["full_at_255"]:
            reached = f"100% at {', '.join(f'{e:g}' for e in r['full_at_255'])}/255 but not at every larger budget"
        else:
            reached = "never 100% in the budgets tried"
        lines.append(f"- *{attack_label(r['attack'])} against the budget:* {reached}"
                     f"; success at the budgets tried: {', '.join(str(k) for k in r['successes'])} of {r['n']}.")
    return "\n".join(lines)


README_START, README_END = "<!-- findings: start -->", "<!-- findings: end -->"


README_SOURCES = ("scores_theta_sweep_{model}.parquet", "selected_theta_{model}.csv", "facts_theta_sweep_{model}.csv",
                  "facts_comparison_{model}.csv")  # what the README's lines of notebooks 05 and 07 are formatted from


def held_out_lines(selected: pd.DataFrame, attacks: Sequence[str]) -> list[str]:
    """README lines of notebook 05's held-out choice of θ: per noise, the θ chosen on the calibration half and
    its OSPA and detection rates on the held-out half (never chosen on what they report).

    Args:
        selected: one model's :func:`helpers.scores.select_theta` rows (``selected_theta_<model>.csv``).
        attacks: the attacks, in order.

    Returns:
        one Markdown list item per noise."""
    lines = []
    for (noise, theta), g in selected.groupby(["noise", "theta"], sort=False):
        rows = {r["attack"]: r for _, r in g.iterrows()}
        rates = [f"{attack_label(a)} {said(rows[a])}" for a in attacks if a in rows]
        lines.append(f"- Held-out θ, {noise_label(noise)}: θ = {theta:g} chosen on a calibration half of the "
                     f"photographs; on the other half OSPA {said(rows.get('clean'))}, detection " + ", ".join(rates)
                     + ".")
    return lines


def readme_findings(results_dir: str | Path, model: str = "efficientnet_lite0") -> str:
    """The README's findings, formatted from what notebooks 05, 07 and 08 saved in ``results_dir``
    (``README_SOURCES``, the adaptive tables): no number is computed here.

    Args:
        results_dir: the notebooks' ``results_dir``.
        model: the model whose tables are read.

    Returns:
        Markdown lines."""
    results = Path(results_dir)
    _, meta = load_scores(results / f"scores_theta_sweep_{model}.parquet")  # the run's images and attacks
    counts = pd.read_csv(results / f"facts_theta_sweep_{model}.csv").iloc[0]
    lines = [f"On {model} and {meta['images']} (notebooks 05-07; wide intervals, a different model from the "
             "paper's):", ""]
    lines += held_out_lines(pd.read_csv(results / f"selected_theta_{model}.csv"), meta["parameters"]["attacks"])
    missing = f", {counts['claims_not_measured']} not measured" if counts["claims_not_measured"] else ""
    lines.append(f"- Of the paper's {counts['claims']} claims about Tables I-III, {counts['claims_hold']} "
                 f"{verb(counts['claims_hold'], 'holds', 'hold')} on this model and {counts['claims_fail']} "
                 f"{verb(counts['claims_fail'], 'fails', 'fail')}{missing} (notebook 05).")
    lines.append(f"- Even at its best θ, chosen in hindsight on these data (optimistic), the overlay beats the "
                 f"trivial 1 − max softmax score's AUC in {counts['overlay_beats_baseline']} of {counts['pairs']} "
                 "(noise, attack) pairs.")
    lines += matched_fpr_lines(pd.read_csv(results / f"facts_comparison_{model}.csv"))
    adaptive = Path(results_dir) / f"adaptive_{model}.csv"
    checks = Path(results_dir) / f"adaptive_checks_{model}.csv"
    invalid = invalid_message(pd.read_csv(checks)) if checks.is_file() else None
    realised = Path(results_dir) / f"adaptive_fpr_{model}.csv"
    fpr = pd.read_csv(realised).fillna({"note": ""}) if realised.is_file() else None
    if invalid:  # notebook 08's checks failed: no rates
        lines.append(f"- Adaptive attacks (notebook 08): {invalid}.")
    elif adaptive.is_file():  # notebook 08's bypass table
        lines += adaptive_readme_lines(load_bypass_table(adaptive), fpr)
    ensemble = Path(results_dir) / f"adaptive_ensemble_{model}.csv"
    if not invalid and ensemble.is_file() and checks.is_file():  # notebook 08's adaptive ensemble
        lines.append(ensemble_line(pd.read_csv(ensemble), pd.read_csv(checks), fpr))
    return "\n".join(lines)


def matched_fpr_lines(facts: pd.DataFrame) -> list[str]:
    """README lines of notebook 07's matched view: per attack, each detector's held-out TPR and FPR at the
    threshold fitted for the target FPR, or why it is not resolvable.

    Args:
        facts: one model's ``facts_comparison_<model>.csv`` (:func:`helpers.experiments.comparison.save_facts`).

    Returns:
        one Markdown list item per attack."""
    facts = facts.fillna({"note": "", "noise": "", "squeezer": ""})
    matched = facts[facts["view"] == "matched"]
    fpr = 100 * matched["target_fpr"].iloc[0] if len(matched) else np.nan
    lines = []
    for a in dict.fromkeys(matched.loc[matched["metric"] == "tpr_at_fpr", "attack"]):
        tpr = matched[(matched["metric"] == "tpr_at_fpr") & (matched["attack"] == a)]
        held = matched[(matched["metric"] == "fpr_heldout") & (matched["attack"] == a)]
        notes = set(tpr["note"])
        cells = (f"{notes.pop()} calibration photographs for every detector ({fpr:g}% of them is under "
                 f"{MIN_EXPECTED_FALSE_POSITIVES} expected false positives)") if len(notes) == 1 and "" not in notes \
            else ", ".join(f"{method_label(*r[METHOD])} "
                           + (r["note"] if r["note"] else f"{100 * r['value']:.1f}% (held-out FPR {100 * f:.1f}%)")
                           for (_, r), f in zip(tpr.iterrows(), held["value"], strict=True))
        lines.append(f"- {attack_label(a)} at a matched {fpr:g}% false-positive rate (held-out half): {cells}.")
    return lines


def update_readme(readme: str | Path, results_dir: str | Path) -> bool:
    """Rewrite the README's findings block from the results; return whether it changed.

    Args:
        readme: the README file, with the findings markers.
        results_dir: the notebooks' results folder.

    Returns:
        True when the README changed.

    Raises:
        ValueError: a README without the findings markers."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    new = text[:start] + "\n" + readme_findings(results_dir) + "\n" + text[end:]
    if new != text:
        write_atomically(readme, lambda tmp: Path(tmp).write_text(new))
    return new != text



def rate_prose(row: pd.Series, metric: str) -> str:
    """A rate column of a table ('bypass_own', ...: the value, ``_ci_low``, ``_ci_high``, ``_n`` and, where the table
    has it, ``_photographs``) in prose: '75.0% [30, 95] (n = 4)'.

    Args:
        row: one row of the table.
        metric: the rate's column.

    Returns:
        the text."""
    photographs = row.get(f"{metric}_photographs")
    return rate_text(row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"], row[f"{metric}_n"], prose=True,
                     n_photographs=None if photographs is None or pd.isna(photographs) else photographs)


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
            ``system``), or None.

    Returns:
        One Markdown list item."""
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


if __name__ == "__main__":  # python -m helpers.findings README.md data/results
    import sys

    print("README findings", "updated" if update_readme(sys.argv[1], sys.argv[2]) else "unchanged")
