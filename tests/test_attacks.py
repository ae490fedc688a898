import numpy as np
import pytest
import tensorflow as tf

from helpers.attacks import fgsm


def reference_fgsm(bundle, x, y, eps):
    """FGSM computed directly in 0..255 units: x + eps*255 * sign(d CE / dx), clipped."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, bundle.model(x), from_logits=True)
    grad = tape.gradient(loss, x).numpy()
    return np.clip(x.numpy() + eps * 255 * np.sign(grad), 0, 255), grad


def test_fgsm_matches_a_direct_computation(lite0, photos):
    x = photos.x[:4]
    eps = 2 / 255
    result = fgsm(lite0, x, eps=eps, batch_size=2)
    assert result.x_adv.dtype == np.float32 and result.x_adv.shape == x.shape
    assert np.abs(result.x_adv - x).max() <= eps * 255 + 1e-3
    labels = lite0.predict(x)[0]
    np.testing.assert_array_equal(result.y, labels)
    expected, grad = reference_fgsm(lite0, x, labels, eps)
    decided = np.abs(grad) > 1e-6 * np.abs(grad).max()  # where the gradient's sign is not float noise
    np.testing.assert_allclose(result.x_adv[decided], expected[decided], atol=1e-2)
    adv_labels = lite0.predict(result.x_adv)[0]
    np.testing.assert_array_equal(result.adv_labels, adv_labels)
    np.testing.assert_array_equal(result.success, adv_labels != labels)
    assert result.success.all()  # 2/255 fools Lite0 on these photographs
    assert result.params == {"eps": eps, "eps_255": pytest.approx(2.0), "norm": "inf"}


def test_fgsm_with_given_labels_and_bad_arguments(tiny, rng):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    result = fgsm(tiny, x, y=np.array([0, 1, 2]), eps=0.05)
    np.testing.assert_array_equal(result.y, [0, 1, 2])
    np.testing.assert_array_equal(result.success, result.adv_labels != np.array([0, 1, 2]))
    for eps in (0.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="eps"):
            fgsm(tiny, x, eps=eps)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        fgsm(tiny, x / 255 - 1)
    with pytest.raises(ValueError, match="class indices"):
        fgsm(tiny, x, y=np.array([0, 1, 9]))
