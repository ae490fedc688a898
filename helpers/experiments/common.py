"""What the experiments share: each model's images and attack sets prepared once from the notebook
parameters, the per-model score tables built and saved, and one export call per table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.attack_report import format_share
from helpers.attacks import AttackResult
from helpers.cache import attack_sets
from helpers.data import ImageSet, image_protocol, load_images
from helpers.models import ModelBundle, load_model
from helpers.params import study_models
from helpers.plotting import save_figures, use_style
from helpers.runtime import set_seed
from helpers.scores import load_scores, run_metadata, save_scores
from helpers.tables import export_table


@dataclass(frozen=True)
class ModelRun:
    """One model's part of a run.

    Attributes:
        bundle: the model.
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
    pd.set_option("display.width", 160)
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


def protocol_text(runs: Mapping[str, ModelRun], detail: Callable[[ModelRun], str]) -> str:
    """Per model: the image protocol, ``detail`` (the images and the detector's settings) and each attack's
    success as a share of the photographs (the lines notebooks 05-07 and 10 print first).

    Args:
        runs: model name -> its :class:`ModelRun`.
        detail: a run -> the second line's text after the model's name.

    Returns:
        the lines, joined."""
    lines = []
    for model, run in runs.items():
        lines += [f"{model}: " + "; ".join(run.protocol), f"{model}: {detail(run)}"]
        lines += [f"{name:>8} attack success: {format_share(r.success, run.images.photographs)}"
                  for name, r in run.attacks.items()]
    return "\n".join(lines)


def check_text(runs: Mapping[str, ModelRun]) -> str:
    """What holds on any CPU of :func:`protocol_text`: per model, the images and the attacks run.

    Args:
        runs: model name -> its :class:`ModelRun`.

    Returns:
        one line per model."""
    return "\n".join(f"{model}: {run.images.description}; attacks {list(run.attacks)}" for model, run in runs.items())


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


def saliency_method(scores: pd.DataFrame) -> str:
    """The saliency method of a score table of one method (Grad-CAM for one without saliency rows).

    Args:
        scores: a score table.

    Returns:
        the method's name.

    Raises:
        ValueError: for a table of several methods."""
    methods = sorted(set(scores.loc[scores["detector"] == "saliency", "saliency_method"]))
    if len(methods) > 1:
        raise ValueError(f"the score table mixes saliency methods {methods}: one at a time")
    return methods[0] if methods else "gradcam"


def load_run(paths: list[Path]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Saved score tables (one per model, as :func:`score_runs` writes them) stacked, and their metadata.

    Args:
        paths: the Parquet files.

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


@dataclass(frozen=True)
class Table:
    """A table as shown with what its export needs.

    Attributes:
        frame: the table as shown.
        caption: what it shows (units, interval, n).
        tidy: the numbers it was formatted from (default: :func:`helpers.tables.export_table`'s).
        header: column -> export header with units, or None.
        index: whether the index is written as columns.
        compact: the LaTeX without each rate's '(n)' (:func:`helpers.tables.compact_cells`)."""

    frame: pd.DataFrame
    caption: str
    tidy: pd.DataFrame | None = None
    header: dict[str, str] | None = None
    index: bool = True
    compact: bool = False  # the LaTeX without each rate's '(n)' (helpers.tables.compact_cells)

    def save(self, name: str, folder: str | Path, metadata: Mapping[str, dict] | None) -> list[Path]:
        """Write ``name.csv``, ``name.tex`` and ``name_tidy.csv`` into ``folder`` (the run's models, images
        and seed from ``metadata`` in the caption and the twin).

        Args:
            name: the file stem.
            folder: where the files go.
            metadata: model -> its run's metadata, or None.

        Returns:
            the paths written.

        Raises:
            ValueError: as :func:`helpers.tables.export_table` (no caption; metadata without the twin's models)."""
        return export_table(self.frame, name, folder, index=self.index, tidy=self.tidy, header=self.header,
                            caption=self.caption, metadata=metadata, compact=self.compact)


def save_tables(tables: Mapping[str, Table], folder: str | Path, metadata: Mapping[str, dict] | None) -> list[Path]:
    """:meth:`Table.save` for each table.

    Args:
        tables: name -> table.
        folder: where the files go.
        metadata: model -> its run's metadata, or None.

    Returns:
        the paths written."""
    return [path for name, table in tables.items() for path in table.save(name, folder, metadata)]


def save_all_figures(figures: Mapping[str, Mapping[str, plt.Figure]], folder: str | Path) -> list[Path]:
    """:func:`helpers.plotting.save_figures` for each figure.

    Args:
        figures: name -> model -> figure.
        folder: where the files go.

    Returns:
        the paths written."""
    return [path for name, by_model in figures.items() for path in save_figures(by_model, name, folder)]


def images_text(metadata: Mapping[str, dict]) -> str:
    """'model, images; model, images' of a run's metadata, for a caption.

    Args:
        metadata: model -> its run's metadata.

    Returns:
        the text."""
    return "; ".join(f"{model}, {meta.get('images', '')}" for model, meta in metadata.items())
