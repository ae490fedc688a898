"""The per-image score table, the single source of every detection result (notebooks 05-07).

One row per (image, input set, detector configuration). Input sets (``attack``) are ``"clean"``
and each attack's *successful* adversarial examples; ``image`` is the clean image an input came
from, so rows of one image share a calibration half. Every row names its ``model``: a table of
several models is analysed per model, never pooled (one model is a group of one). A configuration
is ``METHOD``: ``detector`` (``"saliency"``, ``"feature_squeezing"``, ``"baseline"``), ``noise`` and
``theta`` (saliency), ``squeezer`` (a squeezer spec, or a joint detector's specs joined by '+': the
``squeezer`` of a :class:`helpers.labels.DetectorKey`); saliency rows also name their
``saliency_method`` (``""`` on other rows). Each row holds the continuous ``score``, the ``flag`` at
the detector's own rule (label change; missing for the score-only baseline), the model's ``label``
on the input and ``transformed_label`` on the emphasised
or squeezed input (-1 where there is none), and the image's ``true_label`` (-1 unknown).
``photograph`` names the photograph an image is a view of (:func:`helpers.data.photograph_of`): every
split keeps a photograph's views on one side and every interval counts them as one photograph.

Every rate, interval, AUC and held-out threshold is computed from this table by :func:`rate_table`
and :func:`select_theta` (with units, rates in percent: :func:`rates_tidy`); a saved table (Parquet, with
the run's parameters in its metadata) is re-analysed without a model or attacks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from helpers.attacks import AttackResult
from helpers.cache import model_fingerprint
from helpers.data import ImageSet, photograph_of
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, emphasis_evaluator, joint_squeezing
from helpers.labels import JOINT_SEPARATOR
from helpers.metrics import (
    detection_rate,
    grouped_split,
    ospa,
    rate_row,
    roc,
    score_rows,
)
from helpers.models import ModelBundle
from helpers.runtime import versions, write_atomically
from helpers.validation import check_choice
from helpers.verdicts import interval_verdict, versus_baseline

METHOD = ["detector", "noise", "theta", "squeezer"]
COLUMNS = ["model", "image", "image_id", "photograph", "true_label", "attack", *METHOD, "saliency_method", "label",
           "transformed_label", "score", "flag"]
RATE_COLUMNS = ["model", *METHOD, "attack", "metric", "value", "ci_low", "ci_high", "n", "n_photographs",
                "n_calibration", "note"]
SELECTED_COLUMNS = ["model", "noise", "theta", "attack", "metric", "value", "ci_low", "ci_high", "n", "n_photographs"]
_METADATA_KEY = b"saliency_detector_run"
_FILLED_IN = ("saliency_method", "photograph", "model")  # columns that load_scores gives older tables back


def input_sets(images: ImageSet, attacks: dict[str, AttackResult]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, inputs, source image indices)``: the clean images, then each attack's successful examples.

    Args:
        attacks: attack -> its result on ``images``.

    Returns:
        the input sets, clean first; an attack without a success has none.

    Raises:
        ValueError: an attack result of another length than ``images``."""
    sets = [("clean", images.x, np.arange(len(images)))]
    for name, result in attacks.items():
        if len(result.success) != len(images):
            raise ValueError(f"attack {name} has {len(result.success)} examples for {len(images)} clean inputs")
        source = np.flatnonzero(result.success)
        if source.size:
            sets.append((name, result.x_adv[source], source))
    return sets


def _rows(model: str, images: ImageSet, attack: str, source: np.ndarray, method: dict, label, transformed_label, score,
          flag) -> pd.DataFrame:
    n = len(source)
    return pd.DataFrame({
        "model": model, "image": source, "image_id": np.asarray(images.ids, dtype=object)[source],
        "photograph": images.photographs[source],
        "true_label": images.labels[source], "attack": attack,
        **{k: [method.get(k, np.nan if k == "theta" else "")] * n for k in METHOD},
        "saliency_method": method.get("saliency_method", ""),
        "label": label, "transformed_label": transformed_label, "score": score,
        "flag": pd.array(flag if flag is not None else [pd.NA] * n, dtype="boolean"),
    }, columns=COLUMNS)


def _table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    return table.astype({"image": "int64", "true_label": "int64", "label": "int64", "transformed_label": "int64",
                         "theta": "float64", "score": "float64"})


def saliency_scores(bundle: ModelBundle, images: ImageSet, attacks: dict[str, AttackResult], thetas: Sequence[float],
                    noises: Sequence[str], colormap: str = "jet", overlay_order: str = "coarse",
                    zero_mean_reference: str = "imagenet", batch_size: int = 32, progress: bool = False,
                    saliency_method: str = "gradcam") -> pd.DataFrame:
    """Rows of the saliency detector for every (noise, theta), from one saliency pass per input.

    Args:
        attacks: attack -> its result on ``images``.
        thetas: proportions θ in [0, 1].
        noises: noise names (``helpers.transforms.NOISES``).
        colormap, overlay_order: see ``helpers.emphasis``.
        zero_mean_reference: see ``helpers.transforms``.
        saliency_method: a name of ``helpers.saliency.SALIENCY_METHODS``.

    Returns:
        the rows (``COLUMNS``), ``model`` = ``bundle.name``.

    Raises:
        ValueError: an attack result of another length than ``images``; bad settings or images (as
            :class:`helpers.detectors.EmphasisEvaluator`, which may raise TypeError)."""
    evaluator = emphasis_evaluator(bundle, thetas, noises, colormap, overlay_order, zero_mean_reference,
                                   saliency_method)
    parts = []
    for attack, x, source in input_sets(images, attacks):
        r = evaluator(x, batch_size, progress)
        for k, noise in enumerate(evaluator.noises):
            for t, theta in enumerate(evaluator.thetas):
                method = {"detector": "saliency", "noise": noise, "theta": theta, "saliency_method": saliency_method}
                parts.append(_rows(bundle.name, images, attack, source, method, r["labels"], r["emphasis_labels"][k, t],
                                   r["score"][k, t], r["label_changed"][k, t]))
    return _table(parts)


def squeezing_scores(bundle: ModelBundle, images: ImageSet, attacks: dict[str, AttackResult],
                     squeezers: Sequence[str] = (), joint: Sequence[Sequence[str]] = (),
                     channel_order: str = "rgb", batch_size: int = 32, progress: bool = False) -> pd.DataFrame:
    """Rows of Feature Squeezing for each squeezer in ``squeezers`` and each joint detector in
    ``joint``; every distinct squeezer runs once per input.

    Args:
        squeezers: squeezer specs, each a detector of its own (its rows' ``squeezer``: the spec).
        joint: joint detectors, each a list of specs (its rows' ``squeezer``: the specs joined by '+',
            :attr:`helpers.labels.DetectorKey.squeezer`).
        channel_order, batch_size, progress: as for :class:`helpers.detectors.FeatureSqueezingDetector`.

    Returns:
        the rows (``COLUMNS``), ``model`` = ``bundle.name``.

    Raises:
        ValueError: for an attack result of another length than ``images``, or an unknown squeezer."""
    joint = [list(members) for members in joint]
    specs = list(dict.fromkeys([*squeezers, *(s for members in joint for s in members)]))
    detector = FeatureSqueezingDetector(bundle, specs, decision="label_change", channel_order=channel_order)
    parts = []
    for attack, x, source in input_sets(images, attacks):
        r = detector.evaluate(x, batch_size, progress)
        changed = r["squeezer_changed"]
        for spec in squeezers:
            i = specs.index(spec)
            parts.append(_rows(bundle.name, images, attack, source, {"detector": "feature_squeezing", "squeezer": spec},
                               r["labels"], r["squeezed_labels"][i], r["distances"][i], changed[i]))
        for members in joint:
            idx = [specs.index(s) for s in members]
            flag, score = joint_squeezing(changed[idx], r["distances"][idx])
            method = {"detector": "feature_squeezing", "squeezer": JOINT_SEPARATOR.join(members)}
            parts.append(_rows(bundle.name, images, attack, source, method,
                               r["labels"], np.full(len(source), -1), score, flag))
    return _table(parts)


def baseline_scores(bundle: ModelBundle, images: ImageSet, attacks: dict[str, AttackResult],
                    batch_size: int = 32) -> pd.DataFrame:
    """Rows of the trivial 1 - max softmax score (no decision rule of its own: ``flag`` missing).

    Args:
        attacks: attack -> its result on ``images``.

    Returns:
        the rows (``COLUMNS``), ``model`` = ``bundle.name``.

    Raises:
        ValueError: an attack result of another length than ``images``."""
    detector = ConfidenceDetector(bundle)
    parts = []
    for attack, x, source in input_sets(images, attacks):
        r = detector.evaluate(x, batch_size)
        parts.append(_rows(bundle.name, images, attack, source, {"detector": "baseline"}, r["labels"],
                           np.full(len(source), -1), r["score"][0], None))
    return _table(parts)


def select(scores: pd.DataFrame, detector: str, noise: str = "", theta: float = np.nan,
           squeezer: str = "") -> pd.DataFrame:
    """The rows of one configuration.

    Args:
        noise, squeezer: the rows' columns ('' where they do not apply).
        theta: the rows' θ (nan where it does not apply); compared with a tolerance."""
    same_theta = np.isnan(scores["theta"]) if np.isnan(theta) else np.isclose(scores["theta"], theta)
    return scores[(scores["detector"] == detector) & (scores["noise"] == noise) & same_theta
                  & (scores["squeezer"] == squeezer)]


def split_sets(group: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One configuration's rows split into the clean rows and each attack's rows, in image order.

    Args:
        group: the rows of one configuration (of one model).

    Returns:
        (the clean rows, attack -> its rows).

    Raises:
        KeyError: no clean rows.
        ValueError: clean rows that do not cover images 0..N-1 once each."""
    by_attack = {a: g.sort_values("image", kind="stable") for a, g in group.groupby("attack", sort=False)}
    clean = by_attack.pop("clean")
    if not np.array_equal(clean["image"].to_numpy(), np.arange(len(clean))):
        raise ValueError("the clean rows of a configuration must cover images 0..N-1 once each")
    return clean, by_attack


def calibration_half(clean: pd.DataFrame, seed: int) -> np.ndarray:
    """The calibration half of a configuration's clean rows (in image order): a seeded
    :func:`helpers.metrics.grouped_split` of their photographs, so all views of one photograph fall
    on one side. Index it with an adversarial row's ``image`` for that row's side.

    Args:
        clean: a configuration's clean rows, in image order.

    Returns:
        (N,) bool, True for the calibration half."""
    return grouped_split(clean["photograph"].to_numpy(), seed)


def rate_table(scores: pd.DataFrame, fpr: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Tidy numbers per model, configuration and input set (``RATE_COLUMNS``), each model's on its own:
    ``ospa`` (clean) and ``detection_rate`` at the detector's own rule; ``auc`` of the score with a
    bootstrap interval over photographs; ``tpr_at_fpr`` and ``fpr_heldout`` at a threshold fitted at
    ``fpr`` on a seeded calibration half of the photographs, measured on the other half. Intervals
    count views of one photograph as such (Wilson at the effective sample size,
    :class:`helpers.metrics.Rate`); ``n`` is the inputs, ``n_photographs`` their photographs.
    ``tpr_at_fpr`` is nan, with ``note`` "not resolvable at n = N", where ``fpr`` x the
    ``n_calibration`` calibration photographs < 5 (:func:`helpers.metrics.resolvable`: views count once).

    Args:
        scores: a score table (``COLUMNS``) of one or several models.
        seed: the seed of the calibration split and the bootstrap.

    Returns:
        the rate table, models in order of first appearance.

    Raises:
        ValueError: for a table without photographs, mixing saliency methods (see :func:`configurations`),
            or whose clean rows do not cover each image once."""
    rows = []
    for model, of_model in scores.groupby("model", sort=False):
        for method, group in configurations(of_model):
            rows += [{"model": model, **method, **row} for row in _configuration_rates(group, fpr, seed)]
    return pd.DataFrame(rows, columns=RATE_COLUMNS).astype({"n_calibration": "Int64"}).fillna({"note": ""})


RULE_METRICS = {"own": ("detection_rate", "ospa"), "matched": ("tpr_at_fpr", "fpr_heldout"), "auc": ("auc", None)}
"""A mode of comparing configurations -> (its metric on each attack, its metric on clean inputs or None)."""


def rule_rows(rates: pd.DataFrame, attacks: Sequence[str], mode: str = "own") -> pd.DataFrame:
    """The rows of a rate table that compare configurations in ``mode``: ``"own"``, OSPA and each attack's
    detection rate at the detector's own rule (only configurations that have one: the baseline has none);
    ``"matched"``, held-out FPR and each attack's held-out TPR at the threshold fitted for the target FPR;
    ``"auc"``, each attack's AUC.

    Args:
        rates: a :func:`rate_table` of one or several models.
        attacks: the attacks kept.
        mode: a key of ``RULE_METRICS``.

    Returns:
        the rows, in the order of ``rates``.

    Raises:
        ValueError: for an unknown ``mode``."""
    check_choice(mode, tuple(RULE_METRICS), "rule mode")
    metric, first = RULE_METRICS[mode]
    keep = rates["metric"].eq(metric) & rates["attack"].isin(attacks)
    if first is not None:
        keep |= rates["metric"].eq(first)
    rows = rates[keep]
    if mode == "own":  # a score-only configuration has no own decision rule
        key = ["model", *METHOD]
        ruled = rates.loc[rates["metric"] == "ospa", key].astype(str).drop_duplicates()
        rows = rows[rows[key].astype(str).merge(ruled, how="left", indicator=True)["_merge"].eq("both").to_numpy()]
    return rows


PERCENT, AUC_UNIT = "%", "AUC (0-1)"  # the units of the tidy rates (rates_tidy)
WILSON, BOOTSTRAP = "Wilson 95%", "bootstrap 95%"  # their intervals
PERCENT_METRICS = ("ospa", "detection_rate", "tpr_at_fpr", "fpr_heldout", "success_rate")


def rates_tidy(rates: pd.DataFrame, saliency_method: str | None = None) -> pd.DataFrame:
    """Rows of a rate table (fractions) with units: rates in percent with Wilson intervals, AUCs in
    0-1 with bootstrap intervals (columns ``unit`` and ``interval`` added).

    Args:
        rates: a :func:`rate_table` (or its :func:`select_theta` rows).
        saliency_method: the saliency method of a rate table of one method: a ``saliency_method`` column
            added, naming it on the saliency rows (``""`` on the others); ``None``: none added.

    Returns:
        the tidy rows, in the order of ``rates``."""
    if saliency_method is not None and "saliency_method" not in rates.columns:
        rates = rates.assign(saliency_method=np.where(rates["detector"] == "saliency", saliency_method, ""))
    percent = rates["metric"].isin(PERCENT_METRICS).to_numpy()
    scale = np.where(percent, 100.0, 1.0)
    return rates.assign(value=rates["value"] * scale, ci_low=rates["ci_low"] * scale,
                        ci_high=rates["ci_high"] * scale, unit=np.where(percent, PERCENT, AUC_UNIT),
                        interval=np.where(percent, WILSON, BOOTSTRAP)).reset_index(drop=True)


def _configuration_rates(group: pd.DataFrame, fpr: float, seed: int) -> list[dict]:
    clean, adversarial = split_sets(group)
    calib = calibration_half(clean, seed)
    photos = clean["photograph"].to_numpy()
    has_flags = not clean["flag"].isna().any()
    rows = []
    if has_flags:
        rows.append({"attack": "clean", "metric": "ospa", **rate_row(ospa(clean["flag"].to_numpy(bool), photos))})
    for attack, adv in adversarial.items():
        adv_photos = adv["photograph"].to_numpy()
        if has_flags:
            rows.append({"attack": attack, "metric": "detection_rate",
                         **rate_row(detection_rate(adv["flag"].to_numpy(bool), adv_photos))})
        rows += [{"attack": attack, **r} for r in score_rows(
            clean["score"].to_numpy(), adv["score"].to_numpy(), calib, calib[adv["image"].to_numpy()], fpr, seed,
            photos, adv_photos)]
    return rows


def select_theta(scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per model and noise, the theta chosen on the calibration half of the photographs (highest
    balanced accuracy of the label-change rule: mean of OSPA and the attacks' mean detection rate),
    and its OSPA and detection rates on the held-out half (``SELECTED_COLUMNS``; intervals as in
    :func:`rate_table`). Never tuned on what it reports.

    Args:
        scores: a score table of one or several models (each model's theta is chosen on its own).
        seed: the seed of the calibration split.

    Returns:
        the rates of the chosen theta, one row per (model, noise, input set)."""
    saliency = scores[scores["detector"] == "saliency"]
    rows = []
    for (model, noise), by_noise in saliency.groupby(["model", "noise"], sort=False):
        rows += [{"model": model, "noise": noise, **row} for row in _selected(by_noise, seed)]
    return pd.DataFrame(rows, columns=SELECTED_COLUMNS)


def _selected(by_noise: pd.DataFrame, seed: int) -> list[dict]:
    candidates = [(theta, *split_sets(group)) for theta, group in by_noise.groupby("theta", sort=False)]
    calib = calibration_half(candidates[0][1], seed)

    def balanced(clean, adversarial, keep):
        detect = [detection_rate(a["flag"].to_numpy(bool)[keep[a["image"].to_numpy()]]).value
                  for a in adversarial.values()]
        return (ospa(clean["flag"].to_numpy(bool)[keep]).value + np.nanmean(detect)) / 2

    best = int(np.nanargmax([balanced(c, a, calib) for _, c, a in candidates]))
    theta, clean, adversarial = candidates[best]
    rows = [{"theta": theta, "attack": "clean", "metric": "ospa",
             **rate_row(ospa(clean["flag"].to_numpy(bool)[~calib], clean["photograph"].to_numpy()[~calib]))}]
    for attack, adv in adversarial.items():
        held_out = ~calib[adv["image"].to_numpy()]
        rows.append({"theta": theta, "attack": attack, "metric": "detection_rate",
                     **rate_row(detection_rate(adv["flag"].to_numpy(bool)[held_out],
                                               adv["photograph"].to_numpy()[held_out]))})
    return rows


ADDED_VALUE_COLUMNS = ["noise", "attack", "AUC θ=0", "best θ>0", "AUC best θ>0", "AUC 1-max softmax",
                       "overlay vs noise alone", "overlay vs baseline", "model"]


def _auc(row: pd.Series | None) -> tuple[float, float, float]:
    return (np.nan, np.nan, np.nan) if row is None else (row["value"], row["ci_low"], row["ci_high"])


def saliency_added_value(rates: pd.DataFrame) -> pd.DataFrame:
    """Per model, noise and attack: AUC of the noise alone (theta = 0), the best AUC over theta > 0
    (chosen in hindsight, so an optimistic bound for the overlay), and the 1 - max softmax baseline, each with its
    interval (``... low``, ``... high``), and the overlay's verdicts from the intervals
    (:func:`helpers.verdicts.interval_verdict`; against the baseline :func:`helpers.verdicts.versus_baseline`).

    Args:
        rates: a :func:`rate_table`.

    Returns:
        ``ADDED_VALUE_COLUMNS`` and the intervals."""
    auc = rates[rates["metric"] == "auc"]
    rows = []
    for model, of_model in auc.groupby("model", sort=False):
        saliency, baseline = of_model[of_model["detector"] == "saliency"], of_model[of_model["detector"] == "baseline"]
        for (noise, attack), g in saliency.groupby(["noise", "attack"], sort=False):
            zero, positive = g[g["theta"] == 0], g[g["theta"] > 0]
            base = baseline[baseline["attack"] == attack]
            best = positive.loc[positive["value"].idxmax()] if len(positive) else None
            row = {"noise": noise, "attack": attack, "best θ>0": best["theta"] if best is not None else np.nan,
                   "model": model}
            for name, hit in (("AUC θ=0", zero.iloc[0] if len(zero) else None), ("AUC best θ>0", best),
                              ("AUC 1-max softmax", base.iloc[0] if len(base) else None)):
                row[name], row[f"{name} low"], row[f"{name} high"] = _auc(hit)
            over = (row["AUC best θ>0 low"], row["AUC best θ>0 high"])
            row["overlay vs noise alone"] = interval_verdict(*over, row["AUC θ=0 low"], row["AUC θ=0 high"])
            row["overlay vs baseline"] = versus_baseline(*over, row["AUC 1-max softmax low"],
                                                         row["AUC 1-max softmax high"])
            rows.append(row)
    intervals = [f"{c} {b}" for c in ("AUC θ=0", "AUC best θ>0", "AUC 1-max softmax") for b in ("low", "high")]
    return pd.DataFrame(rows, columns=ADDED_VALUE_COLUMNS + intervals)


def run_metadata(bundle: ModelBundle, images: ImageSet, parameters: dict) -> dict:
    """What a saved score table was made with: the model and a hash of its weights, the images, the
    notebook's ``parameters`` (as checked by ``helpers.params.check_params``) and library versions.

    Returns:
        the metadata, JSON-serialisable."""
    return {"model": bundle.name, "model_sha256": model_fingerprint(bundle), "images": images.description,
            "image_ids": list(images.ids), "parameters": parameters, "versions": versions()}


def save_scores(scores: pd.DataFrame, path: str | Path, metadata: dict) -> Path:
    """Write the score table as Parquet with ``metadata`` (the run's parameters, JSON) in its schema, atomically.

    Args:
        scores: a score table (``COLUMNS``).
        metadata: the run's metadata (:func:`run_metadata`), JSON-serialisable.

    Returns:
        ``path`` as a Path."""
    table = pa.Table.from_pandas(scores[COLUMNS], preserve_index=False)
    table = table.replace_schema_metadata({**table.schema.metadata, _METADATA_KEY: json.dumps(metadata).encode()})
    return write_atomically(path, lambda tmp: pq.write_table(table, tmp), suffix=".parquet")


def load_scores(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A saved score table and the run's parameters. Tables saved before ``saliency_method`` was a
    column get it back: Grad-CAM, the only map they could have used, on their saliency rows; tables
    saved before ``photograph`` was a column get each image id's photograph (its id less ``#viewN``);
    tables saved before ``model`` was a column get the run's model (its metadata).

    Args:
        path: a file written by :func:`save_scores`.

    Returns:
        (the score table, ``COLUMNS``; the run's metadata).

    Raises:
        FileNotFoundError: for no file; OSError naming the file for one that cannot be read.
        ValueError: naming the file and the columns, for a table without ``COLUMNS`` (but those that tables
            saved before them get back)."""
    try:  # Arrow's errors (e.g. "Couldn't deserialize thrift") name no file
        table = pq.read_table(path)
        metadata = json.loads((table.schema.metadata or {}).get(_METADATA_KEY, b"{}"))
        scores = table.to_pandas()
    except FileNotFoundError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise OSError(f"cannot read score table {path}: {exc}") from exc
    missing = [c for c in COLUMNS if c not in scores and c not in _FILLED_IN]
    if missing:
        raise ValueError(f"{path} is not a score table: it lacks column(s) {sorted(missing)}; a score table has "
                         f"helpers.scores.COLUMNS ({', '.join(COLUMNS)}), as save_scores writes it")
    if "saliency_method" not in scores:
        scores["saliency_method"] = np.where(scores["detector"] == "saliency", "gradcam", "")
    if "photograph" not in scores:
        scores["photograph"] = [photograph_of(i) for i in scores["image_id"]]
    if "model" not in scores.columns:  # saved before every row named its model: the run's
        scores.insert(0, "model", metadata.get("model", ""))
    return scores[COLUMNS], metadata


def configurations(scores: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """Each configuration (a ``METHOD`` dict) and its rows, in table order, of one model's score table.

    Returns:
        (configuration, its rows) pairs.

    Raises:
        ValueError: for a table without the ``photograph`` column, or with rows of several models or of
            several saliency methods (split them with :func:`rate_table`, :func:`rates_by_saliency_method`):
            never pooled."""
    models = list(dict.fromkeys(scores["model"]))
    if len(models) > 1:
        raise ValueError(f"the score table mixes models {models}: analyse each on its own (rate_table)")
    if "photograph" not in scores:
        raise ValueError("the score table has no 'photograph' column (tables saved before it get it back from "
                         "load_scores): every split and interval needs each image's photograph")
    methods = set(scores["saliency_method"]) - {""} if "saliency_method" in scores else set()
    if len(methods) > 1:
        raise ValueError(f"the score table mixes saliency methods {sorted(methods)}: analyse each on its own "
                         "(rates_by_saliency_method)")
    return [(dict(zip(METHOD, key, strict=True)), g) for key, g in scores.groupby(METHOD, sort=False, dropna=False)]


def rates_by_saliency_method(scores: pd.DataFrame, fpr: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """:func:`rate_table` for each saliency method of a score table on its own, with a
    ``saliency_method`` column; rows of the other detectors (``""``) come once, as their own group.

    Args:
        scores: a score table of one or several models and saliency methods.
        fpr, seed: as for :func:`rate_table`.

    Returns:
        the rate tables stacked, ``RATE_COLUMNS`` and ``saliency_method``."""
    return pd.concat([rate_table(group, fpr, seed).assign(saliency_method=method)
                      for method, group in scores.groupby("saliency_method", sort=False)], ignore_index=True)


def roc_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Every configuration's ROC curve on every attack, per model.

    Args:
        scores: a score table of one or several models.

    Returns:
        one row per curve: ``model``, ``METHOD``, ``attack``, ``fpr`` and ``tpr`` (arrays of fractions),
        ``n_clean``, ``n_adv``."""
    rows = []
    for model, of_model in scores.groupby("model", sort=False):
        for method, group in configurations(of_model):
            clean, adversarial = split_sets(group)
            for attack, adv in adversarial.items():
                fpr, tpr, _ = roc(clean["score"], adv["score"])
                rows.append({"model": model, **method, "attack": attack, "fpr": fpr, "tpr": tpr,
                             "n_clean": len(clean), "n_adv": len(adv)})
    return pd.DataFrame(rows, columns=["model", *METHOD, "attack", "fpr", "tpr", "n_clean", "n_adv"])


def saliency_method(scores: pd.DataFrame) -> str:
    """The saliency method of a score table of one method (Grad-CAM for one without saliency rows).

    Args:
        scores: a score table.

    Returns:
        the method's name.

    Raises:
        ValueError: for a table of several methods."""
    methods = sorted(set(scores.loc[scores["detector"] == "saliency", "saliency_method"]))
    if len(methods) > 1:
        raise ValueError(f"the score table mixes saliency methods {methods}: one at a time")
    return methods[0] if methods else "gradcam"
