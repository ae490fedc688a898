"""One figure style for the whole suite (colour-blind-safe, journal sizes, vector PDF + PNG export)
and an image-grid helper used by the paper figures.

Every figure is one of two print widths, :data:`SINGLE_COLUMN` (3.5 in) or :data:`DOUBLE_COLUMN`
(7.16 in), drawn at its print size (no ``bbox_inches="tight"`` cropping), so every text of at least
:data:`MIN_FONT_PT` points in matplotlib is at least that size on the page."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from textwrap import fill, wrap

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.text import Text
from PIL import Image

from helpers.runtime import write_atomically

SALIENCY_CMAP = "inferno"  # perceptually uniform and colour-blind-safe, for showing H itself
FIGURE_FORMATS = ("pdf", "png")
SINGLE_COLUMN = 3.5  # inches: one column of a two-column journal page
DOUBLE_COLUMN = 7.16  # inches: the full text width of a two-column page
FIGURE_WIDTHS = (SINGLE_COLUMN, DOUBLE_COLUMN)
MIN_FONT_PT = 7.0  # the smallest text size journals accept at print size
SMALL_FONT_PT = 7.0  # tick labels, legends, panel titles of image grids
BODY_FONT_PT = 8.0  # axis labels, axes titles
MAX_GRID_ROWS = 6  # image rows on one page of an image-grid figure (the rest on further pages)
MAX_GRID_COLUMNS = 8  # image columns on one page of a double-column image grid
_CHAR_EM = 0.6  # a character's width in em, generous for DejaVu Sans: labels are cut to fit their panel


def use_style() -> None:
    """The suite's figure style: seaborn 'paper' look, colour-blind palette, embeddable fonts, every
    text at least :data:`MIN_FONT_PT` points."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind")
    mpl.rcParams.update({
        "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": 300, "savefig.bbox": "standard",
        "figure.dpi": 100, "font.size": BODY_FONT_PT, "axes.titlesize": BODY_FONT_PT,
        "axes.labelsize": BODY_FONT_PT, "xtick.labelsize": SMALL_FONT_PT, "ytick.labelsize": SMALL_FONT_PT,
        "legend.fontsize": SMALL_FONT_PT, "legend.title_fontsize": SMALL_FONT_PT,
        "figure.titlesize": BODY_FONT_PT, "figure.labelsize": SMALL_FONT_PT,
        "image.interpolation": "nearest",
    })


def figure(width: float, height: float, **subplots) -> tuple[plt.Figure, np.ndarray]:
    """``plt.subplots`` at a journal width (:data:`FIGURE_WIDTHS`) and the given height, constrained layout.

    Args:
        width: inches, one of :data:`FIGURE_WIDTHS`.
        height: inches.
        **subplots: ``plt.subplots``' arguments (``nrows``, ``ncols``, ...).

    Returns:
        the figure and its 2-D array of axes.

    Raises:
        ValueError: a width that is not a journal width."""
    if width not in FIGURE_WIDTHS:
        raise ValueError(f"figure width must be one of {FIGURE_WIDTHS} inches, got {width}")
    return plt.subplots(figsize=(width, height), layout="constrained", squeeze=False, **subplots)


PANELS_PER_ROW = 3  # attack panels side by side at a double-column width; more wrap to the next row or page


def panel_rows(items: Sequence, per_row: int = PANELS_PER_ROW) -> list[list]:
    """``items`` in rows of at most ``per_row`` (the panels of a chart that would be too narrow side by side)."""
    items = list(items)
    return [items[k:k + per_row] for k in range(0, len(items), per_row)] or [[]]


MAX_PNG_BYTES = 1_000_000  # a PNG page larger than this (photographs at 300 dpi) is stored with a 256-colour palette


def small_png(path: str | Path) -> None:
    """Rewrite a PNG over :data:`MAX_PNG_BYTES` with an adaptive 256-colour palette (octree, Floyd-Steinberg
    dithering), its size and dpi kept: a page of photographs at 300 dpi drops from 2-3 MB to about 0.5 MB; the PDF
    keeps the full colours."""
    if Path(path).stat().st_size <= MAX_PNG_BYTES:
        return
    with Image.open(path) as image:
        dpi = image.info.get("dpi")
        small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(path, format="PNG", optimize=True, **({"dpi": dpi} if dpi else {}))


def save_figure(fig: plt.Figure, name: str, folder: str | Path = "figures") -> list[Path]:
    """Write ``name.pdf`` and ``name.png`` into ``folder`` at the figure's own size, each through a
    temporary file and a rename.

    Args:
        name: the file stem.
        folder: where the files go (created if missing)."""
    paths = []
    for fmt in FIGURE_FORMATS:
        # Fixed metadata (no creation date) keeps the bytes identical across re-runs.
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}

        def write(tmp: str, fmt: str = fmt, metadata: dict = metadata) -> None:
            fig.savefig(tmp, format=fmt, metadata=metadata, bbox_inches=None)
            if fmt == "png":
                small_png(tmp)

        paths.append(write_atomically(Path(folder) / f"{name}.{fmt}", write))
    return paths


def page_count(n: int, per_page: int) -> int:
    """How many pages ``n`` items take at ``per_page`` a page (at least one)."""
    return max(1, -(-n // per_page))


def page_items(n: int, per_page: int, page: int, what: str = "Images") -> tuple[range, str]:
    """The items of page ``page`` (from 0) of ``n`` items at ``per_page`` a page, and a sentence that
    states the paging ('Images 7-12 of 16 (page 2 of 3).'; empty when everything fits on one page).

    Args:
        what: what the sentence calls the items.

    Returns:
        (the page's item indices, the sentence).

    Raises:
        ValueError: for a page that does not exist."""
    pages = page_count(n, per_page)
    if not 0 <= page < pages:
        raise ValueError(f"page {page} does not exist: {n} {what.lower()} make {pages} page(s) of {per_page} (pages 0-"
                         f"{pages - 1})")
    items = range(page * per_page, min(n, (page + 1) * per_page))
    note = "" if pages == 1 else f"{what} {items.start + 1}-{items.stop} of {n} (page {page + 1} of {pages})."
    return items, note


def save_pages(make: Callable[[int], plt.Figure], pages: int, name: str,
               folder: str | Path = "figures") -> list[plt.Figure]:
    """``make(page)`` for each page, saved by :func:`save_figure` as ``name`` (the first page) and
    ``name_page2``, ``name_page3`` ... (the others); returns the figures.

    Args:
        make: page (from 0) -> its figure.
        name: the first page's file stem."""
    figures = []
    for page in range(pages):
        fig = make(page)
        save_figure(fig, name if page == 0 else f"{name}_page{page + 1}", folder)
        figures.append(fig)
    return figures


def image_label(image_id: str, width: int = 14) -> str:
    """A short row label for an image id: its file stem without a WordNet-id prefix and with spaces
    for underscores ('val/n02977058_cash_machine.JPEG' -> 'cash machine'), cut to ``width`` characters.

    Args:
        image_id: an image id (a path or a photograph's key)."""
    stem = Path(image_id.replace("\\", "/")).name
    stem = re.sub(r"\.(jpe?g|png|bmp|gif|tiff?|webp)$", "", stem, flags=re.IGNORECASE)
    label = re.sub(r"^n\d{8}_", "", stem).replace("_", " ")
    return label if len(label) <= width else label[:width - 1] + "…"


def fit_text(text: str, width: int, lines: int = 2) -> str:
    """``text`` wrapped at ``width`` characters into at most ``lines`` lines (per paragraph), an
    ellipsis marking a cut.

    Args:
        text: the text; its newlines start paragraphs.
        width: characters per line (at least 2)."""
    width = max(width, 2)
    out = []
    for paragraph in text.split("\n"):
        wrapped = wrap(paragraph, width) or [""]
        if len(wrapped) > lines:  # the last line takes what it can of the rest
            wrapped = wrapped[:lines - 1] + [" ".join(wrapped[lines - 1:])[:width - 1].rstrip() + "…"]
        out += wrapped
    return "\n".join(out)


def _chars(length_in: float, font_pt: float) -> int:
    """How many characters of ``font_pt`` fit in ``length_in`` inches."""
    return int(length_in * 72 / (_CHAR_EM * font_pt))


def save_figures(figures: Mapping[str, plt.Figure], name: str, folder: str | Path = "figures") -> list[Path]:
    """:func:`save_figure` for a figure per model (e.g. from :func:`helpers.experiments.theta_sweep.figures`):
    one model's is ``name``; with several, each is titled with its model and named ``name_<model>``.

    Args:
        figures: model -> its figure.
        name: the file stem.

    Raises:
        ValueError: for no figure."""
    if not figures:
        raise ValueError(f"no figure to save as {name!r}")
    if len(figures) == 1:
        return save_figure(next(iter(figures.values())), name, folder)
    paths = []
    for model, fig in figures.items():
        fig.suptitle(model)
        paths += save_figure(fig, f"{name}_{model}", folder)
    return paths


def visible_texts(fig: plt.Figure) -> list[Text]:
    """Every visible, non-empty text of a drawn figure: titles, labels, tick labels, legends,
    colour bars and annotations.

    Args:
        fig: the figure (drawn here)."""
    fig.canvas.draw()
    hidden = set()  # labels of ticks outside the view limits: matplotlib keeps them but does not draw them
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = 1e-9 * max(abs(hi - lo), 1.0)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - span <= tick.get_loc() <= hi + span:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden
            and (t.axes is None or t.axes.get_visible())]


def smallest_font(fig: plt.Figure) -> float:
    """The smallest font size (points) of the figure's visible texts."""
    return min(t.get_fontsize() for t in visible_texts(fig))


@dataclass(frozen=True)
class Cell:
    """One panel of an image grid.

    Attributes:
        image: (H, W, 3) RGB in 0..255.
        saliency: (H, W) a map in [0, 1] drawn over the image, or None."""

    image: np.ndarray
    title: str = ""
    saliency: np.ndarray | None = None


@dataclass(frozen=True)
class ColourBar:
    """A colour bar of an image grid.

    Attributes:
        cmap: the colour map's name.
        label: its label, with units.
        columns: the columns it sits under (``None``: at the right of the whole grid).
        limits: the scale's ends (0 to 1 by default)."""

    cmap: str
    label: str
    columns: Sequence[int] | None = None
    limits: tuple[float, float] = (0.0, 1.0)


def image_grid(cells: list[list[Cell | None]], col_labels: list[str], row_labels: list[str] | None = None,
               width: float = DOUBLE_COLUMN, colorbar_label: str | None = None,
               colorbars: Sequence[ColourBar] = (), note: str | None = None, title_lines: int = 2) -> plt.Figure:
    """A grid of image panels ``width`` inches wide (``None`` cells are left empty), at most
    :data:`MAX_GRID_ROWS` rows and :data:`MAX_GRID_COLUMNS` columns (double column; half as many at a
    single column's width), every label cut to fit its panel (:func:`fit_text`).

    Args:
        cells: rows of panels.
        width: inches, one of :data:`FIGURE_WIDTHS`.
        colorbar_label: adds a saliency colour bar (0-1, :data:`SALIENCY_CMAP`) at the right, so labelled.
        note: printed under the grid (explanations of markers, scales).
        title_lines: lines reserved for each panel's title.

    Raises:
        ValueError: too many rows or columns for a page (page it with :func:`page_items`), or a width that
            is not a journal width."""
    rows, cols = len(cells), len(col_labels)
    if rows > MAX_GRID_ROWS or cols > MAX_GRID_COLUMNS * width / DOUBLE_COLUMN:
        raise ValueError(f"an image grid of {rows} x {cols} panels does not fit a {width} in page (at most "
                         f"{MAX_GRID_ROWS} rows and {int(MAX_GRID_COLUMNS * width / DOUBLE_COLUMN)} columns): "
                         "page it (helpers.plotting.page_items)")
    bars = [ColourBar(SALIENCY_CMAP, colorbar_label)] if colorbar_label else []
    bars += list(colorbars)
    right = 0.75 if any(b.columns is None for b in bars) else 0.0
    panel = (width - right - (0.35 if row_labels else 0.05)) / cols
    if note:
        note = "\n".join(fill(line, _chars(0.95 * width, SMALL_FONT_PT)) for line in note.split("\n"))
    lines = max([title_lines] + [c.title.count("\n") + 1 for row in cells for c in row if c is not None and c.title])
    col_labels = [fit_text(str(c), _chars(0.85 * panel, BODY_FONT_PT), lines=1 if "\n" in str(c) else 2)
                  for c in col_labels]
    label_lines = max(c.count("\n") + 1 for c in col_labels)
    height = (rows * (min(panel, 1.6) + 0.13 * lines + 0.04) + 0.15 * label_lines + 0.2
              + 0.55 * any(b.columns is not None for b in bars))
    height += 0.14 * (note.count("\n") + 1) if note else 0.0
    fig, axes = figure(width, height, nrows=rows, ncols=cols)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            sns.despine(ax=ax, left=True, bottom=True)
            if cell is None:
                continue
            ax.imshow(np.clip(cell.image, 0, 255).astype(np.uint8))
            if cell.saliency is not None:
                ax.imshow(cell.saliency, cmap=SALIENCY_CMAP, alpha=0.55, vmin=0, vmax=1, interpolation="bilinear")
            ax.set_title(fit_text(cell.title, _chars(0.85 * panel, SMALL_FONT_PT), lines=1),
                         fontsize=SMALL_FONT_PT)
        if row_labels:
            axes[r, 0].set_ylabel(fit_text(row_labels[r], _chars(0.8 * min(panel, 1.6), SMALL_FONT_PT)),
                                  fontsize=SMALL_FONT_PT)
    for c, label in enumerate(col_labels):
        axes[0, c].annotate(label, (0.5, 1.0),
                            xycoords="axes fraction",
                            xytext=(0, 4 + 9 * lines),
                            textcoords="offset points", ha="center", va="bottom", fontsize=BODY_FONT_PT,
                            fontweight="bold")
    for bar in bars:
        mappable = mpl.cm.ScalarMappable(mpl.colors.Normalize(*bar.limits), bar.cmap)
        where = axes if bar.columns is None else axes[:, list(bar.columns)]
        cb = fig.colorbar(mappable, ax=where, location="right" if bar.columns is None else "bottom",
                          fraction=0.05 if bar.columns is None else 0.04, shrink=0.9, aspect=25)
        room = 0.8 * height if bar.columns is None else 0.9 * panel * len(bar.columns)  # along the bar
        cb.set_label(fill(bar.label, max(_chars(room, SMALL_FONT_PT), 12)), fontsize=SMALL_FONT_PT)
        cb.ax.tick_params(labelsize=SMALL_FONT_PT)
    if note:
        fig.supxlabel(note, fontsize=SMALL_FONT_PT, ha="center")
    return fig
