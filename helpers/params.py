"""The notebooks' parameters, checked in one place before any model is loaded (and without TensorFlow).

``PARAMS`` maps every notebook parameter name to a :class:`Spec`: its accepted types, range or
choices (taken from the helpers' own constants) and a description of its valid values.
:func:`check_params` checks the known names in a mapping (a notebook passes ``globals()``), then
the parameters that depend on each other, and raises ``TypeError`` (wrong type) or ``ValueError``
(wrong value) whose message names the parameter, the bad value and the valid values.

In a notebook run by papermill, :func:`check_params` also refuses a name that ``-p`` passed but the
notebook does not declare (papermill itself only logs "Passed unknown parameter" and runs the
defaults): :func:`undeclared_parameters` reads the injected cell from IPython's input history ``In``.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.attack_settings import ATTACKS, ENSEMBLE_BUDGETS, SETTINGS, resolve_ensemble_budget, resolve_params
from helpers.data import VIEWS, list_photographs
from helpers.metrics import MIN_EXPECTED_FALSE_POSITIVES
from helpers.names import (
    COLORMAPS,
    EMPHASIS_CLIPS,
    LITE_MODELS,
    MODEL_NAMES,
    MODEL_OPTIONS,
    NOISES,
    OVERLAY_ORDERS,
    PREPROCESSING,
    SALIENCY_METHODS,
    VARIANTS,
    ZERO_MEAN_REFERENCES,
)
from helpers.squeeze import squeezer
from helpers.validation import check_number

LINF_ATTACKS = ("fgsm", "bim", "pgd")  # the L-inf attacks with a budget eps (helpers.attacks)
CHANNEL_ORDERS = ("rgb", "bgr")  # what non-local means is given (helpers.squeeze)

INT = (int, np.integer)
NUMBER = (int, float, np.integer, np.floating)
LIST = (list, tuple)
_PROBE = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3) * 20  # a tiny RGB image to try squeezers on


@dataclass(frozen=True)
class Spec:
    """How one parameter is checked: ``types``, then ``choices`` or the range, or the list's items; then
    ``check``.

    Attributes:
        valid: a description of the valid values, for error messages.
        types: the accepted types (bool counts as none of them unless listed).
        choices: the valid values, or None.
        low, high: the range's ends, or None.
        open_low, open_high: exclude ``low``/``high``.
        item: for a list, the spec of each item (items must be distinct), or None.
        min_len: for a list, the fewest items.
        check: a further check, raising TypeError/ValueError with a reason; or None."""

    valid: str
    types: tuple[type, ...]
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    item: Spec | None = None
    min_len: int = 1
    check: Callable[[Any], None] | None = None


def _names(choices) -> str:
    return ", ".join(map(repr, choices))


def _reason(spec: Spec, value: Any) -> None:
    """Raise TypeError/ValueError with a short reason if ``value`` does not pass ``spec``."""
    if not isinstance(value, spec.types) or (isinstance(value, bool) and bool not in spec.types):
        raise TypeError(f"wrong type {type(value).__name__}")
    if spec.choices is not None and value not in spec.choices:
        raise ValueError("not one of the valid values")
    if spec.low is not None or spec.high is not None:
        check_number(value, "it", -np.inf if spec.low is None else spec.low, np.inf if spec.high is None else spec.high,
                     low_open=spec.open_low, high_open=spec.open_high)
    if spec.item is not None:
        if len(value) < spec.min_len:
            raise ValueError(f"needs at least {spec.min_len} item(s)")
        for i, item in enumerate(value):
            try:
                _reason(spec.item, item)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"item {item!r}: {exc}") from None
            if item in value[:i]:
                raise ValueError(f"item {item!r} appears twice")
    if spec.check is not None:
        spec.check(value)


def _model(value: str) -> None:
    if value not in MODEL_NAMES:
        if not value.endswith(".keras"):
            raise ValueError("not a model name, nor a path ending in .keras")
        if not Path(value).is_file():
            raise ValueError(f"model file not found: {Path(value).resolve()}")


def _weights(value: str) -> None:
    if value != "imagenet" and not Path(value).is_file():
        raise ValueError(f"weights file not found: {Path(value).resolve()}")


def _image_source(value: str) -> None:
    if value != "samples" and not Path(value).is_dir():
        raise ValueError(f"image folder not found: {Path(value).resolve()}")


def _model_options(value: dict) -> None:
    unknown = [key for key in value if key not in MODEL_OPTIONS]
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}")
    if "preprocessing" in value and value["preprocessing"] not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {_names(PREPROCESSING)}")


def _attack_params(value: dict) -> None:
    for attack, override in value.items():
        if attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}")
        if not isinstance(override, dict):
            raise TypeError(f"the overrides of {attack!r} are a {type(override).__name__}, not a dict")


def _squeezer(value: str) -> None:
    """Parse with helpers.squeeze and try it on a tiny image: that checks the bit depth and windows too."""
    squeezer(value)(_PROBE)


_THETA = Spec("a number in [0, 1]", NUMBER, low=0, high=1)
_ATTACK = Spec(f"one of {_names(ATTACKS)}", (str,), choices=ATTACKS)
_SQUEEZER = Spec("'bit_depth:B' (B in 1..8), 'median:WxW' or 'nlm:S-P-H' (S, P odd)", (str,), check=_squeezer)
_SQUEEZERS = f"a non-empty list of distinct squeezers, each {_SQUEEZER.valid}"
_FOLDER = Spec("a folder path (a string)", (str,))
_POSITIVE_INT = Spec("an integer >= 1", INT, low=1)

PARAMS: dict[str, Spec] = {
    "model": Spec(f"one of {_names(MODEL_NAMES)}, or the path of a .keras model file", (str,), check=_model),
    "weights": Spec("'imagenet', or the path of a weights file (vgg16/resnet50)", (str,), check=_weights),
    "model_options": Spec(f"a dict of load_model options for a .keras model, with keys from {_names(MODEL_OPTIONS)}",
                          (dict,), check=_model_options),
    "image_source": Spec("'samples' (the offline photographs) or the path of an image folder", (str,),
                         check=_image_source),
    "n_images": _POSITIVE_INT,
    "cost_images": _POSITIVE_INT,
    "batch_size": _POSITIVE_INT,
    "seed": Spec("an integer in [0, 2**32 - 1]", INT, low=0, high=2**32 - 1),
    "eps": Spec("a number in (0, 1], in [0, 1] units (2/255 is 2 grey levels)", NUMBER, low=0, high=1,
                open_low=True),
    "fpr": Spec("a number in [0, 1)", NUMBER, low=0, high=1, open_high=True),
    "theta": _THETA,
    "thetas": Spec("a non-empty list of distinct numbers in [0, 1]", LIST, item=_THETA),
    "roc_thetas": Spec("a list of distinct numbers from thetas (theta 0 is always drawn)", LIST, item=_THETA,
                       min_len=0),
    "attacks": Spec(f"a non-empty list of distinct attacks from {_names(ATTACKS)}", LIST, item=_ATTACK),
    "attack_settings": Spec(f"one of {_names(SETTINGS)}", (str,), choices=tuple(SETTINGS)),
    "attack_params": Spec(f"a dict from attacks ({_names(ATTACKS)}) to dicts of their parameters, "
                          "e.g. {'cw_l2': {'max_iter': 50}}", (dict,), check=_attack_params),
    "sweep_attacks": Spec(f"a non-empty list of distinct L-inf attacks from {_names(LINF_ATTACKS)}", LIST,
                          item=Spec(f"one of {_names(LINF_ATTACKS)}", (str,), choices=LINF_ATTACKS)),
    "sweep_eps_255": Spec("a non-empty list of distinct numbers in (0, 255], budgets in grey levels", LIST,
                          item=Spec("a number in (0, 255]", NUMBER, low=0, high=255, open_low=True)),
    "noises": Spec(f"a non-empty list of distinct noises from {_names(NOISES)}", LIST,
                   item=Spec(f"one of {_names(NOISES)}", (str,), choices=NOISES)),
    "colormap": Spec(f"one of {_names(COLORMAPS)}", (str,), choices=COLORMAPS),
    "overlay_order": Spec(f"one of {_names(OVERLAY_ORDERS)}", (str,), choices=OVERLAY_ORDERS),
    "saliency_method": Spec(f"one of {_names(SALIENCY_METHODS)} ('gradcam' is the paper's)", (str,),
                            choices=tuple(SALIENCY_METHODS)),
    "zero_mean_reference": Spec(f"one of {_names(ZERO_MEAN_REFERENCES)}", (str,),
                                choices=tuple(ZERO_MEAN_REFERENCES)),
    "squeezers": Spec(_SQUEEZERS, LIST, item=_SQUEEZER),
    "joint": Spec(_SQUEEZERS, LIST, item=_SQUEEZER),
    "channel_order": Spec(f"one of {_names(CHANNEL_ORDERS)}", (str,), choices=CHANNEL_ORDERS),
    "calibration_images": Spec("an integer >= 2: clean images held apart, split by photograph into two halves (the "
                               "matched-FPR thresholds, the realised FPR)", INT, low=2),
    "noise": Spec(f"one of {_names(NOISES)}", (str,), choices=NOISES),
    "system_noises": Spec(f"a list of distinct noises from {_names(NOISES)} ([]: just noise)", LIST, min_len=0,
                          item=Spec(f"one of {_names(NOISES)}", (str,), choices=NOISES)),
    "variants": Spec(f"a non-empty list of distinct adaptive variants from {_names(VARIANTS)}", LIST,
                     item=Spec(f"one of {_names(VARIANTS)}", (str,), choices=VARIANTS)),
    "eps_l2": Spec("a number > 0, an L2 budget in [0, 1] units", NUMBER, low=0, open_low=True),
    "cw_confidence": Spec("a number >= 1: C&W's confidence kappa (a logit margin)", NUMBER, low=1),
    "black_box_eps_255": Spec("a number in (0, 255], an L-inf budget in grey levels", NUMBER, low=0, high=255,
                              open_low=True),
    "figures_dir": _FOLDER,
    "cache_dir": _FOLDER,
    "results_dir": _FOLDER,
    "models": Spec(f"a non-empty list of distinct models from {_names(MODEL_NAMES)} (notebooks 05-07: also [], "
                   "which runs just `model`)", LIST, min_len=0,
                   item=Spec(f"one of {_names(MODEL_NAMES)}", (str,), choices=MODEL_NAMES)),
    "saliency_methods": Spec(f"a non-empty list of distinct saliency methods from {_names(SALIENCY_METHODS)}", LIST,
                             item=Spec(f"one of {_names(SALIENCY_METHODS)}", (str,), choices=tuple(SALIENCY_METHODS))),
    "figure_images": _POSITIVE_INT,
    "adaptive_eps_255": Spec("a number in (0, 255], an L-inf budget in grey levels", NUMBER, low=0, high=255,
                             open_low=True),
    "adaptive_budget": Spec("a dict of overrides on the adaptive ensemble's budget "
                            f"({_names(ENSEMBLE_BUDGETS['quick'])}), e.g. {{'max_iter': 20}}", (dict,)),
    "check_eps_255": Spec("a non-empty list of distinct numbers in (0, 255], budgets in grey levels", LIST,
                          item=Spec("a number in (0, 255]", NUMBER, low=0, high=255, open_low=True)),
    "score_weight": Spec("a number >= 0: the weight of the detector's L1 score in the adaptive ensemble's extra "
                         "members (0: no such members)", NUMBER, low=0),
    "emphasis_clip": Spec(f"one of {_names(EMPHASIS_CLIPS)} (how the adaptive model differentiates the emphasis "
                          "image's clip)", (str,), choices=EMPHASIS_CLIPS),
    "latex_compact": Spec("True or False (LaTeX tables in the compact form, a smaller font)", (bool,)),
    "only_correct": Spec("True, False, or None (on for a folder whose images all have labels)", (bool, type(None))),
    "n_shards": _POSITIVE_INT,
    "n_workers": _POSITIVE_INT,
    "scheduler": Spec("'' or None (a LocalCluster), or a Dask scheduler address such as 'tcp://host:8786'",
                      (str, type(None))),
    "out_dir": _FOLDER,
}


def _fail(error: type[Exception], name: str, value: Any, reason: str) -> Exception:
    shown = repr(value) if len(repr(value)) <= 300 else repr(value)[:300] + "..."
    return error(f"parameter {name} = {shown}: {reason}. Valid: {PARAMS[name].valid}")


def study_models(params: Mapping[str, Any]) -> list[str]:
    """The models a notebook runs: ``models`` when it is non-empty (it wins over ``model``), else ``[model]``.

    Args:
        params: the checked parameters, with ``models`` or ``model``.

    Raises:
        KeyError: ``models`` empty or missing and no ``model``."""
    return list(params.get("models") or [params["model"]])


def _check_together(p: Mapping[str, Any]) -> None:
    """The checks across parameters, on values that passed their own checks."""
    if "models" in p and not p["models"] and "model" not in p:  # [] stands for `model`: only where there is one
        raise _fail(ValueError, "models", p["models"], "needs at least 1 item(s)")
    for model in study_models(p) if {"models", "model"} & set(p) else []:  # the notebook's model parameters
        _check_model(p, model)
    _check_others(p)


def _check_model(p: Mapping[str, Any], model: str) -> None:
    """The checks of ``weights`` and ``model_options`` against one model that the notebook runs."""
    if model in LITE_MODELS and p.get("weights", "imagenet") != "imagenet":
        raise _fail(ValueError, "weights", p["weights"], f"{model} has only its 'imagenet' weights")
    if "model_options" in p:
        if model in MODEL_NAMES and p["model_options"]:
            raise _fail(ValueError, "model_options", p["model_options"], f"options are for a .keras model, "
                        f"not for model {model!r}")
        if model not in MODEL_NAMES and "preprocessing" not in p["model_options"]:
            raise _fail(ValueError, "model_options", p["model_options"], f"a .keras model needs a 'preprocessing' "
                        f"option, one of {_names(PREPROCESSING)}")


def _check_others(p: Mapping[str, Any]) -> None:
    """The checks across the other parameters."""
    if p.get("image_source") == "samples" and "n_images" in p:
        limit = len(list_photographs()) * len(VIEWS)
        if p["n_images"] > limit:
            raise _fail(ValueError, "n_images", p["n_images"], f"image_source 'samples' has {limit} images")
    if "attack_params" in p:
        settings = SETTINGS[p.get("attack_settings", "default")]
        for attack, override in p["attack_params"].items():
            try:  # rejects unknown names, wrong types and out-of-range values; its messages name the attack
                resolve_params(attack, {**settings[attack], **override})
            except (TypeError, ValueError) as exc:
                raise _fail(type(exc), "attack_params", p["attack_params"], str(exc)) from None
    if "adaptive_budget" in p:
        try:  # rejects unknown names, wrong types and out-of-range values
            resolve_ensemble_budget(p.get("attack_settings", "default"), p["adaptive_budget"])
        except (TypeError, ValueError) as exc:
            raise _fail(type(exc), "adaptive_budget", p["adaptive_budget"], str(exc)) from None
    if "calibration_images" in p and "fpr" in p:
        _check_calibration(p["fpr"], p["calibration_images"])
    if "roc_thetas" in p and "thetas" in p:
        missing = [t for t in p["roc_thetas"] if not np.isclose(t, p["thetas"]).any()]
        if missing:
            raise _fail(ValueError, "roc_thetas", p["roc_thetas"], f"{missing} not in thetas = {p['thetas']}")


def _check_calibration(fpr: float, calibration_images: int) -> None:
    """Notebook 08's matched thresholds are fitted on the calibration half of ``calibration_images`` (split by
    photograph: at most half of them), which must hold ``MIN_EXPECTED_FALSE_POSITIVES`` expected false positives
    at ``fpr``; refused here, before any model is loaded, when even half of them cannot."""
    half = calibration_images // 2
    if fpr * half >= MIN_EXPECTED_FALSE_POSITIVES:
        return
    raise_fpr = math.ceil(1000 * MIN_EXPECTED_FALSE_POSITIVES / half) / 1000  # 3 decimals, rounded up
    ways = [f"fpr to at least {raise_fpr:g}"] if raise_fpr < 1 else []
    ways += [f"calibration_images to at least {2 * math.ceil(MIN_EXPECTED_FALSE_POSITIVES / fpr)}"] if fpr > 0 else []
    raise ValueError(
        f"parameters fpr = {fpr:g} and calibration_images = {calibration_images}: the matched thresholds are fitted "
        f"on at most half of them ({half}), which must hold at least {MIN_EXPECTED_FALSE_POSITIVES} expected false "
        f"positives: fpr x {half} = {fpr * half:g} < {MIN_EXPECTED_FALSE_POSITIVES}. Raise " + " or ".join(ways))


PAPERMILL_HEADER = "# Parameters\n"  # the first line of the cell papermill injects (its translators' comment)


def _assigned(source: str) -> set[str]:
    """The names a cell's source assigns at its top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    targets = [t for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]
    targets += [node.target for node in tree.body if isinstance(node, ast.AnnAssign)]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def undeclared_parameters(namespace: Mapping[str, Any]) -> dict[str, list[str]]:
    """The names papermill injected that no cell before the injected one assigns (the notebook does
    not declare them), each with the closest declared name (or all of them when none is close);
    ``{}`` outside papermill.

    Args:
        namespace: a notebook's ``globals()``, whose ``In`` is IPython's list of the executed cells.

    Returns:
        undeclared name -> the suggested declared names."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return {}
    for i, source in enumerate(history):
        if isinstance(source, str) and source.startswith(PAPERMILL_HEADER):
            declared = set().union(*(_assigned(s) for s in history[:i] if isinstance(s, str)))
            known = sorted(declared & set(PARAMS)) or sorted(declared)
            return {name: difflib.get_close_matches(name, known, n=1, cutoff=0.5) or known
                    for name in sorted(_assigned(source) - declared)}
    return {}


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the notebook parameters among ``params`` (names not in ``PARAMS`` are ignored, so a
    notebook can pass ``globals()``) and return them.

    Args:
        params: name -> value (e.g. a notebook's ``globals()``).

    Raises:
        TypeError, ValueError: at the first bad parameter, naming it, its value and the valid values.
        ValueError: also for a name papermill injected that the notebook does not declare
            (:func:`undeclared_parameters`), suggesting the closest declared one."""
    undeclared = undeclared_parameters(params)
    if undeclared:
        raise ValueError("this notebook has no parameter(s) " + "; ".join(
            f"{name!r} (did you mean {near[0]!r}?)" if len(near) == 1 else f"{name!r} (its parameters: {near})"
            for name, near in undeclared.items()) + ": papermill would have run the defaults instead")
    found = {name: params[name] for name in PARAMS if name in params}
    for name, value in found.items():
        try:
            _reason(PARAMS[name], value)
        except (TypeError, ValueError) as exc:
            raise _fail(type(exc), name, value, str(exc)) from None
    _check_together(found)
    return found
