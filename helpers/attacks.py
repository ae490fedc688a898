"""Adversarial attacks through ART, with one entry point: :func:`run_attack`.

Images are RGB 0..255 everywhere in ``helpers``; ART sees a [0, 1] view of the model (see
``helpers.art_classifier``), so ART's defaults and the literature's budgets keep their meaning.
Budgets (``eps``) and the returned norms are in [0, 1] units: multiply by 255 for grey levels
(eps = 2/255 ~ 0.0078 is 2 grey levels).

Attacks and their defaults (``DEFAULTS``; ``PAPER_PARAMS`` are full-scale settings for a GPU):

- ``fgsm``: untargeted L-inf FGSM (Goodfellow et al.), one gradient step.
- ``bim``: untargeted L-inf Basic Iterative Method (Kurakin et al.), PGD without random start.
- ``pgd``: untargeted L-inf PGD with one uniform random start (Madry et al.).
- ``pgd_l2``: the same in L2.
- ``cw_l2``: Carlini & Wagner L2; ``targeted=True`` (default, as in the paper) draws a seeded
  random target different from the true label for each input; ``targeted=False`` is untargeted.
- ``deepfool``: untargeted DeepFool (Moosavi-Dezfooli et al.) on the ``nb_grads`` top classes.

Success: untargeted, the label differs from ``y``; targeted, the label equals the target.
Only successful examples should be used downstream; failures are kept for reporting.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from helpers.art_classifier import art_classifier
from helpers.models import ModelBundle
from helpers.runtime import progress_bar, set_seed
from helpers.validation import check_batch_size, check_choice, check_count, check_images, check_labels, check_number

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import (
        CarliniL2Method,
        DeepFool,
        FastGradientMethod,
        ProjectedGradientDescent,
    )

DEFAULTS: dict[str, dict] = {
    "fgsm": {"eps": 2 / 255},
    "bim": {"eps": 2 / 255, "eps_step": 0.5 / 255, "max_iter": 10},
    "pgd": {"eps": 2 / 255, "eps_step": 0.5 / 255, "max_iter": 20, "num_random_init": 1},
    "pgd_l2": {"eps": 1.0, "eps_step": 0.1, "max_iter": 20, "num_random_init": 1},
    "cw_l2": {"targeted": True, "confidence": 0.0, "learning_rate": 0.01, "binary_search_steps": 5,
              "max_iter": 20, "initial_const": 1.0, "max_halving": 5, "max_doubling": 5},
    "deepfool": {"max_iter": 50, "epsilon": 0.02, "nb_grads": 10},
}
# Full-scale settings (GPU): the iterative attacks run longer and C&W searches its constant widely.
PAPER_PARAMS: dict[str, dict] = {
    "fgsm": {"eps": 2 / 255},
    "bim": {"eps": 2 / 255, "eps_step": 0.25 / 255, "max_iter": 50},
    "pgd": {"eps": 2 / 255, "eps_step": 0.25 / 255, "max_iter": 100, "num_random_init": 1},
    "pgd_l2": {"eps": 1.0, "eps_step": 0.05, "max_iter": 100, "num_random_init": 1},
    "cw_l2": {"targeted": True, "confidence": 0.0, "learning_rate": 0.01, "binary_search_steps": 9,
              "max_iter": 100, "initial_const": 0.01, "max_halving": 5, "max_doubling": 5},
    "deepfool": {"max_iter": 100, "epsilon": 0.02, "nb_grads": 10},
}
ATTACKS = tuple(DEFAULTS)
SETTINGS = {"default": DEFAULTS, "paper": PAPER_PARAMS}  # the notebooks' attack_settings


@dataclass(frozen=True)
class AttackResult:
    """Adversarial examples (float32, 0..255, not rounded), which succeeded, and their norms.

    ``y``: the labels attacked (true labels, or the model's own predictions); ``targets``: the
    target labels of a targeted attack (else ``None``); ``l2``/``linf``: perturbation norms in
    [0, 1] units; ``seconds``: generation time of the whole set.
    """

    name: str
    x_adv: np.ndarray
    success: np.ndarray
    y: np.ndarray
    adv_labels: np.ndarray
    targets: np.ndarray | None
    l2: np.ndarray
    linf: np.ndarray
    params: dict
    seconds: float

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())

    @property
    def successful(self) -> np.ndarray:
        """The successful adversarial examples only."""
        return self.x_adv[self.success]


def resolve_params(name: str, params: dict) -> dict:
    """The attack's full parameters: defaults updated with ``params`` (unknown names rejected)."""
    check_choice(name, ATTACKS, "attack")
    unknown = sorted(set(params) - set(DEFAULTS[name]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for attack {name!r}; "
                         f"valid: {', '.join(sorted(DEFAULTS[name]))}")
    resolved = {**DEFAULTS[name], **params}
    for key in ("eps", "eps_step", "learning_rate", "epsilon", "confidence", "initial_const"):
        if key in resolved:
            check_number(resolved[key], f"{name} {key}", 0.0, low_open=key != "confidence")
    for key in ("max_iter", "binary_search_steps", "nb_grads", "num_random_init", "max_halving", "max_doubling"):
        if key in resolved:
            check_count(resolved[key], f"{name} {key}", minimum=0 if key == "num_random_init" else 1)
    if "targeted" in resolved and not isinstance(resolved["targeted"], bool):
        raise TypeError(f"{name} targeted must be True or False, got {resolved['targeted']!r}")
    if name in ("fgsm", "bim", "pgd") and resolved["eps"] > 1:
        raise ValueError(f"{name} eps is in [0, 1] units (2/255 = 2 grey levels); got {resolved['eps']}")
    return resolved


def _art_attack(name: str, classifier, params: dict, batch_size: int):
    p = dict(params)
    if name == "fgsm":
        return FastGradientMethod(classifier, norm=np.inf, eps=p["eps"], batch_size=batch_size)
    if name == "bim":  # exactly ART's BasicIterativeMethod construction, measured faster when built directly
        return ProjectedGradientDescent(classifier, norm=np.inf, num_random_init=0, batch_size=batch_size,
                                        verbose=False, **p)
    if name in ("pgd", "pgd_l2"):
        norm = np.inf if name == "pgd" else 2
        return ProjectedGradientDescent(classifier, norm=norm, batch_size=batch_size, verbose=False, **p)
    if name == "cw_l2":
        return CarliniL2Method(classifier, batch_size=batch_size, verbose=False, **p)
    return DeepFool(classifier, batch_size=batch_size, verbose=False, **p)


def random_targets(y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """A seeded random target label for each input, uniform over the classes other than ``y``."""
    offsets = np.random.default_rng(seed).integers(1, n_classes, size=len(y))
    return ((y + offsets) % n_classes).astype(np.int32)


def run_attack(name: str, bundle: ModelBundle, x: np.ndarray, y: np.ndarray | None = None, *,
               targets: np.ndarray | None = None, seed: int = 0, batch_size: int = 16, progress: bool = False,
               compiled: bool = True, **params) -> AttackResult:
    """Run attack ``name`` (one of ``ATTACKS``) on RGB 0..255 images ``x``.

    ``y``: labels to attack (default: the model's predictions). ``targets``: for targeted C&W,
    explicit target labels (default: seeded random, never equal to ``y``). ``params`` override
    ``DEFAULTS[name]``. ``compiled=False`` uses stock ART gradients (for comparison only).
    """
    params = resolve_params(name, params)
    x = check_images(x, size=bundle.input_size)
    batch_size = check_batch_size(batch_size)
    y = bundle.predict(x, batch_size)[0] if y is None else check_labels(y, len(x), bundle.n_classes)
    targeted = bool(params.get("targeted", False))
    if targeted:
        targets = random_targets(y, bundle.n_classes, seed) if targets is None else \
            check_labels(targets, len(x), bundle.n_classes, "targets")
        if np.any(targets == y):
            raise ValueError("targets must differ from the true labels y for a targeted attack")
    elif targets is not None:
        raise ValueError(f"targets are only for targeted attacks; {name} is untargeted")
    set_seed(seed)
    attack = _art_attack(name, art_classifier(bundle, compiled), params, batch_size)
    onehot = np.eye(bundle.n_classes, dtype=np.float32)[targets if targeted else y]
    x01 = x / 255.0
    # ART's DeepFool differentiates the union of every input's top classes over a whole call:
    # one image per call is cheaper, and batched calls often stop short of the boundary.
    chunk = 1 if name == "deepfool" else batch_size
    start = time.perf_counter()
    chunks = []
    for i in progress_bar(range(0, len(x), chunk), name, progress):
        kwargs = {} if name == "deepfool" else {"y": onehot[i:i + chunk]}
        chunks.append(attack.generate(x01[i:i + chunk], **kwargs).astype(np.float32))
    seconds = time.perf_counter() - start
    x_adv01 = np.clip(np.concatenate(chunks), 0.0, 1.0)
    adv_labels = bundle.predict(x_adv01 * 255.0, batch_size)[0]
    success = adv_labels == targets if targeted else adv_labels != y
    delta = (x_adv01 - x01).reshape(len(x), -1)
    return AttackResult(name, x_adv01 * 255.0, success, y.astype(np.int32), adv_labels,
                        targets if targeted else None, np.linalg.norm(delta, axis=1).astype(np.float32),
                        np.abs(delta).max(axis=1).astype(np.float32), params, seconds)
