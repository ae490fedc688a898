"""Cost of the saliency detector relative to plain inference, measured in one run.

Prints ms per image for a compiled forward pass, a compiled forward + saliency pass for each
saliency method (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM), the full detector with each method
(forward + saliency on x, forward on the emphasis image) and the joint Feature Squeezing detector,
at one batch size, and the ratios to plain inference. The floor for the detector is 2.0 (two
forward passes). Then, for each model of ``--models``, the detector / inference ratio at
``--models-batch`` images.

    python benchmarks/bench_detector.py [--model efficientnet_lite0] [--batch 32] [--repeats 10]
        [--models efficientnet_lite0,efficientnet_lite1,efficientnet_lite2] [--models-batch 16]
"""

from __future__ import annotations

import argparse
import time

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
import tensorflow as tf

from helpers.data import sample_images
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector
from helpers.labels import DetectorKey
from helpers.models import LITE_MODELS, load_model
from helpers.saliency import SALIENCY_METHODS, make_saliency
from helpers.squeeze import JOINT_IMAGENET


def best_times(fns: dict, x, repeats: int) -> dict[str, float]:
    """Best of ``repeats`` wall-clock times (seconds) of each ``fn(x)``, the calls interleaved
    round by round so that all functions see the same machine conditions; one warm-up call each."""
    for fn in fns.values():
        fn(x)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn(x))  # wait for it
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--theta", type=float, default=0.1)
    parser.add_argument("--models", default=",".join(LITE_MODELS), help="comma-separated; empty to skip")
    parser.add_argument("--models-batch", type=int, default=16)
    args = parser.parse_args()

    bundle = load_model(args.model)
    x = tf.constant(sample_images(args.batch, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x)
    saliency = {m: make_saliency(m, bundle.model, bundle.gradcam_layer) for m in SALIENCY_METHODS}
    detectors = {m: SaliencyDetector(bundle, theta=args.theta, saliency_method=m) for m in SALIENCY_METHODS}
    squeezing = FeatureSqueezingDetector(bundle, JOINT_IMAGENET, decision="label_change")
    infer = tf.function(lambda v: bundle.model(v, training=False))
    predicted = -tf.ones((args.batch,), tf.int32)
    timings = best_times({
        "inference": infer,
        **{f"forward + {m}": (lambda v, cam=cam: cam._compiled(v, predicted)) for m, cam in saliency.items()},
        **{f"detector, {m}": d.evaluator._step for m, d in detectors.items()},
        "feature squeezing": lambda v: squeezing.detect(v.numpy(), args.batch),
    }, x, args.repeats)
    print(f"{bundle.name}, batch {args.batch}, best of {args.repeats}, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    base = timings["inference"]
    for name, seconds in timings.items():
        print(f"{name:>21}: {1000 * seconds / args.batch:7.2f} ms/img   ratio to inference {seconds / base:5.2f}")
    detector = timings["detector, gradcam"]
    print(f"detector (1 theta, Grad-CAM) / inference = {detector / base:.2f} (floor 2.0, goal <= 2.2); "
          + ", ".join(f"{m} {timings[f'detector, {m}'] / base:.2f}" for m in SALIENCY_METHODS if m != "gradcam"))
    print(f"{DetectorKey('feature_squeezing', squeezers=tuple(JOINT_IMAGENET)).label} / saliency detector = "
          f"{timings['feature squeezing'] / detector:.2f} (goal >= 2.5)")
    if args.models:
        models_ratio(args.models.split(","), args.models_batch, args.repeats, args.theta)


def models_ratio(names: list[str], batch: int, repeats: int, theta: float) -> None:
    """Detector (Grad-CAM, 1 theta) / inference for each model, all timed round by round in one run."""
    fns, sizes = {}, {}
    for name in names:
        bundle = load_model(name)
        x = tf.constant(sample_images(batch, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x)
        infer = tf.function(lambda v, b=bundle: b.model(v, training=False))
        step = SaliencyDetector(bundle, theta=theta).evaluator._step
        fns[name, "inference"] = lambda _, f=infer, v=x: f(v)
        fns[name, "detector"] = lambda _, f=step, v=x: f(v)
        sizes[name] = bundle.input_size
    timings = best_times(fns, None, repeats)
    print(f"detector (1 theta, Grad-CAM) / inference per model, batch {batch}, best of {repeats}")
    for name in names:
        inference, detector = timings[name, "inference"], timings[name, "detector"]
        print(f"{name:>21} {sizes[name][0]}x{sizes[name][1]}: inference {1000 * inference / batch:7.2f} ms/img, "
              f"detector {1000 * detector / batch:7.2f} ms/img, ratio {detector / inference:.2f}")


if __name__ == "__main__":
    main()
