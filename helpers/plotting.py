"""One figure style for the whole suite (colour-blind-safe, vector PDF + PNG export) and an
image-grid helper used by the paper figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from helpers.runtime import write_atomically

SALIENCY_CMAP = "inferno"  # perceptually uniform and colour-blind-safe, for showing H itself
FIGURE_FORMATS = ("pdf", "png")


def use_style() -> None:
    """The suite's figure style: seaborn 'paper' context, colour-blind palette, embeddable fonts."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind")
    mpl.rcParams.update({
        "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": 150, "savefig.bbox": "tight",
        "figure.dpi": 100, "axes.titlesize": 8, "axes.labelsize": 9, "font.size": 8,
        "image.interpolation": "nearest",
    })


def save_figure(fig: plt.Figure, name: str, folder: str | Path = "figures") -> list[Path]:
    """Write ``name.pdf`` and ``name.png`` into ``folder``, each through a temporary file and a rename."""
    paths = []
    for fmt in FIGURE_FORMATS:
        # Fixed metadata (no creation date) keeps the bytes identical across re-runs.
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}

        def write(tmp: str, fmt: str = fmt, metadata: dict = metadata) -> None:
            fig.savefig(tmp, format=fmt, metadata=metadata)

        paths.append(write_atomically(Path(folder) / f"{name}.{fmt}", write))
    return paths


@dataclass(frozen=True)
class Cell:
    """One panel of an image grid: an RGB 0..255 image, an optional saliency map drawn over it
    (values in [0, 1]), and a title."""

    image: np.ndarray
    title: str = ""
    saliency: np.ndarray | None = None


def image_grid(cells: list[list[Cell]], col_labels: list[str], row_labels: list[str] | None = None,
               panel_size: float = 1.7, colorbar_label: str | None = None) -> plt.Figure:
    """A grid of image panels; with ``colorbar_label`` a shared saliency colour bar is added."""
    rows, cols = len(cells), len(col_labels)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols + (0.6 if colorbar_label else 0),
                                                  panel_size * rows + 0.4), squeeze=False, layout="constrained")
    mappable = None
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            ax = axes[r, c]
            ax.imshow(np.clip(cell.image, 0, 255).astype(np.uint8))
            if cell.saliency is not None:
                mappable = ax.imshow(cell.saliency, cmap=SALIENCY_CMAP, alpha=0.55, vmin=0, vmax=1,
                                     interpolation="bilinear")
            ax.set_title(cell.title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            sns.despine(ax=ax, left=True, bottom=True)
        if row_labels:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    for c, label in enumerate(col_labels):
        axes[0, c].annotate(label, (0.5, 1.25), xycoords="axes fraction", ha="center", fontsize=9,
                            fontweight="bold")
    if colorbar_label and mappable is not None:
        bar = fig.colorbar(mappable, ax=axes, fraction=0.025, pad=0.02)
        bar.set_label(colorbar_label)
        bar.solids.set(alpha=1.0)
    return fig
