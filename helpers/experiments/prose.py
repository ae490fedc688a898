"""The lines a run prints first (image protocol, attack success, images), shared by the experiments."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from helpers.attack_report import format_share
from helpers.experiments.runs import ModelRun
from helpers.labels import attack_label, model_label
from helpers.tables import folder_names


def protocol_text(runs: Mapping[str, ModelRun], detail: Callable[[ModelRun], str]) -> str:
    """Per model: the image protocol, ``detail`` (the images and the detector's settings) and each attack's
    success as a share of the photographs (the lines notebooks 05-07 and 10 print first).

    Args:
        runs: model name -> its :class:`ModelRun`.
        detail: a run -> the second line's text after the model's name."""
    lines = []
    for model, run in runs.items():
        name = model_label(model)
        lines += [f"{name}: " + "; ".join(run.protocol), f"{name}: {folder_names(detail(run))}"]
        width = max((len(attack_label(a)) for a in run.attacks), default=0)
        lines += [f"{attack_label(a):>{width}} attack success: {format_share(r.success, run.images.photographs)}"
                  for a, r in run.attacks.items()]
    return "\n".join(lines)


def check_text(runs: Mapping[str, ModelRun]) -> str:
    """What holds on any CPU of :func:`protocol_text`: per model, the images and the attacks run.

    Args:
        runs: model name -> its :class:`ModelRun`."""
    return "\n".join(f"{model}: {run.images.description}; attacks {list(run.attacks)}" for model, run in runs.items())


def images_text(metadata: Mapping[str, dict]) -> str:
    """'Model, images; Model, images' of a run's metadata, for a caption (display names; a folder by its name).

    Args:
        metadata: model -> its run's metadata."""
    return "; ".join(f"{model_label(model)}, {folder_names(meta.get('images', ''))}"
                     for model, meta in metadata.items())
