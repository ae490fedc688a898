"""The adaptive models against independent computations with the non-adaptive helpers."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import stripes, tiny_cnn
from scipy.special import log_softmax

from helpers.adaptive.model import (
    ConsensusLogits,
    adaptive_bundle,
    colour_straight_through,
    detector_aware_bundle,
    squeezing_bundle,
)
from helpers.art_classifier import art_classifier
from helpers.attacks import bypass, run_attack
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import (
    colormap_table,
    colour_interpolated,
    colour_lookup,
    emphasis_images,
    emphasis_tf,
    overlay,
    overlay_tf,
)
from helpers.models import ModelBundle
from helpers.saliency import GradCAM
from helpers.squeeze import squeezer
from helpers.transforms import apply_noise, noise_tf

THETAS, NOISES = (0.1, 0.4), ("none", "color_reverse", "zero_mean")


@pytest.fixture
def x(rng):
    return rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)


def as_art_sees(x):
    """The 0..255 images the [0, 1] ART classifier's model receives (x / 255 * 255 in float32)."""
    return (x / 255.0).astype(np.float32) * np.float32(255.0)


def consensus(logits_list):
    return np.mean([log_softmax(z, axis=1) for z in logits_list], axis=0)


@pytest.mark.parametrize("variant, colormap, order", [("bpda", "jet", "coarse"), ("gradcam", "gray", "upsampled")])
def test_output_is_the_mean_log_probability_of_x_and_its_emphasis_images(tiny, x, variant, colormap, order):
    bundle = adaptive_bundle(tiny, THETAS, NOISES, colormap, order, "gray", variant)
    cam = GradCAM(tiny.model, tiny.gradcam_layer)(x).coarse  # for each input's predicted class
    views = [emphasis_images(apply_noise(x, n, "gray"), cam, t, colormap, order) for n in NOISES for t in THETAS]
    expected = consensus([tiny.logits(v) for v in [x, *views]])
    np.testing.assert_allclose(bundle.logits(x), expected, atol=1e-5)
    assert bundle.n_classes == tiny.n_classes and bundle.input_size == tiny.input_size


def bpda_reference_gradient(bundle, x, onehot, overlay_fixed):
    """d loss / d x01 of the same expression with the overlay a constant, by a separate tape."""
    xs = tf.constant(as_art_sees(x))
    with tf.GradientTape() as tape:
        tape.watch(xs)
        views = [xs] + [emphasis_tf(noise_tf(xs, n), overlay_fixed, t) for n in NOISES for t in THETAS]
        z = tf.add_n([tf.nn.log_softmax(bundle.model(v)) for v in views]) / len(views)
        loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)(onehot, z)  # ART's loss object
    return tape.gradient(loss, xs).numpy() * 255.0  # chain rule through ART's x255 input layer


def test_bpda_gradient_is_the_gradient_with_the_overlay_held_fixed(tiny, x):
    onehot = np.eye(5, dtype=np.float32)[[0, 3, 4]]
    adaptive = adaptive_bundle(tiny, THETAS, NOISES, variant="bpda")
    cam = GradCAM(tiny.model, tiny.gradcam_layer)(as_art_sees(x)).coarse
    expected = bpda_reference_gradient(tiny, x, onehot, tf.constant(overlay(cam, (16, 16))))
    got = art_classifier(adaptive).loss_gradient(x / 255.0, onehot)  # what ART's PGD and C&W call
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_gradcam_variant_differentiates_the_overlay_with_a_straight_through_colour_map(tiny, x):
    """Variant (b) against a separate construction: the overlay held at its exact (lookup) value plus
    the interpolated overlay minus its own value, so that only the latter carries a gradient."""
    onehot = np.eye(5, dtype=np.float32)[[1, 1, 2]]
    adaptive = adaptive_bundle(tiny, THETAS, NOISES, overlay_order="upsampled", variant="gradcam")
    got = art_classifier(adaptive).loss_gradient(x / 255.0, onehot)
    xs = tf.constant(as_art_sees(x))
    cam0 = GradCAM(tiny.model, tiny.gradcam_layer)(xs.numpy()).coarse
    exact = tf.constant(overlay(cam0, (16, 16), order="upsampled"))
    gradcam = GradCAM(tiny.model, tiny.gradcam_layer)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        _, _, cam = gradcam.compute(xs, -tf.ones(3, tf.int32))
        smooth = overlay_tf(cam, (16, 16), "jet", "upsampled", colour=colour_interpolated)
        overlay_x = exact + (smooth - tf.stop_gradient(smooth))
        views = [xs] + [emphasis_tf(noise_tf(xs, n), overlay_x, t) for n in NOISES for t in THETAS]
        z = tf.add_n([tf.nn.log_softmax(tiny.model(v)) for v in views]) / len(views)
        loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)(onehot, z)
    expected = tape.gradient(loss, xs).numpy() * 255.0
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    bpda = art_classifier(adaptive_bundle(tiny, THETAS, NOISES, overlay_order="upsampled")).loss_gradient(
        x / 255.0, onehot)
    assert np.abs(got - bpda).max() > 1e-3 * np.abs(bpda).max()  # the Grad-CAM path adds to BPDA's gradient


def test_straight_through_colour_is_the_lookup_forward_and_the_interpolation_backward(rng):
    table = tf.constant(colormap_table("jet"))
    cam = tf.constant(rng.random((2, 7, 7)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(cam)
        straight = colour_straight_through(cam, table)
        smooth = colour_interpolated(cam, table)
    np.testing.assert_array_equal(straight.numpy(), colour_lookup(cam, table).numpy())
    np.testing.assert_allclose(tape.gradient(straight, cam), tape.gradient(smooth, cam), rtol=1e-6)
    assert tape.gradient(colour_lookup(cam, table), cam) is None  # the lookup alone has no gradient


def test_adaptive_cw_bypasses_the_detector_where_plain_cw_is_flagged(toy):
    """C&W (confidence 1) on the toy model: plain examples are mostly flagged by the two-theta detector;
    the adaptive ones, of the same size, mostly are not. Wrong view gradients would not get there."""
    x = stripes(200, seed=1)[0][:16]
    y = toy.predict(x)[0]
    detector = SaliencyDetector(toy, theta=[0.1, 0.3])
    settings = {"targeted": False, "confidence": 1.0, "binary_search_steps": 2, "max_iter": 10}
    plain = run_attack("cw_l2", toy, x, y, **settings)
    plain_bypass = bypass(toy, detector, plain.x_adv, y)
    assert plain_bypass.success.mean() >= 0.9 and plain_bypass.rate <= 0.4
    for variant in ("bpda", "gradcam"):
        adaptive = run_attack("cw_l2", adaptive_bundle(toy, [0.1, 0.3], variant=variant), x, y, **settings)
        outcome = bypass(toy, detector, adaptive.x_adv, y)
        assert outcome.rate >= plain_bypass.rate + 0.3, variant
        assert np.median(adaptive.l2) <= 1.5 * np.median(plain.l2)


def test_adaptive_pgd_stays_in_budget_and_raises_its_loss(toy):
    x = stripes(200, seed=1)[0][:8]
    y = toy.predict(x)[0]
    adaptive = adaptive_bundle(toy, [0.1, 0.3], ["none", "zero_mean"])
    result = run_attack("pgd", adaptive, x, y, eps=16 / 255, eps_step=2 / 255, max_iter=10)
    assert result.linf.max() <= 16 / 255 * (1 + 1e-4)

    def loss(v):
        return -log_softmax(adaptive.logits(v), axis=1)[np.arange(len(y)), y]

    assert loss(result.x_adv).mean() > loss(x).mean() + 1.0
    assert bypass(toy, SaliencyDetector(toy, theta=[0.1, 0.3]), result.x_adv, y).rate > 0.5


def test_adaptive_cw_against_feature_squeezing_bypasses_more_than_plain_cw(toy):
    x = stripes(200, seed=1)[0][:16]
    y = toy.predict(x)[0]
    specs = ("median:2x2", "nlm:11-3-4")
    detector = FeatureSqueezingDetector(toy, specs, decision="label_change")
    settings = {"targeted": False, "confidence": 2.0, "binary_search_steps": 2, "max_iter": 10}
    plain = bypass(toy, detector, run_attack("cw_l2", toy, x, y, **settings).x_adv, y)
    adaptive = bypass(toy, detector, run_attack("cw_l2", squeezing_bundle(toy, specs), x, y, **settings).x_adv, y)
    assert adaptive.rate >= plain.rate + 2 / 16


def test_high_confidence_cw_defeats_the_max_softmax_baseline(toy):
    x_clean = stripes(200, seed=1)[0]
    x, y = x_clean[:16], toy.predict(x_clean[:16])[0]
    baseline = ConfidenceDetector(toy).fit(x_clean[100:], fpr=0.1)
    rates = {}
    for kappa in (0.0, 5.0):
        result = run_attack("cw_l2", toy, x, y, targeted=False, confidence=kappa, binary_search_steps=2, max_iter=10)
        rates[kappa] = bypass(toy, baseline, result.x_adv, y).rate
    assert rates[0.0] <= 0.2 and rates[5.0] >= 0.6


@pytest.mark.parametrize("specs", [("bit_depth:3", "median:2x2", "nlm:11-3-4"), ("median:3x3",)])
def test_squeezing_model_is_the_mean_log_probability_of_the_squeezed_images(tiny, x, specs):
    bundle = squeezing_bundle(tiny, specs)
    expected = consensus([tiny.logits(v) for v in [x, *(squeezer(s)(x) for s in specs)]])
    np.testing.assert_allclose(bundle.logits(x), expected, atol=1e-5)


def test_squeezing_gradient_is_bpda_identity(tiny, x):
    """Each squeezed view's gradient, taken at the squeezed image, is passed straight to x."""
    specs = ("bit_depth:3", "median:2x2")
    onehot = np.eye(5, dtype=np.float32)[[0, 1, 2]]
    xs = as_art_sees(x)
    views = [tf.Variable(v) for v in [xs, *(squeezer(s)(xs) for s in specs)]]
    with tf.GradientTape() as tape:
        z = tf.add_n([tf.nn.log_softmax(tiny.model(v)) for v in views]) / len(views)
        loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)(onehot, z)
    expected = sum(g.numpy() for g in tape.gradient(loss, views)) * 255.0
    got = art_classifier(squeezing_bundle(tiny, specs)).loss_gradient(x / 255.0, onehot)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_detector_aware_model_has_every_view_of_every_detector(tiny, x):
    detectors = [SaliencyDetector(tiny, theta=[0.1, 0.4], noise="zero_mean", overlay_order="upsampled"),
                 SaliencyDetector(tiny, theta=0.1, noise="none", overlay_order="upsampled"),
                 FeatureSqueezingDetector(tiny, ("bit_depth:4", "median:2x2")), ConfidenceDetector(tiny)]
    bundle = detector_aware_bundle(tiny, detectors, variant="gradcam")
    layer = next(layer for layer in bundle.model.layers if isinstance(layer, ConsensusLogits))
    assert layer.emphasis_views == (("zero_mean", 0.1), ("zero_mean", 0.4), ("none", 0.1))
    assert layer.squeezers == ("bit_depth:4", "median:2x2") and layer.variant == "gradcam"
    cam = GradCAM(tiny.model, tiny.gradcam_layer)(x).coarse
    views = [emphasis_images(apply_noise(x, n), cam, t, order="upsampled") for n, t in layer.emphasis_views]
    views += [squeezer(s)(x) for s in layer.squeezers]
    np.testing.assert_allclose(bundle.logits(x), consensus([tiny.logits(v) for v in [x, *views]]), atol=1e-5)
    saliency_only = detector_aware_bundle(tiny, detectors[1])
    assert saliency_only.name.split(".")[:2] == ["tiny", "bpda"]


def test_names_follow_the_settings(tiny):
    names = {adaptive_bundle(tiny, 0.1).name, adaptive_bundle(tiny, 0.2).name,
             adaptive_bundle(tiny, 0.1, variant="gradcam").name, adaptive_bundle(tiny, 0.1, "zero_mean").name,
             adaptive_bundle(tiny, 0.1, zero_mean_reference="gray").name, squeezing_bundle(tiny).name}
    assert len(names) == 6
    assert adaptive_bundle(tiny, 0.1).name == adaptive_bundle(tiny, [0.1]).name  # same settings, same name
    assert adaptive_bundle(tiny, 0.1).name.startswith("tiny.bpda.none_0.1.jet_coarse_imagenet.")


def test_bad_arguments(tiny):
    with pytest.raises(ValueError, match="unknown variant 'exact'.*'bpda', 'gradcam'"):
        adaptive_bundle(tiny, 0.1, variant="exact")
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        adaptive_bundle(tiny, 0.1, ["none", "blur"])
    with pytest.raises(ValueError, match="theta must lie in"):
        adaptive_bundle(tiny, [0.1, 1.5])
    with pytest.raises(TypeError, match="theta must be a number"):
        adaptive_bundle(tiny, "0.1")
    with pytest.raises(ValueError, match="at least one theta and one noise"):
        adaptive_bundle(tiny, [])
    with pytest.raises(ValueError, match="unknown colour map"):
        adaptive_bundle(tiny, 0.1, colormap="viridis")
    with pytest.raises(ValueError, match="unknown overlay order"):
        adaptive_bundle(tiny, 0.1, overlay_order="fine")
    with pytest.raises(TypeError, match="ModelBundle"):
        adaptive_bundle(tiny.model, 0.1)
    with pytest.raises(ValueError, match="unknown squeezer 'blur:3'"):
        squeezing_bundle(tiny, ["blur:3"])
    with pytest.raises(ValueError, match="bits must be an integer in 1..8"):
        squeezing_bundle(tiny, ["bit_depth:9"])
    with pytest.raises(ValueError, match="non-empty list"):
        squeezing_bundle(tiny, "median:2x2")
    with pytest.raises(ValueError, match="non-empty list"):
        squeezing_bundle(tiny, [])
    with pytest.raises(TypeError, match="unsupported detector"):
        detector_aware_bundle(tiny, [object()])
    with pytest.raises(ValueError, match="at least one view"):
        detector_aware_bundle(tiny, ConfidenceDetector(tiny))
    with pytest.raises(ValueError, match="must share colormap"):
        detector_aware_bundle(tiny, [SaliencyDetector(tiny, 0.1), SaliencyDetector(tiny, 0.1, colormap="gray")])
    other = ModelBundle("other", tiny_cnn(seed=1), "conv2", (16, 16), 0.875, "bilinear", tiny.class_names)
    with pytest.raises(ValueError, match="guards model 'other'"):
        detector_aware_bundle(tiny, SaliencyDetector(other, 0.1))
