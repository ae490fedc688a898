import numpy as np
import pytest
import tensorflow as tf
from conftest import stripes

from helpers.attacks import (
    ATTACKS,
    DEFAULTS,
    BlackBox,
    bypass,
    detector_flags,
    grey_levels,
    random_targets,
    resolve_params,
    run_attack,
)
from helpers.detectors import SaliencyDetector
from helpers.models import ModelBundle


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
    # Equal pixel for pixel, except where the gradient is so close to 0 that another CPU's kernels (oneDNN
    # on or off) flip its sign: 60 of 601,733 pixels with oneDNN off. A wrong sign or scale moves them all.
    mismatched = np.abs(result.x_adv - expected) > 1e-2
    assert mismatched.mean() < 1e-3, f"{mismatched.sum()} of {mismatched.size} pixels differ from the direct FGSM"
    assert np.abs(result.x_adv - x).max() <= eps * 255 + 1e-3
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
    ("cw_l2_kappa", {"binary_search_steps": 1, "max_iter": 3}, None),
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


def test_a_margin_cw_example_clears_its_margin(lite0, photos):
    x = photos.x[:4]
    result = run_attack("cw_l2_kappa", lite0, x, confidence=2.0, binary_search_steps=1, max_iter=15,
                        initial_const=100.0, learning_rate=0.1)
    logits = lite0.logits(result.x_adv, 4).astype(np.float64)  # recomputed on the images returned
    rows = np.arange(len(x))
    target = logits[rows, result.targets]
    logits[rows, result.targets] = -np.inf
    assert result.success.sum() >= 2  # 4 of 4 on the machine that wrote this
    assert (target - logits.max(1))[result.success].min() >= 2.0 - 0.01  # each success clears κ (2.18 at least)


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
    assert set(ATTACKS) == {"fgsm", "bim", "pgd", "pgd_l2", "cw_l2", "cw_l2_kappa", "deepfool", "square",
                            "hopskipjump"}
    with pytest.raises(ValueError, match="detector= is for the decision-based black box 'hopskipjump'"):
        run_attack("square", tiny, x, detector=SaliencyDetector(tiny))
    with pytest.raises(TypeError, match="detect"):
        run_attack("hopskipjump", tiny, x, detector=object())
    with pytest.raises(ValueError, match="norm must be 2 or 'inf'"):
        resolve_params("hopskipjump", {"norm": 1})
    with pytest.raises(ValueError, match=r"init_eval \(200\) must not exceed max_eval \(100\)"):
        resolve_params("hopskipjump", {"init_eval": 200, "max_eval": 100})
    with pytest.raises(ValueError, match=r"\[0, 1\] units"):
        resolve_params("square", {"eps": 8})
    with pytest.raises(ValueError, match=r"square p_init must lie in \(0, 1\]"):
        resolve_params("square", {"p_init": 1.5})
    with pytest.raises(TypeError, match="square nb_restarts must be an integer"):
        resolve_params("square", {"nb_restarts": 1.0})
    with pytest.raises(ValueError, match="only for targeted"):
        run_attack("square", tiny, x, targets=np.array([1, 1, 0]))


# Black-box attacks: a starting point (1 query for x's label, at most init_size draws), ART's own
# checks (x, the start, the final success log: 4), and per iteration one binary search (at most 13
# queries for 16x16x3 inputs), one gradient estimate (at most max_eval) and a step-size search.
HSJ = {"max_iter": 3, "max_eval": 40, "init_eval": 10, "init_size": 10}
HSJ_BOUND = 1 + 10 + 4 + 3 * (13 + 40 + 15)


def count_logits_rows(monkeypatch) -> list[int]:
    """Record the number of images of every ModelBundle.logits call (an independent query count)."""
    counted, original = [], ModelBundle.logits

    def logits(self, x, batch_size=32):
        counted.append(len(x))
        return original(self, x, batch_size)

    monkeypatch.setattr(ModelBundle, "logits", logits)
    return counted


@pytest.mark.parametrize("name, params, bound", [
    ("square", {"eps": 16 / 255, "max_iter": 20}, 3 + 3 * 20),  # per restart 3 queries, then 3 per iteration
    ("hopskipjump", HSJ, HSJ_BOUND),
])
def test_black_box_attacks_report_the_queries_they_made(toy, monkeypatch, name, params, bound):
    x = stripes(200, seed=1)[0][:6]
    y = toy.predict(x)[0]
    counted = count_logits_rows(monkeypatch)
    result = run_attack(name, toy, x, y, **params)
    assert result.queries.shape == (6,) and result.queries.min() > 0 and result.queries.max() <= bound
    assert sum(counted) == result.queries.sum() + len(x)  # the black box's answers, and run_attack's final check
    check_result(result, toy, x)
    assert result.success.any()
    if name == "square":
        assert result.linf.max() <= 16 / 255 * (1 + 1e-4) + 1e-6
    again = run_attack(name, toy, x, y, **params)
    np.testing.assert_array_equal(again.x_adv, result.x_adv)  # seeded, HopSkipJump's starting points included
    np.testing.assert_array_equal(again.queries, result.queries)


def test_hopskipjump_against_the_classifier_and_its_detector(toy):
    x = stripes(200, seed=1)[0][:8]
    y = toy.predict(x)[0]
    detector = SaliencyDetector(toy, theta=[0.1, 0.3])
    guarded = run_attack("hopskipjump", toy, x, y, detector=detector, max_iter=5, max_eval=100, init_eval=10,
                         init_size=20)
    outcome = bypass(toy, detector, guarded.x_adv, y)
    np.testing.assert_array_equal(guarded.success, outcome.bypassed)  # success means not flagged too
    assert guarded.queries.min() > 0
    plain = run_attack("hopskipjump", toy, x, y, max_iter=5, max_eval=100, init_eval=10, init_size=20)
    assert outcome.rate > bypass(toy, detector, plain.x_adv, y).rate


def test_black_box_answers_labels_scores_and_rejections(toy):
    x = np.rint(stripes(12, seed=2)[0])  # whole grey levels, as loaded photographs are: x / 255 maps back exactly
    # The threshold comes from other clean images, and every tested score keeps a margin from it: scores move
    # in the last bits with the CPU, oneDNN and the batch size (1.6e-6 seen), so no flag may hinge on them.
    detector = SaliencyDetector(toy, theta=[0.1, 0.3], decision="score").fit(stripes(40, seed=5)[0], fpr=0.3)
    report, flags = detector.detect(x)
    assert np.abs(report["score"] - detector.threshold[:, None]).min() > 1e-3
    box = BlackBox(toy, detector)
    answers = box.labels(x / 255.0)
    assert answers.shape == (12, 6) and box.queries == 12
    flagged = flags.any(axis=0)
    assert 0 < flagged.sum() < 12
    np.testing.assert_array_equal(answers.argmax(1), np.where(flagged, 5, report["labels"]))
    logits = toy.logits(x)
    top2 = np.sort(logits, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 1e-3  # no near-tie: the labels below are exact on any CPU
    plain = BlackBox(toy)
    np.testing.assert_allclose(plain.scores(x / 255.0), logits, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(plain.labels(x / 255.0).argmax(1), toy.predict(x)[0])
    assert plain.queries == 24


class Spy:
    """A detector that records the images it is shown and flags none."""

    def __init__(self):
        self.seen = []

    def detect(self, x, batch_size=32):
        self.seen.append(np.array(x))
        return {}, np.zeros(len(x), bool)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_black_box_shows_the_detector_the_bytes_it_would_see_directly(toy, dtype):
    x = np.rint(stripes(12, seed=2)[0])
    spy = Spy()
    BlackBox(toy, spy).labels((x / dtype(255)).astype(dtype))
    np.testing.assert_array_equal(spy.seen[0], x)
    assert spy.seen[0].dtype == np.float32
    between = stripes(12, seed=2)[0]  # not whole levels
    BlackBox(toy, spy).labels(between.astype(dtype) / 255)
    if dtype is np.float64:  # float64 holds every float32 image: exact
        np.testing.assert_array_equal(spy.seen[1], between)
    else:  # a float32 [0, 1] image holds x only to ~3e-5 of a grey level: that is the tolerance
        np.testing.assert_allclose(spy.seen[1], between, rtol=0, atol=1e-4)


def test_grey_levels_undo_the_division_by_255():
    x = np.arange(256, dtype=np.float32)
    for x01 in (x / 255.0, x / np.float32(255), (x.astype(np.float64) / 255).astype(np.float32)):
        out = grey_levels(x01)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x)
    off = grey_levels(np.array([0.5 / 255, 7.0002 / 255, -0.1, 1.2], np.float32))
    np.testing.assert_allclose(off, [0.5, 7.0002, 0.0, 255.0], rtol=0, atol=1e-5)
    assert off[1] != 7.0  # 2e-4 of a level is an attack's step, not a rounding error: kept


def test_bypass_and_detector_flags_against_direct_computations(toy):
    x = stripes(10, seed=3)[0]
    labels = toy.predict(x)[0]
    y = (labels + np.array([0, 1] * 5)) % 5  # half the labels "wrong": those count as successes
    one = SaliencyDetector(toy, theta=0.3)
    two = SaliencyDetector(toy, theta=[0.1, 0.5], noise="zero_mean")
    flags = np.stack([one.detect(x)[1], *two.detect(x)[1]])
    np.testing.assert_array_equal(detector_flags(two, x)[1], flags[1:].any(axis=0))
    outcome = bypass(toy, [one, two], x, y)
    np.testing.assert_array_equal(outcome.labels, labels)
    np.testing.assert_array_equal(outcome.success, labels != y)
    np.testing.assert_array_equal(outcome.flagged, flags.any(axis=0))
    np.testing.assert_array_equal(outcome.bypassed, (labels != y) & ~flags.any(axis=0))
    assert outcome.rate == outcome.bypassed.mean()
    targeted = bypass(toy, one, x, y, targets=labels)
    np.testing.assert_array_equal(targeted.success, np.ones(10, bool))
    with pytest.raises(ValueError, match="y must have shape"):
        bypass(toy, one, x, y[:3])


# The settings as they were written out in full before they became overrides (a dropped key fails here).
PAPER_LITERAL = {
    "fgsm": {"eps": 2 / 255},
    "bim": {"eps": 2 / 255, "eps_step": 0.25 / 255, "max_iter": 50},
    "pgd": {"eps": 2 / 255, "eps_step": 0.25 / 255, "max_iter": 100, "num_random_init": 1},
    "pgd_l2": {"eps": 1.0, "eps_step": 0.05, "max_iter": 100, "num_random_init": 1},
    "cw_l2": {"targeted": True, "confidence": 0.0, "learning_rate": 0.01, "binary_search_steps": 9,
              "max_iter": 100, "initial_const": 0.01, "max_halving": 5, "max_doubling": 5},
    "cw_l2_kappa": {"targeted": True, "confidence": 5.0, "learning_rate": 0.01, "binary_search_steps": 9,
                    "max_iter": 100, "initial_const": 0.01, "max_halving": 5, "max_doubling": 5},
    "deepfool": {"max_iter": 100, "epsilon": 0.02, "nb_grads": 10},
    "square": {"eps": 2 / 255, "max_iter": 1000, "p_init": 0.05, "nb_restarts": 1},
    "hopskipjump": {"norm": 2, "max_iter": 50, "max_eval": 10000, "init_eval": 100, "init_size": 100},
}
ADAPTIVE_LITERAL = {
    "default": {
        "pgd": {"max_iter": 5, "num_random_init": 0},
        "pgd_l2": {"max_iter": 5, "num_random_init": 0},
        "cw_l2": {"targeted": False, "binary_search_steps": 1, "max_iter": 10, "initial_const": 1.0},
        "square": {"max_iter": 50},
        "hopskipjump": {"norm": 2, "max_iter": 3, "max_eval": 50, "init_eval": 10, "init_size": 20},
    },
    "paper": {
        "pgd": {"max_iter": 100, "num_random_init": 1},
        "pgd_l2": {"max_iter": 100, "num_random_init": 1},
        "cw_l2": {"targeted": False, "binary_search_steps": 9, "max_iter": 100, "initial_const": 0.01},
        "square": {"max_iter": 5000},
        "hopskipjump": {"norm": 2, "max_iter": 50, "max_eval": 10000, "init_eval": 100, "init_size": 100},
    },
}


def test_settings_written_as_overrides_resolve_to_the_full_settings():
    from helpers.adaptive.protocol import ADAPTIVE_SETTINGS, pgd_params
    from helpers.attacks import PAPER_PARAMS

    def run_with(name, params):  # what notebook 08 runs: PGD's step is set from each budget
        return resolve_params(name, pgd_params(params, 2 / 255) if name in ("pgd", "pgd_l2") else params)

    assert PAPER_PARAMS == PAPER_LITERAL
    assert {s: set(a) for s, a in ADAPTIVE_SETTINGS.items()} == {s: set(a) for s, a in ADAPTIVE_LITERAL.items()}
    for setting, attacks in ADAPTIVE_LITERAL.items():
        for name, params in attacks.items():
            assert run_with(name, ADAPTIVE_SETTINGS[setting][name]) == run_with(name, params), (setting, name)


def test_overrides_of_unknown_attacks_or_parameters_are_refused():
    from helpers.attacks import with_overrides

    assert with_overrides({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}) == {"a": {"x": 1, "y": 3}}
    with pytest.raises(ValueError, match="'b'"):
        with_overrides({"a": {"x": 1}}, {"b": {}})
    with pytest.raises(ValueError, match="z"):
        with_overrides({"a": {"x": 1}}, {"a": {"z": 1}})


def test_every_white_box_attack_has_an_art_class():
    from helpers.attacks import ART_ATTACKS, BLACK_BOX

    assert set(ART_ATTACKS) == set(ATTACKS) - set(BLACK_BOX)
