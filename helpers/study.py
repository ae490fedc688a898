"""Dataset-scale studies: the score table of notebooks 05-07, computed in shards on a Dask cluster.

A study is one configuration, plain data with the notebooks' parameter names (``DEFAULTS``), checked
by :func:`check_config` through ``helpers.params``. The sorted image list is cut into blocks of
``batch_size`` images, the unit of determinism: each block is loaded, attacked through the cache
with its own seed (derived from ``seed`` and the block's index) and scored by every detector (saliency
for each noise and theta, joint Feature Squeezing, the 1 - max softmax baseline) on its own. A shard is
a contiguous run of blocks (:func:`shard_blocks`), so any split gives the same rows as one shard.

:func:`run_shard` computes one shard's rows of the score table (``image`` = the image's position in
the full list). :func:`run_study` maps the shards onto a Dask cluster (a ``LocalCluster`` by default, or a
scheduler address), writes each finished shard atomically to ``out_dir/shards/shard-XXXX-of-YYYY.parquet``
with its SHA-256 beside it (``.parquet.sha256``), skips the shards already there whose checksum matches
(resumable; a damaged shard is computed again with a warning, and so is one found damaged when merging),
retries a failed shard and reports it (no file, no merged table), then writes the merged ``scores.parquet``
and ``rates.csv``, each with its checksum (:func:`helpers.scores.rate_table` in the notebooks' tidy schema,
:func:`helpers.scores.rates_tidy`: rates in percent, a ``unit``, ``model`` and ``saliency_method`` column, ids
rather than display names); ``python -m helpers.report OUT`` turns it into the tables and figures of
notebooks 05 and 07. Command line: ``python -m helpers.study --help``; the command line, the configuration
and the output folder are checked before TensorFlow is imported (``helpers.study_setup``). The folder's
files, checksums and lock: ``helpers.study_files``.

The adaptive evaluation (docs/adaptive.md) runs in the same shards: ``attacks`` may name
``adaptive`` and further sets ``adaptive.<anything>``, each set by ``attack_params[name]`` over
``ADAPTIVE_DEFAULTS`` (``kind``: the detector-aware APGD ``ensemble`` against the saliency detector with
every theta and noise of the study, or the ``transferred`` APGD-CE and the ``square`` black box that
its checks compare it with; budget ``norm``, ``eps`` in [0, 1] units, ``max_iter``; the ensemble's
options). Per block, each set's per-image outcomes (:data:`helpers.adaptive.outcomes.OUTCOME_COLUMNS`)
are written beside the shard as ``shard-XXXX-of-YYYY.adaptive.parquet`` with its own checksum, and
merged into ``adaptive.parquet``, ``adaptive_rates.csv`` (bypass at the own rule, and at a matched
threshold fitted after the merge on the clean scores of half of the photographs) and
``adaptive_checks.csv`` (the checks of :func:`helpers.adaptive.outcomes.outcome_checks`, iteration and eps
sweeps being further named sets).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # `python -m helpers.study`: checked without TensorFlow, then run by the imported module
    from helpers.study_setup import check_command_line

    check_command_line(sys.argv[1:])
    import helpers

    helpers.import_tensorflow_quietly()
    from helpers.study import run_command_line  # not __main__'s functions: Dask pickles its tasks by reference

    run_command_line(sys.argv[1:])

import functools
import json
import logging
import math
import time
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, as_completed

from helpers.adaptive.defences import Defence
from helpers.adaptive.judge import AttackBudget
from helpers.adaptive.members import adaptive_attack, ensemble, square_attack, transferred_attack
from helpers.adaptive.model import detector_aware_bundle
from helpers.adaptive.outcomes import OUTCOME_COLUMNS, outcome_checks, outcome_rates, outcome_rows
from helpers.cache import attack_sets, model_fingerprint
from helpers.data import ImageSet, keep_correct, load_images
from helpers.detectors import SaliencyDetector
from helpers.models import ModelBundle, load_model
from helpers.runtime import progress_bar, versions
from helpers.scores import (
    COLUMNS,
    baseline_scores,
    load_scores,
    rate_table,
    rates_tidy,
    saliency_scores,
    save_scores,
    squeezing_scores,
)
from helpers.study_files import (
    check_same_study,
    merged_intact,
    outcome_path,
    remove_other_splits,
    save_shard,
    shard_intact,
    shard_path,
    study_lock,
    write_checked,
)
from helpers.study_setup import (  # noqa: F401 (DEFAULTS, ADAPTIVE_DEFAULTS: a study's parameters, re-exported)
    ADAPTIVE_DEFAULTS,
    DEFAULTS,
    adaptive_names,
    check_out_dir,
    cli_config,
    default_n_shards,
    has_adaptive,
    is_adaptive,
    parse_args,
    shard_blocks,
)
from helpers.study_setup import check_config as check_names
from helpers.validation import check_number

_DTYPES = {"image": "int64", "true_label": "int64", "label": "int64", "transformed_label": "int64",
           "theta": "float64", "score": "float64", "flag": "boolean"}  # as helpers.scores makes them
SCORES = "scores.parquet"  # the merged score table of a study folder
IN_PROCESS = "in-process"  # run_study(client=IN_PROCESS): the shards one after another here, without Dask






def block_seed(seed: int, block: int) -> int:
    """The attack seed of a block: independent streams per block, the same whatever the split.

    Args:
        seed: the study's seed.
        block: the block's index.

    Returns:
        the seed, an unsigned 32-bit integer."""
    return int(np.random.SeedSequence([seed, block]).generate_state(1)[0])


@functools.lru_cache(maxsize=2)
def _cached_model(model: str, weights: str, options: str) -> ModelBundle:
    return load_model(model, weights, **json.loads(options))


def study_model(config: Mapping[str, Any]) -> ModelBundle:
    """The study's model, loaded once per process (so once per Dask worker, not once per task).

    Args:
        config: a checked configuration.

    Returns:
        the :class:`~helpers.models.ModelBundle`."""
    return _cached_model(config["model"], config["weights"], json.dumps(config["model_options"], sort_keys=True))


def block_scores(bundle: ModelBundle, config: Mapping[str, Any], images: ImageSet, positions: np.ndarray,
                 block: int) -> pd.DataFrame:
    """The score-table rows of one block of images (``image``: their ``positions`` in the full list), as
    notebooks 05-07 build them: saliency for each noise and theta, joint Feature Squeezing, the baseline.

    Args:
        bundle: the model.
        config: a checked configuration.
        images: the block's images.
        positions: their positions in the full list.
        block: the block's index (its attack seed).

    Returns:
        the rows (``helpers.scores.COLUMNS``)."""
    c, bs = config, config["batch_size"]
    plain = [a for a in c["attacks"] if not is_adaptive(a)]
    results = attack_sets(bundle, images, plain, c["cache_dir"], c["attack_settings"],
                          {k: v for k, v in c["attack_params"].items() if not is_adaptive(k)},
                          seed=block_seed(c["seed"], block), batch_size=bs, progress=False)
    table = pd.concat([
        saliency_scores(bundle, images, results, c["thetas"], c["noises"], c["colormap"], c["overlay_order"],
                        c["zero_mean_reference"], batch_size=bs, saliency_method=c["saliency_method"]),
        squeezing_scores(bundle, images, results, joint=[c["joint"]],
                         channel_order=c["channel_order"], batch_size=bs),
        baseline_scores(bundle, images, results, bs),
    ], ignore_index=True)
    table["image"] = positions[table["image"].to_numpy()]
    return table


def _shard_images(c: Mapping[str, Any], bundle: ModelBundle, shard: int, n_shards: int):
    """Per block of the shard: (block index, the images kept in it, their positions in the full list)."""
    blocks = shard_blocks(c["n_images"], c["batch_size"], shard, n_shards)
    positions = np.concatenate(blocks)
    images = load_images(c["image_source"], bundle, c["n_images"], c["seed"], indices=positions)
    keep = keep_correct(images, bundle, c["batch_size"])[1] if c["only_correct"] else np.ones(len(images), bool)
    first = int(positions[0]) // c["batch_size"]
    for i, block in enumerate(blocks):
        rows = np.flatnonzero(np.isin(positions, block) & keep)
        if rows.size:
            yield first + i, images.take(rows), positions[rows]


def run_shard(config: Mapping[str, Any], shard: int, n_shards: int, bundle: ModelBundle | None = None) -> pd.DataFrame:
    """Shard ``shard`` of ``n_shards`` end to end: load its images (keeping only the correctly classified
    ones if ``only_correct``), then attack and score them block by block.

    Args:
        config: study parameters.
        shard: the shard's index.
        n_shards: the number of shards.
        bundle: the model; None: :func:`study_model`.

    Returns:
        its rows of the score table, ``image`` being each image's position in the full sorted list
        (:func:`merge_shards` renumbers).

    Raises:
        ValueError: bad parameters (:func:`check_config`) or shard numbers (:func:`shard_blocks`)."""
    c = check_config(config)
    bundle = bundle or study_model(c)
    parts = [block_scores(bundle, c, images, positions, block)
             for block, images, positions in _shard_images(c, bundle, shard, n_shards)]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)).astype(_DTYPES)






def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`helpers.study_setup.check_config` (names, types, ranges, choices), then every adaptive set's
    budgets (:func:`adaptive_settings`).

    Args:
        config: study parameters (a subset of ``DEFAULTS``' names).

    Returns:
        the full, checked configuration.

    Raises:
        ValueError, TypeError: as :func:`helpers.study_setup.check_config` and :func:`adaptive_settings`."""
    config = check_names(config)
    for attack in (a for a in config["attacks"] if is_adaptive(a)):
        adaptive_settings(config, attack)
    return config


def adaptive_settings(config: Mapping[str, Any], attack: str) -> dict[str, Any]:
    """``ADAPTIVE_DEFAULTS`` updated by ``attack_params[attack]``, checked.

    Args:
        config: the study's configuration.
        attack: an adaptive set's name.

    Returns:
        the set's settings.

    Raises:
        ValueError: an unknown setting or a value the adaptive attack refuses, naming the set."""
    s = adaptive_names(config, attack)
    try:
        AttackBudget(s["norm"], s["eps"], s["max_iter"])
        ensemble(s["n_targets"], s["losses"], s["score_weight"], s["kappa"], s["untargeted"])
        if not isinstance(s["untargeted"], bool):
            raise TypeError(f"untargeted must be True or False, got {s['untargeted']!r}")
        if s["score_goal"] is not None:
            check_number(s["score_goal"], "score_goal", 0.0, 2.0)
        if s["kind"] == "square" and s["norm"] != "linf":
            raise ValueError("Square here is an L-inf attack: norm must be 'linf'")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attack_params[{attack!r}]: {exc}") from exc
    return s


def adaptive_defences(bundle: ModelBundle, c: Mapping[str, Any]) -> list[Defence]:
    """The saliency detector of the study, one per noise with every theta: the system the sets attack.

    Args:
        bundle: the model.
        c: a checked configuration.

    Returns:
        one :class:`~helpers.adaptive.defences.Defence` per noise."""
    return [Defence(f"saliency ({noise})", SaliencyDetector(bundle, list(c["thetas"]), noise, c["colormap"],
                                                            c["overlay_order"], c["zero_mean_reference"]),
                    c["batch_size"]) for noise in c["noises"]]


_ADAPTIVE_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _adaptive_model(bundle: ModelBundle, defences: list[Defence], variant: str, emphasis_clip: str) -> ModelBundle:
    """The detector-aware model, built once per process, model and settings (its functions traced once)."""
    d = defences[0].detector
    key = (tuple(x.noise for x in (e.detector for e in defences)), tuple(d.thetas), d.colormap, d.overlay_order,
           d.zero_mean_reference, variant, emphasis_clip)
    per_model = _ADAPTIVE_MODELS.setdefault(bundle.model, {})
    if key not in per_model:
        per_model[key] = detector_aware_bundle(bundle, [e.detector for e in defences], variant, emphasis_clip)
    return per_model[key]


def block_outcomes(bundle: ModelBundle, config: Mapping[str, Any], images: ImageSet, positions: np.ndarray,
                   block: int) -> pd.DataFrame:
    """The outcome rows (``OUTCOME_COLUMNS``) of every adaptive set on one block of images, attacking their
    true labels (f's own label where none is known), seeded per block as the other attacks.

    Args:
        bundle: the model.
        config: a checked configuration.
        images: the block's images.
        positions: their positions in the full list.
        block: the block's index (its attack seed).

    Returns:
        the outcome rows."""
    c, bs, seed = config, config["batch_size"], block_seed(config["seed"], block)
    defences = adaptive_defences(bundle, c)
    f_labels = bundle.predict(images.x, bs)[0]
    y = np.where(images.labels >= 0, images.labels, f_labels).astype(np.int32)
    clean_score = np.max([d.scores(images.x)[1] for d in defences], axis=0)
    parts = []
    for attack in (a for a in c["attacks"] if is_adaptive(a)):
        s = adaptive_settings(c, attack)
        budget = AttackBudget(s["norm"], s["eps"], s["max_iter"])
        if s["kind"] == "transferred":
            outcome = transferred_attack(bundle, defences, images.x, y, budget, bs, seed)
        elif s["kind"] == "square":  # on the defended system: the consensus of its first variant's model
            model = _adaptive_model(bundle, defences, s["variants"][0], s["emphasis_clip"])
            outcome = square_attack(bundle, model, defences, images.x, y, s["eps"], s["max_iter"], bs, seed)
        else:
            models = {v: _adaptive_model(bundle, defences, v, s["emphasis_clip"]) for v in s["variants"]}
            outcome = adaptive_attack(bundle, models, defences, images.x, y, budget, s["n_targets"], s["losses"], bs,
                                      seed, attack, s["score_weight"], s["kappa"], s["score_goal"], s["untargeted"])
        parts.append(outcome_rows(outcome, attack, s["kind"], y, clean_score, positions, images.ids,
                                  images.photographs, images.labels))
    return pd.concat(parts, ignore_index=True)


def run_shard_adaptive(config: Mapping[str, Any], shard: int, n_shards: int,
                       bundle: ModelBundle | None = None) -> pd.DataFrame:
    """The adaptive sets' outcome rows of shard ``shard`` of ``n_shards`` (the images of :func:`run_shard`).

    Args:
        config: study parameters.
        shard: the shard's index.
        n_shards: the number of shards.
        bundle: the model; None: :func:`study_model`.

    Returns:
        the rows (``OUTCOME_COLUMNS``).

    Raises:
        ValueError: bad parameters (:func:`check_config`) or shard numbers (:func:`shard_blocks`)."""
    c = check_config(config)
    bundle = bundle or study_model(c)
    parts = [block_outcomes(bundle, c, images, positions, block)
             for block, images, positions in _shard_images(c, bundle, shard, n_shards)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=OUTCOME_COLUMNS)




def merge_shards(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The shards' rows, in shard order, with ``image`` renumbered 0..N-1 over the images kept (those
    with clean rows), as the unsharded score table has it.

    Args:
        tables: the shards' score tables, in shard order.

    Returns:
        the merged score table."""
    scores = pd.concat(tables, ignore_index=True)
    kept = np.unique(scores.loc[scores["attack"] == "clean", "image"].to_numpy())
    scores["image"] = np.searchsorted(kept, scores["image"].to_numpy()).astype("int64")
    return scores






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
        n_shards: the number of shards.
        out_dir: the output folder; shards already in ``out_dir/shards`` are skipped.
        client: a ``distributed.Client``, a scheduler address, ``None`` (a ``LocalCluster`` of
            ``n_workers`` processes with one thread each, closed afterwards) or ``IN_PROCESS``.
        n_workers: the LocalCluster's workers.
        retries: a failed shard's retries; one that still fails is reported in a ``RuntimeError`` after
            the others have finished, and leaves no file and no merged table.
        progress: show a progress bar.

    Returns:
        the :class:`StudyResult`.

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


def merge_adaptive(config: Mapping[str, Any], out_dir: Path, n_shards: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The shards' adaptive outcome rows (``image`` renumbered as :func:`merge_shards` does), their rates and,
    when ``adaptive`` is among the sets, their checks; written as ``adaptive.parquet``, ``adaptive_rates.csv``
    and ``adaptive_checks.csv``.

    Args:
        config: a checked configuration.
        out_dir: the study's output folder.
        n_shards: the number of shards.

    Returns:
        (rows, rates, checks)."""
    rows = pd.concat([pd.read_parquet(outcome_path(shard_path(out_dir, s, n_shards))) for s in range(n_shards)],
                     ignore_index=True)
    rows["image"] = np.searchsorted(np.unique(rows["image"].to_numpy()), rows["image"].to_numpy()).astype("int64")
    rates = outcome_rates(rows, config["fpr"], config["seed"])
    checks = (outcome_checks(rows, config["fpr"], config["seed"]) if "adaptive" in config["attacks"]
              else pd.DataFrame(columns=["check", "passed", "detail"]))
    write_checked(out_dir / "adaptive.parquet", lambda tmp: rows.to_parquet(tmp, index=False), ".parquet")
    for table, name in ((rates, "adaptive_rates.csv"), (checks, "adaptive_checks.csv")):
        write_checked(out_dir / name, lambda tmp, t=table: t.to_csv(tmp, index=False, float_format="%.6g"), ".csv")
    return rows, rates, checks


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


def study_findings(result: StudyResult, comparison: dict, n_workers: int) -> str:
    """The scale-out notebook's result paragraph (Markdown), written from the run's numbers.

    Args:
        result: the study's result.
        comparison: :func:`compare_runs` of it and a one-shard run.
        n_workers: the Dask workers.

    Returns:
        the paragraph."""
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
    command line first, without TensorFlow: :func:`helpers.study_setup.run_command_line`).

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Returns:
        the :class:`StudyResult`.

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
