"""Each model's part of a run, prepared once from the notebook parameters: the model, its images after the image
protocol, its attack sets; then its score table, saved with the run's metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.attacks import AttackResult
from helpers.cache import attack_sets
from helpers.data import ImageSet, image_protocol, load_images
from helpers.models import ModelBundle, load_model
from helpers.params import study_models
from helpers.plotting import use_style
from helpers.runtime import set_seed
from helpers.scores import load_scores, run_metadata, save_scores


@dataclass(frozen=True)
class ModelRun:
    """One model's part of a run.

    Attributes:
        images: its images (after the image protocol).
        attacks: attack name -> its result on ``images``.
        protocol: the protocol's sentences (accuracy, images dropped)."""

    bundle: ModelBundle
    images: ImageSet
    attacks: dict[str, AttackResult]
    protocol: tuple[str, ...]


def setup(params: Mapping[str, Any], model: str | None = None) -> tuple[ModelBundle, ImageSet]:
    """What every notebook does first: seed, plot style, the model, its images at its input size.

    Args:
        params: checked notebook parameters (:func:`helpers.params.check_params`): ``model``, ``weights`` and
            ``model_options`` (defaults: ImageNet weights, no options), ``image_source``, ``n_images``, ``seed``.
        model: the model to load (default: ``params["model"]``).

    Returns:
        (the model, its images).

    Raises:
        ValueError, FileNotFoundError: from :func:`helpers.models.load_model` and :func:`helpers.data.load_images`."""
    set_seed(params["seed"])
    use_style()
    bundle = load_model(params["model"] if model is None else model, params.get("weights", "imagenet"),
                        **params.get("model_options", {}))
    return bundle, load_images(params["image_source"], bundle, params["n_images"], seed=params["seed"])


def prepare(params: Mapping[str, Any], attacks: list[str] | None = None) -> dict[str, ModelRun]:
    """Seed, plot style, then per model of ``params`` (``models``, else ``model``): load it, its images at its
    input size, the image protocol and the attack sets through the cache.

    Args:
        params: checked notebook parameters (:func:`helpers.params.check_params`): ``model``/``models``,
            ``weights`` and ``model_options`` (defaults: ImageNet weights, no options), ``image_source``,
            ``n_images``, ``only_correct``, ``attack_settings``, ``attack_params``, ``cache_dir``, ``batch_size``,
            ``seed``.
        attacks: the attacks to run (default: ``params["attacks"]``).

    Returns:
        model name -> its :class:`ModelRun`, in the order of the parameters."""
    p = params
    runs = {}
    for name in study_models(p):
        bundle, images = setup(p, name)  # the images at this model's input size
        images, protocol = image_protocol(images, bundle, p["only_correct"], p["batch_size"])
        results = attack_sets(bundle, images, p["attacks"] if attacks is None else attacks, p["cache_dir"],
                              p["attack_settings"], p["attack_params"], seed=p["seed"], batch_size=p["batch_size"])
        runs[bundle.name] = ModelRun(bundle, images, results, tuple(protocol))
    return runs


def score_runs(runs: Mapping[str, ModelRun], score: Callable[[ModelRun], pd.DataFrame], params: Mapping[str, Any],
               name: str) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Each model's score table from ``score``, saved with its run's metadata as
    ``<results_dir>/scores_<name>_<model>.parquet``, and the tables stacked (every row names its model).

    Args:
        runs: model name -> its :class:`ModelRun`.
        score: a run -> its score table (``helpers.scores.COLUMNS``).
        params: the checked notebook parameters (``results_dir``; all saved in the metadata).
        name: the experiment's name in the file names.

    Returns:
        (the stacked score table, model -> its :func:`helpers.scores.run_metadata`)."""
    tables, metadata = {}, {}
    for model, run in runs.items():
        tables[model] = score(run)
        metadata[model] = run_metadata(run.bundle, run.images, dict(params))
        save_scores(tables[model], f"{params['results_dir']}/scores_{name}_{model}.parquet", metadata[model])
    return pd.concat(tables.values(), ignore_index=True), metadata


def load_run(paths: list[Path]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Saved score tables (one per model, as :func:`score_runs` writes them) stacked, and their metadata.

    Returns:
        (the stacked score table, model -> its run's metadata).

    Raises:
        ValueError: for no path, or two tables of one model."""
    if not paths:
        raise ValueError("no score table to load")
    tables, metadata = [], {}
    for path in paths:
        scores, meta = load_scores(path)
        model = meta.get("model") or scores["model"].iloc[0]
        if model in metadata:
            raise ValueError(f"two score tables of model {model!r} among {[str(p) for p in paths]}")
        tables.append(scores)
        metadata[model] = meta
    return pd.concat(tables, ignore_index=True), metadata
