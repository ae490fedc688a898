import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.saliency import NORMALISE_EPSILON, GradCAM, find_gradcam_layer, map_correlation


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


def eager_reference(model, layer, x, cls):
    """Per-image eager Grad-CAM, written independently of helpers.saliency."""
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        a, z = grad_model(x[None])
        y = z[0, cls]
    g = tape.gradient(y, a)[0].numpy()
    cam = np.maximum((a[0].numpy() * g.mean(axis=(0, 1))).sum(-1), 0)
    return cam / (cam.max() + NORMALISE_EPSILON)


def test_batched_gradcam_equals_per_image_reference(lite0, photos):
    gradcam = GradCAM(lite0.model, lite0.gradcam_layer)
    maps = gradcam(photos.x, batch_size=4)  # two batches, the second one partial
    explicit = np.array([1, 282, 967, 0, 5, 500])
    maps_explicit = gradcam(photos.x, explicit)
    for i in range(len(photos.x)):
        ref = eager_reference(lite0.model, lite0.gradcam_layer, photos.x[i], maps.classes[i])
        np.testing.assert_allclose(maps.coarse[i], ref, atol=2e-4)
        ref = eager_reference(lite0.model, lite0.gradcam_layer, photos.x[i], explicit[i])
        np.testing.assert_allclose(maps_explicit.coarse[i], ref, atol=2e-4)
    np.testing.assert_array_equal(maps.classes, lite0.predict(photos.x)[0])
    assert maps.coarse.shape == (6, 7, 7) and maps.coarse.min() >= 0 and maps.coarse.max() <= 1
    up = maps.upsampled((224, 224))
    assert up.shape == (6, 224, 224) and up.min() >= 0 and up.max() <= 1
    np.testing.assert_allclose(maps.confidence, lite0.predict(photos.x)[1], rtol=1e-5)


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
