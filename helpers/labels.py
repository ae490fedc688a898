"""The vocabulary of every table, figure and paragraph: display names of attacks, noises, squeezers,
saliency methods, detectors and models, one key per detector configuration (:class:`DetectorKey`,
whose ``.label`` is its only display name), and the one formatter of a rate with its interval
(:func:`rate_text`). Identifiers ('cw_l2', 'bit_depth:5') are data; display names are made here, last,
and never compared or parsed back."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ATTACK_LABELS = {"fgsm": "FGSM", "bim": "BIM", "pgd": "PGD", "pgd_l2": "PGD-L2", "cw_l2": "C&W-L2",
                 "cw_l2_kappa": "C&W-L2 κ>0",
                 "deepfool": "DeepFool", "square": "SquareAttack", "hopskipjump": "HopSkipJump", "clean": "clean"}
NOISE_LABELS = {"none": "no noise", "color_reverse": "colour reversing", "zero_mean": "zero mean"}
NOISE_LEGEND = {"none": "saliency only", "color_reverse": "+ colour reversing", "zero_mean": "+ zero mean"}  # figures
SALIENCY_LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM", "layercam": "LayerCAM"}
SQUEEZER_KINDS = {"bit_depth": "bit depth", "median": "median", "nlm": "non-local means"}
DETECTORS = ("saliency", "feature_squeezing", "baseline")
BASELINE_LABEL = "1 − max softmax (baseline)"
# Shorter names for a table's row labels, each stated in its caption's key (a LaTeX table's narrow column).
ABBREVIATIONS = {"feature squeezing": "FS", "non-local means": "NLM", "colour reversing": "CR", "zero mean": "ZM",
                 "1 − max softmax": "1 − max p"}
JOINT_SEPARATOR = "+"  # joins a joint detector's squeezer specs into its id in a score table
_MODEL = re.compile(r"efficientnet_lite(\d)")


def attack_label(attack: str) -> str:
    """An attack's display name.

    Args:
        attack: an attack name of ``helpers.attacks`` ('cw_l2') or 'clean'.

    Returns:
        'C&W-L2'; an unknown name upper-cased."""
    return ATTACK_LABELS.get(attack, attack.upper())


def noise_label(noise: str) -> str:
    """'color_reverse' -> 'colour reversing', 'none' -> 'no noise' (an unknown name as it is).

    Args:
        noise: a noise name of the saliency detector."""
    return NOISE_LABELS.get(noise, noise)


def model_label(model: str) -> str:
    """'efficientnet_lite0' -> 'EfficientNet-Lite0'; 'vgg16' -> 'VGG16'; other names as they are.

    Args:
        model: a model name of ``helpers.models``."""
    hit = _MODEL.fullmatch(model)
    if hit:
        return f"EfficientNet-Lite{hit.group(1)}"
    return {"vgg16": "VGG16", "resnet50": "ResNet50"}.get(model, model)


def squeezer_label(spec: str) -> str:
    """A squeezer spec's display name: 'bit_depth:5' -> 'bit depth 5', 'median:2x2' -> 'median 2×2',
    'nlm:11-3-4' -> 'non-local means 11-3-4'; a spec of no known kind as it is.

    Args:
        spec: a squeezer spec of ``helpers.squeeze`` ('bit_depth:5')."""
    kind, _, arg = spec.partition(":")
    if kind not in SQUEEZER_KINDS or not arg:
        return spec
    return f"{SQUEEZER_KINDS[kind]} {arg.replace('x', '×') if kind == 'median' else arg}"


def _blank(value: object) -> bool:
    """Whether a table cell is empty: None, '', nan, or pandas' NA (which has no float value)."""
    if value is None or isinstance(value, str):
        return not value
    try:
        return math.isnan(value)
    except TypeError:
        return True


@dataclass(frozen=True)
class DetectorKey:
    """One detector configuration, the identity of its rows in a score or rate table.

    Attributes:
        detector: one of ``DETECTORS``.
        noise: saliency only: the noise name (``NOISE_LABELS``).
        theta: saliency only: one θ, or several for a detector that flags when any of them does.
        squeezers: Feature Squeezing's specs (several: the joint detector, max over squeezers).
        saliency_method: a name of ``SALIENCY_LABELS``.

    Raises:
        ValueError: an unknown detector, a saliency configuration without noise or theta, or a Feature
            Squeezing one without squeezers."""

    detector: str
    noise: str | None = None
    theta: float | tuple[float, ...] | None = None
    squeezers: tuple[str, ...] = ()
    saliency_method: str = "gradcam"

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; valid: {', '.join(DETECTORS)}")
        if self.detector == "saliency" and (self.noise is None or self.theta is None):
            raise ValueError("a saliency configuration needs a noise and a theta")
        if self.detector == "feature_squeezing" and not self.squeezers:
            raise ValueError("a feature squeezing configuration needs at least one squeezer")

    @classmethod
    def from_columns(cls, detector: str, noise: object = "", theta: object = float("nan"), squeezer: object = "",
                     saliency_method: object = "") -> DetectorKey:
        """The key of a score- or rate-table row from its columns (``""``/nan where a column does not apply).

        Args:
            detector: one of ``DETECTORS``.
            squeezer: a spec, or a joint detector's specs joined by ``JOINT_SEPARATOR``.
            saliency_method: a name of ``SALIENCY_LABELS``; blank: 'gradcam'.

        Raises:
            ValueError: for an unknown detector or a configuration missing what it needs."""
        return cls(detector, None if _blank(noise) else str(noise), None if _blank(theta) else float(theta),
                   tuple(str(squeezer).split(JOINT_SEPARATOR)) if not _blank(squeezer) else (),
                   "gradcam" if _blank(saliency_method) else str(saliency_method))

    @property
    def squeezer(self) -> str:
        """The ``squeezer`` column of its rows: the spec, or the joint detector's specs joined by '+'."""
        return JOINT_SEPARATOR.join(self.squeezers)

    @property
    def label(self) -> str:
        """Its display name: 'saliency (colour reversing, θ = 0.1, 0.3)', 'bit depth 5', 'feature squeezing
        (bit depth 5, median 2×2, non-local means 11-3-4)', '1 − max softmax (baseline)'; a saliency
        method other than Grad-CAM is named ('LayerCAM saliency (no noise, θ = 0.1)')."""
        if self.detector == "saliency":
            thetas = self.theta if isinstance(self.theta, tuple) else (self.theta,)
            method = "" if self.saliency_method == "gradcam" else \
                f"{SALIENCY_LABELS.get(self.saliency_method, self.saliency_method)} "
            return f"{method}saliency ({noise_label(self.noise)}, θ = {', '.join(f'{t:g}' for t in thetas)})"
        if self.detector == "feature_squeezing":
            names = [squeezer_label(s) for s in self.squeezers]
            return names[0] if len(names) == 1 else f"feature squeezing ({', '.join(names)})"
        return BASELINE_LABEL


def method_label(detector: str, noise: object = "", theta: object = float("nan"), squeezer: object = "") -> str:
    """The display name of a score- or rate-table row's configuration (:attr:`DetectorKey.label`).

    Returns:
        e.g. 'saliency (zero mean, θ = 0.1)'.

    Raises:
        ValueError: for an unknown detector or a configuration missing what it needs."""
    return DetectorKey.from_columns(detector, noise, theta, squeezer).label


def rate_text(value: float, ci_low: float, ci_high: float, n: float, *, percent: bool = False, prose: bool = False,
              n_photographs: float | None = None, note: str = "") -> str:
    """A rate with its interval and n, the one format of every table cell and sentence.

    Args:
        value, ci_low, ci_high: the rate and its 95% interval, fractions (``percent``: already in percent).
        n: the number of inputs it is computed on.
        prose: the sentence form '31.2% [18, 49] (n = 32)' instead of the cell '31.2 [18, 49] (32)'.
        n_photographs: the photographs the n inputs show; where they differ from n, prose says
            'n = 32 views of 16 photographs'.
        note: written instead of the number when set (e.g. 'not resolvable at n = 12').

    Returns:
        the text; a missing value is '– (0)' in a cell and 'not measured' in prose."""
    if note:
        return note
    if _blank(value):
        return "not measured" if prose else "– (0)"
    scale = 1.0 if percent else 100.0
    numbers = f"{scale * value:.1f}{'%' if prose else ''} [{scale * ci_low:.0f}, {scale * ci_high:.0f}]"
    if not prose:
        return f"{numbers} ({int(n)})"
    views = not _blank(n_photographs) and int(n_photographs) != int(n)
    return f"{numbers} (n = {int(n)}{f' views of {int(n_photographs)} photographs' if views else ''})"


def auc_text(value: float, ci_low: float, ci_high: float) -> str:
    """An AUC with its bootstrap 95% interval: '0.92 [0.85, 0.97]'."""
    return f"{value:.2f} [{ci_low:.2f}, {ci_high:.2f}]"


@dataclass(frozen=True, eq=False)
class Cell:
    """A table cell of a rate or an AUC that keeps its parts: ``str(cell)`` is the text a CSV or a printed table
    shows ('62.5 [34, 84] (16)'); a LaTeX table lays the parts out (value over interval, n in a header or the
    caption) without reading the text back. Equal to its text, so a cell compares with a string.

    Attributes:
        text: the cell as text.
        value: the number as shown ('62.5', '0.91'; '–' when not measured).
        interval: its 95% interval as shown ('[34, 84]'), or ''.
        n: the inputs it is computed on; None for an AUC (whose n the caption gives).
        note: what is shown instead of a number ('not resolvable at n = 12'), or ''."""

    text: str
    value: str = ""
    interval: str = ""
    n: int | None = None
    note: str = ""

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return repr(self.text)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.text)


def rate_cell(value: float, ci_low: float, ci_high: float, n: float, *, percent: bool = False,
              note: str = "") -> Cell:
    """:func:`rate_text`'s cell form as a :class:`Cell` (the same text)."""
    text = rate_text(value, ci_low, ci_high, n, percent=percent, note=note)
    if note:
        return Cell(text, note=note)
    if _blank(value):
        return Cell(text, "–", n=0)
    scale = 1.0 if percent else 100.0
    return Cell(text, f"{scale * value:.1f}", f"[{scale * ci_low:.0f}, {scale * ci_high:.0f}]", int(n))


def auc_cell(value: float, ci_low: float, ci_high: float) -> Cell:
    """:func:`auc_text` as a :class:`Cell` (the same text)."""
    return Cell(auc_text(value, ci_low, ci_high), f"{value:.2f}", f"[{ci_low:.2f}, {ci_high:.2f}]")
