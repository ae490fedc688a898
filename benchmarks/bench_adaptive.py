"""Cost of one adaptive PGD step relative to one plain PGD step, measured in one run.

A PGD step is one ``loss_gradient`` call of the compiled ART classifier (``helpers.art_classifier``)
plus element-wise updates; the script times that call on the same batch for the plain model and for
the adaptive models of ``helpers.adaptive.model`` (variant ``bpda`` and ``gradcam``), with one view
(theta 0.1, no noise) and with four (theta 0.1 and 0.3 x colour reversing and zero mean), and
prints the ratios. The floor is 1 + V (a forward and a backward pass on x and on each of the V
views); variant ``gradcam`` adds the backward pass through Grad-CAM. It also times a whole ART PGD
run (``--iters`` steps) of each, per step: that includes ART's fixed costs per run (the random
start, its eager ``predict`` calls on x and on the result), which weigh more in short runs.

It then times ART's APGD (``helpers.adaptive.members``, the adaptive ensemble's optimiser) per iteration:
plain on f, on the one-view adaptive model, on it with the detector's score (L1) term in the loss, and
judged by the real detector at every iterate (the evaluation's cost), each as a ratio to the plain APGD
iteration (floor: 1 + views' forward passes; the score term reuses the views' logits, so it should cost
next to nothing).

Last, the adaptive evaluation's budgets on notebook 08's defaults (its first ``--budget-images`` attacked views; the
saliency detector with colour reversing at theta 0.1 and 0.3 and joint Feature Squeezing, own rule): seconds per
image of ``quick`` and ``standard`` (checks included), their ratio, the share of images the cascade never had to
attack beyond its first member, and the ratio to one plain forward pass of f per image.

    python benchmarks/bench_adaptive.py [--model efficientnet_lite0] [--n 8] [--repeats 5] [--iters 5]
                                        [--budget-images 4] [--budgets quick standard]
"""

from __future__ import annotations

import argparse
import time

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import numpy as np
import tensorflow as tf
from art.attacks.evasion import AutoProjectedGradientDescent
from bench_detector import best_times

from helpers.adaptive.defences import Defence, System
from helpers.adaptive.evaluation import evaluate_adaptive
from helpers.adaptive.judge import Judge
from helpers.adaptive.members import EnsembleBudget, Objective, consensus_targets, ensemble, observed_classifier
from helpers.adaptive.model import adaptive_bundle, detector_aware_bundle
from helpers.art_classifier import art_classifier
from helpers.attacks import run_attack
from helpers.data import sample_images
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector
from helpers.models import load_model

VIEWS = {"1 view": ([0.1], ["none"]), "4 views": ([0.1, 0.3], ["color_reverse", "zero_mean"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--budget-images", type=int, default=4)
    parser.add_argument("--budgets", nargs="+", default=["quick", "standard"], choices=list(BUDGET_SETTINGS))
    args = parser.parse_args()
    bundle = load_model(args.model)
    x = sample_images(args.n, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x
    y = bundle.predict(x)[0]
    x01, onehot = tf.constant(x / 255.0), tf.constant(np.eye(bundle.n_classes, dtype=np.float32)[y])
    bundles = {"plain": bundle}
    for label, (thetas, noises) in VIEWS.items():
        for variant in ("bpda", "gradcam"):
            bundles[f"{variant}, {label}"] = adaptive_bundle(bundle, thetas, noises, variant=variant)
    classifiers = {name: art_classifier(b) for name, b in bundles.items()}
    steps = {name: (lambda v, c=c: c.loss_gradient(v, onehot)) for name, c in classifiers.items()}
    timings = best_times(steps, x01, args.repeats)
    runs = {}
    for name, b in bundles.items():  # a whole ART PGD run, per step (one warm-up run traces the functions)
        run_attack("pgd", b, x, y, batch_size=args.n, max_iter=1)
        runs[name] = run_attack("pgd", b, x, y, batch_size=args.n, max_iter=args.iters).seconds / args.iters
    print(f"{bundle.name}, {args.n} images in one batch, best of {args.repeats} gradient calls; "
          f"ART PGD runs of {args.iters} steps")
    print(f"{'model':>18} {'step s':>7} {'ratio':>6}   {'PGD s/step':>10} {'ratio':>6}")
    for name in bundles:
        print(f"{name:>18} {timings[name]:7.3f} {timings[name] / timings['plain']:6.2f}   "
              f"{runs[name]:10.3f} {runs[name] / runs['plain']:6.2f}")
    print("floor: 1 + number of views (2.0 for one view, 5.0 for four); goal <= 3 for one view")
    apgd = apgd_per_iteration(bundle, bundles["bpda, 1 view"], x, y, args.iters)
    print(f"\nART APGD (targeted CE; CE + the L1 score term), {args.iters} iterations, s/iteration and ratio to "
          "plain APGD on f")
    for name, seconds in apgd.items():
        print(f"{name:>30} {seconds:7.3f} {seconds / apgd['plain on f']:6.2f}")
    budget_costs(bundle, args.budget_images, args.budgets)


BUDGET_SETTINGS = {"quick": "default", "standard": "paper"}  # budget -> the attack_settings that selects it


def budget_costs(bundle, n: int, budgets: list[str]) -> None:
    """Print seconds per image of the adaptive evaluation at each budget on notebook 08's default system, the share
    of images its first member bypassed (the cascade attacks the others further), and the ratio to a plain
    forward pass of f."""
    x = sample_images(n, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x
    y = bundle.predict(x)[0]
    detectors = [SaliencyDetector(bundle, [0.1, 0.3], "color_reverse"),
                 FeatureSqueezingDetector(bundle, decision="label_change")]
    system = System([Defence(f"d{i}", d) for i, d in enumerate(detectors)])
    models = {"bpda": detector_aware_bundle(bundle, detectors)}
    forward = best_times({"f": lambda v: bundle.predict(v, len(v))}, x, 3)["f"] / n
    warm_up = EnsembleBudget.of("default", max_iter=1, n_targets=1, square_queries=1, unbounded_images=1)
    evaluate_adaptive(bundle, models, system, x[:1], y[:1], 2 / 255, budget=warm_up)  # traces the compiled steps
    print(f"\nthe adaptive evaluation on notebook 08's default system, {n} images, eps 2/255 (L-inf), every check")
    print(f"{'budget':>9} {'s/image':>8} {'x forward':>10} {'first member':>13} {'checks':>7}")
    seconds = {}
    for name in budgets:
        budget = EnsembleBudget.of(BUDGET_SETTINGS[name])
        start = time.perf_counter()
        ev = evaluate_adaptive(bundle, models, system, x, y, 2 / 255, budget=budget)
        seconds[name] = (time.perf_counter() - start) / n
        first = ensemble(budget.n_targets, budget.losses, untargeted=budget.untargeted)[0].label
        share = float(np.mean(ev.outcome.found_by["own"] == first))
        print(f"{name:>9} {seconds[name]:8.1f} {seconds[name] / forward:10.0f} {share:13.0%} "
              f"{'pass' if ev.valid else 'FAIL':>7}")
    if {"quick", "standard"} <= set(seconds):
        print(f"standard / quick: {seconds['standard'] / seconds['quick']:.1f}x")


def apgd_seconds(model, x: np.ndarray, targets: np.ndarray, iters: int, observer=None,
                 objective: str | Objective = "ce") -> float:
    """Seconds per iteration of one targeted APGD run minimising ``objective`` on ``model`` (after a
    1-iteration warm-up run)."""
    classifier = observed_classifier(model, objective)
    onehot = np.eye(model.n_classes, dtype=np.float32)[targets]
    classifier.observer = observer
    try:
        for steps in (1, iters):
            attack = AutoProjectedGradientDescent(classifier, norm=np.inf, eps=2 / 255, eps_step=4 / 255,
                                                  max_iter=steps, targeted=True, nb_random_init=1,
                                                  batch_size=len(x), verbose=False)
            start = time.perf_counter()
            attack.generate(x / np.float32(255.0), y=onehot)
    finally:
        classifier.observer = None
    return (time.perf_counter() - start) / iters


def apgd_per_iteration(bundle, adaptive, x: np.ndarray, y: np.ndarray, iters: int) -> dict[str, float]:
    """Seconds per APGD iteration: plain on f, on the adaptive model (without and with the score term), and
    judged by the real detector."""
    targets = consensus_targets(adaptive, x, y, 1)[:, 0]
    judge = Judge(bundle, [Defence("saliency", SaliencyDetector(bundle, [0.1], "none"))], x, y, len(x))
    return {"plain on f": apgd_seconds(bundle, x, targets, iters),
            "adaptive, 1 view": apgd_seconds(adaptive, x, targets, iters),
            "adaptive + L1 term, 1 view": apgd_seconds(adaptive, x, targets, iters,
                                                       objective=Objective("ce", score_weight=1.0)),
            "adaptive, judged at each step": apgd_seconds(adaptive, x, targets, iters, judge)}


if __name__ == "__main__":
    main()
