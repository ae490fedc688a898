"""Detector-aware (adaptive) white-box attacks: models on which ART's attacks, unchanged, attack
the classifier and its detector together.

The model's logits are the consensus z(x) = (log_softmax(f(x)) + sum_v log_softmax(f(v(x)))) / (1 + V)
over x and the V views the detectors look at (emphasis images, squeezed images): a class wins only where
they all agree. :func:`adaptive_bundle`, :func:`squeezing_bundle` and :func:`detector_aware_bundle` return
it as a :class:`~helpers.models.ModelBundle`; :class:`ConsensusLogits` also gives the raw view logits for
:func:`detector_score` and :func:`per_view_margin`. How the views are differentiated (``VARIANTS``,
``EMPHASIS_CLIPS``), why the mean, and the references: docs/adaptive.md, "How the detector-aware model works".
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
import weakref
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers import emphasis, saliency, squeeze, transforms
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import COLORMAPS, OVERLAY_ORDERS, colour_interpolated, colour_lookup, emphasis_tf, overlay_tf
from helpers.models import ModelBundle
from helpers.names import EMPHASIS_CLIPS, VARIANTS
from helpers.runtime import code_fingerprint
from helpers.saliency import GradCAM
from helpers.squeeze import JOINT_IMAGENET
from helpers.transforms import NOISES, ZERO_MEAN_REFERENCES, noise_tf
from helpers.validation import accept_dark_images, check_choice, check_theta

LINF_BUDGETS = (2 / 255, 4 / 255, 8 / 255, 16 / 255)  # the L-inf budgets of the adaptive evaluation, [0, 1] units


def colour_straight_through(cam: tf.Tensor, table: tf.Tensor) -> tf.Tensor:
    """The exact colour lookup forward; the derivative of linear interpolation into the table backward.

    Args:
        cam: (N, h, w) maps in [0, 1].
        table: (256, 3) the colour map's table.

    Returns:
        (N, h, w, 3) colours in [0, 1]."""
    smooth = colour_interpolated(cam, table)
    return colour_lookup(cam, table) + (smooth - tf.stop_gradient(smooth))  # smooth - smooth is exactly 0


def clip_straight_through(v: tf.Tensor) -> tf.Tensor:
    """clip(v, 0, 255) forward, the identity backward (the forward value is exactly the clip: v - v is 0).

    Args:
        v: pixel values (the unclipped emphasis image).

    Returns:
        clip(v, 0, 255), of ``v``'s shape."""
    return tf.stop_gradient(tf.clip_by_value(v, 0.0, 255.0)) + (v - tf.stop_gradient(v))


def _emphasis(x_noised: tf.Tensor, overlay: tf.Tensor, theta: float, emphasis_clip: str) -> tf.Tensor:
    """:func:`helpers.emphasis.emphasis_tf`, with its clip differentiated as ``emphasis_clip`` says."""
    if emphasis_clip == "exact":
        return emphasis_tf(x_noised, overlay, theta)
    return clip_straight_through(x_noised + (theta * 255.0) * overlay)


def detector_score(view_logits: tf.Tensor) -> tf.Tensor:
    """The detectors' score of each image from :meth:`ConsensusLogits.view_logits`: the largest over the
    views of the L1 distance between f's softmax on x and on the view (``l1_distance`` of
    :mod:`helpers.detectors`, maximised over the configurations as a matched threshold sees them).

    Args:
        view_logits: (1 + V, N, C) f's raw logits on x, then on each view.

    Returns:
        (N,) scores in [0, 2]."""
    p = tf.nn.softmax(view_logits)
    return tf.reduce_max(tf.reduce_sum(tf.abs(p[1:] - p[:1]), axis=-1), axis=0)


def per_view_margin(view_logits: tf.Tensor, target: tf.Tensor, kappa: float) -> tf.Tensor:
    """sum over x and its views v of max(max_{j != t} z_{v,j} - z_{v,t}, -kappa), to minimise: every view
    pushed into the target t by a logit margin of ``kappa``, and no further (Carlini & Wagner's f_6 per
    view).

    Args:
        view_logits: (1 + V, N, C) raw logits.
        target: (N, C) one-hot targets.
        kappa: the logit margin at which a view stops pulling.

    Returns:
        (N,) losses."""
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

    Args:
        model: f, RGB 0..255 in, logits out.
        gradcam_layer: Grad-CAM's layer in ``model``.
        emphasis_views: (noise, theta) pairs, each the emphasis image clip(n(x) + theta * 255 *
            overlay(H(x)), 0, 255) with H the Grad-CAM map of x for its predicted class (the detector's
            convention).
        squeezers: Feature Squeezing specs (``helpers.squeeze.squeezer``).
        variant: how the overlay is differentiated (``VARIANTS``).
        colormap, overlay_order: see ``helpers.emphasis``.
        zero_mean_reference: see ``helpers.transforms``.
        channel_order: non-local means' channel order.
        emphasis_clip: how the emphasis image's clip is differentiated (``EMPHASIS_CLIPS``; see
            docs/adaptive.md).
        **kwargs: ``keras.layers.Layer``'s (``name``).

    Raises:
        ValueError: an unknown squeezer spec, or ``gradcam_layer`` not in ``model``."""

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
        """The consensus logits.

        Args:
            x: (N, H, W, 3) float32 RGB in 0..255.

        Returns:
            (N, C) z(x)."""
        return self._compiled(x)

    def views(self, x: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """f's logits on x (N, C) and the views of x (each (N, H, W, 3), RGB 0..255): the emphasis images in
        ``emphasis_views`` order, then the squeezed images.

        Args:
            x: (N, H, W, 3) float32 RGB in 0..255.

        Returns:
            (N, C) logits and the list of V views."""
        logits, overlay = self._logits_and_overlay(x)
        noised = {n: noise_tf(x, n, self.zero_mean_reference) for n in dict.fromkeys(n for n, _ in self.emphasis_views)}
        views = [_emphasis(noised[n], overlay, t, self.emphasis_clip) for n, t in self.emphasis_views]
        return logits, views + [_squeeze_bpda(x, fn) for fn in self._squeeze_fns]

    def view_logits(self, x: tf.Tensor) -> tf.Tensor:
        """(1 + V, N, C): f's raw logits on x, then on each of the V views (one batch through f for them).

        Args:
            x: (N, H, W, 3) float32 RGB in 0..255.

        Returns:
            (1 + V, N, C) raw logits."""
        logits, views = self.views(x)
        if not views:
            return logits[None]
        z_views = tf.reshape(self.model(tf.concat(views, axis=0), training=False), (len(views), -1, self.n_classes))
        return tf.concat([logits[None], z_views], axis=0)

    def _consensus(self, x: tf.Tensor) -> tf.Tensor:
        log_p = tf.nn.log_softmax(self.view_logits(x))
        return (log_p[0] + tf.reduce_sum(log_p[1:], axis=0)) / tf.cast(tf.shape(log_p)[0], log_p.dtype)

    def compute_output_spec(self, x):
        """Keras' symbolic output.

        Args:
            x: the symbolic input, (N, H, W, 3).

        Returns:
            a (N, C) float32 ``KerasTensor``."""
        return keras.KerasTensor((x.shape[0], self.n_classes), dtype="float32")

    def get_config(self):
        """Refused (NotImplementedError): the layer holds a live model and cannot be saved."""
        raise NotImplementedError("ConsensusLogits wraps a live model for attacks; rebuild it with helpers.adaptive "
                                  "instead of saving it")


def _code_digest() -> str:
    """A hash of the code that defines the views: editing it changes the bundle's name, hence its cache keys."""
    return code_fingerprint(emphasis, saliency, squeeze, transforms, sys.modules[__name__])[:10]


def consensus_layer(adaptive: ModelBundle) -> ConsensusLogits:
    """The :class:`ConsensusLogits` layer of a detector-aware model made here (its views, view logits).

    Args:
        adaptive: a bundle of :func:`adaptive_bundle`, :func:`squeezing_bundle` or
            :func:`detector_aware_bundle`.

    Raises:
        TypeError: ``adaptive`` is not one of this module's models."""
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
    ``noises`` (their product: one view per pair).

    Args:
        bundle: f.
        thetas: one θ in [0, 1] or a sequence of them.
        noises: one noise name (``NOISES``) or a sequence of them.
        colormap, overlay_order, zero_mean_reference: as the detector's.
        variant: ``"bpda"`` or ``"gradcam"``.
        emphasis_clip: ``"exact"`` or ``"straight_through"`` (docs/adaptive.md).

    Returns:
        the detector-aware :class:`~helpers.models.ModelBundle` (named after its settings and code).

    Raises:
        TypeError: ``bundle`` is not a ModelBundle, or a theta not a number.
        ValueError: no theta or no noise, a theta outside [0, 1], or an unknown name."""
    thetas = [thetas] if np.ndim(thetas) == 0 else list(thetas)
    noises = [noises] if isinstance(noises, str) else list(noises)
    if not thetas or not noises:
        raise ValueError("need at least one theta and one noise")
    views = [(n, t) for n in noises for t in thetas]
    return _consensus_bundle(bundle, views, (), variant, colormap, overlay_order, zero_mean_reference, "rgb",
                             emphasis_clip)


def squeezing_bundle(bundle: ModelBundle, squeezers: Sequence[str] = JOINT_IMAGENET,
                     channel_order: str = "rgb") -> ModelBundle:
    """The adaptive model against Feature Squeezing with ``squeezers`` (BPDA through each squeezer).

    Args:
        bundle: f.
        squeezers: a non-empty list of squeezer specs.
        channel_order: non-local means' channel order, 'rgb' or 'bgr'.

    Raises:
        TypeError: ``bundle`` is not a ModelBundle.
        ValueError: ``squeezers`` is a string or empty, an unknown or invalid spec, or an unknown channel
            order."""
    if isinstance(squeezers, str) or not squeezers:
        raise ValueError(f"squeezers must be a non-empty list of specs such as {list(JOINT_IMAGENET)}, "
                         f"got {squeezers!r}")
    return _consensus_bundle(bundle, (), tuple(squeezers), "bpda", "jet", "coarse", "imagenet", channel_order)


def detector_aware_bundle(bundle: ModelBundle, detectors, variant: str = "bpda",
                          emphasis_clip: str = "exact") -> ModelBundle:
    """The adaptive model against all of ``detectors`` at once: a view for each (noise, theta) of each
    saliency detector, one for each squeezer. A ``ConfidenceDetector`` adds no view (the f(x) term covers
    it; a high-confidence C&W, ``confidence=kappa``, is the attack on it).

    Args:
        bundle: f, the model the detectors guard.
        detectors: one detector or a list or tuple of ``SaliencyDetector``, ``FeatureSqueezingDetector``
            and ``ConfidenceDetector``. The saliency detectors must share their colour map, overlay order
            and zero-mean reference, the squeezing ones their channel order.
        variant: ``"bpda"`` or ``"gradcam"``.
        emphasis_clip: ``"exact"`` or ``"straight_through"`` (docs/adaptive.md).

    Raises:
        TypeError: an unsupported detector, or ``bundle`` not a ModelBundle.
        ValueError: a detector guarding another model, saliency or squeezing detectors with different
            settings, no view at all, or an unknown name."""
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


_SURROGATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # keras model -> the score surrogate


def scored_bundle(bundle: ModelBundle, surrogate: Callable[[tf.Tensor], tf.Tensor], label: str) -> ModelBundle:
    """f with a differentiable surrogate of a detector's score attached: the adaptive members with a score term
    (``score_weight`` > 0) minimise their loss plus ``score_weight`` x ``surrogate(x)``, for any detector (your own:
    :func:`helpers.adaptive.defences.user_defence` judges with the real one). A surrogate may be the score itself
    when it is differentiable, a smooth approximation, or BPDA (the exact score forward, an approximation's
    gradient backward, e.g. with ``tf.custom_gradient``).

    Args:
        bundle: f.
        surrogate: (N, H, W, 3) float32 RGB 0..255 tensor -> (N,) tensor, differentiable in TensorFlow.
        label: the detector's name (the returned model is named ``f.name + "+" + label``).

    Returns:
        the model to pass to :func:`helpers.adaptive.evaluation.evaluate_adaptive` (as ``{"surrogate": ...}``).

    Raises:
        TypeError: a surrogate that is not callable."""
    if not callable(surrogate):
        raise TypeError("surrogate must be a callable of a (N, H, W, 3) tensor returning (N,) scores")
    model = keras.Model(bundle.model.inputs, bundle.model.outputs, name=f"{bundle.model.name}_scored")
    _SURROGATES[model] = surrogate
    return dataclasses.replace(bundle, name=f"{bundle.name}+{label}", model=model)


def surrogate_of(bundle: ModelBundle) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The score surrogate :func:`scored_bundle` attached to ``bundle``, or None."""
    return _SURROGATES.get(bundle.model)

