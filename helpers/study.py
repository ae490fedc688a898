"""Dataset-scale studies: the score table of notebooks 05-07, computed in shards on a Dask cluster; the command
line ``python -m helpers.study`` and the scale-out notebook's paragraph (:func:`study_findings`).

A study is one configuration, plain data with the notebooks' parameter names (``DEFAULTS``), checked
by :func:`check_config` through ``helpers.params``. The sorted image list is cut into blocks of
``batch_size`` images, the unit of determinism, and the blocks into shards (``helpers.study_shards``: any split
gives the same rows as one shard). :func:`run_study` (``helpers.study_run``) computes the shards on a Dask cluster
or in this process (``IN_PROCESS``) and writes the merged ``scores.parquet`` and ``rates.csv`` into its output
folder, each with its checksum (``helpers.study_files``); ``python -m helpers.report OUT`` turns it into the tables
and figures of notebooks 05 and 07. The adaptive evaluation (docs/adaptive.md) runs in the same shards
(``helpers.study_adaptive``). Command line: ``python -m helpers.study --help``; the command line, the configuration
and the output folder are checked before TensorFlow is imported (``helpers.study_setup``).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # `python -m helpers.study`: checked without TensorFlow, then run by the imported module
    from helpers.study_setup import check_command_line

    check_command_line(sys.argv[1:])
    import helpers

    helpers.import_tensorflow_quietly()
    # not __main__'s functions but the imported module's; Dask pickles the shard task by reference, so it lives in
    # a real module (helpers.study_run._shard_task)
    from helpers.study import run_command_line

    run_command_line(sys.argv[1:])

from pathlib import Path

from helpers.study_run import (  # noqa: F401 (IN_PROCESS, compare_runs: the study's interface, re-exported)
    IN_PROCESS,
    SCORES,
    StudyResult,
    compare_runs,
    run_study,
)
from helpers.study_setup import (  # noqa: F401 (DEFAULTS, ADAPTIVE_DEFAULTS: a study's parameters, re-exported)
    ADAPTIVE_DEFAULTS,
    DEFAULTS,
    cli_config,
    default_n_shards,
    parse_args,
)
from helpers.study_shards import check_config


def study_findings(result: StudyResult, comparison: dict, n_workers: int) -> str:
    """The scale-out notebook's result paragraph (Markdown), written from the run's numbers.

    Args:
        comparison: :func:`compare_runs` of it and a one-shard run."""
    s = result.summary
    split = f"{s['n_shards']} shards on {n_workers} Dask worker{'s' if n_workers > 1 else ''}"
    same = (f"equals the one-shard run in this process: identical images, inputs, labels and flags on all "
            f"{comparison['rows']} rows, largest score difference {comparison['max_score_difference']:.1g}"
            if comparison["identical"] else "**differs** from the one-shard run in this process")
    dropped = f", {s['dropped']} dropped as misclassified (only_correct)" if s["dropped"] else ""
    return (f"The score table of {s['kept']} of {s['n_images']} images{dropped}, computed as {split} "
            f"({s['computed']} shards computed, {s['skipped']} already done), {same}. The rate table "
            f"has {len(result.rates)} rows, every rate with its Wilson interval and n.")


def main(argv: list[str] | None = None) -> StudyResult:
    """The command line: run the study and print what it did (``python -m helpers.study`` checks the
    command line first, without TensorFlow: :func:`helpers.study_setup.check_command_line`).

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Raises:
        SystemExit: for ``--help`` or a usage error.
        ValueError, OSError, RuntimeError: as :func:`run_study`."""
    args = parse_args(argv)
    config = check_config(cli_config(args))
    n_shards = args.n_shards or default_n_shards(config, 1 if args.scheduler else args.workers)
    result = run_study(config, n_shards, args.out, client=args.scheduler, n_workers=args.workers,
                       retries=args.retries)
    s = result.summary
    print(f"{s['kept']} of {s['n_images']} images kept ({s['dropped']} dropped by only_correct), {n_shards} shards "
          f"({s['computed']} computed, {s['skipped']} already done) in {s['seconds']:.1f} s; "
          f"wrote {Path(args.out) / SCORES} and {Path(args.out) / 'rates.csv'}")
    return result


def run_command_line(argv: list[str]) -> None:
    """:func:`main` for ``python -m helpers.study``: a configuration, folder or run error ends it with one line on
    stderr, ``error: ...``, and exit status 1.

    Args:
        argv: the arguments (``sys.argv[1:]``).

    Raises:
        SystemExit: always (status 0 after a successful run)."""
    try:
        main(argv)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(0)
