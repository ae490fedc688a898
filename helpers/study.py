"""Dataset-scale studies: the score table of notebooks 05-07, computed in shards on a Dask cluster.

A study is one configuration, plain data with the notebooks' parameter names (``DEFAULTS``), checked
by :func:`check_config` through ``helpers.params``. The sorted image list is cut into blocks of
``batch_size`` images, the unit of determinism: each block is loaded, attacked through the cache
with its own seed (derived from ``seed`` and the block's index) and scored by every detector (saliency
for each noise and theta, joint Feature Squeezing, the 1 - max softmax baseline) on its own. A shard is
a contiguous run of blocks (:func:`shard_blocks`), so any split gives the same rows as one shard.

:func:`run_shard` computes one shard's rows of the score table (``image`` = the image's position in
the full list). :func:`run_study` maps the shards onto a Dask cluster (a ``LocalCluster`` by
default, or a scheduler address), writes each finished shard atomically to
``out_dir/shards/shard-XXXX-of-YYYY.parquet`` with its SHA-256 beside it (``.parquet.sha256``), skips
the shards already there whose checksum matches (resumable; a damaged shard is computed again with a
warning, and so is one found damaged when merging), retries a failed shard and reports it (no file, no
merged table), then writes the merged ``scores.parquet`` and ``rates.csv`` (:func:`helpers.scores.rate_table`
in the notebooks' tidy schema, :func:`helpers.tables.rates_tidy`: rates in percent, a ``unit``, ``model`` and
``saliency_method`` column, ids rather than display names); ``python -m helpers.report OUT`` turns it into
the tables and figures of notebooks 05 and 07. Command line: ``python -m helpers.study --help`` (it answers before
TensorFlow is imported).

The adaptive evaluation (issue 19; docs/adaptive.md) runs in the same shards: ``attacks`` may name
``adaptive`` and further sets ``adaptive.<anything>``, each set by ``attack_params[name]`` over
``ADAPTIVE_DEFAULTS`` (``kind``: the detector-aware APGD ``ensemble`` against the saliency detector with
every theta and noise of the study, or the ``transferred`` APGD-CE and the ``square`` black box that
its checks compare it with; budget ``norm``, ``eps`` in [0, 1] units, ``max_iter``; the ensemble's
options). Per block, each set's per-image outcomes (:data:`helpers.adaptive_attack.OUTCOME_COLUMNS`)
are written beside the shard as ``shard-XXXX-of-YYYY.adaptive.parquet`` with its own checksum, and
merged into ``adaptive.parquet``, ``adaptive_rates.csv`` (bypass at the own rule, and at a matched
threshold fitted after the merge on the clean scores of half of the photographs) and
``adaptive_checks.csv`` (the checks of :func:`helpers.adaptive_attack.outcome_checks`, iteration and eps
sweeps being further named sets).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
import os
import sys
import time
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "model": "efficientnet_lite0", "weights": "imagenet", "model_options": {},
    "image_source": "samples", "n_images": 8, "seed": 0, "only_correct": None,
    "attacks": ["fgsm", "cw_l2", "pgd"], "attack_settings": "default", "attack_params": {},
    "thetas": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "noises": ["none", "color_reverse", "zero_mean"],  # all of NOISES
    "colormap": "jet", "overlay_order": "coarse", "zero_mean_reference": "imagenet", "saliency_method": "gradcam",
    "joint": ["bit_depth:5", "median:2x2", "nlm:11-3-4"], "channel_order": "rgb",
    "fpr": 0.05, "batch_size": 16, "cache_dir": "data/cache/attacks",
}
NOT_IDENTITY = ("cache_dir",)  # parameters that cannot change the results: not part of a study's identity


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` lists the study parameters that ``-p`` accepts, with their defaults.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Returns:
        the parsed options.

    Raises:
        SystemExit: for ``--help`` or a usage error (argparse)."""
    defaults = "\n".join(f"  {name} = {json.dumps(value)}" for name, value in DEFAULTS.items())
    parser = argparse.ArgumentParser(
        prog="python -m helpers.study", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"study parameters (-p NAME VALUE, or keys of the --config file), with their defaults:\n{defaults}\n"
               "valid values: helpers.params.PARAMS")
    parser.add_argument("--image-source", help="'samples' or an image folder")
    parser.add_argument("--n-images", type=int)
    parser.add_argument("--n-shards", type=int, help="default: one shard per 8 batches of images, and at least one "
                        "per worker while there are batches to share")
    parser.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes (without --scheduler)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--out", required=True, help="output folder: shards/, scores.parquet, rates.csv")
    parser.add_argument("--config", help="a YAML file of study parameters (listed below)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a study parameter (listed below); VALUE is read as YAML, e.g. -p attacks '[fgsm]'")
    parser.add_argument("--retries", type=int, default=2)
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and usage errors answer here, before TensorFlow is imported below
    parse_args()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster, as_completed  # noqa: E402

from helpers.adaptive import EMPHASIS_CLIPS, VARIANTS, detector_aware_bundle  # noqa: E402
from helpers.adaptive_attack import (  # noqa: E402
    KINDS,
    OUTCOME_COLUMNS,
    AttackBudget,
    adaptive_attack,
    ensemble,
    outcome_checks,
    outcome_rates,
    outcome_rows,
    square_attack,
    transferred_attack,
)
from helpers.adaptive_report import Defence  # noqa: E402
from helpers.cache import attack_sets, model_fingerprint  # noqa: E402
from helpers.data import ImageSet, folder_labels, keep_correct, list_folder, load_images  # noqa: E402
from helpers.detectors import SaliencyDetector  # noqa: E402
from helpers.models import ModelBundle, load_model  # noqa: E402
from helpers.params import check_params  # noqa: E402
from helpers.runtime import progress_bar, versions, write_atomically  # noqa: E402
from helpers.scores import (  # noqa: E402
    COLUMNS,
    baseline_scores,
    load_scores,
    rate_table,
    saliency_scores,
    save_scores,
    squeezing_scores,
)
from helpers.tables import rates_tidy  # noqa: E402
from helpers.validation import check_choice, check_number  # noqa: E402

_DTYPES = {"image": "int64", "true_label": "int64", "label": "int64", "transformed_label": "int64",
           "theta": "float64", "score": "float64", "flag": "boolean"}  # as helpers.scores makes them
IN_PROCESS = "in-process"  # run_study(client=IN_PROCESS): the shards one after another here, without Dask


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``DEFAULTS`` updated by ``config``, checked by ``helpers.params`` (names, types, ranges), with
    ``only_correct`` resolved (``None`` means on for a folder whose images all have labels) and the
    folders made absolute (workers may start elsewhere).

    Args:
        config: study parameters (a subset of ``DEFAULTS``' names).

    Returns:
        the full, checked configuration.

    Raises:
        ValueError: an unknown parameter name, a bad value (also TypeError, from ``helpers.params``), bad
            adaptive settings (:func:`check_adaptive`), or ``only_correct = True`` on unlabelled images."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown study parameter(s) {unknown}; valid: {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **config}
    attacks, params = list(config["attacks"]), dict(config["attack_params"])
    adaptive = [a for a in attacks if is_adaptive(a)]
    if adaptive:  # helpers.params knows helpers.attacks' names; the adaptive sets are checked here
        config = check_params({**config, "attacks": [a for a in attacks if a not in adaptive] or ["fgsm"],
                               "attack_params": {k: v for k, v in params.items() if not is_adaptive(k)}})
        config["attacks"], config["attack_params"] = attacks, params
        check_adaptive(config)
    else:
        config = check_params(config)
    config["cache_dir"] = str(Path(config["cache_dir"]).resolve())
    if config["image_source"] != "samples":
        config["image_source"] = str(Path(config["image_source"]).resolve())
    if config["only_correct"] is None:
        config["only_correct"] = is_labelled(config["image_source"], config["n_images"], config["seed"])
    elif config["only_correct"] and not is_labelled(config["image_source"], config["n_images"], config["seed"]):
        raise ValueError(f"parameter only_correct = True needs labelled images; {config['image_source']!r} has "
                         "images without a label (see helpers.data.folder_labels for the labelled layouts)")
    return config


def is_labelled(image_source: str, n_images: int, seed: int) -> bool:
    """Whether every image of the study has a class label (never for the offline photographs).

    Args:
        image_source: ``"samples"`` or a folder.
        n_images: the study's images (a seeded subset of the folder).
        seed: the subset's seed.

    Returns:
        True when all are labelled.

    Raises:
        ValueError, FileNotFoundError: a bad folder or labels (:func:`helpers.data.list_folder`,
            :func:`helpers.data.folder_labels`)."""
    if image_source == "samples":
        return False
    files = list_folder(image_source, n_images, seed)
    return bool((folder_labels(image_source, files)[0] >= 0).all())


def shard_blocks(n_images: int, batch_size: int, shard: int, n_shards: int) -> list[np.ndarray]:
    """The image positions of each block (``batch_size`` consecutive images) of shard ``shard`` of
    ``n_shards``: the blocks split into ``n_shards`` contiguous runs of near-equal length.

    Args:
        n_images: the study's images.
        batch_size: images per block.
        shard: the shard's index, in [0, n_shards).
        n_shards: the number of shards, in [1, number of blocks].

    Returns:
        one array of positions per block.

    Raises:
        ValueError: ``n_shards`` or ``shard`` not an integer in its range."""
    n_blocks = math.ceil(n_images / batch_size)
    if not (isinstance(n_shards, int) and 1 <= n_shards <= n_blocks):
        raise ValueError(f"n_shards must be an integer in [1, {n_blocks}] (the {n_images} images make {n_blocks} "
                         f"blocks of batch_size {batch_size}), got {n_shards!r}")
    if not (isinstance(shard, int) and 0 <= shard < n_shards):
        raise ValueError(f"shard must be an integer in [0, {n_shards - 1}], got {shard!r}")
    blocks = np.array_split(np.arange(n_blocks), n_shards)[shard]
    return [np.arange(b * batch_size, min((b + 1) * batch_size, n_images)) for b in blocks]


def default_n_shards(config: Mapping[str, Any], workers: int = 1) -> int:
    """One shard per 8 blocks of ``batch_size`` images, and at least one per worker while there are
    blocks to share (a block is never split: it is the unit of determinism).

    Args:
        config: a checked configuration.
        workers: the Dask workers.

    Returns:
        the number of shards."""
    n_blocks = math.ceil(config["n_images"] / config["batch_size"])
    return min(n_blocks, max(math.ceil(n_blocks / 8), workers))


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


# The adaptive evaluation in a study (issue 19): named sets "adaptive" and "adaptive.<anything>"
ADAPTIVE_DEFAULTS: dict[str, Any] = {
    "kind": "ensemble", "norm": "linf", "eps": 2 / 255, "max_iter": 20, "n_targets": 3, "losses": ["ce", "dlr"],
    "score_weight": 0.0, "kappa": 1.0, "variants": ["bpda"], "emphasis_clip": "exact", "score_goal": None,
}


def is_adaptive(attack: str) -> bool:
    """Whether an ``attacks`` entry names an adaptive set (``adaptive`` or ``adaptive.<anything>``).

    Args:
        attack: an ``attacks`` entry.

    Returns:
        True for an adaptive set."""
    return attack == "adaptive" or attack.startswith("adaptive.")


def adaptive_settings(config: Mapping[str, Any], attack: str) -> dict[str, Any]:
    """``ADAPTIVE_DEFAULTS`` updated by ``attack_params[attack]``, checked.

    Args:
        config: the study's configuration.
        attack: an adaptive set's name.

    Returns:
        the set's settings.

    Raises:
        ValueError: an unknown setting or a value the adaptive attack refuses, naming the set."""
    given = config["attack_params"].get(attack, {})
    unknown = sorted(set(given) - set(ADAPTIVE_DEFAULTS))
    if unknown:
        raise ValueError(f"attack_params[{attack!r}] has unknown setting(s) {unknown}; "
                         f"valid: {sorted(ADAPTIVE_DEFAULTS)}")
    s = {**ADAPTIVE_DEFAULTS, **given}
    try:
        check_choice(s["kind"], KINDS, "kind")
        AttackBudget(s["norm"], s["eps"], s["max_iter"])
        ensemble(s["n_targets"], s["losses"], s["score_weight"], s["kappa"])
        for v in s["variants"]:
            check_choice(v, VARIANTS, "variant")
        check_choice(s["emphasis_clip"], EMPHASIS_CLIPS, "emphasis_clip")
        if s["score_goal"] is not None:
            check_number(s["score_goal"], "score_goal", 0.0, 2.0)
        if s["kind"] == "square" and s["norm"] != "linf":
            raise ValueError("Square here is an L-inf attack: norm must be 'linf'")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attack_params[{attack!r}]: {exc}") from exc
    return s


def check_adaptive(config: Mapping[str, Any]) -> None:
    """Every adaptive set's settings, and a study they can run in (Grad-CAM, the detector-aware models').

    Args:
        config: the study's configuration.

    Raises:
        ValueError: a saliency method other than Grad-CAM, bad settings of a set
            (:func:`adaptive_settings`), or settings of a set that ``attacks`` does not list."""
    if config["saliency_method"] != "gradcam":
        raise ValueError("the adaptive sets attack the Grad-CAM saliency detector; parameter saliency_method = "
                         f"{config['saliency_method']!r} needs saliency_method = 'gradcam'")
    for attack in config["attacks"]:
        if is_adaptive(attack):
            adaptive_settings(config, attack)
    for attack in config["attack_params"]:
        if is_adaptive(attack) and attack not in config["attacks"]:
            raise ValueError(f"attack_params names {attack!r}, which attacks does not list")


def adaptive_defences(bundle: ModelBundle, c: Mapping[str, Any]) -> list[Defence]:
    """The saliency detector of the study, one per noise with every theta: the system the sets attack.

    Args:
        bundle: the model.
        c: a checked configuration.

    Returns:
        one :class:`~helpers.adaptive_report.Defence` per noise."""
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
        elif s["kind"] == "square":
            outcome = square_attack(bundle, defences, images.x, y, s["eps"], s["max_iter"], seed)
        else:
            models = {v: _adaptive_model(bundle, defences, v, s["emphasis_clip"]) for v in s["variants"]}
            outcome = adaptive_attack(bundle, models, defences, images.x, y, budget, s["n_targets"], s["losses"], bs,
                                      seed, attack, s["score_weight"], s["kappa"], s["score_goal"])
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


def has_adaptive(config: Mapping[str, Any]) -> bool:
    """Whether the study has adaptive sets.

    Args:
        config: the study's configuration.

    Returns:
        True when an ``attacks`` entry is adaptive."""
    return any(is_adaptive(a) for a in config["attacks"])


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


def shard_path(out_dir: str | Path, shard: int, n_shards: int) -> Path:
    """The file of a shard's rows.

    Args:
        out_dir: the study's output folder.
        shard: the shard's index.
        n_shards: the number of shards.

    Returns:
        ``out_dir/shards/shard-XXXX-of-YYYY.parquet``."""
    return Path(out_dir) / "shards" / f"shard-{shard:04d}-of-{n_shards:04d}.parquet"


def outcome_path(path: Path) -> Path:
    """Where a shard's adaptive outcome rows are kept: beside it, ``shard-XXXX-of-YYYY.adaptive.parquet``.

    Args:
        path: the shard's file.

    Returns:
        the outcome rows' file."""
    return path.with_name(path.name.replace(".parquet", ".adaptive.parquet"))


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


def checksum_path(path: Path) -> Path:
    """Where a shard's SHA-256 is kept: beside it, ``NAME.parquet.sha256``.

    Args:
        path: the shard's file.

    Returns:
        the checksum's file."""
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_shard(table: pd.DataFrame, path: Path, metadata: dict, outcomes: pd.DataFrame | None = None) -> None:
    """The adaptive outcome rows if any, then the shard, each followed by its checksum (all atomically): a
    shard without one counts as damaged."""
    for rows, where in ((outcomes, outcome_path(path)), (table, path)):
        if rows is None:
            continue
        if where == path:
            save_scores(rows, where, metadata)
        else:
            write_atomically(where, lambda tmp, r=rows: r.to_parquet(tmp, index=False), suffix=".parquet")
        write_atomically(checksum_path(where), lambda tmp, w=where: Path(tmp).write_text(_sha256(w) + "\n"))


def _intact(path: Path) -> bool:
    """Whether a shard file exists and matches the checksum beside it; if not, say so and remove both,
    so that the shard is computed again."""
    if not path.is_file():
        return False
    record = checksum_path(path)
    if record.is_file() and record.read_text().strip() == _sha256(path):
        return True
    why = "does not match its checksum" if record.is_file() else "has no checksum (its write was interrupted?)"
    warnings.warn(f"shard {path} {why}: computing it again", stacklevel=3)
    path.unlink()
    record.unlink(missing_ok=True)
    return False


def _shard_intact(path: Path, adaptive: bool) -> bool:
    """:func:`_intact` for the shard and, in a study with adaptive sets, for its outcome rows; when either is
    not, both are removed, so that the shard is computed again."""
    if _intact(path) and (not adaptive or _intact(outcome_path(path))):
        return True
    for p in (path, outcome_path(path)):
        p.unlink(missing_ok=True)
        checksum_path(p).unlink(missing_ok=True)
    return False


def identity(config: Mapping[str, Any]) -> dict:
    """The parameters that make a study's results (as JSON has them): all but ``NOT_IDENTITY``.

    Args:
        config: a checked configuration.

    Returns:
        the parameters, JSON's types."""
    return {k: v for k, v in json.loads(json.dumps(dict(config))).items() if k not in NOT_IDENTITY}


def _finished(path: Path, config: dict) -> bool:
    """Whether an intact shard file of this study exists; one made with other parameters is an error
    that names the parameters that differ."""
    if not _shard_intact(path, has_adaptive(config)):
        return False
    made_with, now = identity(load_scores(path)[1].get("parameters") or {}), identity(config)
    differ = {k: (made_with.get(k, "(absent)"), now.get(k, "(absent)")) for k in sorted(made_with.keys() | now.keys())
              if made_with.get(k, "(absent)") != now.get(k, "(absent)")}
    if differ:
        raise ValueError(f"{path} was made with other study parameters: "
                         + "; ".join(f"{k} = {old!r} there, {new!r} now" for k, (old, new) in differ.items())
                         + ". Use another out_dir, or delete that folder")
    return True


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir/shards`` and write and remove a probe file there.

    Args:
        out_dir: the study's output folder.

    Raises:
        OSError: naming the folder, when it cannot be created or written."""
    probe = out_dir / "shards" / f".write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OSError(f"cannot write the study's output folder {probe.parent} ({exc}): choose another out_dir") \
            from exc


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
        adaptive_rates: :func:`helpers.adaptive_attack.outcome_rates` of them, or None.
        adaptive_checks: :func:`helpers.adaptive_attack.outcome_checks` of them, or None."""

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
        OSError: ``out_dir`` cannot be written (checked before any work).
        ValueError: bad parameters, or ``out_dir`` holds shards of a study with other parameters.
        RuntimeError: failed shards, or worker processes that could not start (e.g. a script calling
            run_study without ``if __name__ == "__main__":``; see docs/scale_out.md)."""
    _refuse_spawned_import()
    config = check_config(config)
    shard_blocks(config["n_images"], config["batch_size"], 0, n_shards)  # checks n_shards
    out_dir = Path(out_dir)
    check_writable(out_dir)
    if client is None and n_workers > n_shards:
        warnings.warn(f"{n_workers} workers for {n_shards} shards: {n_workers - n_shards} will be idle. A shard is "
                      f"at least one block of batch_size {config['batch_size']} images (the {config['n_images']} "
                      f"images make {math.ceil(config['n_images'] / config['batch_size'])}): use more shards, or a "
                      "smaller batch_size", stacklevel=2)
    todo = [s for s in range(n_shards) if not _finished(shard_path(out_dir, s, n_shards), config)]
    start, failed, seconds, model_sha = time.perf_counter(), {}, {}, None

    def write(shard: int, table: pd.DataFrame, outcomes: pd.DataFrame | None, sha: str, took: float) -> None:
        nonlocal model_sha
        model_sha, seconds[shard] = sha, took
        _save_shard(table, shard_path(out_dir, shard, n_shards),
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
    adaptive = has_adaptive(config)
    damaged = [s for s in range(n_shards)  # checked again to merge
               if not _shard_intact(shard_path(out_dir, s, n_shards), adaptive)]
    compute(damaged)
    scores = merge_shards([load_scores(shard_path(out_dir, s, n_shards))[0] for s in range(n_shards)])
    kept = len(_image_ids(scores))
    summary = {"n_images": config["n_images"], "kept": kept, "dropped": config["n_images"] - kept,
               "n_shards": n_shards, "computed": len(set(todo) | set(damaged)), "skipped": n_shards - len(todo),
               "seconds": time.perf_counter() - start, "shard_seconds": seconds}
    meta = {**_metadata(config, None, model_sha256=model_sha), "image_ids": _image_ids(scores), "summary": summary,
            "images": f"{kept} of {config['n_images']} images of {config['image_source']}"}
    save_scores(scores, out_dir / "scores.parquet", meta)
    rates = rate_table(scores, fpr=config["fpr"], seed=config["seed"])
    tidy = rates_tidy(rates, config["saliency_method"])  # the notebooks' schema: percent, unit, model, method
    write_atomically(out_dir / "rates.csv", lambda tmp: tidy.to_csv(tmp, index=False, float_format="%.6g"),
                     suffix=".csv")
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
    write_atomically(out_dir / "adaptive.parquet", lambda tmp: rows.to_parquet(tmp, index=False), suffix=".parquet")
    for table, name in ((rates, "adaptive_rates.csv"), (checks, "adaptive_checks.csv")):
        write_atomically(out_dir / name, lambda tmp, t=table: t.to_csv(tmp, index=False, float_format="%.6g"),
                         suffix=".csv")
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


def cli_config(args: argparse.Namespace) -> dict[str, Any]:
    """The checked study configuration of a command line: the YAML file, then ``-p`` values, then the
    ``--image-source`` and ``--n-images`` options, each overriding the ones before.

    Args:
        args: :func:`parse_args`' options.

    Returns:
        the checked configuration.

    Raises:
        ValueError, TypeError: bad parameters (:func:`check_config`).
        OSError: an unreadable ``--config`` file."""
    config = (yaml.safe_load(Path(args.config).read_text()) or {}) if args.config else {}
    config.update({name: yaml.safe_load(value) for name, value in args.parameter})
    config.update({k: v for k, v in (("image_source", args.image_source), ("n_images", args.n_images))
                   if v is not None})
    return check_config(config)


def main(argv: list[str] | None = None) -> StudyResult:
    """The command line: run the study and print what it did.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Returns:
        the :class:`StudyResult`.

    Raises:
        SystemExit: for ``--help`` or a usage error.
        ValueError, OSError, RuntimeError: as :func:`run_study`."""
    args = parse_args(argv)
    config = cli_config(args)
    n_shards = args.n_shards or default_n_shards(config, 1 if args.scheduler else args.workers)
    result = run_study(config, n_shards, args.out, client=args.scheduler, n_workers=args.workers,
                       retries=args.retries)
    s = result.summary
    print(f"{s['kept']} of {s['n_images']} images kept ({s['dropped']} dropped by only_correct), {n_shards} shards "
          f"({s['computed']} computed, {s['skipped']} already done) in {s['seconds']:.1f} s; "
          f"wrote {Path(args.out) / 'scores.parquet'} and {Path(args.out) / 'rates.csv'}")
    return result


if __name__ == "__main__":
    main()
