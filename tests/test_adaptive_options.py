"""The adaptive attacker's options: the detector's score term, the per-view margin loss and the
straight-through clip, against hand computations and the real detector, on the toy model (16x16 stripes)."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from conftest import stripes

from helpers.adaptive.defences import Defence
from helpers.adaptive.members import Objective, ensemble, observed_classifier
from helpers.adaptive.model import (
    adaptive_bundle,
    clip_straight_through,
    consensus_layer,
    detector_aware_bundle,
    detector_score,
    per_view_margin,
)
from helpers.detectors import SaliencyDetector
from helpers.runtime import set_seed

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import AutoProjectedGradientDescent

EPS = 8 / 255


@pytest.fixture(scope="module")
def setup(toy):
    x, y = stripes(40, seed=5)
    keep = toy.predict(x)[0] == y
    x, y = x[keep][:8], y[keep][:8]
    detector = SaliencyDetector(toy, [0.1, 0.3], "none")
    return x, y, detector, detector_aware_bundle(toy, detector)


def test_per_view_margin_matches_a_hand_computation():
    # 2 views (x and one view), 2 images, 4 classes; target 2 for image 0, 0 for image 1; kappa 1
    z = np.array([[[1.0, 3.0, 2.0, 0.0], [4.0, 1.0, 0.0, 2.0]],
                  [[0.0, 1.0, 5.0, 2.0], [0.5, 3.0, 1.0, 0.0]]], np.float32)
    target = tf.one_hot([2, 0], 4)
    got = per_view_margin(tf.constant(z), target, 1.0).numpy()
    # image 0: view x max(3 - 2, -1) = 1; view 1 max(2 - 5, -1) = -1 -> 0
    # image 1: view x max(2 - 4, -1) = -1; view 1 max(3 - 0.5, -1) = 2.5 -> 1.5
    np.testing.assert_allclose(got, [0.0, 1.5], rtol=1e-6)
    assert Objective("margin", kappa=1.0)(tf.constant(z), target).numpy() == pytest.approx(got, rel=1e-6)


def test_view_logits_make_the_consensus_and_the_detectors_score(toy, setup):
    x, _, detector, adaptive = setup
    layer = consensus_layer(adaptive)
    vl = layer.view_logits(tf.constant(x)).numpy()
    assert vl.shape == (3, len(x), 5)  # x, theta 0.1, theta 0.3
    np.testing.assert_allclose(vl[0], toy.logits(x), atol=1e-4)
    log_p = vl - np.log(np.exp(vl - vl.max(-1, keepdims=True)).sum(-1, keepdims=True)) - vl.max(-1, keepdims=True)
    np.testing.assert_allclose(log_p.mean(axis=0), adaptive.logits(x), atol=1e-4)  # the consensus, not a copy
    real = Defence("saliency", detector).scores(x)[1]  # the largest L1 score over the thetas
    np.testing.assert_allclose(detector_score(tf.constant(vl)).numpy(), real, atol=1e-5)
    with pytest.raises(TypeError, match="not a detector-aware model"):
        consensus_layer(toy)


def test_the_score_term_adds_its_weight_times_the_score(setup):
    x, y, _, adaptive = setup
    vl = consensus_layer(adaptive).view_logits(tf.constant(x))
    target = tf.one_hot((y + 1) % 5, 5)
    for loss in ("ce", "dlr", "margin"):
        plain, scored = Objective(loss)(vl, target), Objective(loss, score_weight=2.0)(vl, target)
        np.testing.assert_allclose(scored - plain, 2.0 * detector_score(vl).numpy(), atol=1e-5)


def last_iterate_scores(adaptive, defence, x, target, objective) -> np.ndarray:
    """The real detector's score of APGD's last iterate (ART returns x itself where the target is not
    reached, so the iterates are read where APGD evaluates its loss)."""
    classifier = observed_classifier(adaptive, objective)
    attack = AutoProjectedGradientDescent(classifier, norm=np.inf, eps=EPS, eps_step=2 * EPS, max_iter=20,
                                          targeted=True, nb_random_init=1, batch_size=len(x), verbose=False)
    seen = []
    classifier.observer = seen.append
    try:
        set_seed(0)
        attack.generate(x / np.float32(255.0), y=np.eye(5, dtype=np.float32)[target])
    finally:
        classifier.observer = None
    assert np.abs(seen[-1] - x / 255.0).max() > EPS / 2  # it moved
    return defence.scores(np.clip(seen[-1], 0, 1).astype(np.float32) * np.float32(255.0))[1]


def test_the_score_term_lowers_the_real_detectors_score_at_equal_budget(setup):
    x, y, detector, adaptive = setup
    defence = Defence("saliency", detector)
    target = (y + 1) % 5
    without = last_iterate_scores(adaptive, defence, x, target, Objective("ce"))
    with_term = last_iterate_scores(adaptive, defence, x, target, Objective("ce", score_weight=5.0))
    # the same attack, budget and seed; the term drives the score the matched threshold is fitted on down
    # (seen: 0.37x with oneDNN on, 0.52x with it off; the same attack without the term gives 1x)
    assert with_term.mean() < 0.75 * without.mean()


def test_the_score_term_needs_views(toy):
    with pytest.raises(ValueError, match="score term needs a detector-aware model"):
        observed_classifier(toy, Objective("ce", score_weight=1.0))


def test_members_with_the_score_term_and_the_margin_loss():
    assert [m.label for m in ensemble(1, ("ce", "margin"), score_weight=0.5)] == [
        "APGD-CE target 1", "APGD-MARGIN target 1", "APGD-CE+0.5L1 target 1", "APGD-MARGIN+0.5L1 target 1"]
    with pytest.raises(ValueError, match="score_weight"):
        Objective("ce", score_weight=-1.0)


@pytest.mark.parametrize("emphasis_clip", ["exact", "straight_through"])
def test_the_emphasis_clip_gradient_matches_a_hand_computation(toy, emphasis_clip):
    """BPDA, no noise: E = clip(x + theta * 255 * overlay, 0, 255) with the overlay constant, so d sum(E) / dx
    is 1 where E is not saturated and, with the exact clip, 0 where it is; straight through, 1 everywhere."""
    x = np.full((2, 16, 16, 3), 128.0, np.float32)
    x[:, :8] = 250.0  # bright rows: saturated wherever 0.3 * 255 * overlay > 5
    adaptive = adaptive_bundle(toy, [0.3], "none", emphasis_clip=emphasis_clip)
    layer = consensus_layer(adaptive)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        view = layer.views(xt)[1][0]
        total = tf.reduce_sum(view)
    grad = tape.gradient(total, xt).numpy()
    unclipped = x + 0.3 * 255.0 * layer._logits_and_overlay(xt)[1].numpy()
    saturated = unclipped > 255.0
    clear = np.abs(unclipped - 255.0) > 0.01  # pixels within float error of the edge are not asserted on
    assert 0.1 < saturated[clear].mean() < 0.6  # the fixture exercises both cases
    np.testing.assert_allclose(view.numpy(), np.clip(unclipped, 0, 255), atol=1e-3)  # forward: the exact clip
    expected = np.ones_like(x) if emphasis_clip == "straight_through" else (~saturated).astype(np.float32)
    np.testing.assert_array_equal(grad[clear], expected[clear])


def test_straight_through_clip_forward_is_exact():
    v = tf.constant([-3.5, 0.0, 17.25, 255.0, 300.75])
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = clip_straight_through(v)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 17.25, 255.0, 255.0])
    np.testing.assert_array_equal(tape.gradient(out, v).numpy(), np.ones(5))
