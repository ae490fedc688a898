"""``python -m helpers.report``: a notebook's results folder and a study folder give the tables of the notebooks
for the same scores, with no model."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from latex import PDFLATEX, latex_problems

from helpers import report, study_files
from helpers.experiments import comparison, squeezing, theta_sweep
from helpers.experiments.export import save_tables
from helpers.experiments.runs import load_run
from helpers.scores import save_scores
from helpers.study import DEFAULTS
from helpers.study_files import write_checked

ROOT = Path(__file__).resolve().parents[1]
RESULTS, FIGURES = ROOT / "data" / "results", ROOT / "figures"
SWEEP, TABLE_IV, TABLE_V = (RESULTS / f"scores_{name}_efficientnet_lite0.parquet"
                             for name in ("theta_sweep", "feature_squeezing", "comparison"))


def notebook_tables(path: Path, module, folder: Path) -> None:
    """What the notebook writes for the scores of ``path``: its experiment's tables of those scores, saved."""
    scores, metadata = load_run([path])
    result = module.from_scores(scores, metadata, next(iter(metadata.values()))["parameters"])
    save_tables(module.tables(module.facts(result)), folder, result.metadata)


@pytest.fixture(scope="module")
def notebook_report(tmp_path_factory):
    """The report of a copy of notebook 05's, 06's and 07's score tables."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "run").mkdir()
    for path in (SWEEP, TABLE_IV, TABLE_V):
        shutil.copy(path, tmp / "run")
    return tmp, report.main([str(tmp / "run"), "--out", str(tmp / "out")])


def test_a_notebook_results_folder_gives_the_notebooks_tables(notebook_report):
    tmp, paths = notebook_report
    names = {p.name for p in paths}
    assert {"table_none_theta_sweep.tex", "table_paper_side_by_side_tidy.csv", "table5_comparison_auc.csv",
            "table4_feature_squeezing_auc.tex", "figure_roc_theta.pdf", "figure_tradeoff_ospa_vs_detection.png",
            "figure_roc_comparison.pdf", "facts_theta_sweep.csv", "facts_comparison.csv", "findings.md"} <= names
    findings = (tmp / "out" / "findings.md").read_text()
    assert "## theta_sweep" in findings and "*Own operating points (label change):*" in findings
    facts = pd.read_csv(tmp / "out" / "facts_theta_sweep.csv")
    assert facts["claims"].tolist() == [facts[["claims_hold", "claims_fail", "claims_not_resolved",
                                               "claims_not_measured"]].sum(axis=1)[0]]
    notebook_tables(SWEEP, theta_sweep, tmp / "notebook")
    notebook_tables(TABLE_IV, squeezing, tmp / "notebook")
    notebook_tables(TABLE_V, comparison, tmp / "notebook")
    written = sorted((tmp / "notebook").iterdir())
    assert len(written) == 3 * 9  # 5 tables of 05, 2 of 06, 2 of 07 (no matched view at n = 4): CSV, LaTeX, twin
    for path in written:
        assert (tmp / "out" / path.name).read_text() == path.read_text(), path.name
    # the committed notebook 05 wrote the same rates from the same committed scores
    for name in ("table_none_theta_sweep.csv", "table_selected_theta_heldout.csv"):
        assert (tmp / "out" / name).read_text() == (FIGURES / name).read_text(), name


def test_a_study_folder_gives_the_tables_of_notebooks_05_and_07(notebook_report, tmp_path):
    """A study's score table (notebook 05's rows and notebook 07's Feature Squeezing rows, saved as the study
    saves it, with a study's parameters) gives notebook 05's rate tables and notebook 07's."""
    tmp, _ = notebook_report
    sweep, sweep_meta = load_run([SWEEP])
    squeezing = load_run([TABLE_V])[0].query("detector == 'feature_squeezing'")
    p = next(iter(sweep_meta.values()))["parameters"]
    config = {**DEFAULTS, **{k: p[k] for k in ("attacks", "thetas", "noises", "fpr", "seed", "n_images")},
              "joint": ["bit_depth:5", "median:2x2", "nlm:11-3-4"]}
    table = pd.concat([sweep, squeezing], ignore_index=True)
    write_checked(tmp_path / "study" / "scores.parquet", lambda tmp: save_scores(
        table, tmp, {"model": "efficientnet_lite0", "parameters": config, "images": "the study's images"}), ".parquet")
    paths = report.main([str(tmp_path / "study")])  # default: RUN_DIR/report
    assert all(p.parent == tmp_path / "study" / "report" for p in paths)
    for name in ("table_none_theta_sweep.csv", "table_zero_mean_theta_sweep.csv", "table_selected_theta_heldout.csv",
                 "table_paper_side_by_side.csv", "table5_comparison_own_operating_point.csv"):
        assert (tmp_path / "study" / "report" / name).read_text() == (tmp / "out" / name).read_text(), name
    assert "images: the study's images" in (tmp_path / "study" / "report" / "table_none_theta_sweep.tex").read_text()


def test_the_study_config_stands_for_the_notebooks_parameters():
    config = {**DEFAULTS, "thetas": [0.0, 0.3]}
    assert report.study_config(config, "theta_sweep")["roc_thetas"] == [0.3]
    table_v = report.study_config(config, "comparison")
    assert table_v["theta"] == 0.3  # no 0.1 in the study: its largest θ
    assert comparison.Config.from_params(table_v).joint == tuple(DEFAULTS["joint"])
    assert report.study_config(DEFAULTS, "comparison")["theta"] == 0.1


def test_a_folder_without_score_tables_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no scores.parquet .a study. and no scores_<experiment>"):
        report.main([str(tmp_path)])


def report_command(run_dir: Path) -> subprocess.CompletedProcess:
    """``python -m helpers.report RUN_DIR`` as a user types it."""
    return subprocess.run([sys.executable, "-m", "helpers.report", str(run_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def with_checksum(path: Path) -> Path:
    """``path`` with the checksum a study writes beside its tables: the report reads only such tables."""
    study_files.checksum_path(path).write_text(study_files.sha256(path) + "\n")
    return path


def without_columns(source: Path, target: Path, columns: list[str]) -> Path:
    """A copy of a saved score table, its run metadata kept, less ``columns`` (with a checksum)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pq.read_table(source).drop_columns(columns), target)
    return with_checksum(target)


def test_the_command_on_a_study_table_without_theta_says_which_file_lacks_which_columns(tmp_path):
    table = without_columns(SWEEP, tmp_path / "study" / "scores.parquet", ["theta"])
    run = report_command(tmp_path / "study")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]  # one line
    assert run.stderr.startswith(f"error: {table} is not a score table: it lacks column(s) ['theta']")
    assert "helpers.scores.COLUMNS" in run.stderr


def test_the_command_on_a_notebook_table_named_scores_parquet_says_where_to_point_it(tmp_path):
    with_checksum(Path(shutil.copy(SWEEP, tmp_path / "scores.parquet")))
    run = report_command(tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"error: {tmp_path / 'scores.parquet'} has no study parameter(s) ['joint'] in its "
                                 "metadata: it looks like a notebook's score table")
    assert "point helpers.report at the notebook's results folder" in run.stderr


def test_a_notebook_table_without_score_and_noise_is_refused_naming_them(tmp_path):
    table = without_columns(SWEEP, tmp_path / "results" / SWEEP.name, ["score", "noise"])
    with pytest.raises(ValueError, match=rf"{table} is not a score table: it lacks column\(s\) \['noise', 'score'\]"):
        report.main([str(tmp_path / "results")])
    with_checksum(Path(shutil.copy(TABLE_IV, tmp_path / "scores.parquet")))  # notebook 06's: no study 'thetas'
    with pytest.raises(ValueError, match=r"has no study parameter\(s\) \['thetas'\]"):
        report.main([str(tmp_path)])


@pytest.mark.slow
@pytest.mark.parametrize("compact", [False, True])
def test_the_readme_report_commands_rebuild_the_committed_tables(compact, tmp_path):
    """``python -m helpers.report data/results --out DIR [--compact]`` as the README shows it: the committed tables
    of notebooks 05, 06, 07 and 10 again (the same CSVs), and LaTeX that a two-column paper takes."""
    run = subprocess.run([sys.executable, "-m", "helpers.report", "data/results", "--out", str(tmp_path)]
                         + ["--compact"] * compact, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    tables = sorted(tmp_path.glob("table*.csv"))
    assert len(tables) == 22  # 11 tables and their tidy twins
    for table in tables:
        assert table.read_text() == (ROOT / "figures" / table.name).read_text(), table.name
    for tex in tmp_path.glob("*.tex"):
        assert ("\\scriptsize\n" in tex.read_text()) >= compact, tex.name  # compact: every one; else where tight
        if PDFLATEX:
            assert latex_problems(tex, tmp_path / "latex") == [], tex.name
