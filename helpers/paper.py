"""The paper's published Tables I-V, as transcribed in ``data/paper/``, and its names for the squeezers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PAPER_DIR = Path(__file__).resolve().parents[1] / "data" / "paper"
PAPER_MODELS = {"vgg16": "VGG16", "resnet50": "ResNet50"}


def paper_tables_1_3() -> pd.DataFrame:
    """Tables I-III as transcribed: table, noise, model, theta, metric, value (percent)."""
    return pd.read_csv(PAPER_DIR / "tables_1_3.csv")


def paper_tables_4_5() -> pd.DataFrame:
    """Tables IV-V as transcribed: table, method, setting, model, metric, value (percent)."""
    return pd.read_csv(PAPER_DIR / "tables_4_5.csv")


def paper_setting(squeezer: str) -> str:
    """The paper's name of a squeezer: 'bit_depth:5' -> '5-bit', 'median:2x2' -> '2x2', 'nlm:11-3-4' -> '11-3-4'.

    Args:
        squeezer: a squeezer spec ('kind:arg').

    Raises:
        ValueError: a spec without ':'."""
    kind, arg = squeezer.split(":", 1)
    return f"{arg}-bit" if kind == "bit_depth" else arg
