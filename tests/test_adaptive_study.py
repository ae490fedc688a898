"""The adaptive evaluation in the Dask study runner: outcome rows per image and attack set, in shards with
checksums, resumable; rates and checks after the merge from the same check functions as in-process."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import stripes
from distributed import Client, LocalCluster

from helpers import study, study_files, study_run
from helpers.adaptive.checks import check_gain
from helpers.adaptive.defences import Defence
from helpers.adaptive.judge import AttackBudget, AttackOutcome, Judge, to_bytes
from helpers.adaptive.outcomes import OUTCOME_COLUMNS, outcome_checks, outcome_rates, outcome_rows
from helpers.detectors import SaliencyDetector
from helpers.metrics import grouped_split, threshold_at_fpr

EPS = 8 / 255
SETS = {"adaptive": {"eps": EPS, "max_iter": 4, "n_targets": 1},
        "adaptive.it8": {"eps": EPS, "max_iter": 8, "n_targets": 1},
        "adaptive.transferred": {"kind": "transferred", "eps": EPS, "max_iter": 4}}


@pytest.fixture(scope="module")
def config(toy, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adaptive_study")
    toy.model.save(tmp / "toy.keras")
    return {"model": str(tmp / "toy.keras"), "model_options": {"preprocessing": "none"}, "n_images": 4,
            "batch_size": 2, "attacks": ["fgsm", *SETS], "attack_params": SETS, "thetas": [0.1], "noises": ["none"],
            "joint": ["bit_depth:5"], "cache_dir": str(tmp / "cache")}


@pytest.fixture(scope="module")
def two_shards(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("adaptive_out")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        return out, study.run_study(config, 2, out, client=client, progress=False)


def test_outcome_rows_per_image_and_set_in_checksummed_shards(two_shards):
    out, result = two_shards
    rows = result.adaptive
    assert list(rows.columns) == OUTCOME_COLUMNS and len(rows) == 4 * len(SETS)
    clean = result.scores[result.scores["attack"] == "clean"].drop_duplicates("image")
    for _, g in rows.groupby("attack"):  # every image of the score table, once per set
        assert list(g["image"]) == list(clean["image"]) and list(g["image_id"]) == list(clean["image_id"])
    for s in range(2):
        shard = study_files.shard_path(out, s, 2)
        assert study_files.checksum_path(study_files.outcome_path(shard)).is_file()
    main = rows[rows["attack"] == "adaptive"]
    assert set(main.loc[main["bypassed_own"], "found_by_own"]) <= {"APGD-CE", "APGD-CE target 1", "APGD-DLR target 1"}
    assert (main["lowest_score"] >= 0).all()  # a score, or inf where no point fooled f
    saved = pd.read_parquet(out / "adaptive.parquet")
    pd.testing.assert_frame_equal(saved, rows)
    rates = pd.read_csv(out / "adaptive_rates.csv")
    assert list(rates["attack"]) == list(SETS) and (rates["n"] == 4).all()
    assert rates["note"].str.contains("not resolvable at n = 2 calibration photographs").all()  # cannot fit fpr 0.05
    checks = pd.read_csv(out / "adaptive_checks.csv")
    assert list(checks["check"]) == ["iterations", "transferred"] and set(checks["rule"]) == {"own"}


def test_a_rerun_skips_finished_shards_and_recomputes_a_damaged_outcome_file(config, two_shards, tmp_path,
                                                                             monkeypatch):
    out, first = two_shards
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    calls = []
    adaptive = study_run.run_shard_adaptive
    monkeypatch.setattr(study_run, "run_shard_adaptive", lambda *a, **k: calls.append(a[1]) or adaptive(*a, **k))
    again = study.run_study(config, 2, tmp_path, client=study.IN_PROCESS, progress=False)
    assert calls == [] and (again.summary["computed"], again.summary["skipped"]) == (0, 2)
    pd.testing.assert_frame_equal(again.adaptive, first.adaptive)
    damaged = study_files.outcome_path(study_files.shard_path(tmp_path, 1, 2))
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.warns(UserWarning, match=r"shard-0001-of-0002.adaptive.parquet does not match its checksum"):
        again = study.run_study(config, 2, tmp_path, client=study.IN_PROCESS, progress=False)
    assert calls == [1] and (again.summary["computed"], again.summary["skipped"]) == (1, 1)
    assert len(again.adaptive) == len(first.adaptive)


def test_bad_adaptive_settings_are_refused_before_any_work(config):
    with pytest.raises(ValueError, match=r"attack_params\['adaptive'\] has unknown setting\(s\) \['epsilon'\]"):
        study.check_config({**config, "attack_params": {"adaptive": {"epsilon": 1}}, "attacks": ["adaptive"]})
    with pytest.raises(ValueError, match=r"attack_params\['adaptive.x'\]: .*kind"):
        study.check_config({**config, "attack_params": {"adaptive.x": {"kind": "hop"}}, "attacks": ["adaptive.x"]})
    with pytest.raises(ValueError, match="saliency_method = 'gradcam'"):
        study.check_config({**config, "saliency_method": "layercam"})
    assert study.check_config({**config, "attacks": ["adaptive"], "attack_params": {}})["attacks"] == ["adaptive"]


def hand_rows(attack, kind, bypassed, lowest=None, max_iter=20, eps=EPS):
    n = len(bypassed)
    return pd.DataFrame({"image": np.arange(n), "image_id": [f"p{i}" for i in range(n)],
                         "photograph": [f"p{i}" for i in range(n)], "true_label": 0, "attack": attack, "kind": kind,
                         "norm": "linf", "eps": eps, "max_iter": max_iter, "label_attacked": 0,
                         "bypassed_own": np.asarray(bypassed, bool), "found_by_own": "m",
                         "lowest_score": lowest if lowest is not None else np.full(n, np.inf), "lowest_by": "m",
                         "clean_score": np.linspace(0.0, 1.0, n), "seconds": 1.0},
                        columns=OUTCOME_COLUMNS)


def test_checks_from_rows_are_the_in_process_check_functions():
    main = hand_rows("adaptive", "ensemble", [1, 1, 0, 0])
    rows = pd.concat([main, hand_rows("adaptive.it100", "ensemble", [1, 1, 1, 1], max_iter=100),
                      hand_rows("adaptive.it5", "ensemble", [0, 0, 0, 0], max_iter=5),  # fewer iterations: no check
                      hand_rows("adaptive.eps1", "ensemble", [1, 0, 0, 0], eps=1 / 255),
                      hand_rows("adaptive.free", "ensemble", [1, 1, 1, 1], eps=1.0),
                      hand_rows("adaptive.transferred", "transferred", [1, 0, 1, 0]),
                      hand_rows("adaptive.square", "square", [1, 1, 1, 1])], ignore_index=True)
    checks = outcome_checks(rows, 0.05, 0)
    assert list(checks["check"]) == ["iterations", "transferred", "black box", "unbounded", "budget"]
    checks = checks.set_index("check")
    assert checks.loc["unbounded", "passed"] and checks.loc["budget", "passed"]
    assert not checks.loc["iterations", "passed"]  # 100 iterations bypass 2 images more than 20 do
    assert checks.loc["transferred", "passed"]  # one image more: tolerated
    assert not checks.loc["black box", "passed"]
    main_o, it100 = (AttackOutcome(a, AttackBudget("linf", EPS, it), {"own": np.asarray(b, bool)},
                                   {"own": np.full(4, "m", object)}, 4.0)
                     for a, it, b in (("adaptive", 20, [1, 1, 0, 0]), ("adaptive.it100", 100, [1, 1, 1, 1])))
    assert checks.loc["iterations"].to_dict() == {k: v for k, v in check_gain("iterations", main_o, it100).items()
                                                  if k != "check"}


def test_matched_rates_after_the_merge_are_a_threshold_on_the_lowest_score():
    n = 200  # 100 calibration photographs x fpr 0.05 = 5 expected false positives: enough
    lowest = np.where(np.arange(n) % 2 == 0, 0.0, np.inf)  # every other image reached a score of 0
    rows = hand_rows("adaptive", "ensemble", np.zeros(n), lowest=lowest)
    rate = outcome_rates(rows, 0.05, 0).iloc[0]
    assert rate["note"] == "" and rate["bypass_matched_n"] == 100 and rate["bypass_own"] == 0
    cal = grouped_split(rows["photograph"].to_numpy(), 0, 0.5)
    evaluated = ~cal
    assert rate["threshold"] == pytest.approx(threshold_at_fpr(rows["clean_score"][cal], 0.05))
    assert rate["bypass_matched"] == pytest.approx((lowest[evaluated] <= rate["threshold"]).mean())


def test_the_judge_keeps_the_lowest_score_of_the_points_that_fool_f(toy):
    x, y = stripes(30, seed=9)
    keep = toy.predict(x)[0] == y
    x, y = x[keep][:6], y[keep][:6]
    defence = Defence("saliency", SaliencyDetector(toy, [0.1, 0.3], "none"))
    x_adv = np.clip(x + np.random.default_rng(0).choice([-40.0, 40.0], x.shape), 0, 255).astype(np.float32)
    judge = Judge(toy, [defence], x, y, linf_255=40.0)
    judge.judge(x_adv, np.arange(len(x)), "noise")
    outcome = AttackOutcome("noise", AttackBudget("linf", 40 / 255, 1), {"own": judge.found["own"]},
                            {"own": judge.found_by["own"]}, 0.0, judge.lowest, judge.lowest_by)
    x_adv = to_bytes(x_adv, x, 40.0)  # judged as the 8-bit images an attacker saves
    fooled = toy.predict(x_adv)[0] != y
    assert fooled.sum() > 0
    expected = np.where(fooled, defence.scores(x_adv)[1], np.inf)
    np.testing.assert_allclose(outcome.lowest, expected, rtol=1e-6)
    rows = outcome_rows(outcome, "noise", "transferred", y, np.zeros(6), np.arange(6), list("abcdef"), list("abcdef"),
                        y)
    np.testing.assert_array_equal(rows["bypassed_own"], outcome.bypassed["own"])


def test_the_merged_matched_rule_counts_calibration_photographs_and_clusters_its_intervals():
    """200 views of 50 photographs: 25 calibration photographs x 0.05 < 5 (100 views would pass), so no
    threshold; at fpr 0.2 (25 x 0.2 = 5) a threshold, and every interval counts views of one photograph as such."""
    from helpers.metrics import clustered_interval, design_effect

    n = 200
    rows = hand_rows("adaptive", "ensemble", np.arange(n) % 8 < 4)
    rows["photograph"] = [f"p{i // 4}" for i in range(n)]
    rate = outcome_rates(rows, 0.05, 0).iloc[0]
    assert rate["note"].startswith("not resolvable at n = 25 calibration photographs") and rate["bypass_matched_n"] == 0
    rate = outcome_rates(rows, 0.2, 0).iloc[0]
    assert rate["note"] == "" and rate["bypass_own_photographs"] == 50
    flags, groups = rows["bypassed_own"].to_numpy(), rows["photograph"].to_numpy()
    assert (rate["bypass_own_ci_low"], rate["bypass_own_ci_high"]) == clustered_interval(
        int(flags.sum()), n, design_effect(flags, groups))
    assert rate["fpr_matched_photographs"] == 25
