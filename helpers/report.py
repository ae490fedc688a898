"""``python -m helpers.report RUN_DIR [--out DIR] [--compact]``: the styled figures and the LaTeX/CSV tables of the
matching notebooks from any run's score tables, without a model.

A run is a study folder (``scores.parquet`` from ``python -m helpers.study``: the θ sweep of notebook 05
and the comparison of notebook 07, whose detectors a study scores) or a notebook's ``data/results/``
(``scores_theta_sweep_<model>.parquet``, ``scores_feature_squeezing_<model>.parquet``,
``scores_comparison_<model>.parquet``, ``scores_saliency_ablation_<model>.parquet``: notebooks 05, 06, 07
and 10). Each table and figure is made by
its experiment's ``tables``/``figures`` (``helpers.experiments``) from the run's own parameters, the
ones saved with its scores.

A wrong folder or table (no score table, a table without ``helpers.scores.COLUMNS``, a notebook's table
saved as a study's ``scores.parquet``) ends the command with one line, ``error: ...`` naming the file and
what it lacks, and exit status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``run_dir``, ``--out`` and ``--compact``.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Raises:
        SystemExit: for ``--help`` or a usage error (argparse)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a study folder (scores.parquet) or a notebook results folder")
    parser.add_argument("--out", help="where the tables and figures go (default: RUN_DIR/report)")
    parser.add_argument("--compact", action="store_true", help="LaTeX tables in the compact form (a smaller font)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and usage errors answer here, before TensorFlow is imported below
    parse_args()

from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from helpers.experiments import ablation, comparison, squeezing, theta_sweep  # noqa: E402
from helpers.experiments.export import save_all_figures, save_tables  # noqa: E402
from helpers.experiments.runs import load_run  # noqa: E402
from helpers.plotting import use_style  # noqa: E402
from helpers.runtime import write_atomically  # noqa: E402
from helpers.study_files import verify_checksum  # noqa: E402

EXPERIMENTS: dict[str, ModuleType] = {theta_sweep.NAME: theta_sweep, squeezing.NAME: squeezing,
                                      comparison.NAME: comparison, ablation.NAME: ablation}
STUDY_SCORES = "scores.parquet"  # a study folder's merged score table (helpers.study)
ROC_THETAS = (0.1, 0.3)  # notebook 05's default thetas on its ROC figure, those of them a study has
COMPARISON_THETA = 0.1  # the θ of the paper's Table V (notebook 07's default), if a study has it
STUDY_PARAMETERS = ("thetas", "joint")  # what study_results reads of a study's parameters (study_config)
USER_ERRORS = (ValueError, OSError)  # the command answers these with one line and exit status 2 (OSError:
# FileNotFoundError and unreadable tables too); any other exception is a bug and keeps its traceback


def notebook_runs(run_dir: Path) -> dict[str, list[Path]]:
    """Experiment name -> its score tables (one per model) in a notebook results folder."""
    found = {name: sorted(run_dir.glob(f"scores_{name}_*.parquet")) for name in EXPERIMENTS}
    return {name: paths for name, paths in found.items() if paths}


def study_config(parameters: Mapping[str, Any], experiment: str) -> dict[str, Any]:
    """The notebook parameters of ``experiment`` that a study's ``parameters`` stand for (notebook 05's ROC
    thetas and notebook 07's θ and squeezers from the study's ``thetas`` and ``joint``).

    Args:
        parameters: the study's parameters (with ``thetas`` and ``joint``).
        experiment: ``theta_sweep.NAME`` or ``comparison.NAME``."""
    p = dict(parameters)
    if experiment == theta_sweep.NAME:
        return {**p, "roc_thetas": [t for t in ROC_THETAS if t in p["thetas"]]}
    theta = COMPARISON_THETA if COMPARISON_THETA in p["thetas"] else max(p["thetas"])
    return {**p, "theta": theta}


def check_study_metadata(path: Path, metadata: Mapping[str, Any]) -> None:
    """Refuse a ``scores.parquet`` whose metadata lacks the study parameters that :func:`study_results` reads
    (``STUDY_PARAMETERS``): most often a notebook's score table saved under a study's file name.

    Args:
        path: the table's file, for the message.

    Raises:
        ValueError: naming the file and the missing parameters, and where to point the command instead."""
    parameters = metadata.get("parameters") or {}
    missing = [name for name in STUDY_PARAMETERS if name not in parameters]
    if not parameters:
        raise ValueError(f"{path} has no run parameters in its metadata: not a study's score table (python -m "
                         "helpers.study writes one, with its parameters)")
    if missing:
        raise ValueError(f"{path} has no study parameter(s) {missing} in its metadata: it looks like a notebook's "
                         "score table. Notebooks save theirs as scores_<experiment>_<model>.parquet: point "
                         "helpers.report at the notebook's results folder (keeping that file name), or at a folder "
                         "that python -m helpers.study wrote")


def study_results(scores: pd.DataFrame, metadata: dict) -> dict[str, Any]:
    """A study's score table as the Results of notebooks 05 (saliency and baseline rows) and 07 (joint Feature
    Squeezing, the baseline and the saliency rows of Table V's noises at its θ; only when the study has them).

    Args:
        metadata: its run metadata, with ``parameters``.

    Returns:
        experiment name -> its Result.

    Raises:
        ValueError: for a table without its run's parameters."""
    parameters = metadata.get("parameters")
    if not parameters:
        raise ValueError("the study's score table has no parameters in its metadata: not written by helpers.study")
    model = metadata.get("model") or scores["model"].iloc[0]
    meta = {model: {**metadata, "images": metadata.get("images") or f"{len(metadata.get('image_ids', []))} images "
                                                                   f"of {parameters['image_source']}"}}
    detector = scores["detector"]
    sweep = study_config(parameters, theta_sweep.NAME)
    results = {theta_sweep.NAME: theta_sweep.from_scores(scores[detector != "feature_squeezing"], meta, sweep)}
    table_v = study_config(parameters, comparison.NAME)
    saliency = ((detector == "saliency") & scores["noise"].isin(comparison.NOISES)
                & np.isclose(scores["theta"].astype(float), table_v["theta"]))
    if (detector == "feature_squeezing").any() and saliency.any():
        results[comparison.NAME] = comparison.from_scores(scores[saliency | (detector != "saliency")], meta, table_v)
    return results


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """Experiment name -> its Result, from a study folder or a notebook results folder.

    Raises:
        FileNotFoundError: for a folder with no score table of either kind.
        OSError: a study's score table that does not match its checksum, or has none.
        ValueError: for a table that is not a score table (naming its missing columns), or a study folder's
            ``scores.parquet`` without a study's parameters (:func:`check_study_metadata`)."""
    run_dir = Path(run_dir)
    if (run_dir / STUDY_SCORES).is_file():
        verify_checksum(run_dir / STUDY_SCORES)
        scores, metadata = load_run([run_dir / STUDY_SCORES])
        check_study_metadata(run_dir / STUDY_SCORES, next(iter(metadata.values())))
        return study_results(scores, next(iter(metadata.values())))
    runs = notebook_runs(run_dir)
    if not runs:
        raise FileNotFoundError(f"{run_dir}: no {STUDY_SCORES} (a study) and no scores_<experiment>_<model>.parquet "
                                f"(a notebook's results; experiments: {', '.join(EXPERIMENTS)})")
    results = {}
    for name, paths in runs.items():
        scores, metadata = load_run(paths)
        config = next(iter(metadata.values()))["parameters"]
        results[name] = EXPERIMENTS[name].from_scores(scores, metadata, config)
    return results


def report(run_dir: str | Path, out: str | Path, compact: bool = False) -> list[Path]:
    """Write every table (CSV, LaTeX, tidy twin) and figure of each experiment found in ``run_dir`` into ``out``,
    with each experiment's facts (``facts_<experiment>.csv``) and headline sentences (``findings.md``).

    Args:
        run_dir: a study folder or a notebook results folder.
        out: the folder to write to (made if missing).
        compact: every LaTeX table in the compact form (a smaller font).

    Raises:
        FileNotFoundError: for a folder with no score table."""
    results = load_results(run_dir)
    use_style()
    paths, findings = [], []
    for name, result in results.items():
        module = EXPERIMENTS[name]
        facts = module.facts(result)  # the one analysis; the formatters below read it
        paths += save_tables(module.tables(facts), out, result.metadata, compact)
        summary = getattr(facts, "summary", None)
        if summary is not None:  # the counts the findings state, as data
            paths.append(write_atomically(Path(out) / f"facts_{name}.csv",
                                          lambda tmp, f=summary: f.to_csv(tmp, index=False, float_format="%.6g"),
                                          suffix=".csv"))
        findings.append(f"## {name}\n\n{module.findings(facts)}\n")
        figures = module.figures(result, facts)
        paths += save_all_figures(figures, out)
        for by_model in figures.values():
            for fig in by_model.values():
                plt.close(fig)
    text = "\n".join(findings)
    paths.append(write_atomically(Path(out) / "findings.md", lambda tmp: Path(tmp).write_text(text), suffix=".md"))
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    """The command line (see the module docstring).

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Raises:
        SystemExit: for ``--help`` or a usage error.
        FileNotFoundError: a folder with no score table.
        ValueError, OSError: a table that is not a score table, cannot be read, or lacks a study's parameters
            (:func:`load_results`); run as a command, these print one line ``error: ...`` and exit with status 2."""
    args = parse_args(argv)
    out = Path(args.out or Path(args.run_dir) / "report")
    paths = report(args.run_dir, out, args.compact)
    print(f"wrote {len(paths)} files to {out}")
    return paths


if __name__ == "__main__":
    try:
        main()
    except USER_ERRORS as exc:  # a wrong folder or table: what is wrong, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
