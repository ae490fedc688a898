"""Adversarial attacks through ART, with one entry point: :func:`run_attack`.

Images are RGB 0..255 everywhere in ``helpers``; ART sees a [0, 1] view of the model (see
``helpers.art_classifier``), so ART's defaults and the literature's budgets keep their meaning.
Budgets (``eps``) and the returned norms are in [0, 1] units: multiply by 255 for grey levels
(eps = 2/255 ~ 0.0078 is 2 grey levels).

Attacks and their defaults (``DEFAULTS``; ``PAPER_PARAMS``, full-scale settings for a GPU, are
``PAPER_OVERRIDES`` on them; all in ``helpers.attack_settings``, importable without TensorFlow, and
re-exported here; ``ART_ATTACKS`` maps each white-box attack to its ART class):

- ``fgsm``: untargeted L-inf FGSM (Goodfellow et al.), one gradient step.
- ``bim``: untargeted L-inf Basic Iterative Method (Kurakin et al.), PGD without random start.
- ``pgd``: untargeted L-inf PGD with one uniform random start (Madry et al.).
- ``pgd_l2``: the same in L2.
- ``cw_l2``: Carlini & Wagner L2; ``targeted=True`` (default, as in the paper) draws a seeded
  random target different from the true label for each input; ``targeted=False`` is untargeted.
- ``cw_l2_kappa``: the same with a logit margin, confidence κ > 0 (default 5): its examples do not sit on the
  decision boundary, where C&W at κ = 0 leaves them (any change of the input can undo those).
- ``deepfool``: untargeted DeepFool (Moosavi-Dezfooli et al.) on the ``nb_grads`` top classes.
- ``square``: untargeted L-inf Square Attack (Andriushchenko et al.), score-based black box: it
  sees only the model's scores (logits); its query budget is ``max_iter`` x ``nb_restarts``.
- ``hopskipjump``: untargeted HopSkipJump (Chen et al.), decision-based black box: it sees only
  labels; its query budget is set by ``max_iter``, ``max_eval`` and ``init_eval`` (gradient
  estimates), ``init_size`` (random starting points). With ``detector=`` the black box is the
  classifier *and* its detector: it answers 'rejected' for flagged inputs, and the attacker counts a
  rejected answer as a failure (see :class:`BlackBox`).

Black-box attacks run one image at a time and report, per image, the queries the black box
answered (``AttackResult.queries``, ART's own bookkeeping calls included). HopSkipJump starts from
a seeded random image that the black box already counts as adversarial (ART's own draw is unseeded).

Success: untargeted, the label differs from ``y``; targeted, the label equals the target; attacking
a classifier guarded by a detector, also not flagged by it. Only successful examples should be used
downstream; failures are kept for reporting. :func:`bypass` checks examples against detectors.
Detector-aware white-box attacks are these attacks run on the models of ``helpers.adaptive.model``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from helpers.art_classifier import art_classifier
from helpers.attack_settings import (  # noqa: F401 (the settings are re-exported: helpers.attacks.SETTINGS)
    ATTACKS,
    BLACK_BOX,
    DEFAULTS,
    PAPER_OVERRIDES,
    PAPER_PARAMS,
    SETTINGS,
    resolve_params,
    with_overrides,
)
from helpers.models import ModelBundle
from helpers.runtime import progress_bar, set_seed
from helpers.validation import (
    accept_dark_images,
    check_batch_size,
    check_images,
    check_labels,
)

with warnings.catch_warnings():  # ART warns that its PyTorch-only certification tools are missing
    warnings.filterwarnings("ignore", message="PyTorch not found")
    from art.attacks.evasion import (
        CarliniL2Method,
        DeepFool,
        FastGradientMethod,
        HopSkipJump,
        ProjectedGradientDescent,
        SquareAttack,
    )
    from art.estimators.classification import BlackBoxClassifier, BlackBoxClassifierNeuralNetwork

@dataclass(frozen=True)
class AttackResult:
    """Adversarial examples (float32, 0..255, not rounded), which succeeded, and their norms.

    Attributes:
        x_adv: (N, H, W, 3) float32 adversarial examples in 0..255.
        success: (N,) bool, which succeeded.
        y: (N,) the labels attacked (true labels, or the model's own predictions).
        adv_labels: (N,) the model's labels of ``x_adv``.
        targets: (N,) the target labels of a targeted attack (else ``None``).
        l2, linf: (N,) perturbation norms in [0, 1] units.
        params: the attack's full parameters.
        seconds: generation time of the whole set.
        queries: for black-box attacks, (N,) the queries the black box answered for each example (else
            ``None``)."""

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
    queries: np.ndarray | None = None

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())

    @property
    def successful(self) -> np.ndarray:
        """The successful adversarial examples only."""
        return self.x_adv[self.success]


# The white-box attacks: ART class and the arguments fixed for each (``bim`` is exactly ART's
# BasicIterativeMethod construction, measured faster when built directly).
ART_ATTACKS: dict[str, tuple[type, dict]] = {
    "fgsm": (FastGradientMethod, {"norm": np.inf}),
    "bim": (ProjectedGradientDescent, {"norm": np.inf, "num_random_init": 0, "verbose": False}),
    "pgd": (ProjectedGradientDescent, {"norm": np.inf, "verbose": False}),
    "pgd_l2": (ProjectedGradientDescent, {"norm": 2, "verbose": False}),
    "cw_l2": (CarliniL2Method, {"verbose": False}),
    "cw_l2_kappa": (CarliniL2Method, {"verbose": False}),
    "deepfool": (DeepFool, {"verbose": False}),
}


def _art_attack(name: str, classifier, params: dict, batch_size: int):
    attack, fixed = ART_ATTACKS[name]
    return attack(classifier, batch_size=batch_size, **fixed, **params)


def detector_flags(detector, x: np.ndarray, batch_size: int = 32) -> tuple[dict, np.ndarray]:
    """``(report, flagged)`` of a detector with ART's contract (``detect(x) -> (report, is_adversarial)``) on
    RGB 0..255 images; ``flagged`` (N,) is true where any of its settings (e.g. any theta) flags the input.

    Args:
        x: (N, H, W, 3) RGB images in 0..255."""
    report, flags = detector.detect(x, batch_size=batch_size)
    flags = np.asarray(flags, bool)
    return report, flags.reshape(-1, len(x)).any(axis=0)


GREY_LEVEL_SNAP = 1e-4  # grey levels: a float32 [0, 1] round trip errs by at most ~3e-5 of a level


def grey_levels(x01: np.ndarray) -> np.ndarray:
    """[0, 1] images back to RGB 0..255 float32, giving the detector the bytes it would see directly.

    float64 holds every float32 image exactly, so ``x / 255`` in float64 comes back as ``x``. float32 does
    not: there a value within ``GREY_LEVEL_SNAP`` of a whole grey level (a loaded photograph's pixels, those
    an attack left alone) is that level, and any other value is ``255 * x01`` (an attack's steps pass).

    Args:
        x01: images in [0, 1] (values outside are clipped), float32 or float64.

    Returns:
        float32 array of the same shape in 0..255.
    """
    x01 = np.clip(np.asarray(x01), 0.0, 1.0)
    x = x01.astype(np.float64) * 255.0
    if x01.dtype == np.float64:
        return x.astype(np.float32)
    level = np.rint(x)
    return np.where(np.abs(x - level) <= GREY_LEVEL_SNAP, level, x).astype(np.float32)


def _succeeded(labels: np.ndarray, y: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
    return labels == targets if targets is not None else labels != y


class BlackBox:
    """The attacked system as a black-box attacker sees it: [0, 1] images in, answers out, and
    ``queries``, the number of images it has answered.

    :meth:`scores` answers the model's logits (a score-based attack's view); :meth:`labels` answers
    one-hot labels (a decision-based attack's view). With a ``detector`` (ART's contract:
    ``detect(x) -> (report, is_adversarial)``), the black box is the classifier and its detector:
    :meth:`labels` has ``n_classes + 1`` outputs, the last one (``rejected``) for inputs it flags.
    """

    def __init__(self, bundle: ModelBundle, detector=None, batch_size: int = 32):
        self.bundle, self.detector, self.batch_size = bundle, detector, batch_size
        self.rejected = bundle.n_classes if detector is not None else None
        self.n_outputs = bundle.n_classes + (detector is not None)
        self.queries = 0

    def _images(self, x01: np.ndarray) -> np.ndarray:
        self.queries += len(x01)
        return grey_levels(x01)

    def scores(self, x01: np.ndarray) -> np.ndarray:
        """Logits (N, n_classes).

        Args:
            x01: (N, H, W, 3) images in [0, 1]."""
        with accept_dark_images():  # an attack may query any image, near-black ones included
            return self.bundle.logits(self._images(x01), self.batch_size)

    def labels(self, x01: np.ndarray) -> np.ndarray:
        """One-hot answers (N, n_outputs): the label, or ``rejected`` where the detector flags the input.

        Args:
            x01: (N, H, W, 3) images in [0, 1].

        Returns:
            (N, n_outputs) float32 one-hot answers."""
        x = self._images(x01)
        with accept_dark_images():
            if self.detector is None:
                answer = self.bundle.logits(x, self.batch_size).argmax(1)
            else:
                report, flagged = detector_flags(self.detector, x, self.batch_size)
                same_model = getattr(getattr(self.detector, "bundle", None), "model", None) is self.bundle.model
                labels = report["labels"] if same_model and "labels" in report else \
                    self.bundle.logits(x, self.batch_size).argmax(1)
                answer = np.where(flagged, self.rejected, labels)
        return np.eye(self.n_outputs, dtype=np.float32)[answer]


def _rejection_as_label(answer_fn, label: int, n_classes: int):
    """An attacker's view of a guarded black box for one input of label ``label``: a 'rejected' answer counts as
    that label (no progress), so that 'adversarial' means misclassified and not rejected."""

    def view(x01: np.ndarray) -> np.ndarray:
        answers = answer_fn(x01)
        merged = answers[:, :n_classes].copy()
        merged[:, label] += answers[:, n_classes]
        return merged

    return view


def _seeded_start(view, x01: np.ndarray, rng: np.random.Generator, tries: int) -> np.ndarray | None:
    """A uniform random image that ``view`` labels differently from ``x01`` (HopSkipJump's starting point),
    drawn from ``rng`` (ART's own draw is unseeded); ``None`` after ``tries`` failures."""
    label = view(x01[None]).argmax(1)[0]
    for _ in range(tries):
        candidate = rng.uniform(0.0, 1.0, x01.shape).astype(np.float32)
        if view(candidate[None]).argmax(1)[0] != label:
            return candidate
    return None


def _black_box_attack(name: str, bundle: ModelBundle, x01: np.ndarray, y: np.ndarray, params: dict, seed: int,
                      batch_size: int, detector, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Adversarial examples in [0, 1] and the queries of each, one image per ART call."""
    rng = np.random.default_rng(seed)
    shape, n = x01.shape[1:], bundle.n_classes
    out, queries = [], []
    for i in progress_bar(range(len(x01)), name, progress):
        box = BlackBox(bundle, detector, batch_size)
        if name == "square":
            classifier = BlackBoxClassifierNeuralNetwork(box.scores, shape, n, channels_first=False,
                                                         clip_values=(0.0, 1.0))
            attack = SquareAttack(classifier, norm=np.inf, batch_size=batch_size, verbose=False, **params)
            adv = attack.generate(x01[i:i + 1], y=np.eye(n, dtype=np.float32)[y[i:i + 1]])
        else:
            view = box.labels if detector is None else _rejection_as_label(box.labels, int(y[i]), n)
            classifier = BlackBoxClassifier(view, shape, n, clip_values=(0.0, 1.0))
            start = _seeded_start(view, x01[i], rng, params["init_size"])
            p = {**params, "norm": np.inf if params["norm"] == "inf" else 2}
            attack = HopSkipJump(classifier, batch_size=batch_size, targeted=False, verbose=False, **p)
            adv = x01[i:i + 1] if start is None else attack.generate(x01[i:i + 1], x_adv_init=start[None])
        out.append(adv.astype(np.float32))
        queries.append(box.queries)
    return np.concatenate(out), np.array(queries, dtype=np.int64)


def random_targets(y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """A seeded random target label for each input, uniform over the classes other than ``y``.

    Args:
        y: (N,) labels.

    Returns:
        (N,) int32 targets."""
    offsets = np.random.default_rng(seed).integers(1, n_classes, size=len(y))
    return ((y + offsets) % n_classes).astype(np.int32)


def run_attack(name: str, bundle: ModelBundle, x: np.ndarray, y: np.ndarray | None = None, *,
               targets: np.ndarray | None = None, seed: int = 0, batch_size: int = 16, progress: bool = False,
               compiled: bool = True, detector=None, **params) -> AttackResult:
    """Run attack ``name`` (one of ``ATTACKS``) on RGB 0..255 images ``x``.

    Args:
        x: (N, H, W, 3) RGB images in 0..255 of the model's input size.
        y: labels to attack (default: the model's predictions).
        targets: for targeted C&W, explicit target labels (default: seeded random, never equal to ``y``).
        seed: the seed of the attack and of the random targets.
        compiled: False uses stock ART gradients (for comparison only).
        detector: for ``hopskipjump`` only, a detector guarding the model (ART's contract); the black
            box then answers 'rejected' for flagged inputs, and success also requires not being flagged.
        **params: override ``DEFAULTS[name]``.

    Raises:
        ValueError: bad parameters (:func:`resolve_params`), a detector for another attack than
            'hopskipjump', targets for an untargeted attack or equal to ``y``, or bad images or labels.
        TypeError: a detector without ``detect``, or inputs of the wrong type."""
    params = resolve_params(name, params)
    if detector is not None and name != "hopskipjump":
        raise ValueError(f"detector= is for the decision-based black box 'hopskipjump', not for {name!r}; "
                         "attack a detector in white box with the models of helpers.adaptive")
    if detector is not None and not callable(getattr(detector, "detect", None)):
        raise TypeError(f"detector must have ART's detect(x) -> (report, is_adversarial), "
                        f"got {type(detector).__name__}")
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
    x01 = x / 255.0
    start = time.perf_counter()
    queries = None
    if name in BLACK_BOX:
        x_adv01, queries = _black_box_attack(name, bundle, x01, y, params, seed, batch_size, detector, progress)
    else:
        attack = _art_attack(name, art_classifier(bundle, compiled), params, batch_size)
        onehot = np.eye(bundle.n_classes, dtype=np.float32)[targets if targeted else y]
        # ART's DeepFool differentiates the union of every input's top classes over a whole call:
        # one image per call is cheaper, and batched calls often stop short of the boundary.
        chunk = 1 if name == "deepfool" else batch_size
        chunks = []
        for i in progress_bar(range(0, len(x), chunk), name, progress):
            kwargs = {} if name == "deepfool" else {"y": onehot[i:i + chunk]}
            chunks.append(attack.generate(x01[i:i + chunk], **kwargs).astype(np.float32))
        x_adv01 = np.concatenate(chunks)
    seconds = time.perf_counter() - start
    x_adv01 = np.clip(x_adv01, 0.0, 1.0)
    x_adv = grey_levels(x_adv01)
    adv_labels = bundle.predict(x_adv, batch_size)[0]
    success = _succeeded(adv_labels, y, targets if targeted else None)
    if detector is not None:
        with accept_dark_images():
            success &= ~detector_flags(detector, x_adv, batch_size)[1]
    delta = (x_adv01 - x01).reshape(len(x), -1)
    return AttackResult(name, x_adv, success, y.astype(np.int32), adv_labels,
                        targets if targeted else None, np.linalg.norm(delta, axis=1).astype(np.float32),
                        np.abs(delta).max(axis=1).astype(np.float32), params, seconds, queries)


@dataclass(frozen=True)
class Bypass:
    """Adversarial examples against a classifier and its detectors, per example.

    Attributes:
        labels: (N,) f's labels.
        success: (N,) bool: label != y, or == target.
        flagged: (N,) bool: flagged by any detector.
        bypassed: (N,) bool: success and not flagged."""

    labels: np.ndarray
    success: np.ndarray
    flagged: np.ndarray
    bypassed: np.ndarray

    @property
    def rate(self) -> float:
        """The share of examples that bypassed the detectors."""
        return float(self.bypassed.mean())


def bypass(bundle: ModelBundle, detectors, x_adv: np.ndarray, y: np.ndarray, targets: np.ndarray | None = None,
           batch_size: int = 32) -> Bypass:
    """Did each adversarial example (RGB 0..255) fool the classifier ``bundle`` (the undefended model, not an
    adaptive one) without being flagged by ``detectors`` (one detector with ART's contract, or a sequence)?

    Args:
        x_adv: (N, H, W, 3) adversarial examples, RGB in 0..255.
        y: (N,) the true labels.
        targets: (N,) the targets of a targeted attack, or None.

    Raises:
        TypeError, ValueError: bad images, labels, targets or batch size (:mod:`helpers.validation`)."""
    x_adv = check_images(x_adv, "x_adv", bundle.input_size)
    batch_size = check_batch_size(batch_size)
    y = check_labels(y, len(x_adv), bundle.n_classes)
    if targets is not None:
        targets = check_labels(targets, len(x_adv), bundle.n_classes, "targets")
    detectors = list(detectors) if isinstance(detectors, (list, tuple)) else [detectors]
    labels = bundle.predict(x_adv, batch_size)[0]
    success = _succeeded(labels, y, targets)
    flagged = np.zeros(len(x_adv), bool)
    for detector in detectors:
        flagged |= detector_flags(detector, x_adv, batch_size)[1]
    return Bypass(labels, success, flagged, success & ~flagged)
