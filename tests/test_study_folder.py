"""A study's command line and output folder: checks before TensorFlow, checksums on every table, one study per
folder, resumable and repairable runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import report, study, study_files, study_run
from helpers.scores import COLUMNS
from helpers.study_setup import DEFAULTS, check_command_line, cli_config, default_n_shards, parse_args
from helpers.study_setup import check_config as check_names
from helpers.transforms import NOISES

TESTS = Path(__file__).resolve().parent


def test_help_is_instant_and_lists_the_parameters():
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "helpers.study", "--help"], cwd=TESTS.parent,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "tensorflow" not in run.stderr  # -X importtime lists every module imported
    for name, value in study.DEFAULTS.items():
        assert f"  {name} = {json.dumps(value)}\n" in run.stdout
    assert study.DEFAULTS["noises"] == list(NOISES)


def test_more_workers_than_blocks_get_a_shard_each_or_a_warning(tmp_path, monkeypatch):
    assert [default_n_shards({"n_images": 4, "batch_size": b}, 2) for b in (1, 16)] == [2, 1]
    assert default_n_shards({"n_images": 160, "batch_size": 1}, 2) == 20  # one shard per 8 blocks
    monkeypatch.setattr(study_run, "_run_on_dask", lambda *a: pytest.fail("work started"))
    with pytest.warns(UserWarning, match=r"2 workers for 1 shards: 1 will be idle.*4 images make 1\)"), \
            pytest.raises(pytest.fail.Exception, match="work started"):
        study.run_study({"n_images": 4, "attacks": ["fgsm"]}, 1, tmp_path, n_workers=2)


def test_an_unwritable_out_dir_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(study_run, "_shard_task", lambda *a: pytest.fail("work started"))
    with pytest.raises(OSError, match=r"output folder .*a_file/out cannot be made: .*a_file is a file, not a folder"):
        study.run_study({"n_images": 1, "attacks": ["fgsm"]}, 1, tmp_path / "a_file" / "out",
                        client=study.IN_PROCESS)


@pytest.mark.slow  # a fresh process starts a Dask cluster: make test, not make unit
def test_run_study_in_an_unguarded_script_says_what_to_do(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(TESTS.parent)!r})\nfrom helpers.study import run_study\n"
                      f"run_study({{'n_images': 1, 'attacks': ['fgsm']}}, 1, {str(tmp_path / 'out')!r}, n_workers=1, "
                      "progress=False)\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert 'call run_study under `if __name__ == "__main__":`' in run.stderr.splitlines()[-1]


# A study of 4 images in 4 shards on the tiny model (saved as a .keras file), in this process: seconds.
@pytest.fixture(scope="module")
def tiny_study(tiny, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny_study")
    tiny.model.save(tmp / "tiny.keras")
    config = {"model": str(tmp / "tiny.keras"), "model_options": {"preprocessing": "none"}, "n_images": 4,
              "batch_size": 1, "attacks": ["fgsm"], "thetas": [0.1], "noises": ["none"], "joint": ["bit_depth:5"],
              "cache_dir": str(tmp / "cache")}
    return config, tmp / "out", study.run_study(config, 4, tmp / "out", client=study.IN_PROCESS, progress=False)


def rerun(tiny_study, folder: Path, damage: Callable[[Path], None] = lambda out: None, **changes):
    """The tiny study copied to ``folder``, damaged, run again with ``changes`` to its parameters."""
    config, out, _ = tiny_study
    shutil.copytree(out, folder)
    damage(folder)
    return study.run_study({**config, **changes}, 4, folder, client=study.IN_PROCESS, progress=False)


def flip_bit(path: Path, byte: int = 25) -> None:
    data = bytearray(path.read_bytes())
    data[byte] ^= 1
    path.write_bytes(bytes(data))


def same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    exact = [c for c in COLUMNS if c != "score"]
    pd.testing.assert_frame_equal(a[exact], b[exact])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-6)  # recomputed: last bits may differ


def test_a_flipped_bit_in_a_finished_shard_recomputes_it(tiny_study, tmp_path):
    first = tiny_study[2]
    with pytest.warns(UserWarning, match=r"shard-0002-of-0004.parquet does not match its checksum: computing it"):
        again = rerun(tiny_study, tmp_path / "s", lambda out: flip_bit(study_files.shard_path(out, 2, 4)))
    assert (again.summary["computed"], again.summary["skipped"]) == (1, 3)
    same_scores(again.scores, first.scores)
    pd.testing.assert_frame_equal(again.rates, first.rates, rtol=1e-5)


def test_a_shard_damaged_after_its_check_is_recomputed_when_merging(tiny_study, tmp_path, monkeypatch):
    task = study_run._shard_task

    def damage_shard_2_meanwhile(config, shard, n_shards):
        if shard == 0:
            flip_bit(study_files.shard_path(tmp_path / "s", 2, 4))
        return task(config, shard, n_shards)

    monkeypatch.setattr(study_run, "_shard_task", damage_shard_2_meanwhile)
    with pytest.warns(UserWarning, match=r"shard-0002-of-0004.parquet does not match its checksum"):
        again = rerun(tiny_study, tmp_path / "s", lambda out: study_files.shard_path(out, 0, 4).unlink())
    assert again.summary["computed"] == 2
    same_scores(again.scores, tiny_study[2].scores)


def test_the_attack_cache_is_not_part_of_the_identity_and_a_refusal_names_what_differs(tiny_study, tmp_path):
    again = rerun(tiny_study, tmp_path / "a", cache_dir=str(tmp_path / "other_cache"))
    assert again.summary["skipped"] == 4
    with pytest.raises(ValueError, match=r"holds another study \(study.json\): thetas = \[0.1\] there, "
                                         r"\[0.2\] now\. A folder holds one study"):
        rerun(tiny_study, tmp_path / "b", thetas=[0.2])


def run_cli(*args: str, cwd: Path = TESTS.parent, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -X importtime -m helpers.study ARGS`` as a user types it (importtime lists every module imported
    on stderr)."""
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "helpers.study", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def error_line(run: subprocess.CompletedProcess) -> str:
    return [line for line in run.stderr.splitlines() if not line.startswith("import time:")][-1]


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "attacks", "[fgsmm]"], r"error: parameter attacks = \['fgsmm'\]: 'fgsmm' is not an attack\. Valid: "
                                   r"'fgsm', .*'hopskipjump', or 'adaptive' or 'adaptive\.<name>'"),
    (["-p", "attacks", "[fgsm"], r"error: -p attacks: not valid YAML"),
    (["-p", "thetas", "[0.1, 2]"], r"error: parameter thetas = \[0\.1, 2\]: item 2: .*Valid: a non-empty list"),
    (["-p", "attacks", "[adaptive]", "-p", "attack_params", "{adaptive: {kind: hop}}"],
     r"error: attack_params\['adaptive'\]: kind 'hop' is not one of 'ensemble', 'transferred', 'square'"),
    (["--n-shards", "9", "-p", "n_images", "4"], r"error: n_shards must be an integer in \[1, 1\]"),
    (["--workers", "0"], r"error: --workers must be at least 1, got 0"),
    (["--out", "{file}"], r"error: the study's output folder .*a_file cannot be made: .*a_file is a file"),
    (["--out", "{file}/out"], r"error: the study's output folder .*a_file/out cannot be made: .*a_file is a file"),
])
def test_a_command_line_mistake_is_refused_with_one_line(args, message, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
    with pytest.raises(SystemExit) as stopped:
        check_command_line([*(["--out", str(tmp_path / "out")] if "--out" not in args else []), *args])
    assert stopped.value.code == 2
    assert re.fullmatch(message + ".*\n", capsys.readouterr().err)


def test_a_mistake_is_refused_before_tensorflow_is_imported(tmp_path):
    run = run_cli("--out", str(tmp_path / "out"), "-p", "attacks", "[fgsmm]")
    assert run.returncode == 2, run.stderr[-2000:]
    assert error_line(run).startswith("error: parameter attacks = ['fgsmm']: 'fgsmm' is not an attack")
    assert "tensorflow" not in run.stderr  # -X importtime lists every module imported


def test_the_command_line_reads_yaml_files_and_values(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- fgsm\n")
    (tmp_path / "study.yaml").write_text("attacks: [pgd]\nn_images: 3\n")
    (tmp_path / "images").mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / "images" / f"{i}.png")
    assert cli_config(parse_args(["--out", "x", "--config", str(tmp_path / "empty.yaml")]))["attacks"] == \
        DEFAULTS["attacks"]
    config = cli_config(parse_args(["--out", "x", "--config", str(tmp_path / "study.yaml"), "--n-images", "2",
                                    "--image-source", str(tmp_path / "images"), "-p", "thetas", "[0.1]"]))
    assert (config["attacks"], config["n_images"], config["image_source"], config["thetas"]) == \
        (["pgd"], 2, str(tmp_path / "images"), [0.1])
    with pytest.raises(ValueError, match=r"^--config .*list.yaml: a YAML mapping of study parameters is expected, "
                                         r"got list$"):
        cli_config(parse_args(["--out", "x", "--config", str(tmp_path / "list.yaml")]))
    with pytest.raises(ValueError, match=r"^-p thetas: not valid YAML \(while parsing a flow sequence"):
        cli_config(parse_args(["--out", "x", "-p", "thetas", "[0.1"]))
    with pytest.raises(ValueError, match=r"^--config .*bad.yaml: not valid YAML"):
        (tmp_path / "bad.yaml").write_text("a: [")
        cli_config(parse_args(["--out", "x", "--config", str(tmp_path / "bad.yaml")]))
    assert cli_config(parse_args(["--out", "x", "-p", "only_correct", ""]))["only_correct"] is False  # None: off here


@pytest.mark.parametrize(("settings", "message"), [
    ({"kind": "hop"}, r"kind 'hop' is not one of 'ensemble', 'transferred', 'square'$"),
    ({"variants": ["bpda", "x"]}, r"variants 'x' is not one of 'bpda', 'gradcam'$"),
    ({"losses": ["ce", "mse"]}, r"losses 'mse' is not one of 'ce', 'dlr', 'margin'$"),
    ({"emphasis_clip": "soft"}, r"emphasis_clip 'soft' is not one of 'exact', 'straight_through'$"),
    ({"epsilon": 1}, r"has unknown setting\(s\) \['epsilon'\]; valid: \['emphasis_clip', 'eps', "),
    ([1], r"is a list, not a dict of settings$"),
])
def test_adaptive_set_names_are_checked_without_the_attack_code(settings, message):
    config = {"attacks": ["fgsm", "adaptive.x"], "attack_params": {"adaptive.x": settings}}
    with pytest.raises(ValueError, match=r"^attack_params\['adaptive.x'\]:? " + message):
        check_names(config)
    assert check_names({"attacks": ["adaptive"]})["attacks"] == ["adaptive"]
    with pytest.raises(ValueError, match=r"^parameter attack_params names 'adaptive.y', which parameter attacks does"):
        check_names({"attacks": ["adaptive"], "attack_params": {"adaptive.y": {}}})
    with pytest.raises(ValueError, match=r"^the adaptive sets attack the Grad-CAM .* saliency_method = 'layercam'"):
        check_names({"attacks": ["adaptive"], "saliency_method": "layercam"})


def test_merged_tables_carry_checksums_that_report_verifies(tiny_study, tmp_path):
    out = tiny_study[1]
    for name in ("scores.parquet", "rates.csv", "study.json"):
        assert (out / name).is_file()
    for name in ("scores.parquet", "rates.csv"):
        study_files.verify_checksum(out / name)
    shutil.copytree(out, tmp_path / "s")
    flip_bit(tmp_path / "s" / "scores.parquet", byte=200)
    with pytest.raises(OSError, match=r"scores.parquet does not match its checksum scores.parquet.sha256"):
        report.load_results(tmp_path / "s")
    (tmp_path / "s" / "scores.parquet.sha256").unlink()
    with pytest.raises(OSError, match=r"scores.parquet has no checksum"):
        report.load_results(tmp_path / "s")


def test_a_rerun_merges_a_damaged_merged_table_again(tiny_study, tmp_path):
    with pytest.warns(UserWarning, match=r"scores.parquet does not match its checksum.*merging it again from the "):
        again = rerun(tiny_study, tmp_path / "s", lambda out: flip_bit(out / "scores.parquet", byte=200))
    assert again.summary["skipped"] == 4
    study_files.verify_checksum(tmp_path / "s" / "scores.parquet")
    same_scores(again.scores, tiny_study[2].scores)


def test_a_study_running_in_the_folder_refuses_a_second_one_naming_both(tiny_study, tmp_path):
    config, out, _ = tiny_study
    shutil.copytree(out, tmp_path / "s")
    held = rf"{tmp_path / 's'} is in use by a running study \(process {os.getpid()} on .*, started .*: model "
    with study_files.study_lock(tmp_path / "s", study.check_config(config)), pytest.raises(
            RuntimeError, match=held + r"'.*tiny.keras', 4 images of 'samples', attacks \['fgsm'\]\)\. A folder"):
        study.run_study({**config, "thetas": [0.2]}, 4, tmp_path / "s", client=study.IN_PROCESS, progress=False)
    assert not list((tmp_path / "s").glob(".study.lock*"))  # released and removed


def test_another_split_of_the_same_study_replaces_the_old_shard_files(tiny_study, tmp_path):
    with pytest.warns(UserWarning, match=r"removed 4 shard file\(s\) of another n_shards .*split into 2"):
        config, out, _ = tiny_study
        shutil.copytree(out, tmp_path / "s")
        again = study.run_study(config, 2, tmp_path / "s", client=study.IN_PROCESS, progress=False)
    assert sorted(p.name for p in (tmp_path / "s" / "shards").iterdir()) == [
        f"shard-000{s}-of-0002.parquet{ext}" for s in (0, 1) for ext in ("", ".sha256")]
    same_scores(again.scores, tiny_study[2].scores)


def test_no_lock_file_stays_behind(tiny_study):
    config, out, _ = tiny_study
    assert not list(out.glob(".study.lock*"))
    locks = Path(config["cache_dir"]) / ".locks"
    assert locks.is_dir() and not list(locks.iterdir())


@pytest.mark.slow  # two command lines, one of them a 2-worker LocalCluster run: make test, not make unit
def test_make_study_runs_on_local_workers_and_a_concurrent_study_is_refused(tmp_path, make_env):
    """``make study`` (``python -m helpers.study --workers 2``, then ``python -m helpers.report``) as a user types
    it; a second, different study into the same folder while it runs is refused naming the running one, and
    refused afterwards naming what differs."""
    out, small = tmp_path / "study", "-p attacks '[fgsm]' -p thetas '[0.1]' -p noises '[none]' -p batch_size 1"
    env = {**make_env, "TQDM_DISABLE": "1"}
    first = subprocess.Popen(["make", "study", "IMAGES=samples", "N=2", "WORKERS=2", f"OUT={out}", f"ARGS={small}"],
                             cwd=TESTS.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 240
    while not (out / study_files.LOCK_INFO).is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (out / study_files.LOCK_INFO).is_file(), "the first study never held its folder"
    other = ["--out", str(out), "--image-source", "samples", "--n-images", "2", "-p", "attacks", "[fgsm]",
             "-p", "thetas", "[0.2]", "-p", "noises", "[none]", "-p", "batch_size", "1"]
    during = run_cli(*other)
    log = first.communicate(timeout=600)[0]
    assert first.returncode == 0, log[-3000:]
    assert during.returncode == 1, during.stderr[-2000:]
    assert re.fullmatch(rf"error: {out} is in use by a running study \(process \d+ on .*, started .*: model "
                        r"'efficientnet_lite0', 2 images of 'samples', attacks \['fgsm'\]\)\. A folder holds one "
                        r"study: wait .*", error_line(during)), error_line(during)
    assert "2 of 2 images kept (0 dropped by only_correct), 2 shards (2 computed, 0 already done)" in log
    assert "wrote" in log.splitlines()[-1] and (out / "report" / "findings.md").is_file()
    for name in ("scores.parquet", "rates.csv"):
        study_files.verify_checksum(out / name)
    after = run_cli(*other)
    assert after.returncode == 1
    assert re.fullmatch(rf"error: {out} holds another study \(study.json\): thetas = \[0.1\] there, \[0.2\] now\. "
                        r"A folder holds one study: .*", error_line(after)), error_line(after)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_the_lock_files_of_a_killed_run_do_not_block_the_next(tiny_study, tmp_path):
    """A killed run's flock dies with its process; the files it left are locked again and removed."""
    def killed_run_left(out: Path) -> None:
        (out / study_files.LOCK).write_text("")
        (out / study_files.LOCK_INFO).write_text('{"pid": 1, "host": "gone"')  # cut short by the kill
    again = rerun(tiny_study, tmp_path / "s", killed_run_left)
    assert again.summary["skipped"] == 4 and not list((tmp_path / "s").glob(".study.lock*"))


def test_the_command_lines_options_and_help(capsys):
    args = parse_args(["--out", "x"])
    assert (args.workers, args.retries, args.parameter, args.n_shards, args.config, args.scheduler) == \
        (1, 2, [], None, None, None)
    args = parse_args(["--out", "x", "--workers", "3", "--retries", "0", "--n-shards", "4", "-p", "a", "1",
                       "-p", "b", "2"])
    assert (args.workers, args.retries, args.n_shards, args.parameter) == (3, 0, 4, [["a", "1"], ["b", "2"]])
    with pytest.raises(SystemExit) as stopped:
        parse_args([])
    assert stopped.value.code == 2 and "the following arguments are required: --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    shown = capsys.readouterr().out
    assert shown.startswith("usage: python -m helpers.study [-h] [--image-source IMAGE_SOURCE]")
    assert "-p NAME VALUE, --parameter NAME VALUE" in shown and "valid values: helpers.params.PARAMS" in shown
    assert all(f"\n  {name} = {json.dumps(value)}\n" in shown for name, value in DEFAULTS.items())


def test_a_shard_without_its_checksum_is_computed_again(tiny_study, tmp_path):
    """An interrupted write leaves a shard without its checksum: it is not trusted."""
    checksum = lambda out: study_files.checksum_path(study_files.shard_path(out, 1, 4)).unlink()  # noqa: E731
    with pytest.warns(UserWarning, match=r"shard-0001-of-0004.parquet has no checksum \(its write was interrupted"):
        again = rerun(tiny_study, tmp_path / "s", checksum)
    assert (again.summary["computed"], again.summary["skipped"]) == (1, 3)
    same_scores(again.scores, tiny_study[2].scores)


def test_a_damaged_study_record_is_an_error_naming_it(tiny_study, tmp_path):
    with pytest.raises(ValueError, match=r"study.json is not the study record helpers.study writes"):
        rerun(tiny_study, tmp_path / "s", lambda out: (out / "study.json").write_text('{"model": '))
