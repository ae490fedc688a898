"""Cost of the saliency detector relative to plain inference, measured in one run.

Prints ms per image for a compiled forward pass, a compiled forward + Grad-CAM pass, the full
detector (forward + Grad-CAM on x, forward on the emphasis image) and the joint Feature Squeezing
detector, at one batch size, and the ratios to plain inference. The floor for the detector is 2.0
(two forward passes).

    python benchmarks/bench_detector.py [--model efficientnet_lite0] [--batch 32] [--repeats 10]
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
from helpers.models import load_model
from helpers.saliency import GradCAM
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
    args = parser.parse_args()

    bundle = load_model(args.model)
    x = tf.constant(sample_images(args.batch, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x)
    gradcam = GradCAM(bundle.model, bundle.gradcam_layer)
    detector = SaliencyDetector(bundle, theta=args.theta)
    squeezing = FeatureSqueezingDetector(bundle, JOINT_IMAGENET, decision="label_change")
    infer = tf.function(lambda v: bundle.model(v, training=False))
    predicted = -tf.ones((args.batch,), tf.int32)
    timings = best_times({
        "inference": infer,
        "forward + Grad-CAM": lambda v: gradcam._compiled(v, predicted),
        "detector (1 theta)": detector.evaluator._step,
        "feature squeezing": lambda v: squeezing.detect(v.numpy(), args.batch),
    }, x, args.repeats)
    print(f"{bundle.name}, batch {args.batch}, best of {args.repeats}, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    base = timings["inference"]
    for name, seconds in timings.items():
        print(f"{name:>20}: {1000 * seconds / args.batch:7.2f} ms/img   ratio to inference {seconds / base:5.2f}")
    print(f"detector / inference = {timings['detector (1 theta)'] / base:.2f} (floor 2.0, goal <= 2.2)")
    print(f"feature squeezing ({', '.join(JOINT_IMAGENET)}) / saliency detector = "
          f"{timings['feature squeezing'] / timings['detector (1 theta)']:.2f} (goal >= 2.5)")


if __name__ == "__main__":
    main()
