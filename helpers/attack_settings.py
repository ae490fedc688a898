"""The attacks' names and settings, importable without TensorFlow (``helpers.attacks`` runs them).

``DEFAULTS`` holds every attack's parameters for a CPU run; ``PAPER_PARAMS``, full-scale settings for a GPU,
are ``PAPER_OVERRIDES`` on them; ``SETTINGS`` names the two as the notebooks' ``attack_settings``. Budgets
(``eps``) are in [0, 1] units (2/255 is 2 grey levels); what each parameter means: ``helpers.attacks``.
"""

from __future__ import annotations

import numpy as np

from helpers.names import LOSSES
from helpers.validation import check_choice, check_count, check_number

DEFAULTS: dict[str, dict] = {
    "fgsm": {"eps": 2 / 255},
    "bim": {"eps": 2 / 255, "eps_step": 0.5 / 255, "max_iter": 10},
    "pgd": {"eps": 2 / 255, "eps_step": 0.5 / 255, "max_iter": 20, "num_random_init": 1},
    "pgd_l2": {"eps": 1.0, "eps_step": 0.1, "max_iter": 20, "num_random_init": 1},
    "cw_l2": {"targeted": True, "confidence": 0.0, "learning_rate": 0.01, "binary_search_steps": 5,
              "max_iter": 20, "initial_const": 1.0, "max_halving": 5, "max_doubling": 5},
    # C&W-L2 with a logit margin: fewer, larger steps from a larger constant, so its CPU cost stays near a third of
    # cw_l2's (measured on the 16 default views: 62 s against 170 s, 12 of 16 successful)
    "cw_l2_kappa": {"targeted": True, "confidence": 5.0, "learning_rate": 0.05, "binary_search_steps": 2,
                    "max_iter": 20, "initial_const": 10.0, "max_halving": 2, "max_doubling": 2},
    "deepfool": {"max_iter": 50, "epsilon": 0.02, "nb_grads": 10},
    "square": {"eps": 2 / 255, "max_iter": 100, "p_init": 0.05, "nb_restarts": 1},
    "hopskipjump": {"norm": 2, "max_iter": 10, "max_eval": 1000, "init_eval": 100, "init_size": 100},
}
# Full-scale settings (GPU), as overrides on DEFAULTS: the iterative attacks run longer and C&W searches its
# constant widely.
PAPER_OVERRIDES: dict[str, dict] = {
    "bim": {"eps_step": 0.25 / 255, "max_iter": 50},
    "pgd": {"eps_step": 0.25 / 255, "max_iter": 100},
    "pgd_l2": {"eps_step": 0.05, "max_iter": 100},
    "cw_l2": {"binary_search_steps": 9, "max_iter": 100, "initial_const": 0.01},
    "cw_l2_kappa": {"learning_rate": 0.01, "binary_search_steps": 9, "max_iter": 100, "initial_const": 0.01,
                    "max_halving": 5, "max_doubling": 5},
    "deepfool": {"max_iter": 100},
    "square": {"max_iter": 1000},
    "hopskipjump": {"max_iter": 50, "max_eval": 10000},
}


def with_overrides(base: dict[str, dict], overrides: dict[str, dict]) -> dict[str, dict]:
    """Each attack's settings of ``base`` updated with its ``overrides`` (attacks ``base`` lacks are refused).

    Args:
        base: attack -> parameters (e.g. ``DEFAULTS``).
        overrides: attack -> the parameters that differ.

    Returns:
        attack -> the full parameters, for every attack of ``base``.

    Raises:
        ValueError: for an override of an unknown attack or parameter."""
    for name, params in overrides.items():
        unknown = sorted(set(params) - set(base.get(name, {})))
        if name not in base or unknown:
            raise ValueError(f"override of {name!r} names what its settings lack: {unknown or name}")
    return {name: {**params, **overrides.get(name, {})} for name, params in base.items()}


PAPER_PARAMS: dict[str, dict] = with_overrides(DEFAULTS, PAPER_OVERRIDES)
ATTACKS = tuple(DEFAULTS)
SETTINGS = {"default": DEFAULTS, "paper": PAPER_PARAMS}  # the notebooks' attack_settings
BLACK_BOX = ("square", "hopskipjump")  # attacks that only query the model (AttackResult.queries)
LINF_EPS = ("fgsm", "bim", "pgd", "square")  # attacks whose eps is an L-inf budget in [0, 1] units


def resolve_params(name: str, params: dict) -> dict:
    """The attack's full parameters: defaults updated with ``params`` (unknown names rejected).

    Args:
        name: one of ``ATTACKS``.
        params: the parameters that differ from ``DEFAULTS[name]``.

    Raises:
        ValueError: an unknown attack or parameter, a value out of range (an L-inf eps > 1, init_eval >
            max_eval, a norm other than 2 or 'inf', a cw_l2_kappa confidence of 0).
        TypeError: a value of the wrong type (a non-number, a non-integer count, a non-bool targeted)."""
    check_choice(name, ATTACKS, "attack")
    unknown = sorted(set(params) - set(DEFAULTS[name]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for attack {name!r}; "
                         f"valid: {', '.join(sorted(DEFAULTS[name]))}")
    resolved = {**DEFAULTS[name], **params}
    for key in ("eps", "eps_step", "learning_rate", "epsilon", "confidence", "initial_const", "p_init"):
        if key in resolved:
            check_number(resolved[key], f"{name} {key}", 0.0, 1.0 if key == "p_init" else np.inf,
                         low_open=key != "confidence")
    for key in ("max_iter", "binary_search_steps", "nb_grads", "num_random_init", "max_halving", "max_doubling",
                "nb_restarts", "max_eval", "init_eval", "init_size"):
        if key in resolved:
            check_count(resolved[key], f"{name} {key}", minimum=0 if key == "num_random_init" else 1)
    if "targeted" in resolved and not isinstance(resolved["targeted"], bool):
        raise TypeError(f"{name} targeted must be True or False, got {resolved['targeted']!r}")
    if name == "cw_l2_kappa" and resolved["confidence"] <= 0:
        raise ValueError(f"cw_l2_kappa confidence must be > 0 (C&W-L2 at κ = 0 is 'cw_l2'), "
                         f"got {resolved['confidence']}")
    if name in LINF_EPS and resolved["eps"] > 1:
        raise ValueError(f"{name} eps is in [0, 1] units (2/255 = 2 grey levels); got {resolved['eps']}")
    if "norm" in resolved and (isinstance(resolved["norm"], bool) or resolved["norm"] not in (2, "inf")):
        raise ValueError(f"{name} norm must be 2 or 'inf', got {resolved['norm']!r}")
    if "init_eval" in resolved and resolved["init_eval"] > resolved["max_eval"]:
        raise ValueError(f"{name} init_eval ({resolved['init_eval']}) must not exceed max_eval "
                         f"({resolved['max_eval']})")
    return resolved


# The adaptive evaluation's budgets (helpers.adaptive.evaluation.evaluate_adaptive): per member of the ensemble, APGD's
# iterations; the consensus' best wrong classes attacked with the targeted ``losses``; whether an untargeted
# APGD-CE runs first; Square's queries on the defended system; the checks' upward iteration sweep (x
# ``sweep_factor``), further random starts (``restarts``) and the images attacked at an unbounded budget. "standard"
# is AutoAttack's standard version (Croce & Hein 2020: APGD-CE 100 iterations, APGD-T with the targeted DLR loss
# and 9 targets x 100, Square 5,000 queries) adapted to detectors; "quick" is sized for notebook 08 on 2 CPU cores.
ENSEMBLE_BUDGETS: dict[str, dict] = {
    "quick": {"max_iter": 10, "n_targets": 3, "losses": ["ce", "dlr"], "untargeted": True, "square_queries": 100,
              "sweep_factor": 5, "restarts": 1, "unbounded_images": 10},
    "standard": {"max_iter": 100, "n_targets": 9, "losses": ["dlr"], "untargeted": True, "square_queries": 5000,
                 "sweep_factor": 5, "restarts": 1, "unbounded_images": 10},
}
ENSEMBLE_BUDGET_OF = {"default": "quick", "paper": "standard"}  # attack_settings -> the ensemble's budget


def resolve_ensemble_budget(settings: str, overrides: dict) -> dict:
    """The adaptive ensemble's budget of ``attack_settings`` ``settings`` (``ENSEMBLE_BUDGET_OF``) updated with
    ``overrides`` (unknown names and bad values rejected).

    Args:
        settings: ``"default"`` (the ``"quick"`` budget) or ``"paper"`` (``"standard"``).
        overrides: names of ``ENSEMBLE_BUDGETS[...]`` -> values.

    Raises:
        ValueError: unknown settings or names, values out of range (a sweep factor below 2, more than 9 targets,
            an empty, repeated or unknown loss).
        TypeError: a value of the wrong type."""
    base = ENSEMBLE_BUDGETS[ENSEMBLE_BUDGET_OF[check_choice(settings, tuple(ENSEMBLE_BUDGET_OF), "attack_settings")]]
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(f"unknown adaptive budget name(s) {unknown}; valid: {', '.join(sorted(base))}")
    b = {**base, **overrides}
    for key in ("max_iter", "n_targets", "square_queries", "restarts", "unbounded_images"):
        check_count(b[key], f"adaptive budget {key}", minimum=1 if key in ("max_iter", "n_targets") else 0)
    check_count(b["sweep_factor"], "adaptive budget sweep_factor", minimum=2)
    if b["n_targets"] > 9:
        raise ValueError(f"adaptive budget n_targets is at most 9 (AutoAttack's), got {b['n_targets']}")
    if not isinstance(b["untargeted"], bool):
        raise TypeError(f"adaptive budget untargeted must be True or False, got {b['untargeted']!r}")
    losses = b["losses"]
    if (not isinstance(losses, (list, tuple)) or not losses or len(set(losses)) != len(losses)
            or any(v not in LOSSES for v in losses)):
        raise ValueError(f"adaptive budget losses must be distinct names from {list(LOSSES)}, got {losses!r}")
    return {**b, "losses": list(losses)}
