"""Detector-aware (adaptive) white-box attacks: models on which ART's attacks, unchanged, attack
the classifier and its detector together.

An attacker who knows the detector wants an x' that f misclassifies (or puts in a target class)
and whose every *view* v(x') that the detector looks at gets the same label, so that x' is not
flagged. The views are the emphasis images E = clip(n(x) + theta * 255 * overlay(H(x)), 0, 255)
for every (noise n, theta) of the saliency detector, and the squeezed images of Feature Squeezing.
The standard construction (Carlini & Wagner, "Adversarial examples are not easily detected", 2017;
He et al., "Adversarial example defenses: ensembles of weak defenses are not strong", 2017) is a
classifier whose logits combine the log-probabilities of f on x and on each of the V views. We
take their mean rather than their sum:

    z(x) = (log_softmax(f(x)) + sum_v log_softmax(f(v(x)))) / (1 + V)

softmax(z) is proportional to the geometric mean of the views' probabilities (the sum gives their
product; same argmax, same ordering of classes): a class wins only where they all agree. Dividing
by 1 + V keeps z's margins at the scale of one model's: with the sum, a confident model and six
views reach margins of 100+, where float32 softmax underflows and the cross-entropy gradient of
PGD is exactly zero; and C&W's ``confidence`` stays a margin in one model's log-probability units.
PGD, C&W, ... on z push f(x) and every f(v(x)) towards the same wrong label (or the target); with
several thetas and noises one attack must fool them all. C&W with confidence 0 stops at z's own
boundary, where the views still disagree: use a confidence of about 1 or more. :func:`adaptive_bundle`,
:func:`squeezing_bundle` and :func:`detector_aware_bundle` return z as a
:class:`~helpers.models.ModelBundle` (RGB 0..255 in, "logits" out), so
:func:`helpers.attacks.run_attack` and :func:`helpers.cache.cached_attack` run on it as on any
model. Its own label (argmax z) is not f's: pass f's labels as ``y`` (``run_attack``'s default is
the attacked model's own label, here argmax z), and judge the examples with
:func:`helpers.attacks.bypass` (success on f, flags of the real detector); ``AttackResult.success``
of an attack on z says whether z's label changed.

Gradients of the views:

- The noise n (channel swap, mean removal and clipping) is differentiable and differentiated.
- Grad-CAM's class c = argmax f(x) is piecewise constant (no gradient).
- ``variant="bpda"`` (BPDA, Athalye et al. 2018): the overlay is recomputed from H(x) at every
  call (every attack step) but treated as a constant in the backward pass; E still depends on x
  through n(x).
- ``variant="gradcam"``: the gradient also flows through the overlay into Grad-CAM: the
  resize, the normalisation, the ReLU, the feature maps and the CAM weights (themselves gradients
  of the class score: a nested ``tf.GradientTape``, differentiated again). The colour map is a
  lookup table: its forward pass stays the exact lookup, and only its backward pass is BPDA, the
  derivative of linear interpolation between the table's entries
  (:func:`helpers.emphasis.colour_interpolated`).
- Squeezed views (BPDA, as He et al. 2017): the forward pass is the exact squeezer of
  :mod:`helpers.squeeze` (bit depth, SciPy's median filter, OpenCV's non-local means, run through
  ``tf.numpy_function``); the backward pass is the identity.
- The clip of the emphasis image to 0..255 has a zero gradient wherever it saturates (many pixels
  at theta = 0.3). ``emphasis_clip="straight_through"`` keeps the exact clip forward and passes the
  gradient through it unchanged (the identity backward); ``"exact"`` (the default) differentiates it.

Besides the consensus, the layer gives the attacker the raw logits of f on x and on every view
(:meth:`ConsensusLogits.view_logits`, one forward pass; the consensus is computed from them), from which
:func:`detector_score` (the detectors' L1 score, the quantity a matched threshold is fitted on) and
:func:`per_view_margin` (a margin loss per view) are built for the losses of
:mod:`helpers.adaptive_attack`.

One forward + Grad-CAM pass on x serves every view; the views go through f as one batch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers import emphasis, saliency, squeeze, transforms
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import COLORMAPS, OVERLAY_ORDERS, colour_interpolated, colour_lookup, emphasis_tf, overlay_tf
from helpers.models import ModelBundle
from helpers.saliency import GradCAM
from helpers.squeeze import JOINT_IMAGENET
from helpers.transforms import NOISES, ZERO_MEAN_REFERENCES, noise_tf
from helpers.validation import accept_dark_images, check_choice, check_theta

VARIANTS = ("bpda", "gradcam")  # how the saliency overlay is differentiated (see the module docstring)
# The paper's attacks that may also run on the detector-aware models, one defence at a time (notebook 08)
ADAPTIVE_ATTACKS = ("pgd", "pgd_l2", "cw_l2")
EMPHASIS_CLIPS = ("exact", "straight_through")  # how the emphasis image's clip is differentiated
LOSSES = ("ce", "dlr", "margin")  # the adaptive ensemble's losses (helpers.adaptive_attack)
LINF_BUDGETS = (2 / 255, 4 / 255, 8 / 255, 16 / 255)  # the L-inf budgets of the adaptive evaluation, [0, 1] units


def colour_straight_through(cam: tf.Tensor, table: tf.Tensor) -> tf.Tensor:
    """The exact colour lookup forward; the derivative of linear interpolation into the table backward."""
    smooth = colour_interpolated(cam, table)
    return colour_lookup(cam, table) + (smooth - tf.stop_gradient(smooth))  # smooth - smooth is exactly 0


def clip_straight_through(v: tf.Tensor) -> tf.Tensor:
    """clip(v, 0, 255) forward, the identity backward (the forward value is exactly the clip: v - v is 0)."""
    return tf.stop_gradient(tf.clip_by_value(v, 0.0, 255.0)) + (v - tf.stop_gradient(v))


def _emphasis(x_noised: tf.Tensor, overlay: tf.Tensor, theta: float, emphasis_clip: str) -> tf.Tensor:
    """:func:`helpers.emphasis.emphasis_tf`, with its clip differentiated as ``emphasis_clip`` says."""
    if emphasis_clip == "exact":
        return emphasis_tf(x_noised, overlay, theta)
    return clip_straight_through(x_noised + (theta * 255.0) * overlay)


def detector_score(view_logits: tf.Tensor) -> tf.Tensor:
    """The detectors' score of each image from :meth:`ConsensusLogits.view_logits` (1 + V, N, C): the largest
    over the views of the L1 distance between f's softmax on x and on the view (``l1_distance`` of
    :mod:`helpers.detectors`, maximised over the configurations as a matched threshold sees them). (N,)."""
    p = tf.nn.softmax(view_logits)
    return tf.reduce_max(tf.reduce_sum(tf.abs(p[1:] - p[:1]), axis=-1), axis=0)


def per_view_margin(view_logits: tf.Tensor, target: tf.Tensor, kappa: float) -> tf.Tensor:
    """sum over x and its views v of max(max_{j != t} z_{v,j} - z_{v,t}, -kappa), to minimise: every view
    pushed into the target t by a logit margin of ``kappa``, and no further (Carlini & Wagner's f_6 per
    view). ``view_logits``: (1 + V, N, C) raw logits; ``target``: (N, C) one-hot. Returns (N,)."""
    target = tf.cast(target, view_logits.dtype)[None]
    z_t = tf.reduce_sum(view_logits * target, axis=-1)
    z_other = tf.reduce_max(view_logits - 1e9 * target, axis=-1)
    return tf.reduce_sum(tf.maximum(z_other - z_t, -kappa), axis=0)


def _squeeze_bpda(x: tf.Tensor, squeeze_fn) -> tf.Tensor:
    """``squeeze_fn`` (numpy, RGB 0..255) forward, the identity backward."""

    def run(a: np.ndarray) -> np.ndarray:
        with accept_dark_images():  # a squeezer must answer for any image, near-black ones included
            return squeeze_fn(a).astype(np.float32)

    @tf.custom_gradient
    def bpda(v):
        squeezed = tf.numpy_function(run, [v], tf.float32)
        return tf.ensure_shape(squeezed, v.shape), lambda upstream: upstream

    return bpda(x)


class ConsensusLogits(keras.layers.Layer):
    """z(x) = mean of log_softmax(f(x)) and of log_softmax(f(v(x))) over the views v, for RGB 0..255 input.

    ``emphasis_views``: (noise, theta) pairs, each the emphasis image clip(n(x) + theta * 255 *
    overlay(H(x)), 0, 255) with H the Grad-CAM map of x for its predicted class (the detector's
    convention); ``squeezers``: Feature Squeezing specs (``helpers.squeeze.squeezer``). ``variant``:
    how the overlay is differentiated (``VARIANTS``), ``emphasis_clip`` the emphasis image's clip
    (``EMPHASIS_CLIPS``; see the module docstring).
    """

    def __init__(self, model: keras.Model, gradcam_layer: str, emphasis_views: Sequence[tuple[str, float]] = (),
                 squeezers: Sequence[str] = (), variant: str = "bpda", colormap: str = "jet",
                 overlay_order: str = "coarse", zero_mean_reference: str = "imagenet", channel_order: str = "rgb",
                 emphasis_clip: str = "exact", **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.emphasis_views = tuple((n, float(t)) for n, t in emphasis_views)
        self.squeezers = tuple(squeezers)
        self.variant, self.colormap, self.overlay_order = variant, colormap, overlay_order
        self.zero_mean_reference, self.channel_order = zero_mean_reference, channel_order
        self.emphasis_clip = emphasis_clip
        self.n_classes = int(model.output_shape[-1])
        self._gradcam = GradCAM(model, gradcam_layer) if self.emphasis_views else None
        self._squeeze_fns = [squeeze.squeezer(s, channel_order) for s in self.squeezers]
        self._colour = colour_straight_through if variant == "gradcam" else colour_lookup
        # Compiled even when called eagerly (ART's predict is eager); inlined inside other tf.functions.
        self._compiled = tf.function(self._consensus, reduce_retracing=True)

    def _logits_and_overlay(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        if self._gradcam is None:
            return self.model(x, training=False), None
        logits, _, cam = self._gradcam.compute(x, -tf.ones(tf.shape(x)[:1], tf.int32))
        size = tuple(x.shape[1:3])
        overlay = overlay_tf(cam, size, self.colormap, self.overlay_order, colour=self._colour)
        return logits, overlay if self.variant == "gradcam" else tf.stop_gradient(overlay)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self._compiled(x)

    def views(self, x: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """f's logits on x (N, C) and the views of x (each (N, H, W, 3), RGB 0..255): the emphasis images in
        ``emphasis_views`` order, then the squeezed images."""
        logits, overlay = self._logits_and_overlay(x)
        noised = {n: noise_tf(x, n, self.zero_mean_reference) for n in dict.fromkeys(n for n, _ in self.emphasis_views)}
        views = [_emphasis(noised[n], overlay, t, self.emphasis_clip) for n, t in self.emphasis_views]
        return logits, views + [_squeeze_bpda(x, fn) for fn in self._squeeze_fns]

    def view_logits(self, x: tf.Tensor) -> tf.Tensor:
        """(1 + V, N, C): f's raw logits on x, then on each of the V views (one batch through f for them)."""
        logits, views = self.views(x)
        if not views:
            return logits[None]
        z_views = tf.reshape(self.model(tf.concat(views, axis=0), training=False), (len(views), -1, self.n_classes))
        return tf.concat([logits[None], z_views], axis=0)

    def _consensus(self, x: tf.Tensor) -> tf.Tensor:
        log_p = tf.nn.log_softmax(self.view_logits(x))
        return (log_p[0] + tf.reduce_sum(log_p[1:], axis=0)) / tf.cast(tf.shape(log_p)[0], log_p.dtype)

    def compute_output_spec(self, x):
        return keras.KerasTensor((x.shape[0], self.n_classes), dtype="float32")

    def get_config(self):
        raise NotImplementedError("ConsensusLogits wraps a live model for attacks; rebuild it with helpers.adaptive "
                                  "instead of saving it")


def _code_digest() -> str:
    """A hash of the code that defines the views: editing it changes the bundle's name, hence its cache keys."""
    sources = [Path(m.__file__).read_bytes() for m in (emphasis, saliency, squeeze, transforms)]
    return hashlib.sha256(b"".join([*sources, Path(__file__).read_bytes()])).hexdigest()[:10]


def consensus_layer(adaptive: ModelBundle) -> ConsensusLogits:
    """The :class:`ConsensusLogits` layer of a detector-aware model made here (its views, view logits).

    Raises:
        TypeError: ``adaptive`` is not one of this module's models.
    """
    layers = [layer for layer in getattr(adaptive, "model", keras.Model()).layers if isinstance(layer, ConsensusLogits)]
    if not layers:
        raise TypeError(f"{getattr(adaptive, 'name', adaptive)!r} is not a detector-aware model of helpers.adaptive")
    return layers[0]


def _consensus_bundle(bundle: ModelBundle, emphasis_views, squeezers, variant: str, colormap: str, overlay_order: str,
                      zero_mean_reference: str, channel_order: str, emphasis_clip: str = "exact") -> ModelBundle:
    if not isinstance(bundle, ModelBundle):
        raise TypeError(f"bundle must be a helpers.models.ModelBundle, got {type(bundle).__name__}")
    check_choice(variant, VARIANTS, "variant")
    check_choice(emphasis_clip, EMPHASIS_CLIPS, "emphasis_clip")
    check_choice(colormap, COLORMAPS, "colour map")
    check_choice(overlay_order, OVERLAY_ORDERS, "overlay order")
    check_choice(zero_mean_reference, ZERO_MEAN_REFERENCES, "zero_mean_reference")
    check_choice(channel_order, ("rgb", "bgr"), "channel order")
    emphasis_views = [(check_choice(n, NOISES, "noise"), check_theta(t)) for n, t in emphasis_views]
    probe = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3) * 20
    for spec in squeezers:  # parse each spec and try it: unknown names, bit depths and windows raise here
        squeeze.squeezer(spec, channel_order)(probe)
    if not emphasis_views and not squeezers:
        raise ValueError("an adaptive model needs at least one view: a (noise, theta) pair or a squeezer")
    layer = ConsensusLogits(bundle.model, bundle.gradcam_layer, emphasis_views, squeezers, variant, colormap,
                            overlay_order, zero_mean_reference, channel_order, emphasis_clip, name="consensus_logits")
    inputs = keras.Input((*bundle.input_size, 3), name="rgb_0_255")
    model = keras.Model(inputs, layer(inputs), name="adaptive")
    name = _name(bundle.name, emphasis_views, squeezers, variant, colormap, overlay_order, zero_mean_reference,
                 channel_order, emphasis_clip)
    return ModelBundle(name, model, bundle.gradcam_layer, bundle.input_size, bundle.crop_fraction, bundle.resize_method,
                       bundle.class_names)


def _name(base: str, emphasis_views, squeezers, variant, colormap, overlay_order, zero_mean_reference,
          channel_order, emphasis_clip) -> str:
    """A readable name that changes with the settings and the code (the attack cache keys on it), in the
    characters TensorFlow allows in a name scope, e.g.
    ``tiny.bpda.none_0.1_none_0.3.jet_coarse_imagenet.<hash>``."""
    parts = [base]
    if emphasis_views:
        parts += [variant, "_".join(f"{n}_{t:g}" for n, t in emphasis_views),
                  f"{colormap}_{overlay_order}_{zero_mean_reference}"]
        parts += ["clip_st"] if emphasis_clip == "straight_through" else []
    if squeezers:
        parts += ["squeeze", "_".join(squeezers), channel_order]
    described = ".".join(parts)
    digest = hashlib.sha256((described + _code_digest()).encode()).hexdigest()[:10]
    return re.sub(r"[^A-Za-z0-9_.>-]", "_", f"{described}.{digest}")


def adaptive_bundle(bundle: ModelBundle, thetas: float | Sequence[float], noises: str | Sequence[str] = ("none",),
                    colormap: str = "jet", overlay_order: str = "coarse", zero_mean_reference: str = "imagenet",
                    variant: str = "bpda", emphasis_clip: str = "exact") -> ModelBundle:
    """The adaptive model against the saliency detector with every theta in ``thetas`` and every noise in
    ``noises`` (their product: one view per pair). ``colormap``, ``overlay_order`` and
    ``zero_mean_reference`` as the detector's; ``variant``: ``"bpda"`` or ``"gradcam"``; ``emphasis_clip``:
    ``"exact"`` or ``"straight_through"`` (module docstring)."""
    thetas = [thetas] if np.ndim(thetas) == 0 else list(thetas)
    noises = [noises] if isinstance(noises, str) else list(noises)
    if not thetas or not noises:
        raise ValueError("need at least one theta and one noise")
    views = [(n, t) for n in noises for t in thetas]
    return _consensus_bundle(bundle, views, (), variant, colormap, overlay_order, zero_mean_reference, "rgb",
                             emphasis_clip)


def squeezing_bundle(bundle: ModelBundle, squeezers: Sequence[str] = JOINT_IMAGENET,
                     channel_order: str = "rgb") -> ModelBundle:
    """The adaptive model against Feature Squeezing with ``squeezers`` (BPDA through each squeezer)."""
    if isinstance(squeezers, str) or not squeezers:
        raise ValueError(f"squeezers must be a non-empty list of specs such as {list(JOINT_IMAGENET)}, "
                         f"got {squeezers!r}")
    return _consensus_bundle(bundle, (), tuple(squeezers), "bpda", "jet", "coarse", "imagenet", channel_order)


def detector_aware_bundle(bundle: ModelBundle, detectors, variant: str = "bpda",
                          emphasis_clip: str = "exact") -> ModelBundle:
    """The adaptive model against all of ``detectors`` at once (one detector or a sequence of
    ``SaliencyDetector``, ``FeatureSqueezingDetector`` and ``ConfidenceDetector``): a view for each
    (noise, theta) of each saliency detector, one for each squeezer. The saliency detectors must
    share their colour map, overlay order and zero-mean reference, the squeezing ones their channel
    order. A ``ConfidenceDetector`` adds no view (the f(x) term covers it; a high-confidence C&W,
    ``confidence=kappa``, is the attack on it). ``emphasis_clip``: ``"exact"`` or ``"straight_through"``
    (module docstring)."""
    detectors = list(detectors) if isinstance(detectors, (list, tuple)) else [detectors]
    views, squeezers, settings, orders = [], [], set(), set()
    for d in detectors:
        if isinstance(d, SaliencyDetector):
            views += [(d.noise, t) for t in d.thetas]
            ev = d.evaluator
            settings.add((ev.colormap, ev.overlay_order, ev.zero_mean_reference))
        elif isinstance(d, FeatureSqueezingDetector):
            squeezers += list(d.squeezers)
            orders.add(d.channel_order)
        elif not isinstance(d, ConfidenceDetector):
            raise TypeError(f"unsupported detector {type(d).__name__}; expected SaliencyDetector, "
                            "FeatureSqueezingDetector or ConfidenceDetector")
        if d.bundle.model is not bundle.model:
            raise ValueError(f"the {type(d).__name__} guards model {d.bundle.name!r}, not {bundle.name!r}")
    if len(settings) > 1 or len(orders) > 1:
        raise ValueError("the saliency detectors must share colormap, overlay_order and zero_mean_reference, and the "
                         f"squeezing detectors their channel_order; got {sorted(settings)} and {sorted(orders)}")
    colormap, order, reference = settings.pop() if settings else ("jet", "coarse", "imagenet")
    views = list(dict.fromkeys(views))  # the same (noise, theta) twice is one view
    squeezers = list(dict.fromkeys(squeezers))
    return _consensus_bundle(bundle, views, squeezers, variant, colormap, order, reference,
                             orders.pop() if orders else "rgb", emphasis_clip)
