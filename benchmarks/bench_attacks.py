"""Attack time with stock ART gradients / with the compiled classifier, measured in one run.

Each attack runs twice on the same images and seed, once through ART's eager
``TensorFlowV2Classifier`` and once through ``helpers.art_classifier.CompiledTensorFlowV2Classifier``;
the script prints both times, the ratio, and whether the success masks are identical.

    python benchmarks/bench_attacks.py [--n 4] [--batch 4]
"""

from __future__ import annotations

import argparse

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import numpy as np

from helpers.attacks import run_attack
from helpers.data import sample_images
from helpers.models import load_model

# The suite's default settings, but C&W shortened (stock ART takes minutes per image at 5 x 20).
SETTINGS = {
    "fgsm": {},
    "bim": {},
    "pgd": {},
    "cw_l2": {"binary_search_steps": 2, "max_iter": 5},
    "deepfool": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    bundle = load_model(args.model)
    x = sample_images(args.n, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x
    print(f"{bundle.name}, {args.n} images, batch {args.batch}")
    print(f"{'attack':>9} {'stock s':>8} {'ours s':>7} {'ratio':>6}  same success")
    for name, params in SETTINGS.items():
        for compiled in (False, True):  # warm-up: tracing, at the shapes timed below
            run_attack(name, bundle, x, batch_size=args.batch, compiled=compiled, **params)
        stock = run_attack(name, bundle, x, batch_size=args.batch, compiled=False, **params)
        ours = run_attack(name, bundle, x, batch_size=args.batch, **params)
        same = np.array_equal(stock.success, ours.success)
        print(f"{name:>9} {stock.seconds:8.2f} {ours.seconds:7.2f} {stock.seconds / ours.seconds:6.2f}  {same}")


if __name__ == "__main__":
    main()
