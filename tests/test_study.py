"""The sharded study: any split of the images gives the same score table and rate table, finished shards
are not recomputed, and a failing shard leaves no file behind."""

import shutil

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from PIL import Image

from helpers import report, study_run
from helpers.experiments import comparison, theta_sweep
from helpers.experiments.export import save_tables
from helpers.scores import load_scores
from helpers.study import IN_PROCESS, check_config, run_study
from helpers.study_files import shard_path
from helpers.study_setup import block_seed, cli_config, parse_args, shard_blocks
from helpers.study_shards import merge_shards, run_shard

SMALL = {"n_images": 6, "batch_size": 2, "attacks": ["fgsm"], "thetas": [0.1, 0.3],
         "joint": ["bit_depth:5", "median:2x2"]}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def test_shards_are_contiguous_runs_of_whole_blocks():
    blocks = [shard_blocks(11, 2, s, 4) for s in range(4)]
    assert [len(b) for b in blocks] == [2, 2, 1, 1]  # 6 blocks of 2 images (the last of 1) in 4 shards
    assert np.array_equal(np.concatenate([np.concatenate(b) for b in blocks]), np.arange(11))
    with pytest.raises(ValueError, match=r"n_shards must be an integer in \[1, 6\]"):
        shard_blocks(11, 2, 0, 7)


def test_block_seeds_are_fixed_per_study_seed_and_block():
    """A block's attack seed depends on the study's seed and the block alone (any split attacks it alike), and
    never changes: the attacks a study caches, and so its results, depend on these."""
    assert [block_seed(0, b) for b in range(3)] == [2968811710, 3964924996, 3141116543]
    assert block_seed(1, 0) == 1835504127


def test_config_is_checked_by_name_type_and_range():
    with pytest.raises(ValueError, match="unknown study parameter.*'thetaz'"):
        check_config({"thetaz": [0.1]})
    with pytest.raises(ValueError, match="parameter thetas"):
        check_config({"thetas": [1.5]})
    with pytest.raises(ValueError, match="only_correct = True needs labelled images"):
        check_config({"only_correct": True})  # the offline photographs have no labels
    assert check_config({})["only_correct"] is False


@pytest.fixture(scope="module")
def split_run(client, tmp_path_factory):
    """The same study as 1 shard in this process and as 3 shards on 2 workers, with separate attack
    caches, so that the split run computes its attacks itself."""
    tmp = tmp_path_factory.mktemp("study")
    one = run_study({**SMALL, "cache_dir": str(tmp / "cache1")}, 1, tmp / "one", client=IN_PROCESS, progress=False)
    three = run_study({**SMALL, "cache_dir": str(tmp / "cache3")}, 3, tmp / "three", client=client, progress=False)
    return one, three, tmp


@pytest.mark.notebook
def test_one_shard_in_process_equals_three_shards_on_two_workers(split_run):
    one, three, tmp = split_run
    assert three.summary["computed"] == 3 and len(list((tmp / "three" / "shards").glob("*.parquet"))) == 3
    exact = [c for c in one.scores.columns if c != "score"]
    pd.testing.assert_frame_equal(one.scores[exact], three.scores[exact])
    np.testing.assert_allclose(one.scores["score"], three.scores["score"], rtol=1e-5, atol=1e-6)
    assert one.scores["attack"].eq("fgsm").sum() > 0  # the comparison covers adversarial rows
    pd.testing.assert_frame_equal(one.rates, three.rates)
    saved, meta = load_scores(tmp / "three" / "scores.parquet")
    pd.testing.assert_frame_equal(saved, three.scores)
    assert meta["image_ids"][:2] == ["skimage/astronaut", "skimage/chelsea"]
    tidy = pd.read_csv(tmp / "three" / "rates.csv")  # the notebooks' tidy schema
    tidy["saliency_method"] = tidy["saliency_method"].fillna("")  # "" on the other detectors' rows
    assert len(tidy) == len(three.rates) and {"unit", "model", "saliency_method"} <= set(tidy.columns)
    assert set(tidy.loc[tidy["detector"] == "saliency", "saliency_method"]) == {"gradcam"}
    assert set(tidy.loc[tidy["detector"] != "saliency", "saliency_method"]) == {""}
    ospa = three.rates["metric"] == "ospa"
    np.testing.assert_allclose(tidy.loc[ospa.to_numpy(), "value"], 100 * three.rates.loc[ospa, "value"], rtol=1e-5)


@pytest.mark.notebook
def test_the_report_of_a_study_folder_is_the_notebooks_tables_of_its_scores(split_run):
    """``python -m helpers.report`` on a study's folder writes notebook 05's and 07's tables, the ones their
    experiments make of the study's score table in memory (as the notebooks do)."""
    _, three, tmp = split_run
    paths = report.main([str(tmp / "three"), "--out", str(tmp / "report")])
    assert {"figure_roc_theta.pdf", "figure_roc_comparison.png"} <= {p.name for p in paths}
    config = check_config({**SMALL, "cache_dir": str(tmp / "cache3")})
    _, metadata = load_scores(tmp / "three" / "scores.parquet")
    meta = {"efficientnet_lite0": metadata}
    sweep = theta_sweep.from_scores(three.scores[three.scores["detector"] != "feature_squeezing"], meta,
                                    report.study_config(config, "theta_sweep"))
    s = three.scores  # notebook 07's rows: Feature Squeezing, the baseline, Table V's noises at θ = 0.1
    rows = (s["detector"] != "saliency") | ((s["theta"] == 0.1) & s["noise"].isin(comparison.NOISES))
    table_v = comparison.from_scores(s[rows], meta, report.study_config(config, "comparison"))
    written = save_tables(theta_sweep.tables(theta_sweep.facts(sweep)), tmp / "memory", meta)
    facts_v = comparison.facts(table_v)
    written += save_tables(comparison.tables(facts_v), tmp / "memory", meta)
    # 5 tables of notebook 05, 2 or 3 of 07 (its matched view only where a TPR resolves): CSV, LaTeX, twin each
    assert len(written) == 3 * (5 + 2 + comparison.matched_resolvable(facts_v))
    for path in written:
        assert (tmp / "report" / path.name).read_text() == path.read_text(), path.name


@pytest.mark.notebook
def test_finished_shards_are_not_recomputed(split_run, tmp_path, monkeypatch):
    _, three, tmp = split_run
    shutil.copytree(tmp / "three", tmp_path, dirs_exist_ok=True)
    config = {**SMALL, "cache_dir": str(tmp / "cache3")}
    stamps = [shard_path(tmp_path, s, 3).stat().st_mtime_ns for s in (1, 2)]
    shard_path(tmp_path, 0, 3).unlink()
    calls = []
    monkeypatch.setattr(study_run, "run_shard", lambda *a, **k: calls.append(a[1]) or run_shard(*a, **k))
    again = run_study(config, 3, tmp_path, client=IN_PROCESS, progress=False)
    assert calls == [0] and [shard_path(tmp_path, s, 3).stat().st_mtime_ns for s in (1, 2)] == stamps
    assert (again.summary["computed"], again.summary["skipped"]) == (1, 2)
    pd.testing.assert_frame_equal(again.scores, three.scores)
    with pytest.raises(ValueError, match="holds another study"):
        run_study({**config, "thetas": [0.2]}, 3, tmp_path, client=IN_PROCESS, progress=False)


@pytest.mark.notebook
def test_a_failing_shard_is_retried_reported_and_leaves_nothing(client, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "img2.png").write_bytes((folder / "img0.png").read_bytes()[:60])  # truncated: shard 1 fails
    config = {**SMALL, "n_images": 3, "image_source": str(folder), "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(RuntimeError, match=r"1 of 2 shards failed.*shard 1:.*cannot read image"):
        run_study(config, 2, tmp_path / "out", client=client, retries=1, progress=False)
    files = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
    shard_0 = shard_path(tmp_path, 0, 2).name
    assert sorted(files) == [shard_0, f"{shard_0}.sha256", "study.json"]  # no shard 1, no temporary or merged file


def test_command_line_config_file_then_parameters_then_options(tmp_path):
    (tmp_path / "study.yaml").write_text("attacks: [fgsm, pgd]\nthetas: [0.1]\nn_images: 3\n")
    args = parse_args(["--out", str(tmp_path), "--config", str(tmp_path / "study.yaml"), "-p", "thetas", "[0.2, 0.4]",
                       "--n-images", "5", "-p", "batch_size", "4"])
    config = cli_config(args)
    assert (config["attacks"], config["thetas"], config["n_images"], config["batch_size"]) == \
        (["fgsm", "pgd"], [0.2, 0.4], 5, 4)
    with pytest.raises(TypeError, match="parameter n_images"):
        cli_config(parse_args(["--out", "x", "-p", "n_images", "five"]))


def test_merge_renumbers_the_kept_images():
    rows = pd.DataFrame({"image": [4, 9, 4, 9, 2], "attack": ["clean", "clean", "fgsm", "fgsm", "clean"]})
    assert merge_shards([rows.iloc[:4], rows.iloc[4:]])["image"].tolist() == [1, 2, 1, 2, 0]
