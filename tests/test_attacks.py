import numpy as np
import pytest
import tensorflow as tf

from helpers.attacks import ATTACKS, DEFAULTS, random_targets, resolve_params, run_attack


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
    result = run_attack("fgsm", lite0, x, eps=eps, batch_size=2)
    assert result.x_adv.dtype == np.float32 and result.x_adv.shape == x.shape
    labels = lite0.predict(x)[0]
    np.testing.assert_array_equal(result.y, labels)
    expected, grad = reference_fgsm(lite0, x, labels, eps)
    decided = np.abs(grad) > 1e-6 * np.abs(grad).max()  # where the gradient's sign is not float noise
    np.testing.assert_allclose(result.x_adv[decided], expected[decided], atol=1e-2)
    assert result.success.all()  # 2/255 fools Lite0 on these photographs
    assert result.params == {"eps": eps} and result.targets is None


def check_result(result, bundle, x):
    """Success masks and norms recomputed independently from the returned examples."""
    adv_labels = bundle.predict(result.x_adv)[0]
    np.testing.assert_array_equal(result.adv_labels, adv_labels)
    expected = adv_labels == result.targets if result.targets is not None else adv_labels != result.y
    np.testing.assert_array_equal(result.success, expected)
    delta = (result.x_adv - x).reshape(len(x), -1) / 255.0
    np.testing.assert_allclose(result.l2, np.sqrt((delta ** 2).sum(1)), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(result.linf, np.abs(delta).max(1), rtol=1e-3, atol=1e-5)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 255


@pytest.mark.parametrize("name, params, budget", [
    ("bim", {"max_iter": 3}, ("linf", 2 / 255)),
    ("pgd", {"max_iter": 3}, ("linf", 2 / 255)),
    ("pgd_l2", {"max_iter": 3, "eps": 0.5}, ("l2", 0.5)),
    ("deepfool", {"max_iter": 5}, None),
    ("cw_l2", {"binary_search_steps": 1, "max_iter": 3}, None),
    ("cw_l2", {"targeted": False, "binary_search_steps": 1, "max_iter": 3}, None),
])
def test_each_attack_returns_consistent_masks_norms_and_budgets(tiny, rng, name, params, budget):
    x = rng.uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    result = run_attack(name, tiny, x, batch_size=2, **params)
    check_result(result, tiny, x)
    if budget:
        norm, eps = budget
        assert getattr(result, norm).max() <= eps * (1 + 1e-4) + 1e-6
    if params.get("targeted", DEFAULTS[name].get("targeted", False)):
        assert result.targets is not None and np.all(result.targets != result.y)


def test_iterative_attacks_are_at_least_as_strong_as_fgsm(lite0, photos):
    x = photos.x[:4]
    fgsm = run_attack("fgsm", lite0, x, eps=0.5 / 255)
    pgd = run_attack("pgd", lite0, x, eps=0.5 / 255, eps_step=0.125 / 255, max_iter=5)
    assert pgd.success.sum() >= fgsm.success.sum()


def test_random_targets_are_seeded_and_never_the_true_label():
    y = np.repeat(np.arange(10), 50)
    t = random_targets(y, 10, seed=3)
    assert np.all(t != y) and set(np.unique(t)) == set(range(10))
    np.testing.assert_array_equal(t, random_targets(y, 10, seed=3))
    assert not np.array_equal(t, random_targets(y, 10, seed=4))


def test_runs_are_reproducible(tiny, rng):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    a = run_attack("pgd", tiny, x, max_iter=2, seed=5)
    b = run_attack("pgd", tiny, x, max_iter=2, seed=5)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)


def test_bad_arguments(tiny, rng):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="unknown attack 'jsma'"):
        run_attack("jsma", tiny, x)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epsilon'\] for attack 'fgsm'"):
        run_attack("fgsm", tiny, x, epsilon=0.1)
    for eps in (0.0, -0.1):
        with pytest.raises(ValueError, match=r"fgsm eps must lie in \(0, inf\]"):
            run_attack("fgsm", tiny, x, eps=eps)
    with pytest.raises(ValueError, match=r"\[0, 1\] units"):
        run_attack("pgd", tiny, x, eps=8.0)
    with pytest.raises(ValueError, match="max_iter"):
        resolve_params("bim", {"max_iter": 0})
    with pytest.raises(ValueError, match="targets must differ"):
        run_attack("cw_l2", tiny, x, y=np.array([0, 1, 2]), targets=np.array([1, 1, 0]))
    with pytest.raises(ValueError, match="only for targeted"):
        run_attack("fgsm", tiny, x, targets=np.array([1, 1, 0]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        run_attack("fgsm", tiny, x / 255 - 1)
    with pytest.raises(ValueError, match="empty batch"):
        run_attack("fgsm", tiny, x[:0])
    assert set(ATTACKS) == {"fgsm", "bim", "pgd", "pgd_l2", "cw_l2", "deepfool"}
