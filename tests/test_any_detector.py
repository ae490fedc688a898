"""A detector of your own in the adaptive evaluation (docs/adaptive.md, "Your own detector"): the judge runs the
real detector (any numpy code), the attacker a differentiable surrogate of its score; checked against direct
computations on the toy model."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import stripes
from scipy.ndimage import uniform_filter

from helpers.adaptive.defences import FunctionDetector, System, user_defence
from helpers.adaptive.evaluation import evaluate_adaptive
from helpers.adaptive.judge import Judge
from helpers.adaptive.members import EnsembleBudget, Objective, observed_classifier
from helpers.adaptive.model import scored_bundle, surrogate_of

EPS = 8 / 255
BUDGET = EnsembleBudget(max_iter=5, n_targets=1, losses=("ce",), untargeted=True, square_queries=0, sweep_factor=2,
                        restarts=0, unbounded_images=0)


def roughness(x: np.ndarray) -> np.ndarray:
    """A user-written detector's score: the mean absolute difference between x and its 3x3 box blur (grey levels);
    adversarial noise raises it."""
    return np.abs(x - uniform_filter(x, size=(1, 3, 3, 1), mode="reflect")).mean(axis=(1, 2, 3))


def roughness_tf(x: tf.Tensor) -> tf.Tensor:
    """Its surrogate for the attacker: the same with TensorFlow's average pooling (zero padding at the border, so
    not the exact score)."""
    return tf.reduce_mean(tf.abs(x - tf.nn.avg_pool2d(x, 3, 1, "SAME")), axis=[1, 2, 3])


@pytest.fixture(scope="module")
def data(toy):
    x, y = stripes(120, seed=5)
    keep = toy.predict(x)[0] == y
    x, y = x[keep], y[keep]
    return x[:16], y[:16], x[16:76]  # attacked; 60 clean images (one photograph each) for the threshold


@pytest.fixture(scope="module")
def system(data):
    _, _, calibration = data
    return System([user_defence("roughness", roughness)]).fit(calibration, fpr=0.1)


def test_the_judge_runs_the_users_detector(toy, data, system):
    x, y, calibration = data
    np.testing.assert_allclose(system.defences[0].scores(x)[1], roughness(x), rtol=1e-6)
    assert system.threshold == pytest.approx(np.sort(roughness(calibration))[-7], rel=1e-6)  # 6 of 60 above: 10%
    flags = Judge(toy, system, x, y).flags(x)
    np.testing.assert_array_equal(flags["matched"], roughness(x) > system.threshold)
    assert not flags["own"].any()  # a score-only detector has no own rule


def test_the_score_term_is_the_users_surrogate(toy, data):
    x, y, _ = data
    scored = scored_bundle(toy, roughness_tf, "roughness")
    assert surrogate_of(scored) is roughness_tf and surrogate_of(toy) is None and scored.name == "toy+roughness"
    np.testing.assert_allclose(scored.logits(x), toy.logits(x), rtol=1e-6)  # f itself
    target = np.eye(5, dtype=np.float32)[(y + 1) % 5]
    plain = observed_classifier(scored, Objective("ce")).compute_loss(x / 255.0, target)
    term = observed_classifier(scored, Objective("ce", score_weight=2.0)).compute_loss(x / 255.0, target)
    np.testing.assert_allclose(term - plain, 2.0 * roughness_tf(tf.constant(x)).numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="score surrogate"):
        observed_classifier(toy, Objective("ce", score_weight=1.0))


def test_an_evaluation_of_the_users_detector_keeps_only_real_bypasses(toy, data, system):
    x, y, _ = data
    scored = scored_bundle(toy, roughness_tf, "roughness")
    ev = evaluate_adaptive(toy, {"surrogate": scored}, system, x, y, EPS, budget=BUDGET, score_weight=0.1)
    assert list(ev.checks["rule"].unique()) == ["matched"]  # the only rule a score-only detector has
    assert ev.outcome.count("matched") > 0
    # every image counted as bypassed: a point that f misclassifies and whose real score is at most the threshold
    bypassed = ev.outcome.bypassed["matched"]
    assert np.all(ev.outcome.lowest[bypassed] <= system.threshold)
    assert np.all(np.isinf(ev.outcome.lowest[~bypassed]) | (ev.outcome.lowest[~bypassed] > system.threshold))


def test_a_detector_with_its_own_rule_is_judged_at_both_rules(toy, data):
    x, y, calibration = data
    high = float(np.quantile(roughness(calibration), 0.5))
    defence = user_defence("rough", roughness, rule=lambda v: roughness(v) > high)
    system = System([defence]).fit(calibration, fpr=0.1)
    judge = Judge(toy, system, x, y)
    assert judge.rules == ["own", "matched"]
    np.testing.assert_array_equal(judge.flags(x)["own"], roughness(x) > high)


def test_a_bad_user_detector_is_named():
    x = np.full((3, 8, 8, 3), 128.0, np.float32)
    with pytest.raises(ValueError, match=r"one value per image, shape \(3,\); got \(3, 2\)"):
        FunctionDetector(lambda v: np.zeros((len(v), 2))).evaluate(x)
    with pytest.raises(ValueError, match="non-finite"):
        FunctionDetector(lambda v: np.full(len(v), np.nan)).evaluate(x)
    with pytest.raises(TypeError, match="callables"):
        FunctionDetector("roughness")
    with pytest.raises(TypeError, match="surrogate must be a callable"):
        scored_bundle(None, 1.0, "x")


def test_the_worked_example_of_docs_adaptive_runs(toy, data):
    """The code block of docs/adaptive.md's "Your own detector", run as written on the toy model."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "adaptive.md").read_text()
    section = text[text.index("## Your own detector"):text.index("## In the study runner")]
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    assert 'EnsembleBudget.of("default")' in code  # shrunk below for the toy model's test
    x, y, calibration = data
    namespace = {"f": toy, "x": x[:4], "y": y[:4], "x_clean": calibration}
    exec(compile(code.replace('EnsembleBudget.of("default")', 'EnsembleBudget.of("default", max_iter=2, n_targets=1, '
                                                              'square_queries=5, unbounded_images=1)'),
                 "docs/adaptive.md", "exec"), namespace)
    evaluation = namespace["evaluation"]
    assert list(evaluation.checks["rule"].unique()) == ["matched"]
    assert evaluation.summary("matched").startswith(("adaptive bypass (matched rule)", "evaluation invalid"))
