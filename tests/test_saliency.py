import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.saliency import (
    NORMALISE_EPSILON,
    SALIENCY_METHODS,
    GradCAM,
    find_gradcam_layer,
    make_saliency,
    map_correlation,
)

METHODS = tuple(SALIENCY_METHODS)


def hand_model():
    """Input 4x4x3 -> 1x1 linear conv to 2 maps 'A' -> global average pool -> dense to 3 logits."""
    inputs = keras.Input((4, 4, 3))
    a = keras.layers.Conv2D(2, 1, use_bias=False, name="A")(inputs)
    logits = keras.layers.Dense(3, name="dense")(keras.layers.GlobalAveragePooling2D()(a))
    model = keras.Model(inputs, logits)
    w_conv = np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.5]], np.float32)
    w_dense = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]], np.float32)
    model.get_layer("A").set_weights([w_conv[None, None]])
    model.get_layer("dense").set_weights([w_dense, np.zeros(3, np.float32)])
    return model, w_conv, w_dense


def test_gradcam_matches_a_hand_computation(rng):
    model, w_conv, w_dense = hand_model()
    x = rng.uniform(0, 255, (3, 4, 4, 3)).astype(np.float32)
    classes = np.array([0, 1, 2])
    maps = GradCAM(model, "A")(x, classes)
    a = x @ w_conv  # (N, 4, 4, 2) feature maps
    # y_c = sum_k w_dense[k, c] * mean_ij A^k_ij, so a_k^c = mean_ij dy_c/dA^k_ij = w_dense[k, c] / 16.
    weights = w_dense[:, classes].T / 16.0
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
    cam /= cam.max(axis=(1, 2), keepdims=True) + NORMALISE_EPSILON
    np.testing.assert_allclose(maps.coarse, cam, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(maps.classes, classes)
    np.testing.assert_allclose(maps.logits, model(x).numpy(), rtol=1e-5)


def reference_maps(method, a, g):
    """The four maps in numpy from activations a and gradients g (N, h, w, k), normalised per image;
    written from the papers' formulas (and pytorch-grad-cam's epsilons), independently of helpers.saliency."""
    if method == "layercam":
        cam = (np.maximum(g, 0) * a).sum(-1)
    else:
        if method == "gradcam":
            w = g.mean(axis=(1, 2))
        elif method == "gradcam++":
            s = a.sum(axis=(1, 2))[:, None, None, :]
            alpha = np.where(g != 0, g**2 / (2 * g**2 + s * g**3 + 1e-6), 0.0)
            w = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
        else:  # xgradcam
            w = (g * a).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7)
        cam = np.einsum("nhwk,nk->nhw", a, w)
    cam = np.maximum(cam, 0)
    return cam / (cam.max(axis=(1, 2), keepdims=True) + NORMALISE_EPSILON)


def flat_hand_model():
    """Input 4x4x3 -> 1x1 linear conv to 2 positive maps 'A' -> flatten -> dense to 3 logits, so that
    dy_c/dA_ijk = w_dense[(i, j, k), c]: a gradient that varies over space, known in closed form."""
    inputs = keras.Input((4, 4, 3))
    a = keras.layers.Conv2D(2, 1, use_bias=False, name="A")(inputs)
    logits = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(a))
    model = keras.Model(inputs, logits)
    w_conv = np.array([[1.0, 0.25], [0.5, 2.0], [0.75, 0.5]], np.float32)  # positive: A > 0 for x > 0
    w_dense = np.round(np.random.default_rng(6).normal(size=(32, 3)), 2).astype(np.float32)
    model.get_layer("A").set_weights([w_conv[None, None]])
    model.get_layer("dense").set_weights([w_dense, np.zeros(3, np.float32)])
    return model, w_conv, w_dense


@pytest.mark.parametrize("method", METHODS)
def test_each_method_matches_a_hand_computation(rng, method):
    model, w_conv, w_dense = flat_hand_model()
    x = rng.uniform(1, 255, (3, 4, 4, 3)).astype(np.float32)
    classes = np.array([0, 1, 2])
    cam = make_saliency(method, model, "A")
    assert isinstance(cam, SALIENCY_METHODS[method]) and cam.method == method
    maps = cam(x, classes)
    a = x @ w_conv  # (N, 4, 4, 2)
    g = w_dense.reshape(4, 4, 2, 3)[..., classes].transpose(3, 0, 1, 2)  # Flatten is row-major over (i, j, k)
    expected = reference_maps(method, a.astype(np.float64), g.astype(np.float64))
    assert expected.max(axis=(1, 2)).min() > 0.99  # no image with an empty map: the comparison means something
    np.testing.assert_allclose(maps.coarse, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(maps.classes, classes)
    np.testing.assert_allclose(maps.logits, model(x).numpy(), rtol=1e-5)


def test_the_methods_differ_on_the_hand_model(rng):
    model, _, _ = flat_hand_model()
    x = rng.uniform(1, 255, (3, 4, 4, 3)).astype(np.float32)
    maps = {m: make_saliency(m, model, "A")(x, np.array([0, 1, 2])).coarse for m in METHODS}
    for i, m in enumerate(METHODS):
        for other in METHODS[i + 1:]:
            assert np.abs(maps[m] - maps[other]).max() > 0.01, (m, other)


def eager_activations_and_gradients(model, layer, x, cls):
    """Per-image eager activations and gradients of logit ``cls``, written independently of helpers.saliency."""
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        a, z = grad_model(x[None])
        y = z[0, cls]
    return a.numpy().astype(np.float64), tape.gradient(y, a).numpy().astype(np.float64)


EXPLICIT = np.array([1, 282, 967, 0, 5, 500])


@pytest.fixture(scope="module")
def per_image(lite0, photos):
    """Eager (activations, gradients) per photograph, for its predicted class and for EXPLICIT."""
    predicted = lite0.predict(photos.x)[0]
    return {key: [eager_activations_and_gradients(lite0.model, lite0.gradcam_layer, xi, c)
                  for xi, c in zip(photos.x, classes, strict=True)]
            for key, classes in (("predicted", predicted), ("explicit", EXPLICIT))}


@pytest.mark.parametrize("method", METHODS)
def test_batched_maps_equal_a_per_image_loop(lite0, photos, per_image, method):
    cam = make_saliency(method, lite0.model, lite0.gradcam_layer)
    maps = cam(photos.x, batch_size=4)  # two batches, the second one partial
    maps_explicit = cam(photos.x, EXPLICIT)
    for got, key in ((maps, "predicted"), (maps_explicit, "explicit")):
        for i, (a, g) in enumerate(per_image[key]):
            np.testing.assert_allclose(got.coarse[i], reference_maps(method, a, g)[0], atol=2e-4)
    np.testing.assert_array_equal(maps.classes, lite0.predict(photos.x)[0])
    assert maps.coarse.shape == (6, 7, 7) and maps.coarse.min() >= 0 and maps.coarse.max() <= 1
    assert np.all(maps.coarse.max(axis=(1, 2)) > 0.99)
    up = maps.upsampled((224, 224))
    assert up.shape == (6, 224, 224) and up.min() >= 0 and up.max() <= 1
    np.testing.assert_allclose(maps.confidence, lite0.predict(photos.x)[1], rtol=1e-5)


def test_gradcam_is_the_default_and_xgradcam_equals_it_under_global_average_pooling(lite0, photos):
    """With global average pooling after the target layer, G^k is constant over space, so XGrad-CAM's
    weights equal Grad-CAM's up to a factor h*w (Fu et al. 2020): the same normalised map."""
    assert type(make_saliency("gradcam", lite0.model, lite0.gradcam_layer)) is GradCAM
    gradcam = GradCAM(lite0.model, lite0.gradcam_layer)(photos.x[:3])
    xgradcam = make_saliency("xgradcam", lite0.model, lite0.gradcam_layer)(photos.x[:3])
    np.testing.assert_allclose(xgradcam.coarse, gradcam.coarse, atol=1e-5)


def test_unknown_method_lists_the_valid_ones(tiny):
    with pytest.raises(ValueError, match="unknown saliency method 'scorecam'; expected one of 'gradcam', "
                                         r"'gradcam\+\+', 'xgradcam', 'layercam'"):
        make_saliency("scorecam", tiny.model)


def test_automatic_layer_and_nested_models(tiny, rng):
    assert find_gradcam_layer(tiny.model) == "conv2"
    inputs = keras.Input((16, 16, 3))
    wrapped = keras.Model(inputs, keras.layers.Activation("linear")(tiny.model(keras.layers.Identity()(inputs))))
    assert find_gradcam_layer(wrapped) == "conv2"
    x = rng.uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    flat, nested = GradCAM(tiny.model)(x), GradCAM(wrapped)(x)
    np.testing.assert_allclose(nested.coarse, flat.coarse, atol=1e-6)
    np.testing.assert_array_equal(nested.classes, flat.classes)


def test_non_chain_nested_model_and_missing_layer_raise(tiny):
    inputs = keras.Input((16, 16, 3))
    half = keras.layers.Rescaling(0.5)(inputs)
    two_paths = keras.Model(inputs, keras.layers.Add()([tiny.model(inputs), tiny.model(half)]))
    with pytest.raises(ValueError, match="not a simple chain"):
        GradCAM(two_paths, "conv2")
    with pytest.raises(ValueError, match="not found"):
        GradCAM(tiny.model, "nope")
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a 4-D"):
        find_gradcam_layer(dense_only)


def test_gradcam_rejects_bad_input(tiny):
    gradcam = GradCAM(tiny.model)
    with pytest.raises(ValueError, match="16x16"):
        gradcam(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="class indices"):
        gradcam(np.full((1, 16, 16, 3), 9.0, np.float32), classes=np.array([5]))


def test_map_correlation():
    a = np.random.default_rng(1).random((2, 5, 5))
    np.testing.assert_allclose(map_correlation(a, a), 1.0)
    np.testing.assert_allclose(map_correlation(a, 1 - a), -1.0)
    assert np.isnan(map_correlation(np.ones((1, 3, 3)), a[:1, :3, :3]))[0]
    with pytest.raises(ValueError, match="same shape"):
        map_correlation(a, a[:1])
