"""Summaries of attack runs: success rates with intervals (in a table, or in prose: :func:`format_share`),
perturbation sizes, and the success-vs-budget sweep used as a sanity check (an attack on the undefended model,
reported first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers.attack_settings import ATTACKS, DEFAULTS, SETTINGS, with_overrides
from helpers.attacks import AttackResult
from helpers.cache import cached_attack
from helpers.data import ImageSet
from helpers.labels import ATTACK_LABELS, rate_text
from helpers.metrics import rate_row, share
from helpers.models import ModelBundle
from helpers.validation import check_choice


def _success_columns(success: np.ndarray, photographs: np.ndarray | None = None) -> dict[str, float]:
    """success_rate and its Wilson 95% interval (views of one photograph counted as such) as
    success_rate_ci_low / _ci_high, and n_photographs."""
    r = rate_row(share(np.asarray(success, bool), photographs))
    return {"success_rate": r["value"], "success_rate_ci_low": r["ci_low"], "success_rate_ci_high": r["ci_high"],
            "n_photographs": r["n_photographs"]}


def format_share(flags, groups=None) -> str:
    """The share of True ``flags`` in prose, in the one format of every rate
    (:func:`helpers.labels.rate_text`): '87.5% [59, 98] (n = 16 views of 8 photographs)'.

    Args:
        flags: booleans, one per input (e.g. an attack's success).
        groups: each input's photograph (None: one each); the interval counts views of one
            photograph as such (:func:`helpers.metrics.share`).

    Returns:
        the text; 'not measured' for no flags.
    """
    rate = share(flags, groups)
    return rate_text(rate.value, *rate.interval, rate.n, prose=True, n_photographs=rate.photographs)


def attack_summary(results: dict[str, AttackResult], photographs: np.ndarray | None = None) -> pd.DataFrame:
    """One row per attack: n, success rate (Wilson 95% CI counting views of one photograph as such;
    ``photographs``: each image's photograph, None: all distinct), L2 and L-inf sizes of the successful
    examples in [0, 1] units (L-inf also in grey levels). No timings: they change from run to run
    and belong in ``make benchmark``, not in a committed result table.

    Args:
        results: label -> the attack's result.
        photographs: (N,) each clean image's photograph, or None.

    Returns:
        one row per attack: ``attack``, ``n``, ``successes``, ``success_rate`` with
        ``success_rate_ci_low``/``_ci_high``, ``n_photographs``, ``l2_mean``, ``l2_median``,
        ``linf_mean``, ``linf_median_255``."""
    rows = []
    for label, r in results.items():
        ok = r.success
        rows.append({
            "attack": label, "n": len(ok), "successes": int(ok.sum()),
            **_success_columns(ok, photographs),
            "l2_mean": float(r.l2[ok].mean()) if ok.any() else np.nan,
            "l2_median": float(np.median(r.l2[ok])) if ok.any() else np.nan,
            "linf_mean": float(r.linf[ok].mean()) if ok.any() else np.nan,
            "linf_median_255": float(np.median(r.linf[ok]) * 255) if ok.any() else np.nan,
        })
    return pd.DataFrame(rows)


def epsilon_sweep(bundle: ModelBundle, images: ImageSet, attacks: dict[str, dict], eps_values: list[float],
                  cache_dir: str | Path, seed: int = 0, batch_size: int = 16) -> pd.DataFrame:
    """Success rate vs budget: for each attack (name -> fixed parameters) and each eps in [0, 1]
    units, a row with eps, eps_255, n, successes and the rate with its Wilson interval.

    Args:
        attacks: attack name -> its fixed parameters (``eps`` is swept).
        eps_values: budgets in [0, 1] units.
        seed: the attacks' seed.
        batch_size: images per ART batch.

    Returns:
        one row per (attack, eps), with ``n_photographs``.

    Raises:
        ValueError, TypeError: bad attack parameters (:func:`helpers.attacks.resolve_params`)."""
    rows = []
    for name, params in attacks.items():
        for eps in eps_values:
            r = cached_attack(name, bundle, images, cache_dir, seed=seed, batch_size=batch_size, eps=eps, **params)
            rows.append({"attack": name, "eps": eps, "eps_255": eps * 255, "n": len(r.success),
                         "successes": int(r.success.sum()), **_success_columns(r.success, images.photographs)})
    return pd.DataFrame(rows)


def full_success_budgets(sweep: pd.DataFrame) -> pd.DataFrame:
    """Where each attack of an ε sweep succeeds on every image: the smallest budget from which every larger
    budget tried does too, and every budget that does.

    Args:
        sweep: :func:`epsilon_sweep`'s rows (``attack``, ``eps_255``, ``successes``, ``n``).

    Returns:
        one row per attack, in the sweep's order: ``from_eps_255`` (NaN where no budget starts such a run,
        including the largest failing), ``full_at_255`` (tuple of the budgets with 100% success),
        ``successes`` (tuple, by increasing budget) and ``n``."""
    rows = []
    for attack, g in sweep.groupby("attack", sort=False):
        g = g.sort_values("eps_255")
        full = (g["successes"] == g["n"]).to_numpy()
        from_here = np.flatnonzero(np.cumprod(full[::-1])[::-1])  # budgets from which every larger one is 100%
        rows.append({"attack": attack, "from_eps_255": g["eps_255"].iloc[from_here[0]] if from_here.size else np.nan,
                     "full_at_255": tuple(g["eps_255"][full]), "successes": tuple(int(k) for k in g["successes"]),
                     "n": int(g["n"].iloc[0])})
    return pd.DataFrame(rows, columns=["attack", "from_eps_255", "full_at_255", "successes", "n"])


def _budget(name: str, p: dict) -> str:
    """One attack's settings in words."""
    linf = f"{255 * p['eps']:.4g}/255" if "eps" in p else ""
    if name == "fgsm":
        return f"ε = {linf}"
    if name in ("bim", "pgd"):
        starts = f", {p['num_random_init']} random start" if p.get("num_random_init") else ""
        return f"ε = {linf}, {p['max_iter']} steps of {255 * p['eps_step']:.3g}/255{starts}"
    if name == "pgd_l2":
        return f"ε = {p['eps']:g} (L2, [0, 1] units), {p['max_iter']} steps of {p['eps_step']:g}"
    if name in ("cw_l2", "cw_l2_kappa"):
        aim = "targeted at a seeded random class" if p["targeted"] else "untargeted"
        return f"{aim}, confidence κ = {p['confidence']:g}, {p['binary_search_steps']} × {p['max_iter']} iterations"
    if name == "deepfool":
        return f"{p['max_iter']} iterations, overshoot {p['epsilon']:g}"
    if name == "square":
        return f"ε = {linf}, {p['max_iter']} queries"
    return f"{p['max_iter']} iterations, {p['max_eval']} evaluations"


def settings_text(attacks: list[str], settings: str = "default", overrides: dict[str, dict] | None = None) -> str:
    """The attacks' settings for a caption: 'Attacks (default settings): FGSM ε = 2/255; PGD ε = 2/255, 20 steps
    of 0.5/255, 1 random start.' (``settings``: a key of ``SETTINGS``; ``overrides``: attack -> the parameters
    that differ, as the notebooks' ``attack_params``).

    Raises:
        ValueError: an unknown attack or settings name, or an override of an unknown parameter."""
    check_choice(settings, tuple(SETTINGS), "attack settings")
    full = with_overrides(SETTINGS[settings], {k: v for k, v in (overrides or {}).items() if k in attacks})
    unknown = [a for a in attacks if a not in full]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; valid: {', '.join(ATTACKS)}")
    changed = " with overrides" if overrides and set(overrides) & set(attacks) else ""
    return (f"Attacks ({settings} settings{changed}): "
            + "; ".join(f"{ATTACK_LABELS.get(a, a)} {_budget(a, full[a])}" for a in attacks) + ".")


def cw_confidence(parameters: dict, attack: str = "cw_l2") -> float | None:
    """The confidence κ (a logit margin) of a run's C&W-L2 attack ``attack`` ('cw_l2' or 'cw_l2_kappa'), from its
    checked parameters (``attacks``, ``attack_settings``, ``attack_params``); None when the run lacks it."""
    if attack not in parameters.get("attacks", ()):
        return None
    settings = with_overrides(SETTINGS[parameters.get("attack_settings", "default")],
                              {k: v for k, v in (parameters.get("attack_params") or {}).items() if k == attack})
    return float(settings[attack]["confidence"])


def boundary_caveat(parameters: dict) -> str:
    """A Markdown list item for a run whose C&W-L2 ran at confidence κ = 0 (else ''): its examples sit on the
    decision boundary, so any change of the input, a noise alone included, can undo them; it points to the run's
    C&W-L2 κ>0 column, or says how to add one."""
    kappa = cw_confidence(parameters)
    if kappa is None or kappa > 0:
        return ""
    margin = cw_confidence(parameters, "cw_l2_kappa")
    beside = (f"The {ATTACK_LABELS['cw_l2_kappa']} column beside it (κ = {margin:g}) shows examples with a margin."
              if margin is not None else
              f"For examples with a margin, add `\"cw_l2_kappa\"` (κ = {DEFAULTS['cw_l2_kappa']['confidence']:g}) to "
              "`attacks`.")
    return ("- *C&W-L2 at confidence κ = 0:* its examples sit on the decision boundary, where any change of the "
            "input (the noise alone, θ = 0, included) can undo them, so its detection rate measures that fragility "
            f"more than the detector. {beside}")
