"""Feature Squeezing (Xu, Evans, Qi, NDSS 2018), the paper's baseline.

Squeezers act on RGB 0..255 float images and return float32 0..255 images:

- ``bit_depth:b``: colour bit depth b in 1..8: ``rint(x01 * (2**b - 1)) / (2**b - 1)`` on [0, 1]
  (as ART's ``FeatureSqueezing`` and the reference code).
- ``median:wxw``: median filter over a w x w window per channel, ``mode="reflect"`` (SciPy, as
  the reference code and ART's ``SpatialSmoothing``; even windows take the upper median).
- ``nlm:s-p-h``: OpenCV's non-local means ``fastNlMeansDenoisingColored`` with search window s,
  patch p and strength h (the paper's "11-3-4" notation) on the image rounded to 8 bits. OpenCV
  assumes BGR; the reference code passed RGB, which is our default (``channel_order="rgb"``);
  ``"bgr"`` converts first and back after.

The detector's score is the largest L1 distance between the softmax output of x and of any
squeezed x; it flags scores above a threshold fitted on clean inputs (``fit``), or, in the paper's
label-change mode, any squeezer that changes the label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from scipy.ndimage import median_filter

from helpers.metrics import threshold_at_fpr
from helpers.models import ModelBundle, softmax
from helpers.validation import accept_dark_images, check_batch_size, check_choice, check_images

JOINT_IMAGENET = ("bit_depth:5", "median:2x2", "nlm:11-3-4")  # Xu et al.'s ImageNet joint detector
DECISIONS = ("score", "label_change")


def bit_depth(x: np.ndarray, bits: int) -> np.ndarray:
    """Reduce the colour depth of RGB 0..255 images to ``bits`` bits per channel."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
    levels = 2 ** bits - 1
    return (np.rint(check_images(x) / 255.0 * levels) / levels * 255.0).astype(np.float32)


def median(x: np.ndarray, size: int) -> np.ndarray:
    """Median filter over ``size`` x ``size`` windows, per image and channel, reflecting at borders."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"median window must be a positive integer, got {size!r}")
    return median_filter(check_images(x), size=(1, size, size, 1), mode="reflect").astype(np.float32)


def non_local_means(x: np.ndarray, search: int, patch: int, strength: float,
                    channel_order: str = "rgb") -> np.ndarray:
    """OpenCV non-local means on each image rounded to 8 bits (see the module docstring)."""
    check_choice(channel_order, ("rgb", "bgr"), "channel order")
    if search < 1 or patch < 1 or search % 2 == 0 or patch % 2 == 0 or strength <= 0:
        raise ValueError(f"non-local means needs odd positive windows and strength > 0, "
                         f"got {search}-{patch}-{strength}")
    out = []
    for img in np.rint(check_images(x)).astype(np.uint8):
        img = img[..., ::-1].copy() if channel_order == "bgr" else img
        den = cv2.fastNlMeansDenoisingColored(img, None, strength, strength, patch, search)
        out.append(den[..., ::-1] if channel_order == "bgr" else den)
    return np.stack(out).astype(np.float32)


_SPEC = re.compile(r"^(bit_depth):(\d)$|^(median):(\d+)x(\d+)$|^(nlm):(\d+)-(\d+)-(\d+(?:\.\d+)?)$")


def squeezer(spec: str, channel_order: str = "rgb") -> Callable[[np.ndarray], np.ndarray]:
    """The squeezer for a spec such as ``"bit_depth:5"``, ``"median:2x2"`` or ``"nlm:11-3-4"``."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if not match:
        raise ValueError(f"unknown squeezer {spec!r}; expected 'bit_depth:B', 'median:WxW' or 'nlm:S-P-H'")
    g = match.groups()
    if g[0]:
        return lambda x: bit_depth(x, int(g[1]))
    if g[2]:
        if g[3] != g[4]:
            raise ValueError(f"median windows must be square, got {spec!r}")
        return lambda x: median(x, int(g[3]))
    return lambda x: non_local_means(x, int(g[6]), int(g[7]), float(g[8]), channel_order)


class FeatureSqueezingDetector:
    """Feature Squeezing with ART's detector contract: ``fit(x_clean, fpr)`` and
    ``detect(x) -> (report, is_adversarial)``.

    ``decision="score"`` (default, Xu et al.): flag when the max L1 distance exceeds the threshold
    fitted on clean inputs; ``"label_change"`` (the paper's Table IV mode): flag when any squeezer
    changes the predicted label.
    """

    def __init__(self, bundle: ModelBundle, squeezers: Sequence[str] = JOINT_IMAGENET, decision: str = "score",
                 channel_order: str = "rgb"):
        if not squeezers:
            raise ValueError("need at least one squeezer")
        self.bundle, self.specs, self.channel_order = bundle, tuple(squeezers), channel_order
        self._squeezers = [squeezer(s, channel_order) for s in self.specs]
        self.decision = check_choice(decision, DECISIONS, "decision")
        self.threshold: float | None = None

    def _run(self, x: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
        x = check_images(x, size=self.bundle.input_size)
        batch_size = check_batch_size(batch_size)
        p = softmax(self.bundle.logits(x, batch_size))
        with accept_dark_images():  # a coarse squeezer (e.g. 1-bit depth) can turn an image black
            p_sq = np.stack([softmax(self.bundle.logits(f(x), batch_size)) for f in self._squeezers])
        distances = np.abs(p_sq - p).sum(axis=-1)
        return {"labels": p.argmax(1), "squeezed_labels": p_sq.argmax(-1), "distances": distances,
                "score": distances.max(axis=0)}

    def fit(self, x: np.ndarray, y: np.ndarray | None = None, fpr: float = 0.05,
            batch_size: int = 32) -> FeatureSqueezingDetector:
        """Threshold the score so that at most ``fpr`` of the clean inputs ``x`` exceed it (``y`` ignored)."""
        self.threshold = threshold_at_fpr(self._run(x, batch_size)["score"], fpr)
        return self

    def detect(self, x: np.ndarray, batch_size: int = 32) -> tuple[dict, np.ndarray]:
        """``(report, is_adversarial)``; the report holds labels, squeezed labels (S, N), the
        per-squeezer distances (S, N), the score and the threshold."""
        report = self._run(x, batch_size)
        if self.decision == "score":
            if self.threshold is None:
                raise RuntimeError("decision='score' needs a threshold: call fit(x_clean) first")
            flags = report["score"] > self.threshold
        else:
            flags = (report["squeezed_labels"] != report["labels"]).any(axis=0)
        report["threshold"] = self.threshold
        return report, flags

