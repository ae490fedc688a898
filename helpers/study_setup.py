"""A study's configuration, command line and output folder, checked without TensorFlow, and its blocks of images
(:func:`shard_blocks`, :func:`block_seed`).

``python -m helpers.study`` reads its command line here (:func:`parse_args`, :func:`cli_config`), checks the
configuration (:func:`check_config`: names, types, ranges and choices through ``helpers.params``, the
attacks, the adaptive sets' setting names) and the output folder (:func:`check_out_dir`) before TensorFlow is
imported, so a mistyped value is refused at once. ``helpers.study`` runs the study; its ``check_config``
(``helpers.study_shards``) adds the adaptive sets' budgets, which the attack code checks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from helpers.attack_settings import ATTACKS
from helpers.data import folder_labels, list_folder
from helpers.names import ADAPTIVE_KINDS, EMPHASIS_CLIPS, LOSSES, VARIANTS
from helpers.params import check_params

DEFAULTS: dict[str, Any] = {
    "model": "efficientnet_lite0", "weights": "imagenet", "model_options": {},
    "image_source": "samples", "n_images": 8, "seed": 0, "only_correct": None,
    "attacks": ["fgsm", "cw_l2", "cw_l2_kappa", "pgd"], "attack_settings": "default", "attack_params": {},
    "thetas": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "noises": ["none", "color_reverse", "zero_mean"],  # all of NOISES
    "colormap": "jet", "overlay_order": "coarse", "zero_mean_reference": "imagenet", "saliency_method": "gradcam",
    "joint": ["bit_depth:5", "median:2x2", "nlm:11-3-4"], "channel_order": "rgb",
    "fpr": 0.05, "batch_size": 16, "cache_dir": "data/cache/attacks",
}


NOT_IDENTITY = ("cache_dir",)  # parameters that cannot change the results: not part of a study's identity


# The adaptive evaluation in a study: named sets "adaptive" and "adaptive.<anything>"
ADAPTIVE_DEFAULTS: dict[str, Any] = {
    "kind": "ensemble", "norm": "linf", "eps": 2 / 255, "max_iter": 20, "n_targets": 3, "losses": ["ce", "dlr"],
    "score_weight": 0.0, "kappa": 1.0, "variants": ["bpda"], "emphasis_clip": "exact", "score_goal": None,
    "untargeted": True,
}


DESCRIPTION = ("Dataset-scale studies: the score table of notebooks 05-07, computed in shards on a Dask "
               "cluster.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` lists the study parameters that ``-p`` accepts, with their defaults.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Raises:
        SystemExit: for ``--help`` or a usage error (argparse)."""
    defaults = "\n".join(f"  {name} = {json.dumps(value)}" for name, value in DEFAULTS.items())
    parser = argparse.ArgumentParser(
        prog="python -m helpers.study", description=DESCRIPTION,
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


def check_command_line(argv: list[str]) -> None:
    """What ``python -m helpers.study`` checks before TensorFlow is imported: the command line, the
    configuration (:func:`cli_config`), the split and the output folder. A mistake ends the run with one line
    on stderr, ``error: ...``, and exit status 2 (as argparse's usage errors).

    Args:
        argv: the arguments (``sys.argv[1:]``).

    Raises:
        SystemExit: on ``--help`` or any mistake."""
    args = parse_args(argv)
    try:
        config = cli_config(args)
        for name, value, low in (("--workers", args.workers, 1), ("--retries", args.retries, 0)):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if args.n_shards is not None:
            shard_blocks(config["n_images"], config["batch_size"], 0, args.n_shards)
        check_out_dir(args.out)
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cli_config(args: argparse.Namespace) -> dict[str, Any]:
    """The checked study configuration of a command line: the YAML file, then ``-p`` values, then the
    ``--image-source`` and ``--n-images`` options, each overriding the ones before.

    Args:
        args: :func:`parse_args`' options.

    Raises:
        ValueError, TypeError: bad parameters (:func:`check_config`).
        OSError: an unreadable ``--config`` file."""
    config = _yaml(Path(args.config).read_text(), f"--config {args.config}") if args.config else {}
    if not isinstance(config, dict):
        raise ValueError(f"--config {args.config}: a YAML mapping of study parameters is expected, got "
                         f"{type(config).__name__}")
    config.update({name: _yaml(value, f"-p {name}") for name, value in args.parameter})
    config.update({k: v for k, v in (("image_source", args.image_source), ("n_images", args.n_images))
                   if v is not None})
    return check_config(config)


def _yaml(text: str, where: str) -> Any:
    """``text`` read as YAML (an empty file: {}), or a ValueError naming ``where``."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
    return {} if value is None and where.startswith("--config") else value


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``DEFAULTS`` updated by ``config``, checked by ``helpers.params`` (names, types, ranges), with
    ``only_correct`` resolved (``None`` means on for a folder whose images all have labels) and the
    folders made absolute (workers may start elsewhere). The adaptive sets' budgets are checked by
    ``helpers.study_shards.check_config``, which needs the attack code.

    Args:
        config: study parameters (a subset of ``DEFAULTS``' names).

    Raises:
        ValueError: an unknown parameter name, attack or adaptive setting, a bad value (also TypeError, from
            ``helpers.params``), or ``only_correct = True`` on unlabelled images."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown study parameter(s) {unknown}; valid: {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **config}
    attacks, params = config["attacks"], config["attack_params"]
    if isinstance(attacks, list | tuple):
        _check_attack_names(attacks)
    adaptive = [a for a in attacks if is_adaptive(a)] if isinstance(attacks, list | tuple) else []
    if adaptive:  # helpers.params knows helpers.attacks' names; the adaptive sets are checked here
        plain_params = {k: v for k, v in params.items() if not is_adaptive(k)} if isinstance(params, dict) else params
        config = check_params({**config, "attacks": [a for a in attacks if a not in adaptive] or ["fgsm"],
                               "attack_params": plain_params})
        config["attacks"], config["attack_params"] = list(attacks), dict(params)
        for attack in config["attack_params"]:
            if is_adaptive(attack) and attack not in attacks:
                raise ValueError(f"parameter attack_params names {attack!r}, which parameter attacks does not list")
        for attack in adaptive:
            adaptive_names(config, attack)
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


ADAPTIVE_NAMES = "'adaptive' or 'adaptive.<name>' (the adaptive evaluation: docs/adaptive.md)"


def _check_attack_names(attacks: list | tuple) -> None:
    """Every entry of ``attacks`` is an attack of ``helpers.attacks`` or an adaptive set."""
    bad = [a for a in attacks if not (isinstance(a, str) and (a in ATTACKS or is_adaptive(a)))]
    if bad:
        raise ValueError(f"parameter attacks = {list(attacks)!r}: {bad[0]!r} is not an attack. Valid: "
                         f"{', '.join(map(repr, ATTACKS))}, or {ADAPTIVE_NAMES}")


def adaptive_names(config: Mapping[str, Any], attack: str) -> dict[str, Any]:
    """``ADAPTIVE_DEFAULTS`` updated by ``attack_params[attack]``, its setting names and choices checked (the
    budgets are checked by ``helpers.study_adaptive.adaptive_settings``).

    Raises:
        ValueError: an unknown setting, kind, variant, loss or emphasis clip, or a saliency method other than
            Grad-CAM (the detector-aware models attack Grad-CAM), naming the set."""
    if config["saliency_method"] != "gradcam":
        raise ValueError("the adaptive sets attack the Grad-CAM saliency detector; parameter saliency_method = "
                         f"{config['saliency_method']!r} needs saliency_method = 'gradcam'")
    given = config["attack_params"].get(attack, {})
    if not isinstance(given, dict):
        raise ValueError(f"attack_params[{attack!r}] is a {type(given).__name__}, not a dict of settings")
    unknown = sorted(set(given) - set(ADAPTIVE_DEFAULTS))
    if unknown:
        raise ValueError(f"attack_params[{attack!r}] has unknown setting(s) {unknown}; "
                         f"valid: {sorted(ADAPTIVE_DEFAULTS)}")
    s = {**ADAPTIVE_DEFAULTS, **given}
    choices = (("kind", [s["kind"]], ADAPTIVE_KINDS), ("variants", s["variants"], VARIANTS),
               ("losses", s["losses"], LOSSES), ("emphasis_clip", [s["emphasis_clip"]], EMPHASIS_CLIPS))
    for name, values, valid in choices:
        bad = [v for v in (values if isinstance(values, list | tuple) else [values]) if v not in valid]
        if bad:
            raise ValueError(f"attack_params[{attack!r}]: {name} {bad[0]!r} is not one of "
                             f"{', '.join(map(repr, valid))}")
    return s


def check_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` and write and remove a probe file there.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        OSError: naming the folder, when it is a file, lies under a file, or cannot be created or written."""
    out_dir = Path(out_dir)
    blocking = next((p for p in (out_dir, *out_dir.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"the study's output folder {out_dir} cannot be made: {blocking} is a file, not a "
                                 "folder. Choose another out_dir (--out)")
    probe = out_dir / f".write-probe-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OSError(f"cannot write the study's output folder {out_dir} ({exc}): choose another out_dir (--out)") \
            from exc
    return out_dir


def is_adaptive(attack: str) -> bool:
    """Whether an ``attacks`` entry names an adaptive set (``adaptive`` or ``adaptive.<anything>``)."""
    return attack == "adaptive" or attack.startswith("adaptive.")


def has_adaptive(config: Mapping[str, Any]) -> bool:
    """Whether the study has adaptive sets."""
    return any(is_adaptive(a) for a in config["attacks"])


def is_labelled(image_source: str, n_images: int, seed: int) -> bool:
    """Whether every image of the study has a class label (never for the offline photographs).

    Args:
        image_source: ``"samples"`` or a folder.
        n_images: the study's images (a seeded subset of the folder).

    Raises:
        ValueError, FileNotFoundError: a bad folder or labels (:func:`helpers.data.list_folder`,
            :func:`helpers.data.folder_labels`)."""
    if image_source == "samples":
        return False
    files = list_folder(image_source, n_images, seed)
    return bool((folder_labels(image_source, files)[0] >= 0).all())


def identity(config: Mapping[str, Any]) -> dict:
    """The parameters that make a study's results (as JSON has them): all but ``NOT_IDENTITY``."""
    return {k: v for k, v in json.loads(json.dumps(dict(config))).items() if k not in NOT_IDENTITY}


def default_n_shards(config: Mapping[str, Any], workers: int) -> int:
    """One shard per 8 blocks of ``batch_size`` images, and at least one per worker while there are
    blocks to share (a block is never split: it is the unit of determinism)."""
    n_blocks = math.ceil(config["n_images"] / config["batch_size"])
    return min(n_blocks, max(math.ceil(n_blocks / 8), workers))


def shard_blocks(n_images: int, batch_size: int, shard: int, n_shards: int) -> list[np.ndarray]:
    """The image positions of each block (``batch_size`` consecutive images) of shard ``shard`` of
    ``n_shards``: the blocks split into ``n_shards`` contiguous runs of near-equal length.

    Args:
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


def block_seed(seed: int, block: int) -> int:
    """The attack seed of a block: independent streams per block, the same whatever the split.

    Returns:
        the seed, an unsigned 32-bit integer."""
    return int(np.random.SeedSequence([seed, block]).generate_state(1)[0])
