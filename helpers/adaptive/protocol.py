"""Notebook 08's paper protocol: the non-adaptive and black-box attack sets made on f, how each detector judges
them (at its own rule and at a matched false-positive rate), the bypass table, and the paper's setting beside the
adaptive ensemble's worst case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.adaptive.defences import Defence, clustered_columns
from helpers.attack_settings import SETTINGS, with_overrides
from helpers.attacks import AttackResult
from helpers.cache import cached_attack
from helpers.data import ImageSet
from helpers.labels import Cell, attack_label, rate_cell
from helpers.models import ModelBundle
from helpers.runtime import write_atomically
from helpers.validation import check_images, check_labels

# Attack budgets of notebook 08 by ``attack_settings``, as overrides on ``helpers.attacks.SETTINGS`` of the same
# name; eps is set per run, and a PGD step is 2.5 * eps / max_iter (Madry et al.). "default" fits a 2-core CPU;
# "paper" is full scale (GPU).
ADAPTIVE_OVERRIDES: dict[str, dict[str, dict]] = {
    "default": {
        "pgd": {"max_iter": 5, "num_random_init": 0},
        "pgd_l2": {"max_iter": 5, "num_random_init": 0},
        "cw_l2": {"targeted": False, "binary_search_steps": 1, "max_iter": 10},
        "square": {"max_iter": 50},
        "hopskipjump": {"max_iter": 3, "max_eval": 50, "init_eval": 10, "init_size": 20},
    },
    "paper": {"pgd": {}, "pgd_l2": {}, "cw_l2": {"targeted": False}, "square": {"max_iter": 5000}, "hopskipjump": {}},
}


ADAPTIVE_SETTINGS: dict[str, dict[str, dict]] = {
    name: {attack: p for attack, p in with_overrides(SETTINGS[name], overrides).items() if attack in overrides}
    for name, overrides in ADAPTIVE_OVERRIDES.items()}


NON_ADAPTIVE = "non-adaptive"
HIGH_CONFIDENCE = "non-adaptive, high confidence"


ENSEMBLE_MODE = "adaptive ensemble vs the system"  # paper_vs_adaptive's column of the ensemble's worst case


def pgd_params(settings: dict, eps: float) -> dict:
    """PGD parameters at budget ``eps``: the settings' iterations, step 2.5 * eps / max_iter.

    Args:
        settings: PGD's parameters, with ``max_iter``.
        eps: the budget in [0, 1] units.

    Returns:
        the parameters with ``eps`` and ``eps_step``."""
    return {**settings, "eps": eps, "eps_step": 2.5 * eps / settings["max_iter"]}


@dataclass(frozen=True)
class AttackRun:
    """One adversarial set of the evaluation.

    Attributes:
        label: its name in tables (and its key in :func:`run_all`'s results).
        attack: a ``helpers.attacks`` name.
        mode: ``NON_ADAPTIVE``, ``HIGH_CONFIDENCE``, or a black-box description.
        target: the defence a black box answers through, ``""`` for none.
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget within which success counts, [0, 1] units (nan: none).
        model: the model attacked (f).
        detector: the detector that a black box answers through (HopSkipJump), else ``None``."""

    label: str
    attack: str
    mode: str
    target: str
    norm: str
    eps: float
    model: ModelBundle
    params: dict = field(default_factory=dict)
    detector: object = None


def within_budget(result: AttackResult, norm: str, eps: float) -> np.ndarray:
    """Success on f and, when ``eps`` is a number, the perturbation within it (L2 or L-inf, [0, 1] units).

    Args:
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget in [0, 1] units, or nan for none.

    Returns:
        (N,) bool."""
    if np.isnan(eps):
        return result.success.copy()
    size = result.l2 if norm == "l2" else result.linf
    return result.success & (size <= eps * (1 + 1e-4))


def bypass_table(bundle: ModelBundle, runs: Sequence[AttackRun], results: dict[str, AttackResult],
                 defences: Sequence[Defence], x_clean: np.ndarray, y: np.ndarray,
                 photographs: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (attack set, defence), plus a ``clean`` row per defence (its false-positive rates on the
    reported clean images): ``success`` (fooled f within the budget, over n), ``detection_own`` /
    ``detection_matched`` (flagged, over the successful examples), ``bypass_own`` / ``bypass_matched``
    (successful and not flagged, over n), each with a 95% interval counting views of one photograph as such
    (:func:`clustered_columns`), its n and photographs; median L2 and L-inf (grey levels) of the successful
    examples; median queries of black-box attacks. ``results`` are keyed by ``run.label``; success is judged on
    f (``bundle``) against ``y``, never on an adaptive model. A defence without a matched threshold (not
    resolvable, :func:`resolvable_fit`) has no matched rates (n = 0), nor a score-only one an own rule.

    Args:
        bundle: f.
        results: ``run.label`` -> its result.
        x_clean: (N, H, W, 3) the clean images attacked, RGB 0..255.
        y: (N,) the labels attacked.
        photographs: (N,) each image's photograph (None: one each).

    Raises:
        TypeError, ValueError: bad images or labels (:mod:`helpers.validation`)."""
    x_clean = check_images(x_clean, "x_clean", bundle.input_size)
    y = check_labels(y, len(x_clean), bundle.n_classes)
    groups = np.arange(len(x_clean)).astype(str) if photographs is None else np.asarray(photographs, dtype=object)
    rows = []
    for d in defences:
        own, matched = _defence_flags(d, x_clean)
        row = {"label": "clean", "attack": "clean", "mode": "", "target": "", "norm": "", "eps": np.nan,
               "defence": d.name, "n": len(x_clean)}
        for rule, flags in (("own", own), ("matched", matched)):
            row |= clustered_columns(f"fpr_{rule}", flags if flags is not None else np.zeros(0, bool),
                                     groups if flags is not None else None)
        rows.append(row)
    for run in runs:
        r = results[run.label]
        labels = bundle.predict(r.x_adv)[0]
        fooled = AttackResult(r.name, r.x_adv, labels != y, y, labels, None, r.l2, r.linf, r.params, r.seconds)
        ok = within_budget(fooled, run.norm, run.eps)
        n, k = len(ok), int(ok.sum())
        sizes = {"l2_median": float(np.median(r.l2[ok])) if k else np.nan,
                 "linf_median_255": float(np.median(r.linf[ok]) * 255) if k else np.nan,
                 "queries_median": float(np.median(r.queries)) if r.queries is not None else np.nan}
        for d in defences:
            row = {"label": run.label, "attack": run.attack, "mode": run.mode, "target": run.target,
                   "norm": run.norm, "eps": run.eps, "defence": d.name, "n": n,
                   **clustered_columns("success", ok, groups)}
            for rule, flags in zip(("own", "matched"), _defence_flags(d, r.x_adv), strict=True):
                none = np.zeros(0, bool)
                row |= clustered_columns(f"detection_{rule}", none if flags is None else flags[ok],
                                         None if flags is None else groups[ok])
                row |= clustered_columns(f"bypass_{rule}", none if flags is None else ok & ~flags,
                                         None if flags is None else groups)
            rows.append(row | sizes)
    return pd.DataFrame(rows)


def _defence_flags(d: Defence, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(own, matched) flags of a defence; None for a rule it does not have (no own rule; no threshold)."""
    own, score = d.scores(x)
    return (own if d.has_own_rule else None), (score > d.threshold if d.threshold is not None else None)


def save_bypass_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the tidy bypass table as CSV (atomically).

    Args:
        table: :func:`bypass_table`'s rows.

    Returns:
        ``path`` as a Path."""
    return write_atomically(Path(path), lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))


def load_bypass_table(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`save_bypass_table` (empty text columns read back as "")."""
    return pd.read_csv(path).fillna({c: "" for c in ("mode", "target", "norm")})


def _cells(table: pd.DataFrame, metric: str) -> list[Cell]:
    cols = [metric, f"{metric}_ci_low", f"{metric}_ci_high", f"{metric}_n"]
    return [rate_cell(*values) for values in table[cols].to_numpy()]


def bypass_layout(table: pd.DataFrame) -> pd.DataFrame:
    """The bypass table for reading: rates as 'value [CI] (n)' in percent, sizes rounded.

    Args:
        table: :func:`bypass_table`'s rows.

    Returns:
        one row per (attack set, defence), without the clean rows."""
    sets = table[table["attack"] != "clean"]
    out = pd.DataFrame({"attack set": sets["label"], "defence": sets["defence"],
                        "success": _cells(sets, "success")})
    for metric in ("detection_own", "bypass_own", "detection_matched", "bypass_matched"):
        out[metric.replace("_", " ")] = _cells(sets, metric)
    out["L2 median"] = sets["l2_median"].round(3).to_numpy()
    out["L∞ median /255"] = sets["linf_median_255"].round(2).to_numpy()
    out["queries median"] = sets["queries_median"].to_numpy()
    return out.reset_index(drop=True)


def _worst_case_at(ensemble: pd.DataFrame | None, eps: float) -> pd.DataFrame:
    """The ensemble's worst-case row at L-inf budget ``eps`` ([0, 1] units), or no row."""
    if ensemble is None or np.isnan(eps):
        return pd.DataFrame()
    worst = ensemble[(ensemble["role"] == "worst case") & (ensemble["norm"] == "linf")]
    return worst[np.isclose(worst["eps_255"], 255 * eps)]


def paper_vs_adaptive(table: pd.DataFrame, attack: str = "pgd", ensemble: pd.DataFrame | None = None,
                      system: Sequence[str] = ()) -> pd.DataFrame:
    """"The paper's setting vs adaptive": per defence and budget, the detection rate of the attack made on the
    undefended model (the paper's evaluation) and its bypass rate, at the defence's own operating point and at its
    matched FPR; beside them, for the detectors of the ``system`` the adaptive ensemble attacked at once, the
    ensemble's worst-case bypass of the whole system at the same L-inf budget and the own rule (a bypass of the
    system bypasses each of its detectors; "–" where the ensemble did not run at that budget).

    Args:
        table: :func:`bypass_table`'s rows.
        ensemble: :func:`helpers.adaptive.evaluation.evaluate_adaptive`'s table, or None.
        system: the names of the defences the ensemble attacked.

    Returns:
        one row per (defence, budget), rates as text."""
    rows = []
    sub = table[(table["attack"] == attack) & (table["mode"] == NON_ADAPTIVE)]
    for (defence, eps), plain in sub.groupby(["defence", "eps"], sort=False, dropna=False):
        unit = "none (minimal L2)" if np.isnan(eps) else f"{255 * eps:g}/255" if plain["norm"].iloc[0] == "linf" \
            else f"{eps:g} (L2)"
        row = {"defence": defence, "attack": attack_label(attack), "ε": unit,
               "paper's setting: detection (own)": _cells(plain, "detection_own")[0],
               "paper's setting: detection (matched FPR)": _cells(plain, "detection_matched")[0]}
        row |= {f"bypass ({rule}): {NON_ADAPTIVE}": _cells(plain, f"bypass_{rule}")[0] for rule in ("own", "matched")}
        worst = _worst_case_at(ensemble, eps) if defence in system and plain["norm"].iloc[0] == "linf" else []
        row[f"bypass (own): {ENSEMBLE_MODE}"] = _cells(worst, "bypass_own")[0] if len(worst) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


VERSUS_RATES = ("detection_own", "detection_matched", "bypass_own", "bypass_matched")


def paper_vs_adaptive_tidy(table: pd.DataFrame, attacks: Sequence[str], ensemble: pd.DataFrame | None = None,
                           system: Sequence[str] = ()) -> pd.DataFrame:
    """The numbers behind :func:`paper_vs_adaptive` for ``attacks``, in long form: a row per attack set, defence
    and rate (``VERSUS_RATES``; the ensemble's: ``bypass_own``, mode ``ENSEMBLE_MODE``), in percent with its 95%
    interval and n (the tidy twin of its table).

    Args:
        table: :func:`bypass_table`'s rows (fractions).
        attacks: the attacks the table shows (e.g. ``("pgd", "pgd_l2", "cw_l2")``).
        ensemble, system: as :func:`paper_vs_adaptive`'s.

    Returns:
        Columns defence, attack, mode, target, norm, eps, metric, value, ci_low, ci_high, n, unit, interval."""
    sub = table[table["attack"].isin(attacks) & (table["mode"] == NON_ADAPTIVE)]
    ids = ["defence", "attack", "mode", "target", "norm", "eps"]
    parts = [sub[ids].assign(metric=m, value=100 * sub[m], ci_low=100 * sub[f"{m}_ci_low"],
                             ci_high=100 * sub[f"{m}_ci_high"], n=sub[f"{m}_n"]) for m in VERSUS_RATES]
    if "pgd" in attacks:
        for (defence, eps), _ in sub[(sub["attack"] == "pgd") & sub["defence"].isin(system)].groupby(
                ["defence", "eps"], sort=False):
            for _, w in _worst_case_at(ensemble, eps).iterrows():
                parts.append(pd.DataFrame([{"defence": defence, "attack": "pgd", "mode": ENSEMBLE_MODE, "target": "",
                                            "norm": "linf", "eps": eps, "metric": "bypass_own",
                                            "value": 100 * w["bypass_own"], "ci_low": 100 * w["bypass_own_ci_low"],
                                            "ci_high": 100 * w["bypass_own_ci_high"], "n": w["bypass_own_n"]}]))
    return pd.concat(parts, ignore_index=True).assign(unit="%", interval="Wilson 95%, clustered by photograph")


def evaluation_runs(bundle: ModelBundle, settings: dict[str, dict], eps_linf: Sequence[float], eps_l2: float,
                    cw_confidence: float, black_box_eps: float, guarded: tuple[str, object]) -> list[AttackRun]:
    """Notebook 08's non-adaptive attack sets (the adaptive attacker is the ensemble of
    :mod:`helpers.adaptive.members`). White box, made on f: PGD at each L-inf budget and PGD-L2 at ``eps_l2``; C&W-L2
    with confidence 0 and ``cw_confidence``. Black box: SquareAttack and HopSkipJump on f, and HopSkipJump on f
    guarded by a detector.

    Args:
        bundle: f.
        settings: the attacks' parameters (``ADAPTIVE_SETTINGS[...]``).
        eps_linf: PGD's L-inf budgets, [0, 1] units.
        eps_l2: PGD-L2's budget, and HopSkipJump's for success.
        cw_confidence: the high-confidence C&W's kappa.
        black_box_eps: SquareAttack's L-inf budget.
        guarded: (defence name, detector) that HopSkipJump's black box answers through."""
    runs = []
    for attack, norm, budgets in (("pgd", "linf", eps_linf), ("pgd_l2", "l2", [eps_l2])):
        for eps in budgets:
            budget = f"{255 * eps:g}/255" if norm == "linf" else f"{eps:g}"
            runs.append(AttackRun(f"{attack_label(attack)} ε={budget}", attack, NON_ADAPTIVE, "", norm, eps, bundle,
                                  pgd_params(settings[attack], eps)))
    for kappa, mode in ((0.0, NON_ADAPTIVE), (cw_confidence, HIGH_CONFIDENCE)):
        runs.append(AttackRun(f"C&W-L2 κ={kappa:g}", "cw_l2", mode, "", "l2", np.nan, bundle,
                              {**settings["cw_l2"], "confidence": kappa}))
    runs.append(AttackRun(f"Square ε={255 * black_box_eps:g}/255", "square", "black box (scores)", "", "linf",
                          black_box_eps, bundle, {**settings["square"], "eps": black_box_eps}))
    runs.append(AttackRun("HopSkipJump", "hopskipjump", "black box (labels)", "", "l2", eps_l2, bundle,
                          settings["hopskipjump"]))
    name, detector = guarded
    runs.append(AttackRun(f"HopSkipJump vs {name}", "hopskipjump", "black box (labels + rejected)", name, "l2",
                          eps_l2, bundle, settings["hopskipjump"], detector))
    return runs


def run_all(runs: Sequence[AttackRun], images: ImageSet, y: np.ndarray, cache_dir: str | Path, seed: int = 0,
            batch_size: int = 16) -> dict[str, AttackResult]:
    """Each run's adversarial set through the attack cache (keyed on the attacked model, which names the
    adaptive settings, and on the guarding detector), attacking f's labels ``y``.

    Args:
        y: (N,) f's labels, attacked.

    Returns:
        ``run.label`` -> its result."""
    return {run.label: cached_attack(run.attack, run.model, images, cache_dir, y, seed=seed, batch_size=batch_size,
                                     detector=run.detector, **run.params) for run in runs}
