"""The compiled ART classifier gives stock ART's gradients."""

import numpy as np
import pytest

from helpers.art_classifier import CompiledTensorFlowV2Classifier, art_classifier


@pytest.fixture(scope="module")
def pair(lite0):
    return art_classifier(lite0), art_classifier(lite0, compiled=False)


def assert_same_gradients(got: np.ndarray, expected: np.ndarray) -> None:
    """Per image, the gradients agree to 0.5% of their norm: the compiled and eager graphs sum in other orders, and
    with oneDNN off one offline photograph's gradient differs by 0.15% (elsewhere by 1e-6); a wrong class, loss or
    scale differs by the order of the norm itself."""
    got, expected = got.reshape(len(got), -1), expected.reshape(len(expected), -1)
    error = np.linalg.norm(got - expected, axis=1) / np.linalg.norm(expected, axis=1)
    assert (error < 5e-3).all(), error


def test_loss_gradient_equals_stock_art(pair, photos):
    ours, stock = pair
    x = photos.x[:3] / 255.0
    y = np.eye(1000, dtype=np.float32)[[1, 282, 967]]
    assert_same_gradients(ours.loss_gradient(x, y), stock.loss_gradient(x, y))


@pytest.mark.parametrize("label", [282, [5, 282, 5], np.array([967, 1, 2])])
def test_class_gradient_equals_stock_art(pair, photos, label):
    ours, stock = pair
    x = photos.x[:3] / 255.0
    expected = stock.class_gradient(x, label=label)
    got = ours.class_gradient(x, label=label)
    assert got.shape == expected.shape == (3, 1, 224, 224, 3)
    assert_same_gradients(got, expected)
    own = int(np.broadcast_to(label, 3)[1])  # image 1's class: each image's gradient is of its own class
    assert_same_gradients(got[[1]], stock.class_gradient(x[[1]], label=own))
    with pytest.raises(AssertionError):  # and the check sees another class's gradient
        assert_same_gradients(got[[1]], stock.class_gradient(x[[1]], label=own + 1))


def test_all_class_gradients_only_for_small_models(tiny, pair, rng, photos):
    ours_small, stock_small = art_classifier(tiny), art_classifier(tiny, compiled=False)
    x = rng.random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(ours_small.class_gradient(x), stock_small.class_gradient(x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="one backward pass per class"):
        pair[0].class_gradient(photos.x[:1] / 255.0)
    with pytest.raises(ValueError, match="labels must lie"):
        ours_small.class_gradient(x, label=7)


def test_numpy_preprocessing_defences_are_refused(tiny):
    from art.defences.preprocessor import FeatureSqueezing

    with pytest.raises(ValueError, match="TensorFlow-native"):
        CompiledTensorFlowV2Classifier(model=tiny.model, nb_classes=5, input_shape=(16, 16, 3),
                                       preprocessing_defences=[FeatureSqueezing(clip_values=(0, 1))])


def test_compiled_predict_equals_stock_art(tiny, rng):
    ours, stock = art_classifier(tiny), art_classifier(tiny, compiled=False)
    x = rng.random((7, 16, 16, 3)).astype(np.float32)
    expected = stock.predict(x)
    for batch_size in (7, 3, 1):  # chunked, and one trace for every batch size
        np.testing.assert_allclose(ours.predict(x, batch_size=batch_size), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(x.astype(np.float64)), ours.predict(x))
    assert ours.predict(x[:0]).shape == (0, 5)


def test_cw_on_the_compiled_classifier_gives_stock_arts_adversarials(toy):
    from conftest import stripes

    from helpers.attacks import run_attack

    x = stripes(6, seed=4)[0]
    params = {"binary_search_steps": 2, "max_iter": 5}
    ours = run_attack("cw_l2", toy, x, batch_size=3, **params)
    stock = run_attack("cw_l2", toy, x, batch_size=3, compiled=False, **params)
    assert ours.success.any()
    np.testing.assert_array_equal(ours.success, stock.success)
    np.testing.assert_allclose(ours.l2, stock.l2, rtol=0.01)
    np.testing.assert_allclose(ours.x_adv, stock.x_adv, atol=1e-3)
