"""The adaptive evaluation in a study (``helpers.study``): per-image outcome rows of each attack set, and the rates
(own rule; matched rule on a split by photograph) and checks computed from them after the merge, with the
functions of :mod:`helpers.adaptive.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.adaptive.checks import check_gain, check_nondecreasing, check_unbounded
from helpers.adaptive.defences import calibration_photographs, clustered_columns, unresolvable_note
from helpers.adaptive.judge import RULES, AttackBudget, AttackOutcome
from helpers.metrics import grouped_split, resolvable, threshold_at_fpr
from helpers.names import ADAPTIVE_KINDS
from helpers.validation import check_choice

# Per-image outcomes as rows (a study's shards; helpers.study), and the rates and checks computed from them
OUTCOME_COLUMNS = ["image", "image_id", "photograph", "true_label", "attack", "kind", "norm", "eps", "max_iter",
                   "label_attacked", "bypassed_own", "found_by_own", "lowest_score", "lowest_by", "clean_score",
                   "seconds"]
KINDS = ADAPTIVE_KINDS  # the adaptive ensemble, and the attacks its checks compare it with


def outcome_rows(outcome: AttackOutcome, attack: str, kind: str, y: np.ndarray, clean_score: np.ndarray,
                 image: np.ndarray, image_id: Sequence[str], photograph: Sequence[str],
                 true_label: np.ndarray) -> pd.DataFrame:
    """One row per image of ``outcome`` (``OUTCOME_COLUMNS``): the attack set ``attack`` of ``kind`` (``KINDS``),
    its budget, the label attacked, bypassed at the own rule and by which member, the lowest detector score of
    a point that fooled f (inf: none) and by which member, the image's clean score and its share of the seconds.

    Args:
        y: (N,) the labels attacked.
        clean_score: (N,) the images' clean detector scores.
        image: (N,) the images' indices.
        image_id, photograph, true_label: (N,) the images' ids, photographs and true labels.

    Raises:
        ValueError: an unknown kind."""
    n = len(y)
    return pd.DataFrame({
        "image": np.asarray(image, np.int64), "image_id": list(image_id), "photograph": list(photograph),
        "true_label": np.asarray(true_label, np.int64), "attack": attack, "kind": check_choice(kind, KINDS, "kind"),
        "norm": outcome.budget.norm, "eps": outcome.budget.eps, "max_iter": outcome.budget.max_iter,
        "label_attacked": np.asarray(y, np.int64), "bypassed_own": outcome.bypassed["own"].astype(bool),
        "found_by_own": outcome.found_by["own"].astype(str), "lowest_score": outcome.lowest.astype(float),
        "lowest_by": outcome.lowest_by.astype(str), "clean_score": np.asarray(clean_score, float),
        "seconds": outcome.seconds / max(n, 1)}, columns=OUTCOME_COLUMNS)


@dataclass(frozen=True)
class MatchedSplit:
    """The matched rule of a table of outcome rows: the threshold fitted at ``fpr`` on the clean scores of the
    ``calibration`` images (a grouped split by photograph), judged on the others (``evaluated``); ``threshold``
    is nan, with a ``note``, when fpr x the calibration photographs is below ``MIN_CALIBRATION_FALSE_POSITIVES``.

    Attributes:
        images: all the images' indices.
        calibration: the calibration images' indices.
        threshold: the matched threshold, or nan.
        note: why there is no threshold, or ''."""

    images: np.ndarray
    calibration: np.ndarray
    threshold: float
    note: str

    @property
    def evaluated(self) -> np.ndarray:
        return self.images[~np.isin(self.images, self.calibration)]


def matched_split(rows: pd.DataFrame, fpr: float, seed: int) -> MatchedSplit:
    """The calibration half (``grouped_split`` of the photographs, ``seed``) and its threshold at ``fpr``, refused
    (nan, with a note) where fpr x the calibration *photographs* is below ``MIN_CALIBRATION_FALSE_POSITIVES``.

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``).

    Raises:
        TypeError, ValueError: ``fpr`` not a number in [0, 1) (where a threshold is fitted)."""
    per_image = rows.drop_duplicates("image").sort_values("image")
    photographs = per_image["photograph"].to_numpy()
    side = grouped_split(photographs, seed, 0.5)
    images, clean = per_image["image"].to_numpy(), per_image["clean_score"].to_numpy()
    m = calibration_photographs(int(side.sum()), photographs[side])  # the rule counts photographs, not views
    if not resolvable(fpr, m):
        return MatchedSplit(images, images[side], np.nan, unresolvable_note(fpr, m))
    return MatchedSplit(images, images[side], threshold_at_fpr(clean[side], fpr), "")


def outcome_from_rows(rows: pd.DataFrame, split: MatchedSplit, rule: str = "own") -> AttackOutcome:
    """One attack set's :class:`AttackOutcome` from its rows, at ``rule``: the own rule over all its images, the
    matched rule over the ``split``'s evaluated images (lowest score at most the threshold).

    Args:
        rows: one attack set's outcome rows.
        rule: one of ``RULES``.

    Raises:
        ValueError: an unknown rule."""
    check_choice(rule, RULES, "rule")
    first = rows.iloc[0]
    if rule == "matched":
        rows = rows[rows["image"].isin(split.evaluated)]
        bypassed, by = (rows["lowest_score"] <= split.threshold).to_numpy(), rows["lowest_by"]
    else:
        bypassed, by = rows["bypassed_own"].to_numpy(bool), rows["found_by_own"]
    return AttackOutcome(str(first["attack"]), AttackBudget(first["norm"], float(first["eps"]), int(first["max_iter"])),
                         {rule: bypassed}, {rule: by.to_numpy(object)}, float(rows["seconds"].sum()))


def outcome_rates(rows: pd.DataFrame, fpr: float, seed: int) -> pd.DataFrame:
    """Per attack set of a table of outcome rows: bypass at the own rule (over its images) and at the matched
    rule (over the evaluated half of :func:`matched_split`), the threshold, the realised false-positive rate of
    the evaluated clean images, and the seconds; every rate with its n, its photographs and a 95% interval that
    counts views of one photograph as such (:func:`helpers.adaptive.defences.clustered_columns`).

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``) of one or several attack sets."""
    split = matched_split(rows, fpr, seed)
    per_image = rows.drop_duplicates("image").set_index("image")
    held = per_image.loc[split.evaluated]
    realised = held["clean_score"].to_numpy() > split.threshold if split.note == "" else np.zeros(0, bool)
    out = []
    for attack, g in rows.groupby("attack", sort=False):
        own, matched = outcome_from_rows(g, split, "own"), outcome_from_rows(g, split, "matched")
        row = {"attack": attack, "kind": g["kind"].iloc[0], "norm": own.budget.norm, "eps_255": 255 * own.budget.eps,
               "max_iter": own.budget.max_iter, "n": len(g),
               **clustered_columns("bypass_own", own.bypassed["own"], g["photograph"].to_numpy())}
        evaluated = g[g["image"].isin(split.evaluated)]["photograph"].to_numpy()
        flags = matched.bypassed["matched"] if split.note == "" else np.zeros(0, bool)
        row |= clustered_columns("bypass_matched", flags, evaluated if split.note == "" else None)
        row |= {"threshold": split.threshold,
                **clustered_columns("fpr_matched", realised, held["photograph"].to_numpy() if len(realised) else None),
                "note": split.note, "seconds": own.seconds}
        out.append(row)
    return pd.DataFrame(out)


def outcome_checks(rows: pd.DataFrame, fpr: float, seed: int, main: str = "adaptive", rule: str = "own"
                   ) -> pd.DataFrame:
    """The checks of :func:`evaluate_adaptive` from a table of outcome rows (a merged study, every set run on every
    image): ``main`` (an ensemble) against the ensembles that differ from it only in a larger ``max_iter``
    (iterations) or in ``eps`` (budget; L-inf eps = 1: unbounded), and the ``transferred`` and ``square`` kinds
    (each may bypass at most ``MAX_GAIN`` images that ``main`` did not). A check without the attack sets it needs
    is left out.

    Args:
        rows: outcome rows (``OUTCOME_COLUMNS``).
        main: the main ensemble's attack name.

    Returns:
        (check, rule, passed, detail) rows.

    Raises:
        ValueError: ``main`` is not an ensemble of ``rows``.
    """
    split = matched_split(rows, fpr, seed)
    sets = {a: g.sort_values("image") for a, g in rows.groupby("attack", sort=False)}
    if main not in sets or sets[main]["kind"].iloc[0] != "ensemble":
        raise ValueError(f"no adaptive ensemble named {main!r} among the attack sets {sorted(sets)}")
    o = {a: outcome_from_rows(g, split, rule) for a, g in sets.items()}
    kind = {a: g["kind"].iloc[0] for a, g in sets.items()}
    m = o[main].budget
    ens = [a for a in o if kind[a] == "ensemble" and a != main and o[a].budget.norm == m.norm]
    checks = []
    for a in (a for a in ens if o[a].budget.eps == m.eps and o[a].budget.max_iter > m.max_iter):
        checks.append(check_gain("iterations", o[main], o[a], rule))
    for name, k in (("transferred", "transferred"), ("black box", "square")):
        for a in (a for a in o if kind[a] == k):
            checks.append(check_gain(name, o[main], o[a], rule))
    free = [a for a in ens if m.norm == "linf" and o[a].budget.eps >= 1]
    for a in free:
        checks.append(check_unbounded(o[a], rule))
    budget = [a for a in ens if o[a].budget.max_iter == m.max_iter and o[a].budget.eps != m.eps and a not in free]
    if budget:
        sweep = sorted([*budget, main], key=lambda a: o[a].budget.eps)
        checks.append(check_nondecreasing("budget", [o[a] for a in sweep], rule))
    return pd.DataFrame(checks, columns=["check", "rule", "passed", "detail"])
