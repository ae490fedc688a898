import numpy as np
import pytest

from helpers.detector import MaxSoftmaxDetector, SaliencyDetector
from helpers.emphasis import emphasis_images
from helpers.saliency import GradCAM
from helpers.transforms import apply_noise


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def per_image_reference(bundle, x, thetas, noise, colormap="jet", order="coarse"):
    """The detector written as a plain per-image loop over public helpers: (T, N) arrays."""
    gradcam = GradCAM(bundle.model, bundle.gradcam_layer)
    labels, emph_labels, scores = [], [], []
    for xi in x:
        xi = xi[None]
        maps = gradcam(xi)
        p = softmax(bundle.logits(xi))
        labels.append(p.argmax())
        pe = [softmax(bundle.logits(emphasis_images(apply_noise(xi, noise), maps.coarse, t, colormap, order)))
              for t in thetas]
        emph_labels.append([q.argmax() for q in pe])
        scores.append([np.abs(p - q).sum() for q in pe])
    return np.array(labels), np.array(emph_labels).T, np.array(scores).T


@pytest.mark.parametrize("noise, order", [("none", "coarse"), ("color_reverse", "upsampled"), ("zero_mean", "coarse")])
def test_detector_equals_per_image_loop(lite0, photos, noise, order):
    thetas = [0.0, 0.3, 0.5]
    detector = SaliencyDetector(lite0, theta=thetas, noise=noise, overlay_order=order)
    report, flags = detector.detect(photos.x, batch_size=4)
    assert report["emphasis_labels"].shape == (3, 6) and flags.shape == (3, 6)
    labels, emph_labels, scores = per_image_reference(lite0, photos.x, thetas, noise, order=order)
    np.testing.assert_array_equal(report["labels"], labels)
    np.testing.assert_array_equal(report["emphasis_labels"], emph_labels)
    # Batched and per-image Grad-CAM differ by float rounding, which can move a pixel of H
    # across a colour-map quantisation level: scores agree to 1e-3, labels exactly.
    np.testing.assert_allclose(report["score"], scores, atol=1e-3)
    np.testing.assert_array_equal(flags, emph_labels != labels[None])


def test_single_theta_report_and_no_noise_theta_zero_flags_nothing(tiny, rng):
    x = rng.uniform(0, 255, (5, 16, 16, 3)).astype(np.float32)
    report, flags = SaliencyDetector(tiny, theta=0.0).detect(x)
    assert flags.shape == (5,) and not flags.any()
    np.testing.assert_allclose(report["score"], 0.0, atol=1e-6)
    assert report["theta"] == 0.0 and report["threshold"] is None
    np.testing.assert_array_equal(report["labels"], tiny.predict(x)[0])


def test_fit_sets_a_threshold_at_the_requested_false_positive_rate(tiny, rng):
    x = rng.uniform(0, 255, (40, 16, 16, 3)).astype(np.float32)
    detector = SaliencyDetector(tiny, theta=[0.2, 0.5], decision="score")
    with pytest.raises(RuntimeError, match="fit"):
        detector.detect(x)
    detector.fit(x, fpr=0.1)
    report, flags = detector.detect(x)
    assert detector.threshold.shape == (2,)
    for t in range(2):
        scores = report["score"][t]
        assert flags[t].mean() <= 0.1
        # The threshold is a clean score, and the next lower score would exceed the FPR.
        assert detector.threshold[t] in scores
        assert np.mean(scores >= detector.threshold[t]) > 0.1 or np.all(scores == scores[0])


def test_bad_parameters_are_rejected_at_construction(tiny):
    with pytest.raises(ValueError, match="theta"):
        SaliencyDetector(tiny, theta=1.5)
    with pytest.raises(ValueError, match="theta"):
        SaliencyDetector(tiny, theta=[])
    with pytest.raises(ValueError, match="unknown noise"):
        SaliencyDetector(tiny, noise="blur")
    with pytest.raises(ValueError, match="unknown colour map"):
        SaliencyDetector(tiny, colormap="viridis")
    with pytest.raises(ValueError, match="unknown overlay order"):
        SaliencyDetector(tiny, overlay_order="late")
    with pytest.raises(ValueError, match="unknown decision"):
        SaliencyDetector(tiny, decision="vote")
    detector = SaliencyDetector(tiny)
    with pytest.raises(ValueError, match="empty batch"):
        detector.detect(np.zeros((0, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="fpr"):
        detector.fit(np.full((2, 16, 16, 3), 9.0, np.float32), fpr=1.0)


@pytest.mark.parametrize("theta, shape", [
    (0.2, (3,)), (np.float32(0.2), (3,)), (np.array(0.2), (3,)),  # a number: (N,)
    ([0.2], (1, 3)), (np.array([0.2]), (1, 3)), ((0.2, 0.4), (2, 3)),  # a sequence: (T, N)
])
def test_result_shapes_depend_only_on_how_theta_is_given(tiny, rng, theta, shape):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    report, flags = SaliencyDetector(tiny, theta=theta).detect(x)
    assert flags.shape == shape
    assert report["score"].shape == report["emphasis_labels"].shape == report["emphasis_confidence"].shape == shape
    assert report["labels"].shape == (3,) and np.ndim(report["theta"]) == len(shape) - 1
    _, flags_02 = SaliencyDetector(tiny, theta=[0.2]).detect(x)
    np.testing.assert_array_equal(flags.reshape(-1, 3)[0], flags_02[0])  # same values, whatever the shape


def test_theta_of_rank_two_is_rejected(tiny):
    with pytest.raises(ValueError, match=r"1-d sequence.*\(1, 2\)"):
        SaliencyDetector(tiny, theta=[[0.1, 0.2]])


def test_max_softmax_baseline_matches_a_direct_computation(tiny, rng):
    x = rng.uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)
    detector = MaxSoftmaxDetector(tiny)
    with pytest.raises(RuntimeError, match="fit"):
        detector.detect(x)
    score = 1 - softmax(tiny.logits(x)).max(1)
    assert detector.fit(x, fpr=0.25) is detector and detector.threshold == np.sort(score)[5]
    report, flags = detector.detect(x)
    np.testing.assert_allclose(report["score"], score, atol=1e-6)
    np.testing.assert_array_equal(flags, score > detector.threshold)
    assert flags.sum() == 2 and report["threshold"] == detector.threshold
