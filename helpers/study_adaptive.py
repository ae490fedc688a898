"""The adaptive evaluation in a study's shards (docs/adaptive.md).

``attacks`` may name ``adaptive`` and further sets ``adaptive.<anything>``, each set by ``attack_params[name]`` over
``ADAPTIVE_DEFAULTS`` (:func:`adaptive_settings`; ``kind``: the detector-aware APGD ``ensemble`` against the
saliency detector with every theta and noise of the study (:func:`adaptive_defences`), or the ``transferred``
APGD-CE and the ``square`` black box that its checks compare it with; budget ``norm``, ``eps`` in [0, 1] units,
``max_iter``; the ensemble's options). Per block, each set's per-image outcomes
(:data:`helpers.adaptive.outcomes.OUTCOME_COLUMNS`, :func:`block_outcomes`; a shard's:
:func:`helpers.study_shards.run_shard_adaptive`) are written beside the shard as
``shard-XXXX-of-YYYY.adaptive.parquet`` with its own checksum, and merged (:func:`merge_adaptive`) into
``adaptive.parquet``, ``adaptive_rates.csv`` (bypass at the own rule, and at a matched threshold fitted after the
merge on the clean scores of half of the photographs) and ``adaptive_checks.csv`` (the checks of
:func:`helpers.adaptive.outcomes.outcome_checks`, iteration and eps sweeps being further named sets).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.adaptive.defences import Defence
from helpers.adaptive.judge import AttackBudget
from helpers.adaptive.members import adaptive_attack, ensemble, square_attack, transferred_attack
from helpers.adaptive.model import detector_aware_bundle
from helpers.adaptive.outcomes import outcome_checks, outcome_rates, outcome_rows
from helpers.data import ImageSet
from helpers.detectors import SaliencyDetector
from helpers.models import ModelBundle
from helpers.study_files import outcome_path, shard_path, write_checked
from helpers.study_setup import adaptive_names, block_seed, is_adaptive
from helpers.validation import check_number


def adaptive_settings(config: Mapping[str, Any], attack: str) -> dict[str, Any]:
    """``ADAPTIVE_DEFAULTS`` updated by ``attack_params[attack]``, checked.

    Raises:
        ValueError: an unknown setting or a value the adaptive attack refuses, naming the set."""
    s = adaptive_names(config, attack)
    try:
        AttackBudget(s["norm"], s["eps"], s["max_iter"])
        ensemble(s["n_targets"], s["losses"], s["score_weight"], s["kappa"], s["untargeted"])
        if not isinstance(s["untargeted"], bool):
            raise TypeError(f"untargeted must be True or False, got {s['untargeted']!r}")
        if s["score_goal"] is not None:
            check_number(s["score_goal"], "score_goal", 0.0, 2.0)
        if s["kind"] == "square" and s["norm"] != "linf":
            raise ValueError("Square here is an L-inf attack: norm must be 'linf'")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attack_params[{attack!r}]: {exc}") from exc
    return s


def adaptive_defences(bundle: ModelBundle, c: Mapping[str, Any]) -> list[Defence]:
    """The saliency detector of the study, one per noise with every theta: the system the sets attack.

    Returns:
        one :class:`~helpers.adaptive.defences.Defence` per noise."""
    return [Defence(f"saliency ({noise})", SaliencyDetector(bundle, list(c["thetas"]), noise, c["colormap"],
                                                            c["overlay_order"], c["zero_mean_reference"]),
                    c["batch_size"]) for noise in c["noises"]]


_ADAPTIVE_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _adaptive_model(bundle: ModelBundle, defences: list[Defence], variant: str, emphasis_clip: str) -> ModelBundle:
    """The detector-aware model, built once per process, model and settings (its functions traced once)."""
    d = defences[0].detector
    key = (tuple(x.noise for x in (e.detector for e in defences)), tuple(d.thetas), d.colormap, d.overlay_order,
           d.zero_mean_reference, variant, emphasis_clip)
    per_model = _ADAPTIVE_MODELS.setdefault(bundle.model, {})
    if key not in per_model:
        per_model[key] = detector_aware_bundle(bundle, [e.detector for e in defences], variant, emphasis_clip)
    return per_model[key]


def block_outcomes(bundle: ModelBundle, config: Mapping[str, Any], images: ImageSet, positions: np.ndarray,
                   block: int) -> pd.DataFrame:
    """The outcome rows (``OUTCOME_COLUMNS``) of every adaptive set on one block of images, attacking their
    true labels (f's own label where none is known), seeded per block as the other attacks.

    Args:
        positions: their positions in the full list.
        block: the block's index (its attack seed)."""
    c, bs, seed = config, config["batch_size"], block_seed(config["seed"], block)
    defences = adaptive_defences(bundle, c)
    f_labels = bundle.predict(images.x, bs)[0]
    y = np.where(images.labels >= 0, images.labels, f_labels).astype(np.int32)
    clean_score = np.max([d.scores(images.x)[1] for d in defences], axis=0)
    parts = []
    for attack in (a for a in c["attacks"] if is_adaptive(a)):
        s = adaptive_settings(c, attack)
        budget = AttackBudget(s["norm"], s["eps"], s["max_iter"])
        if s["kind"] == "transferred":
            outcome = transferred_attack(bundle, defences, images.x, y, budget, bs, seed)
        elif s["kind"] == "square":  # on the defended system: the consensus of its first variant's model
            model = _adaptive_model(bundle, defences, s["variants"][0], s["emphasis_clip"])
            outcome = square_attack(bundle, model, defences, images.x, y, s["eps"], s["max_iter"], bs, seed)
        else:
            models = {v: _adaptive_model(bundle, defences, v, s["emphasis_clip"]) for v in s["variants"]}
            outcome = adaptive_attack(bundle, models, defences, images.x, y, budget, s["n_targets"], s["losses"], bs,
                                      seed, attack, s["score_weight"], s["kappa"], s["score_goal"], s["untargeted"])
        parts.append(outcome_rows(outcome, attack, s["kind"], y, clean_score, positions, images.ids,
                                  images.photographs, images.labels))
    return pd.concat(parts, ignore_index=True)


def merge_adaptive(config: Mapping[str, Any], out_dir: Path, n_shards: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The shards' adaptive outcome rows (``image`` renumbered as :func:`helpers.study_shards.merge_shards` does),
    their rates and, when ``adaptive`` is among the sets, their checks; written as ``adaptive.parquet``,
    ``adaptive_rates.csv`` and ``adaptive_checks.csv``.

    Returns:
        (rows, rates, checks)."""
    rows = pd.concat([pd.read_parquet(outcome_path(shard_path(out_dir, s, n_shards))) for s in range(n_shards)],
                     ignore_index=True)
    rows["image"] = np.searchsorted(np.unique(rows["image"].to_numpy()), rows["image"].to_numpy()).astype("int64")
    rates = outcome_rates(rows, config["fpr"], config["seed"])
    checks = (outcome_checks(rows, config["fpr"], config["seed"]) if "adaptive" in config["attacks"]
              else pd.DataFrame(columns=["check", "passed", "detail"]))
    write_checked(out_dir / "adaptive.parquet", lambda tmp: rows.to_parquet(tmp, index=False), ".parquet")
    for table, name in ((rates, "adaptive_rates.csv"), (checks, "adaptive_checks.csv")):
        write_checked(out_dir / name, lambda tmp, t=table: t.to_csv(tmp, index=False, float_format="%.6g"), ".csv")
    return rows, rates, checks
