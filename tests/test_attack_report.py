import math

import numpy as np
import pandas as pd
import pytest

from helpers.attack_report import attack_summary
from helpers.attacks import AttackResult


def result(success, l2, linf, seconds=2.0):
    n = len(success)
    return AttackResult("x", np.zeros((n, 2, 2, 3), np.float32), np.array(success), np.zeros(n, np.int32),
                        np.ones(n, np.int32), None, np.array(l2, np.float32), np.array(linf, np.float32), {}, seconds)


def test_attack_summary_uses_successful_examples_only():
    summary = attack_summary({"a": result([True, False, True, True], [1.0, 9.0, 2.0, 6.0], [0.01, 0.5, 0.02, 0.03]),
                              "none": result([False, False], [1.0, 1.0], [0.1, 0.1])})
    a, none = summary.iloc[0], summary.iloc[1]
    assert a["n"] == 4 and a["successes"] == 3 and a["success_rate"] == 0.75
    assert a["l2_mean"] == pytest.approx(3.0) and a["l2_median"] == pytest.approx(2.0)
    assert a["linf_median_255"] == pytest.approx(0.02 * 255)
    assert not any("second" in column for column in summary.columns)  # timings belong in make benchmark
    assert 0.3 < a["success_rate_ci_low"] < 0.75 < a["success_rate_ci_high"] <= 1.0
    assert none["success_rate"] == 0.0 and math.isnan(none["l2_mean"])


def test_attack_success_interval_counts_views_of_a_photograph():
    from helpers.metrics import clustered_interval, design_effect, wilson_interval

    success = [True, True, False, False, True, True]  # views agree within each of 3 photographs
    photos = np.array(["p", "p", "q", "q", "r", "r"], dtype=object)
    row = attack_summary({"a": result(success, [1.0] * 6, [0.01] * 6)}, photos).iloc[0]
    assert row["n"] == 6 and row["n_photographs"] == 3
    expected = clustered_interval(4, 6, design_effect(np.array(success), photos))
    assert (row["success_rate_ci_low"], row["success_rate_ci_high"]) == expected
    assert expected == pytest.approx(wilson_interval(2, 3), abs=1e-12)  # identical views: 3 photographs' worth
    single = attack_summary({"a": result(success, [1.0] * 6, [0.01] * 6)}).iloc[0]
    assert (single["success_rate_ci_low"], single["success_rate_ci_high"]) == wilson_interval(4, 6)


def test_format_share_names_the_photographs():
    from helpers.attack_report import format_share

    assert format_share(np.array([True, False, True, True, False] * 2)) == "60.0% [31, 83] (n = 10)"  # Wilson 6/10
    grouped = format_share(np.array([True, True, False, False]), ["a", "a", "b", "b"])
    assert grouped.startswith("50.0% [") and grouped.endswith("(n = 4 views of 2 photographs)")
    assert format_share(np.zeros(0, bool)) == "not measured"


def test_full_success_budgets_by_hand():
    from helpers.attack_report import full_success_budgets

    sweep = pd.DataFrame({"attack": ["pgd"] * 4 + ["fgsm"] * 4 + ["bim"] * 2,
                          "eps_255": [4, 0.5, 1, 2, 0.5, 1, 2, 4, 1, 2],  # pgd's rows out of order
                          "successes": [4, 1, 4, 4, 4, 2, 4, 3, 0, 1], "n": [4] * 10})
    facts = full_success_budgets(sweep).set_index("attack")
    assert list(facts.index) == ["pgd", "fgsm", "bim"]
    assert facts.loc["pgd", "from_eps_255"] == 1 and facts.loc["pgd", "full_at_255"] == (1, 2, 4)
    assert facts.loc["pgd", "successes"] == (1, 4, 4, 4) and facts.loc["pgd", "n"] == 4
    assert np.isnan(facts.loc["fgsm", "from_eps_255"]) and facts.loc["fgsm", "full_at_255"] == (0.5, 2)  # 4/255: 3
    assert np.isnan(facts.loc["bim", "from_eps_255"]) and facts.loc["bim", "full_at_255"] == ()


def test_a_confidence_zero_cw_run_carries_the_boundary_caveat():
    from helpers.attack_report import boundary_caveat, cw_confidence
    assert cw_confidence({"attacks": ["fgsm"]}) is None and boundary_caveat({"attacks": ["fgsm"]}) == ""
    assert cw_confidence({"attacks": ["cw_l2"], "attack_settings": "paper"}) == 0.0
    assert "κ = 0" in boundary_caveat({"attacks": ["fgsm", "cw_l2"], "attack_settings": "default"})
    margin = {"attacks": ["cw_l2"], "attack_settings": "default", "attack_params": {"cw_l2": {"confidence": 10}}}
    assert cw_confidence(margin) == 10.0 and boundary_caveat(margin) == ""
    assert "add `\"cw_l2_kappa\"` (κ = 5)" in boundary_caveat({"attacks": ["cw_l2"]})
    both = {"attacks": ["cw_l2", "cw_l2_kappa"], "attack_params": {"cw_l2_kappa": {"confidence": 2.5}}}
    assert cw_confidence(both, "cw_l2_kappa") == 2.5
    assert "C&W-L2 κ>0 column beside it (κ = 2.5)" in boundary_caveat(both)


def test_the_margin_cw_refuses_a_zero_margin_and_keeps_its_own_settings():
    from helpers.attack_settings import DEFAULTS, PAPER_PARAMS, resolve_params
    with pytest.raises(ValueError, match="cw_l2_kappa confidence must be > 0"):
        resolve_params("cw_l2_kappa", {"confidence": 0.0})
    assert resolve_params("cw_l2_kappa", {})["confidence"] == 5.0 and DEFAULTS["cw_l2"]["confidence"] == 0.0
    assert PAPER_PARAMS["cw_l2_kappa"]["confidence"] == 5.0 and PAPER_PARAMS["cw_l2_kappa"]["binary_search_steps"] == 9
