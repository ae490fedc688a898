"""Detectors side by side on the same clean inputs and successful adversarial examples: the
saliency detector (from a sweep), Feature Squeezing (per squeezer and joint), and the
1 - max softmax baseline; their decisions at their own operating points, at a matched
false-positive rate, their ROC-AUCs, and their cost."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.attacks import AttackResult
from helpers.detector import SaliencyDetector
from helpers.metrics import calibration_split, detection_rate, ospa, rate_row, score_rows
from helpers.models import ModelBundle
from helpers.squeeze import FeatureSqueezingDetector
from helpers.sweep import Sweep
from helpers.tables import format_cell


@dataclass(frozen=True)
class MethodScores:
    """A detector's label-change decisions and continuous scores on the clean inputs and on each
    attack's successful examples (``source``: the clean image each example came from).
    ``flags`` is ``None`` for score-only methods such as the baseline."""

    clean_scores: np.ndarray
    adv_scores: dict[str, np.ndarray]
    source: dict[str, np.ndarray]
    clean_flags: np.ndarray | None = None
    adv_flags: dict[str, np.ndarray] | None = None


def saliency_method(sweep: Sweep, noise: str, theta: float) -> MethodScores:
    """The saliency detector at (noise, theta), read from a sweep that contains them."""
    k, t = sweep.noises.index(noise), sweep.thetas.index(theta)
    attacks = [a for a in sweep.sets if a != "clean"]
    clean = sweep.sets["clean"]
    return MethodScores(clean.report["score"][k, t], {a: sweep.sets[a].report["score"][k, t] for a in attacks},
                        {a: sweep.sets[a].source for a in attacks}, clean.flags(k, t),
                        {a: sweep.sets[a].flags(k, t) for a in attacks})


def baseline_method(sweep: Sweep) -> MethodScores:
    """The trivial score 1 - max softmax probability of the input."""
    attacks = [a for a in sweep.sets if a != "clean"]
    return MethodScores(1 - sweep.sets["clean"].report["confidence"],
                        {a: 1 - sweep.sets[a].report["confidence"] for a in attacks},
                        {a: sweep.sets[a].source for a in attacks})


def squeezing_methods(bundle: ModelBundle, x_clean: np.ndarray, attacks: dict[str, AttackResult],
                      groups: dict[str, Sequence[str]], channel_order: str = "rgb",
                      batch_size: int = 32) -> dict[str, MethodScores]:
    """Feature Squeezing for each named group of squeezers (one squeezer, or a joint detector):
    flags = any squeezer changes the label; score = max L1 distance. Each squeezer runs once."""
    specs = list(dict.fromkeys(s for g in groups.values() for s in g))
    detector = FeatureSqueezingDetector(bundle, specs, decision="label_change", channel_order=channel_order)
    reports = {"clean": (detector.detect(x_clean, batch_size)[0], np.arange(len(x_clean)))}
    for name, r in attacks.items():
        source = np.flatnonzero(r.success)
        if source.size:
            reports[name] = (detector.detect(r.x_adv[source], batch_size)[0], source)
    methods = {}
    for group, members in groups.items():
        idx = [specs.index(s) for s in members]

        def flags(report, idx=idx):
            return (report["squeezed_labels"][idx] != report["labels"]).any(axis=0)

        def score(report, idx=idx):
            return report["distances"][idx].max(axis=0)

        adv = {a: rep for a, (rep, _) in reports.items() if a != "clean"}
        methods[group] = MethodScores(score(reports["clean"][0]), {a: score(r) for a, r in adv.items()},
                                      {a: reports[a][1] for a in adv}, flags(reports["clean"][0]),
                                      {a: flags(r) for a, r in adv.items()})
    return methods


def method_table(methods: dict[str, MethodScores], fpr: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Tidy rows (method, attack, metric, value, ci_low, ci_high, n): OSPA and detection rate at
    each method's own label-change decision; AUC, and TPR/FPR at a threshold fitted at ``fpr`` on
    the calibration half of the clean images and evaluated on the other half (matched FPR)."""
    rows = []
    for name, m in methods.items():
        calib = calibration_split(len(m.clean_scores), seed)
        if m.clean_flags is not None:
            rows.append({"method": name, "attack": "clean", "metric": "ospa", **rate_row(ospa(m.clean_flags))})
        for attack, scores in m.adv_scores.items():
            if m.adv_flags is not None:
                rows.append({"method": name, "attack": attack, "metric": "detection_rate",
                             **rate_row(detection_rate(m.adv_flags[attack]))})
            rows += [{"method": name, "attack": attack, **r} for r in
                     score_rows(m.clean_scores, scores, calib, calib[m.source[attack]], fpr, seed)]
    return pd.DataFrame(rows, columns=["method", "attack", "metric", "value", "ci_low", "ci_high", "n"])


def detector_costs(bundle: ModelBundle, x: np.ndarray, squeezers: Sequence[str], theta: float = 0.1,
                   noise: str = "color_reverse", repeats: int = 3, batch_size: int = 32) -> pd.DataFrame:
    """Seconds per image of inference, the saliency detector and Feature Squeezing on ``x``,
    measured in one run (best of ``repeats`` after a warm-up), and the ratio to inference."""
    saliency = SaliencyDetector(bundle, theta=theta, noise=noise)
    squeezing = FeatureSqueezingDetector(bundle, squeezers, decision="label_change")
    runs = {"inference": lambda: bundle.logits(x, batch_size),
            f"saliency ({noise}, θ={theta:g})": lambda: saliency.detect(x, batch_size),
            f"feature squeezing ({', '.join(squeezers)})": lambda: squeezing.detect(x, batch_size)}
    best = {}
    for name, run in runs.items():
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        best[name] = min(times) / len(x)
    base = best["inference"]
    return pd.DataFrame({"detector": list(best), "ms_per_image": [1000 * v for v in best.values()],
                         "ratio_to_inference": [v / base for v in best.values()]})


def comparison_layout(table: pd.DataFrame, attacks: Sequence[str], mode: str = "own") -> pd.DataFrame:
    """Rows = methods. ``"own"``: OSPA and each attack's detection rate at the method's own
    label-change decision; ``"matched"``: held-out FPR and each attack's held-out TPR at the
    threshold fitted for the target FPR; ``"auc"``: each attack's AUC [bootstrap 95% CI]."""
    metric, first = {"own": ("detection_rate", ("ospa", "OSPA")),
                     "matched": ("tpr_at_fpr", ("fpr_heldout", "held-out FPR")), "auc": ("auc", None)}[mode]
    rows = []
    for method, g in table.groupby("method", sort=False):
        row = {"method": method}
        if first is not None:
            hit = g[g["metric"] == first[0]]
            row[first[1]] = format_cell(*hit.iloc[0][["value", "ci_low", "ci_high", "n"]]) if len(hit) else "–"
        for attack in attacks:
            hit = g[(g["attack"] == attack) & (g["metric"] == metric)]
            if not len(hit):
                row[attack] = "–"
            elif mode == "auc":
                v, lo, hi = hit.iloc[0][["value", "ci_low", "ci_high"]]
                row[attack] = f"{v:.2f} [{lo:.2f}, {hi:.2f}]"
            else:
                row[attack] = format_cell(*hit.iloc[0][["value", "ci_low", "ci_high", "n"]])
        rows.append(row)
    return pd.DataFrame(rows)
