"""Attack time and cache storage, measured in one run.

1. Each attack runs twice on the same images and seed, once through ART's eager
   ``TensorFlowV2Classifier`` and once through ``helpers.art_classifier.CompiledTensorFlowV2Classifier``;
   the script prints both times per image, the ratio, and whether the success masks are identical
   (C&W shortened: stock ART takes minutes per image at its default 5 x 20 iterations).
2. C&W-L2 at its default settings (``helpers.attacks.DEFAULTS``): ART's own ``predict`` (the
   compiled gradients only) against ours (``predict`` compiled too), with the largest relative
   difference of the perturbation norms and whether the examples are bitwise equal.
3. Where C&W-L2's time goes (the run of 2., profiled): the model passes ART asks for per image
   (forward passes for ``predict``, forward+backward passes for ``class_gradient``), the time per
   pass, and the share of the wall time they take. ART's algorithm fixes the count (per iteration:
   two class gradients, one forward pass per line-search step and one for the update), so the
   count times the cost of a pass is the floor of any wrapper.
4. Shorter C&W budgets, on the same images and targets: success and mean L2 against the default
   settings, i.e. what a cheaper default would cost in attack strength.
5. Bytes per image of the FGSM, PGD and C&W-L2 sets in the attack cache: the earlier uncompressed
   ``.npz`` against the current HDF5 format (lossless, compressed, one chunk per image).

    python benchmarks/bench_attacks.py [--n 4] [--batch 4]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import numpy as np
from art.attacks.evasion import CarliniL2Method
from art.estimators.classification import TensorFlowV2Classifier

from helpers.art_classifier import CompiledTensorFlowV2Classifier, art_classifier
from helpers.attacks import DEFAULTS, random_targets, run_attack
from helpers.cache import save_result
from helpers.data import load_images
from helpers.models import load_model

# The suite's default settings, but C&W shortened for stock ART.
SETTINGS = {
    "fgsm": {},
    "bim": {},
    "pgd": {},
    "pgd_l2": {},
    "cw_l2": {"binary_search_steps": 2, "max_iter": 5},
    "deepfool": {},
}
STORED = ("fgsm", "pgd", "cw_l2")
# Cheaper C&W budgets than the default (binary_search_steps, max_iter, initial_const, learning_rate).
SHORTER_CW = ((2, 10, 1.0, 0.01), (1, 25, 1.0, 0.01), (2, 10, 10.0, 0.01), (3, 8, 10.0, 0.1))


class ArtPredictClassifier(CompiledTensorFlowV2Classifier):
    """Our classifier before ``predict`` was compiled: compiled gradients, ART's own ``predict``."""

    predict = TensorFlowV2Classifier.predict


def compare_attacks(bundle, x, batch) -> None:
    print(f"{'attack':>9} {'stock s/img':>12} {'ours s/img':>11} {'ratio':>6}  same success")
    for name, params in SETTINGS.items():
        for compiled in (False, True):  # warm-up: tracing, at the shapes timed below
            run_attack(name, bundle, x, batch_size=batch, compiled=compiled, **params)
        stock = run_attack(name, bundle, x, batch_size=batch, compiled=False, **params)
        ours = run_attack(name, bundle, x, batch_size=batch, **params)
        same = np.array_equal(stock.success, ours.success)
        print(f"{name:>9} {stock.seconds / len(x):12.3f} {ours.seconds / len(x):11.3f} "
              f"{stock.seconds / ours.seconds:6.2f}  {same}")


@contextmanager
def passes(classifier):
    """Count and time the classifier's ``predict`` (forward) and ``class_gradient`` (forward+backward)
    calls while the block runs: ``{method: [calls, images, seconds]}``."""
    stats: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])

    def timed(name, method):
        def call(x, *args, **kwargs):
            start = time.perf_counter()
            out = method(x, *args, **kwargs)
            stats[name][0] += 1
            stats[name][1] += len(x)
            stats[name][2] += time.perf_counter() - start
            return out
        return call

    for name in ("predict", "class_gradient"):
        setattr(classifier, name, timed(name, getattr(classifier, name)))
    try:
        yield stats
    finally:
        for name in ("predict", "class_gradient"):
            delattr(classifier, name)  # the class's own methods again


def print_passes(stats: dict, seconds: float, n: int) -> None:
    print(f"\nwhere C&W-L2's {seconds / n:.2f} s per image go (our classifier, same run)")
    print(f"{'model call':>15} {'calls':>6} {'passes/img':>10} {'ms/pass':>8} {'s/img':>6} {'share':>6}")
    for name, (calls, images, sec) in stats.items():
        print(f"{name:>15} {calls:6d} {images / n:10.0f} {1e3 * sec / images:8.1f} {sec / n:6.2f} {sec / seconds:6.1%}")
    rest = seconds - sum(s[2] for s in stats.values())
    print(f"{'ART (numpy)':>15} {'':>6} {'':>10} {'':>8} {rest / n:6.2f} {rest / seconds:6.1%}")
    grad = stats["class_gradient"]
    print(f"floor of any wrapper at these settings: the class-gradient passes alone, {grad[2] / n:.2f} s/img")


def compare_cw_budgets(bundle, x, batch, targets, reference) -> None:
    """Success and mean L2 of shorter C&W budgets against the default run (``reference``)."""
    print(f"\nshorter C&W budgets against the default ({reference.success.sum()}/{len(x)} successful, "
          f"mean L2 {reference.l2[reference.success].mean():.3f}, {reference.seconds / len(x):.2f} s/img)")
    print(f"{'steps x iter':>12} {'c0':>5} {'lr':>5} {'s/img':>6} {'success':>8} {'mean L2':>8}")
    for steps, iters, c0, lr in SHORTER_CW:
        r = run_attack("cw_l2", bundle, x, reference.y, targets=targets, batch_size=batch, binary_search_steps=steps,
                       max_iter=iters, initial_const=c0, learning_rate=lr)
        l2 = f"{r.l2[r.success].mean():8.3f}" if r.success.any() else f"{'-':>8}"
        print(f"{f'{steps} x {iters}':>12} {c0:5g} {lr:5g} {r.seconds / len(x):6.2f} {r.success.sum():>8} {l2}")


def compare_cw_predict(bundle, x, batch) -> None:
    """C&W-L2 at the default settings, with ART's predict and with ours, on the same targets."""
    params = dict(DEFAULTS["cw_l2"])
    ours = art_classifier(bundle)
    before = ArtPredictClassifier(model=ours.model, nb_classes=ours.nb_classes, input_shape=ours.input_shape,
                                  clip_values=ours.clip_values, loss_object=ours.loss_object)
    y = bundle.predict(x, batch)[0]
    targets = random_targets(y, bundle.n_classes, seed=0)
    onehot = np.eye(bundle.n_classes, dtype=np.float32)[targets]
    CarliniL2Method(before, batch_size=batch, verbose=False, **{**params, "binary_search_steps": 1, "max_iter": 2}
                    ).generate(x[:batch] / 255.0, y=onehot[:batch])  # warm-up: tracing
    start = time.perf_counter()
    attack = CarliniL2Method(before, batch_size=batch, verbose=False, **params)
    art_adv = np.concatenate([attack.generate(x[i:i + batch] / 255.0, y=onehot[i:i + batch])
                              for i in range(0, len(x), batch)])
    art_seconds = time.perf_counter() - start
    art_adv = np.clip(art_adv, 0.0, 1.0).astype(np.float32) * 255.0
    with passes(art_classifier(bundle)) as stats:
        result = run_attack("cw_l2", bundle, x, y, targets=targets, batch_size=batch)
    art_l2 = np.linalg.norm((art_adv / 255.0 - x / 255.0).reshape(len(x), -1), axis=1)
    art_success = bundle.predict(art_adv, batch)[0] == targets
    print(f"\nC&W-L2, default settings ({params['binary_search_steps']} x {params['max_iter']}), "
          f"{len(x)} images, batch {batch}")
    print(f"{'predict':>9} {'s/img':>7} {'success':>8} {'mean L2':>8}")
    print(f"{'ART':>9} {art_seconds / len(x):7.2f} {art_success.sum():>8} {art_l2.mean():8.4f}")
    print(f"{'ours':>9} {result.seconds / len(x):7.2f} {result.success.sum():>8} {result.l2.mean():8.4f}")
    print(f"ratio {art_seconds / result.seconds:.2f}; same success: {np.array_equal(art_success, result.success)}; "
          f"largest relative L2 difference: {np.max(np.abs(result.l2 / art_l2 - 1)):.2e}; "
          f"bitwise equal examples: {np.array_equal(art_adv, result.x_adv)}")
    print_passes(stats, result.seconds, len(x))
    compare_cw_budgets(bundle, x, batch, targets, result)


def compare_storage(bundle, x, batch) -> None:
    print(f"\nattack cache, kB per image ({len(x)} images)")
    print(f"{'attack':>9} {'npz':>7} {'HDF5':>7} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for name in STORED:
            result = run_attack(name, bundle, x, batch_size=batch)
            arrays = {k: v for k, v in vars(result).items() if isinstance(v, np.ndarray)}
            npz = io.BytesIO()
            np.savez(npz, **arrays)  # the earlier format
            save_result(result, Path(folder), name, {})
            h5 = (Path(folder) / f"{name}-{name}.h5").stat().st_size
            old = len(npz.getvalue())
            print(f"{name:>9} {old / len(x) / 1e3:7.1f} {h5 / len(x) / 1e3:7.1f} {old / h5:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    bundle = load_model(args.model)
    x = load_images("samples", bundle, n=args.n).x
    print(f"{bundle.name}, {args.n} images, batch {args.batch}")
    compare_attacks(bundle, x, args.batch)
    compare_cw_predict(bundle, x, args.batch)
    compare_storage(bundle, x, args.batch)


if __name__ == "__main__":
    main()
