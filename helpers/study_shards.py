"""A study's shards, each computed on its own (on a Dask worker, or in this process): the unit of determinism is
a block of ``batch_size`` images of the sorted image list, attacked through the cache with its own seed
(:func:`helpers.study_setup.block_seed`) and scored by every detector (saliency for each noise and theta, joint
Feature Squeezing, the 1 - max softmax baseline) on its own (:func:`block_scores`). A shard is a contiguous run
of blocks (:func:`helpers.study_setup.shard_blocks`), so any split gives the same rows as one shard.

:func:`check_config` checks a configuration in full (the adaptive sets' budgets too); :func:`run_shard` computes
one shard's rows of the score table (``image`` = the image's position in the full list), :func:`run_shard_adaptive`
its adaptive sets' outcome rows (``helpers.study_adaptive``); :func:`merge_shards` merges the shards' rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.adaptive.outcomes import OUTCOME_COLUMNS
from helpers.cache import attack_sets
from helpers.data import ImageSet, keep_correct, load_images
from helpers.models import ModelBundle, load_model
from helpers.scores import COLUMNS, baseline_scores, saliency_scores, squeezing_scores
from helpers.study_adaptive import adaptive_settings, block_outcomes
from helpers.study_setup import block_seed, is_adaptive, shard_blocks
from helpers.study_setup import check_config as check_names

_DTYPES = {"image": "int64", "true_label": "int64", "label": "int64", "transformed_label": "int64",
           "theta": "float64", "score": "float64", "flag": "boolean"}  # as helpers.scores makes them


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`helpers.study_setup.check_config` (names, types, ranges, choices), then every adaptive set's
    budgets (:func:`adaptive_settings`).

    Args:
        config: study parameters (a subset of ``DEFAULTS``' names).

    Raises:
        ValueError, TypeError: as :func:`helpers.study_setup.check_config` and :func:`adaptive_settings`."""
    config = check_names(config)
    for attack in (a for a in config["attacks"] if is_adaptive(a)):
        adaptive_settings(config, attack)
    return config


@functools.lru_cache(maxsize=2)
def _cached_model(model: str, weights: str, options: str) -> ModelBundle:
    return load_model(model, weights, **json.loads(options))


def study_model(config: Mapping[str, Any]) -> ModelBundle:
    """The study's model, loaded once per process (so once per Dask worker, not once per task)."""
    return _cached_model(config["model"], config["weights"], json.dumps(config["model_options"], sort_keys=True))


def block_scores(bundle: ModelBundle, config: Mapping[str, Any], images: ImageSet, positions: np.ndarray,
                 block: int) -> pd.DataFrame:
    """The score-table rows of one block of images (``image``: their ``positions`` in the full list), as
    notebooks 05-07 build them: saliency for each noise and theta, joint Feature Squeezing, the baseline.

    Args:
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


def run_shard_adaptive(config: Mapping[str, Any], shard: int, n_shards: int,
                       bundle: ModelBundle | None = None) -> pd.DataFrame:
    """The adaptive sets' outcome rows of shard ``shard`` of ``n_shards`` (the images of :func:`run_shard`).

    Args:
        config: study parameters.
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
        tables: the shards' score tables, in shard order."""
    scores = pd.concat(tables, ignore_index=True)
    kept = np.unique(scores.loc[scores["attack"] == "clean", "image"].to_numpy())
    scores["image"] = np.searchsorted(kept, scores["image"].to_numpy()).astype("int64")
    return scores
