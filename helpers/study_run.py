"""Running a study (:func:`run_study`): its shards (``helpers.study_shards``) mapped onto a Dask cluster (a
``LocalCluster`` by default, or a scheduler address) or computed one after another in this process
(``IN_PROCESS``), into an output folder (``helpers.study_files``: files, checksums, lock).

Each finished shard is written atomically to ``out_dir/shards/shard-XXXX-of-YYYY.parquet`` with its SHA-256
beside it (``.parquet.sha256``); the shards already there whose checksum matches are skipped (resumable; a damaged
shard is computed again with a warning, and so is one found damaged when merging); a failed shard is retried and
reported (no file, no merged table). Then the merged ``scores.parquet`` and ``rates.csv`` are written, each with its
checksum (:func:`helpers.scores.rate_table` in the notebooks' tidy schema, :func:`helpers.scores.rates_tidy`: rates
in percent, a ``unit``, ``model`` and ``saliency_method`` column, ids rather than display names), and with adaptive
sets their merged outcomes (:func:`helpers.study_adaptive.merge_adaptive`).
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, as_completed

from helpers.cache import model_fingerprint
from helpers.models import ModelBundle
from helpers.runtime import progress_bar, versions
from helpers.scores import COLUMNS, load_scores, rate_table, rates_tidy, save_scores
from helpers.study_adaptive import merge_adaptive
from helpers.study_files import (
    check_same_study,
    merged_intact,
    remove_other_splits,
    save_shard,
    shard_intact,
    shard_path,
    study_lock,
    write_checked,
)
from helpers.study_setup import check_out_dir, has_adaptive, shard_blocks
from helpers.study_shards import check_config, merge_shards, run_shard, run_shard_adaptive, study_model

SCORES = "scores.parquet"  # the merged score table of a study folder
IN_PROCESS = "in-process"  # run_study(client=IN_PROCESS): the shards one after another here, without Dask


def _metadata(config: Mapping[str, Any], bundle: ModelBundle | None, **extra) -> dict:
    return {"model": config["model"], "model_sha256": model_fingerprint(bundle) if bundle else None,
            "parameters": dict(config), "versions": versions(), **extra}


def _shard_task(config: dict, shard: int, n_shards: int) -> tuple[pd.DataFrame, pd.DataFrame | None, str, float]:
    """What a Dask worker runs: the shard's rows, its adaptive outcome rows (``None`` without adaptive sets),
    the model hash, the seconds it took."""
    start = time.perf_counter()
    bundle = study_model(config)
    table = run_shard(config, shard, n_shards, bundle)
    outcomes = run_shard_adaptive(config, shard, n_shards, bundle) if has_adaptive(config) else None
    return table, outcomes, model_fingerprint(bundle), time.perf_counter() - start


SPAWN_HINT = ("Dask starts each worker process by importing your script again (multiprocessing 'spawn'): call "
              "run_study under `if __name__ == \"__main__\":`, or pass client=IN_PROCESS (see docs/scale_out.md)")


def _refuse_spawned_import() -> None:
    """In a worker process that is importing the user's script again, a run_study at its top level
    would start a cluster of its own: stop with what to do instead."""
    if getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
        raise RuntimeError(f"run_study was called while a worker process was starting. {SPAWN_HINT}")


@dataclass
class StudyResult:
    """The merged score table, its rate table, and what the run did; with adaptive sets, their merged
    outcome rows, rates and checks (else ``None``).

    Attributes:
        scores: the merged score table (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        summary: images kept and dropped, shards computed and skipped, seconds.
        adaptive: the merged outcome rows (``OUTCOME_COLUMNS``), or None.
        adaptive_rates: :func:`helpers.adaptive.outcomes.outcome_rates` of them, or None.
        adaptive_checks: :func:`helpers.adaptive.outcomes.outcome_checks` of them, or None."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    summary: dict
    adaptive: pd.DataFrame | None = None
    adaptive_rates: pd.DataFrame | None = None
    adaptive_checks: pd.DataFrame | None = None


def run_study(config: Mapping[str, Any], n_shards: int, out_dir: str | Path, client=None, n_workers: int = 1,
              retries: int = 2, progress: bool = True) -> StudyResult:
    """Run the study's shards and merge them (see the module docstring).

    Args:
        config: study parameters.
        out_dir: the output folder; shards already in ``out_dir/shards`` are skipped.
        client: a ``distributed.Client``, a scheduler address, ``None`` (a ``LocalCluster`` of
            ``n_workers`` processes with one thread each, closed afterwards) or ``IN_PROCESS``.
        retries: a failed shard's retries; one that still fails is reported in a ``RuntimeError`` after
            the others have finished, and leaves no file and no merged table.
        progress: show a progress bar.

    Raises:
        OSError: ``out_dir`` is a file, lies under one, or cannot be written (checked before any work).
        ValueError: bad parameters, or ``out_dir`` holds a study with other parameters.
        RuntimeError: another study is running in ``out_dir``; failed shards; worker processes that could not
            start (e.g. a script calling run_study without ``if __name__ == "__main__":``; docs/scale_out.md)."""
    _refuse_spawned_import()
    config = check_config(config)
    shard_blocks(config["n_images"], config["batch_size"], 0, n_shards)  # checks n_shards
    out_dir = check_out_dir(out_dir)
    if client is None and n_workers > n_shards:
        warnings.warn(f"{n_workers} workers for {n_shards} shards: {n_workers - n_shards} will be idle. A shard is "
                      f"at least one block of batch_size {config['batch_size']} images (the {config['n_images']} "
                      f"images make {math.ceil(config['n_images'] / config['batch_size'])}): use more shards, or a "
                      "smaller batch_size", stacklevel=2)
    with study_lock(out_dir, config):
        check_same_study(out_dir, config)
        removed = remove_other_splits(out_dir, n_shards)
        if removed:
            warnings.warn(f"removed {removed} shard file(s) of another n_shards from {out_dir / 'shards'}: the "
                          f"study is now split into {n_shards}", stacklevel=2)
        return _run_locked(config, n_shards, out_dir, client, n_workers, retries, progress)


def _run_locked(config: dict, n_shards: int, out_dir: Path, client, n_workers: int, retries: int,
                progress: bool) -> StudyResult:
    """:func:`run_study` once the folder is locked: compute the missing shards, then merge."""
    adaptive = has_adaptive(config)
    todo = [s for s in range(n_shards) if not shard_intact(shard_path(out_dir, s, n_shards), adaptive)]
    start, failed, seconds, model_sha = time.perf_counter(), {}, {}, None

    def write(shard: int, table: pd.DataFrame, outcomes: pd.DataFrame | None, sha: str, took: float) -> None:
        nonlocal model_sha
        model_sha, seconds[shard] = sha, took
        save_shard(table, shard_path(out_dir, shard, n_shards),
                   _metadata(config, None, model_sha256=sha, shard=shard, n_shards=n_shards), outcomes)

    def compute(shards: list[int]) -> None:
        if shards and client == IN_PROCESS:
            for s in progress_bar(shards, "shards", progress):
                try:
                    write(s, *_shard_task(config, s, n_shards))
                except Exception as exc:  # reported with the others at the end
                    failed[s] = repr(exc)
        elif shards:
            _run_on_dask(config, n_shards, shards, client, n_workers, retries, progress, write, failed)
        if failed:
            raise RuntimeError(f"{len(failed)} of {n_shards} shards failed (no file written for them; re-run to "
                               "retry only those): " + "; ".join(f"shard {s}: {e}" for s, e in sorted(failed.items())))

    compute(todo)
    compute(damaged := [s for s in range(n_shards)  # checked again to merge
                        if not shard_intact(shard_path(out_dir, s, n_shards), adaptive)])
    merged_intact(out_dir / SCORES)  # an earlier merge that was damaged since is said so, then replaced
    scores = merge_shards([load_scores(shard_path(out_dir, s, n_shards))[0] for s in range(n_shards)])
    kept = len(_image_ids(scores))
    summary = {"n_images": config["n_images"], "kept": kept, "dropped": config["n_images"] - kept,
               "n_shards": n_shards, "computed": len(set(todo) | set(damaged)), "skipped": n_shards - len(todo),
               "seconds": time.perf_counter() - start, "shard_seconds": seconds}
    meta = {**_metadata(config, None, model_sha256=model_sha), "image_ids": _image_ids(scores), "summary": summary,
            "images": f"{kept} of {config['n_images']} images of {config['image_source']}"}
    write_checked(out_dir / SCORES, lambda tmp: save_scores(scores, tmp, meta), ".parquet")
    rates = rate_table(scores, fpr=config["fpr"], seed=config["seed"])
    tidy = rates_tidy(rates, config["saliency_method"])  # the notebooks' schema: percent, unit, model, method
    write_checked(out_dir / "rates.csv", lambda tmp: tidy.to_csv(tmp, index=False, float_format="%.6g"), ".csv")
    if not adaptive:
        return StudyResult(scores, rates, summary)
    return StudyResult(scores, rates, summary, *merge_adaptive(config, out_dir, n_shards))


def _image_ids(scores: pd.DataFrame) -> list[str]:
    clean = scores[scores["attack"] == "clean"].drop_duplicates("image").sort_values("image")
    return clean["image_id"].tolist()


def _run_on_dask(config, n_shards, todo, client, n_workers, retries, progress, write, failed) -> None:
    """Submit the shards to ``client`` (or a new LocalCluster) and write each as it completes."""
    try:
        cluster = None if client is not None else LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR)
    except RuntimeError as exc:  # e.g. "Nanny failed to start" when the script's workers re-ran run_study
        raise RuntimeError(f"could not start the local Dask workers ({exc}). {SPAWN_HINT}") from exc
    own = cluster is not None or isinstance(client, str)  # a client made here is closed here
    client = Client(cluster or client) if own else client
    try:
        futures = {client.submit(_shard_task, config, s, n_shards, retries=retries, pure=False,
                                 key=f"shard-{s:04d}-of-{n_shards:04d}-{time.time_ns()}"): s for s in todo}
        for future in progress_bar(as_completed(futures), "shards", progress):
            s = futures[future]
            if future.status == "finished":
                write(s, *future.result())
            else:  # an error after the retries, or cancelled (e.g. its workers kept dying)
                failed[s] = repr(future.exception()) if future.status == "error" else future.status
            future.release()
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()


def compare_runs(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """How two score tables of the same study differ: whether every column but ``score`` is identical
    (images, inputs, configurations, labels, flags) and the largest absolute score difference.

    Args:
        a, b: score tables.

    Returns:
        ``{"identical", "rows", "max_score_difference"}`` (nan when not identical)."""
    exact = [c for c in COLUMNS if c != "score"]
    same = a.shape == b.shape and a[exact].reset_index(drop=True).equals(b[exact].reset_index(drop=True))
    return {"identical": bool(same), "rows": len(a),
            "max_score_difference": float(np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max()) if same
            else float("nan")}
