import inspect

import keras
import numpy as np
import pytest

from helpers.data import sample_images
from helpers.detectors import (
    ConfidenceDetector,
    EmphasisEvaluator,
    FeatureSqueezingDetector,
    SaliencyDetector,
    detector_costs,
    emphasis_evaluator,
)
from helpers.emphasis import emphasis_images
from helpers.models import ModelBundle, find_gradcam_layer, load_model
from helpers.saliency import SALIENCY_METHODS, make_saliency
from helpers.squeeze import bit_depth, median
from helpers.transforms import apply_noise


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def per_image_reference(bundle, x, thetas, noise, colormap="jet", order="coarse", method="gradcam"):
    """The detector written as a plain per-image loop over public helpers: (T, N) arrays."""
    gradcam = make_saliency(method, bundle.model, bundle.gradcam_layer)
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


@pytest.mark.parametrize("noise, order, method", [
    ("none", "coarse", "gradcam"), ("color_reverse", "upsampled", "gradcam"), ("zero_mean", "coarse", "gradcam"),
])
def test_detector_equals_per_image_loop(lite0, photos, noise, order, method):
    thetas = [0.0, 0.3, 0.5]
    detector = SaliencyDetector(lite0, theta=thetas, noise=noise, overlay_order=order, saliency_method=method)
    report, flags = detector.detect(photos.x, batch_size=4)
    assert report["emphasis_labels"].shape == (3, 6) and flags.shape == (3, 6)
    labels, emph_labels, scores = per_image_reference(lite0, photos.x, thetas, noise, order=order, method=method)
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
    with pytest.raises(ValueError, match=r"unknown saliency method 'scorecam'; expected one of 'gradcam', 'gradcam\+"):
        SaliencyDetector(tiny, saliency_method="scorecam")
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


def test_feature_squeezing_scores_match_a_direct_computation(lite0, photos):
    x = photos.x[:4]
    detector = FeatureSqueezingDetector(lite0, ("bit_depth:5", "median:2x2"))
    with pytest.raises(RuntimeError, match="fit"):
        detector.detect(x)
    detector.fit(x, fpr=0.25)
    report, flags = detector.detect(x)

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p = softmax(lite0.logits(x))
    d = [np.abs(softmax(lite0.logits(f)) - p).sum(1) for f in (bit_depth(x, 5), median(x, 2))]
    np.testing.assert_allclose(report["distances"], d, atol=1e-5)
    np.testing.assert_allclose(report["score"], np.maximum(*d), atol=1e-5)
    assert flags.sum() == 1 and report["threshold"] == np.sort(report["score"])[2]
    paper_mode = FeatureSqueezingDetector(lite0, ("bit_depth:1",), decision="label_change")
    report, flags = paper_mode.detect(x)
    np.testing.assert_array_equal(flags, report["squeezed_labels"][0] != report["labels"])
    with pytest.raises(ValueError, match="unknown decision"):
        FeatureSqueezingDetector(lite0, decision="vote")
    with pytest.raises(ValueError, match="at least one"):
        FeatureSqueezingDetector(lite0, ())


def test_baseline_detector_scores_one_minus_max_softmax(tiny, rng):
    x = rng.uniform(0, 255, (6, 16, 16, 3)).astype(np.float32)
    detector = ConfidenceDetector(tiny).fit(x, fpr=0.2)
    report, flags = detector.detect(x)
    np.testing.assert_allclose(report["score"], 1 - softmax(tiny.logits(x)).max(1), atol=1e-6)
    np.testing.assert_array_equal(flags, report["score"] > detector.threshold[0])
    with pytest.raises(ValueError, match="unknown decision 'label_change'; expected one of 'score'"):
        detector.set_params(decision="label_change")


@pytest.mark.parametrize("make", [lambda b: SaliencyDetector(b, theta=0.3, noise="zero_mean"),
                                  lambda b: FeatureSqueezingDetector(b, ["bit_depth:3", "median:2x2"]),
                                  lambda b: ConfidenceDetector(b)], ids=["saliency", "squeezing", "baseline"])
def test_detectors_work_through_arts_detector_interface(tiny, rng, make):
    """Used as ART uses an EvasionDetector: positional fit(x, y), detect(x, batch_size), params."""
    from art.defences.detector.evasion import EvasionDetector

    x = rng.uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)
    detector: EvasionDetector = make(tiny)
    assert isinstance(detector, EvasionDetector)
    detector.set_params(decision="score")
    assert detector.get_params()["decision"] == "score"
    detector.fit(x, np.zeros(8, int), 4)  # y and batch_size positionally, as in ART's signature
    report, is_adversarial = detector.detect(x, 4)
    assert is_adversarial.shape == (8,) and is_adversarial.dtype == bool
    assert is_adversarial.mean() <= 0.05 + 1e-9  # the clean inputs it was fitted on, at the default 5% FPR
    assert report["score"].shape == (8,) and np.ndim(report["threshold"]) == 0


def test_detector_costs(lite0, photos):
    squeezing = FeatureSqueezingDetector(lite0, ["bit_depth:5"], "label_change")
    costs = detector_costs(lite0, photos.x[:2], {"squeezing": squeezing}, repeats=1)
    assert list(costs["detector"]) == ["inference", "squeezing"] and costs["ratio_to_inference"].iloc[0] == 1.0
    assert (costs["ms_per_image"] > 0).all()


def check_whole_detector(bundle, x, method="gradcam"):
    """fit + detect with both decisions, against the per-image loop; returns the label-change report."""
    thetas = [0.0, 0.2, 0.5]
    report, flags = SaliencyDetector(bundle, theta=thetas, saliency_method=method).detect(x, batch_size=4)
    labels, emph_labels, scores = per_image_reference(bundle, x, thetas, "none", method=method)
    np.testing.assert_array_equal(report["labels"], labels)
    np.testing.assert_array_equal(report["labels"], bundle.predict(x)[0])
    np.testing.assert_array_equal(report["emphasis_labels"], emph_labels)
    np.testing.assert_allclose(report["score"], scores, atol=1e-3)
    np.testing.assert_array_equal(flags, emph_labels != labels[None])
    assert not flags[0].any()  # theta 0, no noise: E = x
    scored = SaliencyDetector(bundle, theta=thetas, decision="score", saliency_method=method).fit(x, fpr=0.25)
    _, score_flags = scored.detect(x)
    assert scored.threshold.shape == (3,) and score_flags.shape == (3, len(x))
    assert (score_flags.mean(axis=1) <= 0.25).all()
    return report


def nested_cnn(shape, seed=1):
    """Random weights: preprocessing -> a nested 'backbone' sub-model holding the convolutions -> head."""
    keras.utils.set_random_seed(seed)
    inner = keras.Input(shape)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="backbone_conv1")(inner)
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="relu", name="backbone_conv2")(x)
    backbone = keras.Model(inner, x, name="backbone")
    inputs = keras.Input(shape)
    x = backbone(keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(6, name="head")(x), name="nested_cnn")


@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_whole_detector_on_a_model_with_a_nested_backbone(tmp_path, method):
    path = tmp_path / "nested.keras"
    nested_cnn((32, 32, 3)).save(path)
    bundle = load_model(str(path), preprocessing="none")  # finds the Grad-CAM layer itself
    assert bundle.gradcam_layer == "backbone_conv2"
    assert all(layer.name != "backbone_conv2" for layer in bundle.model.layers)  # two levels down, really nested
    x = sample_images(8, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x
    report = check_whole_detector(bundle, x, method)
    # The same layers, with the same weights, as one flat model give the same detector output.
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    for i, channels in ((1, 8), (2, 12)):
        h = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu", name=f"backbone_conv{i}")(h)
    flat_model = keras.Model(inputs, keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(h)))
    flat_model.set_weights(bundle.model.get_weights())
    assert find_gradcam_layer(flat_model) == "backbone_conv2"
    flat = ModelBundle("flat", flat_model, "backbone_conv2", (32, 32), 0.875, "bilinear", bundle.class_names)
    flat_report, _ = SaliencyDetector(flat, theta=[0.0, 0.2, 0.5], saliency_method=method).detect(x)
    np.testing.assert_array_equal(flat_report["emphasis_labels"], report["emphasis_labels"])
    np.testing.assert_allclose(flat_report["score"], report["score"], atol=1e-5)


def test_whole_detector_on_a_non_square_input(tmp_path):
    path = tmp_path / "wide.keras"
    nested_cnn((24, 40, 3), seed=2).save(path)
    bundle = load_model(str(path), preprocessing="none")
    assert bundle.input_size == (24, 40)
    x = sample_images(6, bundle.input_size, bundle.crop_fraction, bundle.resize_method).x
    assert x.shape == (6, 24, 40, 3)
    maps = make_saliency("gradcam", bundle.model, bundle.gradcam_layer)(x)
    assert maps.coarse.shape == (6, 6, 10) and maps.upsampled(bundle.input_size).shape == (6, 24, 40)
    for order in ("coarse", "upsampled"):
        assert emphasis_images(x, maps.coarse, 0.3, order=order).shape == x.shape
    check_whole_detector(bundle, x)


def test_emphasis_evaluator_is_built_once_per_model_and_settings(tiny, rng):
    """A study scores each block with the same evaluator (traced once), and gets what a fresh one gives."""
    first = emphasis_evaluator(tiny, [0.1, 0.3], ("none", "zero_mean"))
    assert emphasis_evaluator(tiny, (0.1, 0.3), ["none", "zero_mean"]) is first
    assert emphasis_evaluator(tiny, [0.1, 0.3], ("none",)) is not first
    assert emphasis_evaluator(tiny, [0.1, 0.3], ("none", "zero_mean"), saliency_method="layercam") is not first
    x = rng.uniform(0, 255, (5, 16, 16, 3)).astype(np.float32)
    for n in (5, 3, 2):  # blocks of several sizes through the shared one
        shared, fresh = first(x[:n], 2), EmphasisEvaluator(tiny, [0.1, 0.3], ("none", "zero_mean"))(x[:n], 2)
        for key in fresh:
            np.testing.assert_array_equal(shared[key], fresh[key])


def test_set_params_names_the_constructor_arguments_and_rebuilds(tiny, env):
    for cls in (SaliencyDetector, FeatureSqueezingDetector, ConfidenceDetector):
        assert set(cls.defence_params) <= set(inspect.signature(cls).parameters), cls.__name__
    detector = SaliencyDetector(tiny, theta=0.2).fit(env.x, fpr=0.0)
    before = detector.evaluate(env.x)["score"]
    detector.set_params(noise="zero_mean")
    expected = SaliencyDetector(tiny, theta=0.2, noise="zero_mean").evaluate(env.x)["score"]
    assert np.abs(expected - before).max() > 1e-3  # the noise changes the scores: the check below can fail
    np.testing.assert_allclose(detector.evaluate(env.x)["score"], expected, rtol=1e-6)
    assert detector.get_params()["noise"] == "zero_mean" and detector.threshold is None  # fitted for the old noise
    with pytest.raises(ValueError, match="unknown noise 'blur'"):
        detector.set_params(noise="blur")
    assert detector.noise == "zero_mean"  # a refused value changes nothing
    squeezing = FeatureSqueezingDetector(tiny, ["bit_depth:1"])
    squeezing.set_params(squeezers=["median:2x2"])
    np.testing.assert_array_equal(squeezing.evaluate(env.x)["distances"],
                                  FeatureSqueezingDetector(tiny, ["median:2x2"]).evaluate(env.x)["distances"])
