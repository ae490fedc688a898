"""The adaptive attacker and its checks on the toy model (16x16 stripes), against independent computations."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import stripes

from helpers.adaptive.checks import check_gain, check_nondecreasing, check_unbounded, failed_checks
from helpers.adaptive.defences import Defence, System
from helpers.adaptive.evaluation import evaluate_adaptive
from helpers.adaptive.judge import AttackBudget, AttackOutcome, BatchBypassed, Judge, on_images, worst_case
from helpers.adaptive.members import (
    EnsembleBudget,
    TargetedDLR,
    adaptive_attack,
    consensus_targets,
    ensemble,
    observed_classifier,
    run_apgd,
    square_attack,
    transferred_attack,
)
from helpers.adaptive.model import detector_aware_bundle
from helpers.attacks import bypass, run_attack
from helpers.detectors import SaliencyDetector

EPS = 8 / 255  # the toy model resists 2/255; at 8/255 the attacks succeed on most images


@pytest.fixture(scope="module")
def setup(toy):
    x, y = stripes(80, seed=3)
    keep = toy.predict(x)[0] == y
    x, y = x[keep], y[keep]
    detector = SaliencyDetector(toy, [0.1], "none")
    defence = Defence("saliency", detector).fit(x[8:48], fpr=0.2)
    adaptive = detector_aware_bundle(toy, detector)
    return x[:8], y[:8], detector, defence, adaptive


@pytest.fixture(scope="module")
def strong(toy, setup):
    x, y, _, defence, adaptive = setup
    return adaptive_attack(toy, {"bpda": adaptive}, [defence], x, y, AttackBudget("linf", EPS, 20))


@pytest.fixture(scope="module")
def weak(toy, setup):
    """The deliberately weakened attack: 1 step, one target, one loss (no restarts)."""
    x, y, _, defence, adaptive = setup
    return adaptive_attack(toy, {"bpda": adaptive}, [defence], x, y, AttackBudget("linf", EPS, 1), n_targets=1,
                           losses=("ce",), label="weak")


def test_targeted_dlr_matches_a_hand_computation():
    z = np.array([[3.0, 1.0, 0.5, -1.0, 2.0], [0.0, 4.0, 1.0, 2.0, -3.0]], np.float32)
    t = np.array([1, 1])
    loss = TargetedDLR(reduction="none")(tf.one_hot(t, 5), tf.constant(z)).numpy()
    # row 0: best other 3, z_t 1, sorted 3 2 1 0.5 -> (3 - 1) / (3 - (1 + 0.5) / 2)
    # row 1: best other 2, z_t 4, sorted 4 2 1 0 -> (2 - 4) / (4 - (1 + 0) / 2)
    np.testing.assert_allclose(loss, [2 / 2.25, -2 / 3.5], rtol=1e-6)


def test_consensus_targets_are_the_best_wrong_classes(toy, setup):
    x, y, _, _, adaptive = setup
    targets = consensus_targets(adaptive, x, y, 3)
    z = adaptive.logits(x)
    for i in range(len(x)):
        order = [c for c in np.argsort(-z[i]) if c != y[i]]
        assert list(targets[i]) == order[:3]


def test_ensemble_order_is_autoattacks():
    assert [m.label for m in ensemble(2)] == ["APGD-CE target 1", "APGD-DLR target 1", "APGD-CE target 2",
                                              "APGD-DLR target 2"]
    members = ensemble(2, ("dlr",), untargeted=True)
    assert [m.label for m in members] == ["APGD-CE", "APGD-DLR target 1", "APGD-DLR target 2"]
    assert [m.targeted for m in members] == [False, True, True]
    with pytest.raises(ValueError, match="loss"):
        ensemble(1, ["hinge"])


def test_observed_classifier_shows_every_loss_evaluation(toy, setup):
    x, y, _, _, adaptive = setup
    seen = []
    clf = observed_classifier(adaptive, "ce")
    clf.observer = seen.append
    try:
        onehot = np.eye(5, dtype=np.float32)[y]
        loss = clf.compute_loss(x / 255.0, onehot)
    finally:
        clf.observer = None
    z = adaptive.logits((x / 255.0).astype(np.float32) * np.float32(255))
    expected = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(y)), y]
    np.testing.assert_allclose(loss, expected, atol=1e-4)
    assert len(seen) == 1 and np.allclose(seen[0], x / 255.0)


def test_judge_agrees_with_the_bypass_helper(toy, setup):
    x, y, detector, defence, _ = setup
    x_adv = run_attack("pgd", toy, x, y, eps=EPS, eps_step=EPS / 4, max_iter=10).x_adv
    judge = Judge(toy, [defence], x, y)
    judge.judge(x_adv, np.arange(len(x)), "pgd")
    expected = bypass(toy, detector, x_adv, y).bypassed
    np.testing.assert_array_equal(judge.found["own"], expected)
    assert 0 < expected.sum() < len(x)  # the fixture exercises both outcomes


def test_kept_examples_fool_f_within_budget_and_pass_the_detector(toy, setup, strong):
    x, y, detector, defence, _ = setup
    judge_x = strong.bypassed["own"]
    assert judge_x.sum() >= 4
    assert set(strong.found_by["own"][judge_x]) <= {m.label for m in ensemble()}


def test_adaptive_examples_are_checked_independently(toy, setup):
    x, y, detector, defence, adaptive = setup
    judge = Judge(toy, [defence], x, y)
    run_apgd(adaptive, judge, AttackBudget("linf", EPS, 10), ensemble(1), consensus_targets(adaptive, x, y, 1))
    kept = judge.found["own"]
    assert kept.any()
    x_adv = judge.x_found["own"][kept]
    assert np.abs(x_adv - x[kept]).max() <= 255 * EPS * (1 + 1e-4)
    result = bypass(toy, detector, x_adv, y[kept])
    assert result.bypassed.all()


def test_stopping_a_bypassed_batch_early_changes_nothing_but_the_cost(toy, setup):
    x, y, detector, _, adaptive = setup
    x, y = x[:6], y[:6]
    targets, members = consensus_targets(adaptive, x, y, 1), ensemble(1, ("ce",))
    judges = []
    for stop in (False, True):
        judge = Judge(toy, [Defence("saliency", detector)], x, y)  # the own rule only
        run_apgd(adaptive, judge, AttackBudget("linf", EPS, 10), members, targets, batch_size=1, stop_early=stop)
        judges.append(judge)
    full, early = judges
    for r in full.rules:
        np.testing.assert_array_equal(early.found[r], full.found[r])
        np.testing.assert_array_equal(early.x_found[r], full.x_found[r])
    assert full.done.any() and not full.done.all()  # both kinds of batch (one image each) are exercised
    assert early.evaluations < full.evaluations


def test_the_ensemble_is_the_worst_case_over_its_members(toy, setup, strong, weak):
    assert strong.count() >= weak.count()
    assert (strong.bypassed["own"] | weak.bypassed["own"]).sum() >= strong.count()


def outcome(label, bypassed, eps=EPS, iters=20):
    b = np.asarray(bypassed, bool)
    return AttackOutcome(label, AttackBudget("linf", eps, iters), {"own": b}, {"own": np.full(len(b), "", object)}, 0.0,
                         np.full(len(b), np.inf), np.full(len(b), "", object))


@pytest.fixture(scope="module")
def wide(toy):
    """24 more images (none of the calibration's), where a weakened attack at 8/255 leaves some to the checks."""
    x, y = stripes(80, seed=3)
    keep = toy.predict(x)[0] == y
    return x[keep][48:72], y[keep][48:72]


def test_each_check_fails_on_a_weakened_attack_and_passes_on_the_ensemble(toy, setup, wide):
    """The weakened ensemble (a first step 100 times too small, 5 iterations, one target, one loss) leaves images
    that 10 times its iterations or APGD-CE on f bypass: the iteration and transferred checks fail; on the full
    ensemble (20 iterations, 3 targets, both losses, untargeted CE first) they pass. (Measured here: the weakened
    attack bypasses 0 of 24, 10 times its iterations 7, APGD-CE on f 14; the full one leaves none to either.)"""
    _, _, _, defence, adaptive = setup
    x, y = wide
    budget = AttackBudget("linf", EPS, 20)
    weak = adaptive_attack(toy, {"bpda": adaptive}, [defence], x, y, AttackBudget("linf", EPS, 5, step=0.02),
                           n_targets=1, losses=("ce",), label="weak")
    strong = adaptive_attack(toy, {"bpda": adaptive}, [defence], x, y, budget, untargeted=True)
    for main, passes in ((weak, False), (strong, True)):
        left = np.flatnonzero(~main.bypassed["own"])
        assert len(left) >= 3  # images are left for the checks to find
        longer = adaptive_attack(toy, {"bpda": adaptive}, [defence], x[left], y[left],
                                 replace(main.budget, max_iter=10 * main.budget.max_iter),
                                 n_targets=1 if main is weak else 3, losses=("ce",) if main is weak else ("ce", "dlr"))
        assert check_gain("iterations", main, on_images(longer, left, len(x)))["passed"] is passes
        moved = transferred_attack(toy, [defence], x[left], y[left], budget)
        assert check_gain("transferred", main, on_images(moved, left, len(x)))["passed"] is passes
    free = adaptive_attack(toy, {"bpda": adaptive}, [defence], x[:2], y[:2], AttackBudget("linf", 1.0, 20),
                           batch_size=1)
    assert check_unbounded(free)["passed"]


def test_a_step_100_times_too_small_fails_the_iteration_check(toy, setup):
    x, y, _, defence, adaptive = setup
    ev = evaluate_adaptive(toy, {"bpda": adaptive}, [defence], x, y, EPS, step=0.02,
                           budget=EnsembleBudget(max_iter=5, n_targets=1, losses=("ce",), untargeted=False,
                                                 square_queries=0, sweep_factor=10, restarts=0, unbounded_images=0))
    assert "iterations (own rule)" in ev.failed and not ev.valid


def test_square_on_the_system_is_judged_at_every_query(toy, setup):
    """Square asks the consensus of the detector-aware model (not f) and every query is judged; on the toy model it
    bypasses none of the 4 images in 30 queries, so every image is queried at every iteration."""
    x, y, _, defence, adaptive = setup
    o = square_attack(toy, adaptive, [defence], x[:4], y[:4], EPS, 30, seed=1)
    assert o.count() == 0 and o.evaluations >= 4 * 30
    assert o.label == "Square on the system (30 queries)"
    clf = observed_classifier(adaptive, "ce", black_box=True)
    np.testing.assert_allclose(clf.predict(x[:2] / 255.0).argmax(1), adaptive.logits(x[:2]).argmax(1))


def test_check_rows_on_hand_made_outcomes():
    a, b = outcome("a", [1, 0, 0, 0]), outcome("b", [1, 1, 1, 0])
    assert check_gain("x", a, b) == {"check": "x", "rule": "own", "passed": False,
                                     "detail": "b: 2 more of the 3 images the ensemble left (at most 1)"}
    assert check_gain("x", a, outcome("c", [0, 1, 0, 0]))["passed"]  # one image more is tolerated
    assert check_gain("x", b, a)["passed"]
    assert check_nondecreasing("eps", [a, b])["passed"] and not check_nondecreasing("eps", [b, a])["passed"]
    assert check_nondecreasing("eps", [a, a])["passed"]  # a plateau is no decrease
    assert check_nondecreasing("eps", [a, outcome("b", [1, 1, 1, 0], eps=2 * EPS)], "own") == {
        "check": "eps", "rule": "own", "passed": True, "detail": "20 it. 8/255: 1, 20 it. 16/255: 3"}
    assert check_unbounded(outcome("u", [1, 0], eps=1.0), "own") == {
        "check": "unbounded", "rule": "own", "passed": False, "detail": "1 of 2 bypassed at eps = 1"}
    assert check_unbounded(outcome("u", [1, 1], eps=1.0))["passed"]
    assert outcome("c", [1, 1, 0]).count() == 2  # the own rule by default
    rows = pd.DataFrame({"check": ["a", "b", "c"], "rule": ["own", "matched", "own"], "passed": [True, False, False]})
    assert failed_checks(rows) == ["b (matched rule)", "c (own rule)"]
    assert failed_checks(rows.drop(columns="rule")) == ["b", "c"]  # a table without rules (an older study's)


def test_worst_case_is_any_bypass_and_the_lowest_score():
    a, b = outcome("a", [1, 0, 0]), outcome("b", [0, 1, 0], eps=2 * EPS)
    a.lowest[:] = [0.5, np.inf, 0.9]
    b.lowest[:] = [0.7, 0.2, np.inf]
    a.found_by["own"][:] = ["m1", "", ""]
    b.found_by["own"][:] = ["", "m2", ""]
    a.lowest_by[:] = ["a1", "", "a3"]
    b.lowest_by[:] = ["b1", "b2", ""]
    a, b = replace(a, seconds=2.0, evaluations=10), replace(b, seconds=3.0, evaluations=5)
    w = worst_case([a, b], "w")
    np.testing.assert_array_equal(w.bypassed["own"], [True, True, False])
    np.testing.assert_array_equal(w.found_by["own"], ["m1", "m2", ""])
    np.testing.assert_array_equal(w.lowest, [0.5, 0.2, 0.9])
    np.testing.assert_array_equal(w.lowest_by, ["a1", "b2", "a3"])  # who reached each lowest score
    assert (w.label, w.budget.eps, w.seconds, w.evaluations) == ("w", 2 * EPS, 5.0, 15)
    part = outcome("s", [1, 0])
    part.found_by["own"][:] = ["s1", ""]
    part.lowest[:] = [0.3, 0.8]
    part.lowest_by[:] = ["s1", "s2"]
    spread = on_images(part, np.array([2, 0]), 3)  # the two images are the third and the first of three
    np.testing.assert_array_equal(spread.bypassed["own"], [False, False, True])
    np.testing.assert_array_equal(spread.found_by["own"], ["", "", "s1"])
    np.testing.assert_array_equal(spread.lowest, [0.8, np.inf, 0.3])
    np.testing.assert_array_equal(spread.lowest_by, ["s2", "", "s1"])


def test_evaluation_is_invalid_when_a_check_fails(toy, setup, wide):
    _, _, _, defence, adaptive = setup
    x, y = wide
    weak_budget = EnsembleBudget(max_iter=5, n_targets=1, losses=("ce",), untargeted=False, square_queries=0,
                                 sweep_factor=10, restarts=1, unbounded_images=0)
    ev = evaluate_adaptive(toy, {"bpda": adaptive}, [defence], x, y, EPS, budget=weak_budget, step=0.02)
    assert not ev.valid and "iterations (own rule)" in ev.failed
    assert ev.summary().startswith("evaluation invalid: ") and "iterations (own rule)" in ev.summary()
    assert ev.clean_utility["own"].n == len(x) and ev.robust_accuracy["own"].k <= ev.clean_utility["own"].k
    assert list(ev.table["role"])[:2] == ["worst case", "ensemble"]  # what each row is, without reading its label
    assert set(ev.table["role"]) <= {"worst case", "ensemble", "iterations", "restart", "transferred"}
    assert list(ev.checks["check"]) == ["iterations"] * 2 + ["restart"] * 2 + ["transferred"] * 2  # at each rule
    assert list(ev.checks["rule"]) == ["own", "matched"] * 3
    worst = ev.table[ev.table["role"] == "worst case"].iloc[0]
    assert worst["bypass_own_k"] == ev.outcome.count() >= ev.table[ev.table["role"] == "ensemble"].iloc[0][
        "bypass_own_k"]


def test_the_reported_rate_is_monotone_in_eps(toy, setup):
    x, y, _, defence, adaptive = setup
    budget = EnsembleBudget(max_iter=2, n_targets=1, losses=("ce",), untargeted=False, square_queries=0,
                            sweep_factor=2, restarts=0, unbounded_images=0)
    ev = evaluate_adaptive(toy, {"bpda": adaptive}, [defence], x, y, 4 / 255, budget=budget, eps_sweep=[2 / 255, EPS])
    worst = ev.table[ev.table["role"] == "worst case"].sort_values("eps_255")
    assert list(worst["eps_255"]) == pytest.approx([2, 4, 8])
    assert np.all(np.diff(worst["bypass_own_k"].to_numpy()) >= 0)
    assert failed_checks(ev.checks) == [] or ev.failed == failed_checks(ev.checks)


def test_bad_inputs_are_refused_before_any_attack(toy, setup):
    x, y, _, defence, adaptive = setup
    with pytest.raises(ValueError, match="eps"):
        AttackBudget("linf", 2.0)
    with pytest.raises(ValueError, match="norm"):
        AttackBudget("l1")
    assert AttackBudget(step=0.02).step == 0.02  # a small first step is allowed (the checks' weakened attack)
    for bad in ({"eps": 0.0}, {"max_iter": 0}, {"step": 0.0}, {"step": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AttackBudget(**bad)
    assert AttackBudget("l2", 3.0).eps == 3.0 and AttackBudget("linf", 1.0).eps == 1.0  # L2 above 1; L-inf 1 allowed
    with pytest.raises(TypeError, match="max_iter"):
        AttackBudget(max_iter=2.5)
    with pytest.raises(ValueError, match="adaptive"):
        evaluate_adaptive(toy, adaptive, [defence], x, y)
    with pytest.raises(TypeError, match="EnsembleBudget"):
        evaluate_adaptive(toy, {"bpda": adaptive}, [defence], x[:4], y[:4], budget={"max_iter": 5})
    with pytest.raises(ValueError, match="step"):
        evaluate_adaptive(toy, {"bpda": adaptive}, [defence], x[:4], y[:4], step=0.0)
    with pytest.raises(ValueError, match="judge"):
        Judge(toy, [Defence("c", SaliencyDetector(toy, [0.1], "none", decision="score"))], x, y)


def test_an_image_whose_consensus_already_favours_the_target_is_still_attacked(toy):
    """ART's targeted APGD skips every image whose argmax(predict) is the target already: predict must be f's
    logits, or an image whose consensus (not f) favours the target is never attacked towards it."""
    from art.attacks.evasion import AutoProjectedGradientDescent

    x, _ = stripes(80, seed=3)
    adaptive = detector_aware_bundle(toy, SaliencyDetector(toy, [0.1], "none"))
    f, z = toy.predict(x)[0], adaptive.logits(x).argmax(axis=1)
    pick = np.flatnonzero(z != f)[:2]
    assert len(pick) == 2  # two images whose consensus label is not f's
    classifier = observed_classifier(adaptive, "ce")
    np.testing.assert_allclose(classifier.predict(x[pick] / 255.0), toy.logits(x[pick]), rtol=1e-4, atol=1e-4)
    seen = []
    classifier.observer = lambda x01: seen.append(len(x01))
    try:
        attack = AutoProjectedGradientDescent(classifier, norm=np.inf, eps=EPS, eps_step=2 * EPS, max_iter=2,
                                              targeted=True, nb_random_init=1, batch_size=8, loss_type=None,
                                              verbose=False)
        attack.generate((x[pick] / 255.0).astype(np.float32), y=np.eye(5, dtype=np.float32)[z[pick]])
    finally:
        classifier.observer = None
    assert seen and max(seen) == 2  # both images attacked towards the consensus' class


class _Silent:
    """A defence that never flags (own rule and matched threshold): only f decides a bypass."""

    name, has_own_rule, threshold = "silent", True, 1.0

    def scores(self, x):
        return np.zeros(len(x), bool), np.zeros(len(x))


def brightness_bundle():
    """f labels an image 1 when its mean exceeds 101.2 grey levels, else 0 (5 classes)."""
    import keras

    from helpers.models import ModelBundle

    inputs = keras.Input((16, 16, 3))
    mean = keras.layers.Lambda(lambda v: keras.ops.mean(v, axis=(1, 2, 3))[:, None])(inputs)
    logits = keras.layers.Lambda(lambda m: keras.ops.concatenate([101.2 - m, m - 101.2] + [m * 0 - 100] * 3,
                                                                 axis=1))(mean)
    return ModelBundle("bright", keras.Model(inputs, logits), "none", (16, 16), 0.875, "bilinear",
                       tuple(f"c{i}" for i in range(5)))


def test_an_example_that_bypasses_only_as_a_float_is_not_counted():
    """The attacker must save 8-bit images: an example is judged after rounding to bytes (0..255)."""
    bundle = brightness_bundle()
    x, y = np.full((2, 16, 16, 3), 100.0, np.float32), np.zeros(2, np.int32)
    judge = Judge(bundle, [_Silent()], x, y, linf_255=2.0)
    assert (bundle.predict(x + 1.4)[0] == 1).all()  # the float example fools f ...
    judge.judge(x + np.float32(1.4), np.arange(2))  # ... but rounds to 101, which does not
    assert not judge.found["own"].any() and not judge.found["matched"].any()
    judge.judge(x + np.float32(1.6), np.arange(2))  # rounds to 102: fools f as a byte image too
    assert judge.found["own"].all() and judge.found["matched"].all()
    assert np.array_equal(judge.x_found["own"], np.full_like(x, 102.0))  # the 8-bit example is kept


def test_bytes_stay_within_the_linf_budget():
    from helpers.adaptive.judge import to_bytes

    x = np.array([100.3, 100.3, 0.2, 254.9], np.float32).reshape(1, 2, 2, 1).repeat(3, axis=3)
    x_adv = x + np.array([2.0, -2.0, -0.2, 0.1], np.float32).reshape(1, 2, 2, 1)
    out = to_bytes(x_adv, x, linf_255=2.0)
    assert out[..., 0].ravel().tolist() == [102.0, 99.0, 0.0, 255.0]  # 98.3 rounds to 98: outside, so 99
    assert np.abs(out - x).max() <= 2.0
    assert to_bytes(x_adv, x)[..., 0].ravel().tolist() == [102.0, 98.0, 0.0, 255.0]  # no budget: rounding only
    outside = np.array([-3.0, 260.0, 7.6, 128.0], np.float32).reshape(1, 2, 2, 1).repeat(3, axis=3)
    assert to_bytes(outside, outside)[..., 0].ravel().tolist() == [0.0, 255.0, 8.0, 128.0]  # an image file's range
    # at the ball's edges: x = 100 exactly keeps 98 (x - 2); 102.8 rounds to 103, outside 100.3 + 2, so 102; a
    # budget of 0.5 around a whole level keeps it; one of 0.3 around 100.5 holds no whole level: rounding only
    x = np.array([100.0, 100.3, 100.0, 100.5], np.float32).reshape(1, 2, 2, 1).repeat(3, axis=3)
    x_adv = np.array([98.0, 102.8, 100.6, 100.6], np.float32).reshape(1, 2, 2, 1).repeat(3, axis=3)
    out = to_bytes(x_adv, x, linf_255=2.0)
    assert out.dtype == np.float32 and out[..., 0].ravel().tolist()[:2] == [98.0, 102.0]
    assert to_bytes(x_adv, x, linf_255=0.5)[..., 0].ravel().tolist()[2] == 100.0
    assert to_bytes(x_adv, x, linf_255=0.3)[..., 0].ravel().tolist()[3] == 101.0


class _Coded:
    """A defence that flags an image by its code (the grey level of its first pixel's red channel): at its own
    rule the codes in ``own``, and with score 1 (else 0) the codes in ``high``."""

    has_own_rule, threshold = True, None

    def __init__(self, name, own=(), high=()):
        self.name, self.own, self.high = name, list(own), list(high)

    def scores(self, x):
        code = np.rint(x[:, 0, 0, 0]).astype(int)
        return np.isin(code, self.own), np.isin(code, self.high).astype(float)


def coded(codes):
    """Bright images (brightness_bundle labels them 1: they fool f at y = 0) carrying ``codes``."""
    x = np.full((len(codes), 16, 16, 3), 150.0, np.float32)
    x[:, 0, 0, 0] = codes
    return x, np.zeros(len(codes), np.int32)


def judged(defences, codes):
    x, y = coded(codes)
    judge = Judge(brightness_bundle(), defences, x, y)
    judge.judge(x, np.arange(len(x)), "judged")
    return judge


def test_each_rule_is_judged_by_its_own_flags():
    """Code 10 is flagged by the own rule only, code 20 by the matched threshold only: each bypasses the other
    rule. Judging the matched rule by the own rule's flags (or the reverse) fails here."""
    system = System([_Coded("d", own=[10], high=[20])])
    system.threshold = 0.5
    judge = judged(system, [10, 20])
    assert judge.rules == ["own", "matched"]
    assert judge.found["own"].tolist() == [False, True]
    assert judge.found["matched"].tolist() == [True, False]
    x, _ = coded([10, 20])
    judge.judge(x, np.arange(2), "a later attack")  # the first bypass is kept, with the attack that found it
    assert judge.found_by["own"].tolist() == ["", "judged"] and judge.found_by["matched"].tolist() == ["judged", ""]
    assert judge.lowest.tolist() == [0.0, 1.0] and judge.lowest_by.tolist() == ["judged", "judged"]


def test_the_judge_as_observer_sorts_points_to_their_images_and_counts_them():
    """ART hands the judge points in [0, 1] of the images under attack (``current``), in any order: each is judged
    as a point of the nearest of them; the points are counted, and an image never fooled keeps no score."""
    system = System([_Coded("d", own=[10])])
    x, y = coded([10, 20, 30])
    judge = Judge(brightness_bundle(), system, x, y)
    assert judge.evaluations == 0 and judge.attack == "" and not judge.stop_early
    judge.current, judge.attack = np.array([1, 2]), "m"
    judge((x[[2, 1, 2]] + 1.0) / 255.0)  # points of images 2, 1, 2: fool f, code 10 is not among them
    assert judge.evaluations == 3
    assert judge.found["own"].tolist() == [False, True, True] and judge.found_by["own"].tolist() == ["", "m", "m"]
    assert judge.lowest[0] == np.inf and judge.lowest_by[0] == ""  # image 0 was never attacked
    assert judge.origins(x[[2, 1]] / 255.0).tolist() == [2, 1]
    judge.stop_early = True
    with pytest.raises(BatchBypassed):  # every image under attack is bypassed: the run may stop
        judge(x[[1]] / 255.0)
    assert judge.evaluations == 4  # counted over the calls


def test_every_defence_of_the_system_counts_whatever_its_place():
    """Three defences; the one at ``place`` alone flags code 10 (own rule and score), none flags code 99. Code 10
    must never bypass, at either rule: ignoring any one defence (or keeping only the last one's flags,
    ``own = o`` for ``own |= o``) lets it through."""
    for place in range(3):
        defences = [_Coded(f"d{i}", own=[10] * (i == place), high=[10] * (i == place)) for i in range(3)]
        system = System(defences)
        system.threshold = 0.5
        judge = judged(system, [10, 99])
        assert judge.found["own"].tolist() == [False, True], place
        assert judge.found["matched"].tolist() == [False, True], place
        assert judged(defences, [10, 99]).found["own"].tolist() == [False, True], place  # a plain list: own rule


def test_the_matched_rule_is_one_threshold_for_the_system():
    """Separately fitted thresholds are refused (their union's FPR is not the target); a single fitted defence is
    a system of one; the system's matched flag is its largest score above its one threshold."""
    a, b = _Coded("a", high=[10]), _Coded("b", high=[20])
    a.threshold = b.threshold = 0.5
    with pytest.raises(ValueError, match="one threshold for the system"):
        judged([a, b], [10])
    assert judged([a], [10, 20]).found["matched"].tolist() == [False, True]
    system = System([a, b])
    system.threshold = 0.5
    assert judged(system, [10, 20, 30]).found["matched"].tolist() == [False, False, True]
    system.threshold = 1.0  # no score is above it
    assert judged(system, [10, 20, 30]).found["matched"].all()


def test_evaluation_rows_count_views_of_one_photograph_as_such():
    from helpers.adaptive.evaluation import evaluation_row
    from helpers.metrics import clustered_interval, design_effect

    outcome = AttackOutcome("a", AttackBudget("linf", EPS, 3), {"own": np.array([True, True, True, False, False])},
                            {"own": np.full(5, "m", object)}, 1.0)
    photographs = np.array(["p", "p", "p", "q", "q"])
    row = evaluation_row("ensemble", outcome, photographs)
    deff = design_effect(outcome.bypassed["own"], photographs)
    assert deff > 1 and (row["bypass_own_ci_low"], row["bypass_own_ci_high"]) == clustered_interval(3, 5, deff)
    assert row["bypass_own_k"] == 3 and row["bypass_own_n"] == 5 and row["bypass_own_photographs"] == 2
    plain = evaluation_row("ensemble", outcome)  # one photograph each: plain Wilson
    width = {k: r["bypass_own_ci_high"] - r["bypass_own_ci_low"] for k, r in (("clustered", row), ("plain", plain))}
    assert width["clustered"] > width["plain"]


def test_the_budgets_are_quick_and_autoattacks_standard():
    standard = EnsembleBudget.of("paper")  # attack_settings "paper" selects the standard budget
    assert (standard.max_iter, standard.n_targets, standard.losses, standard.untargeted, standard.square_queries) == (
        100, 9, ("dlr",), True, 5000)  # Croce & Hein 2020: APGD-CE, APGD-T (DLR, 9 x 100), Square 5,000
    assert [m.label for m in ensemble(standard.n_targets, standard.losses, untargeted=standard.untargeted)] == [
        "APGD-CE", *(f"APGD-DLR target {t}" for t in range(1, 10))]
    assert EnsembleBudget.of("default") == EnsembleBudget()  # quick, the CPU default
    assert EnsembleBudget.of("default", max_iter=3).max_iter == 3
    with pytest.raises(ValueError, match="attack_settings"):
        EnsembleBudget.of("fast")
