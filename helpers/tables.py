"""Result tables, data first and formatted last: each layout is built from a *tidy* numeric table
(value, ci_low, ci_high, n, unit, interval, model and the identifying columns), then formatted as
'87.5 [64, 97] (16)' (:func:`helpers.labels.rate_text`). Every layout has one column group per model
(one model is a group of one). :func:`export_table` writes the formatted table (CSV and an ASCII-only booktabs
LaTeX ``table`` with a caption stating units, interval method, n, model, images and seed, display names
instead of identifiers, optionally compact) and its tidy twin
``<name>_tidy.csv`` next to it, all atomically."""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.attack_report import settings_text
from helpers.labels import (
    ABBREVIATIONS,
    ATTACK_LABELS,
    Cell,
    attack_label,
    auc_cell,
    method_label,
    model_label,
    noise_label,
    rate_cell,
    squeezer_label,
)
from helpers.runtime import write_atomically
from helpers.scores import AUC_UNIT, METHOD, PERCENT, RULE_METRICS, rates_tidy
from helpers.validation import check_choice

TIDY_COLUMNS = ["value", "ci_low", "ci_high", "n", "unit", "interval"]
GREY_LEVELS = "grey levels of 255"  # the unit of a perturbation size (PERCENT, AUC_UNIT: helpers.scores)
# How an AUC's interval is made (helpers.metrics.auc_interval): a caption's words for it.
AUC_INTERVAL = "percentile bootstrap 95% interval over photographs, each drawn with all its inputs, 1000 resamples"
RATE_CELL = "% [95% CI] (n)"  # the header suffix of a column of formatted rates


def format_tidy(row: pd.Series) -> Cell | str:
    """A tidy row's cell text: a percent rate with its interval and n (:func:`helpers.labels.rate_text`),
    an AUC with its interval, or a plain number; a rate's ``note`` (e.g. 'not resolvable at n = 12')
    instead of its number.

    Args:
        row: a tidy row (``TIDY_COLUMNS``, optionally ``note``)."""
    note = row.get("note")
    if row["unit"] == PERCENT or (isinstance(note, str) and note):
        return rate_cell(row["value"], row["ci_low"], row["ci_high"], row["n"], percent=True,
                         note=note if isinstance(note, str) else "")
    if row["unit"] == AUC_UNIT:
        return auc_cell(row["value"], row["ci_low"], row["ci_high"])
    return f"{row['value']:.2f}"


def model_columns(rates: pd.DataFrame, layout: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``layout(rates of one model)`` for each model of ``rates`` (its ``model`` column), side by side as
    the paper's Tables I-V have VGG16 | ResNet50: columns (model, column), rows aligned on the index.

    Args:
        rates: rows with a ``model`` column.
        layout: lays out one model's rows.

    Raises:
        ValueError: for rates of no model."""
    groups = {model: layout(part) for model, part in rates.groupby("model", sort=False)}
    if not groups:
        raise ValueError("no rates to lay out")
    return pd.concat(groups, axis=1, names=["model", None])


def with_cells(tidy: pd.DataFrame) -> pd.DataFrame:
    """``tidy`` with a ``cell`` column: each row formatted by :func:`format_tidy`."""
    return tidy.assign(cell=[format_tidy(r) for _, r in tidy.iterrows()] if len(tidy) else [])


def run_caption(metadata: Mapping[str, dict] | None) -> str:
    """'Model: efficientnet_lite0; images: 32 views of ...; seed: 0.' from each model's
    :func:`helpers.scores.run_metadata` (empty without metadata); a folder is named, never its path.

    Args:
        metadata: model -> its run's metadata (one model: a mapping of one).

    Returns:
        one sentence for every model; images named once when every model saw the same ones."""
    if not metadata:
        return ""
    first = next(iter(metadata.values()))
    seed = first.get("parameters", {}).get("seed", "not set")
    images = list(dict.fromkeys(m["images"] for m in metadata.values()))
    shown = images[0] if len(images) == 1 else "; ".join(f"{model}: {m['images']}" for model, m in metadata.items())
    parameters = first.get("parameters", {})
    attacks = settings_text(list(parameters["attacks"]), parameters.get("attack_settings", "default"),
                            parameters.get("attack_params")) if parameters.get("attacks") else ""
    return " ".join(filter(None, [f"Model: {', '.join(metadata)}; images: {folder_names(shown)}; seed: {seed}.",
                                  attacks]))


def _run_columns(tidy: pd.DataFrame, metadata: Mapping[str, dict], name: str) -> pd.DataFrame:
    """``tidy`` with each row's ``images`` and ``seed`` from its model's metadata (empty on rows of a
    model that was not run here, e.g. the paper's VGG16 next to ours).

    Raises:
        ValueError: for a tidy table without a ``model`` column, or none of whose models ``metadata`` names."""
    if "model" not in tidy.columns.tolist():
        raise ValueError(f"table {name!r}: its tidy twin has no 'model' column to attach the run metadata to")
    if not set(tidy["model"]) & set(metadata):
        raise ValueError(f"table {name!r}: no metadata for any of its models {sorted(set(tidy['model']))}")
    return tidy.assign(images=tidy["model"].map({m: v["images"] for m, v in metadata.items()}),
                       seed=tidy["model"].map({m: v.get("parameters", {}).get("seed") for m, v in metadata.items()}))


def generic_tidy(df: pd.DataFrame, index: bool = False) -> pd.DataFrame:
    """The tidy twin of a table built without one: every numeric column melted into ``value``
    (``metric`` = its column name), the other columns identifying the row; no interval, no unit.

    Args:
        index: whether its index identifies the rows too.

    Returns:
        the long table (``metric``, ``value``, the other ``TIDY_COLUMNS`` empty)."""
    frame = df.reset_index() if index else df
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    ids = [c for c in frame.columns if c not in numeric]
    long = frame.melt(id_vars=ids, value_vars=numeric, var_name="metric", value_name="value")
    return long.assign(ci_low=np.nan, ci_high=np.nan, n=np.nan, unit="", interval="")


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "θ": r"$\theta$", "−": "$-$",
          "–": "--", "—": "---", "∞": r"$\infty$", "≠": r"$\neq$", "×": r"$\times$", "ε": r"$\varepsilon$",
          "…": r"\ldots{}", "→": r"$\rightarrow$", "≤": r"$\leq$", "≥": r"$\geq$", "±": r"$\pm$", "·": r"$\cdot$",
          "°": r"$^\circ$", "\u00a0": "~", "κ": r"$\kappa$"}
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_text(text: object) -> str:
    """``text`` as ASCII LaTeX: special characters escaped, θ, −, ∞, ≠ ... as math, accents dropped.

    Args:
        text: any text (converted with ``str``).

    Raises:
        ValueError: for a character with no ASCII form."""
    out = _LATEX_PATTERN.sub(lambda m: _LATEX[m.group()], str(text))
    out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    bad = sorted({c for c in out if ord(c) > 127})
    if bad:
        raise ValueError(f"no ASCII LaTeX form for {bad!r} in {text!r}")
    return out


# Identifiers -> the names the figures use, inside any text of an exported LaTeX table.
_DISPLAY_TOKENS = [(re.compile(r"\b(?:bit_depth:\d+|median:\d+x\d+|nlm:\d+-\d+-\d+)"), squeezer_label),
                   (re.compile(r"\b(?:color_reverse|zero_mean)\b"), noise_label),
                   (re.compile(r"\befficientnet_lite\d\b"), model_label)]
_DISPLAY_CELLS = {**{k: v for k, v in ATTACK_LABELS.items() if k != "clean"}, "none": "no noise", "theta": "θ"}
_PAPER_TABLE = re.compile(r"^(Tables? [IVX]+(?:\s*[-–]\s*[IVX]+)?):\s*")
_PATH = re.compile(r"(?<![\w.:/])(?:~|\.{1,2}|[A-Za-z]:)?[/\\][^\s;,()]*")


def display_name(text: object) -> str:
    """An identifier as the figures name it: 'fgsm' -> 'FGSM', 'none' -> 'no noise', 'theta' -> 'θ';
    inside any text 'color_reverse' -> 'colour reversing', 'bit_depth:5' -> 'bit depth 5',
    'median:2x2' -> 'median 2×2', 'nlm:11-3-4' -> 'non-local means 11-3-4',
    'efficientnet_lite0' -> 'EfficientNet-Lite0' (the names of :mod:`helpers.labels`).

    Args:
        text: a cell or caption of an exported table.

    Returns:
        the text as LaTeX tables show it."""
    text = str(text)
    if text in _DISPLAY_CELLS:
        return _DISPLAY_CELLS[text]
    for pattern, label in _DISPLAY_TOKENS:
        text = pattern.sub(lambda m, label=label: label(m.group()), text)
    return text


def for_reading(df: pd.DataFrame) -> pd.DataFrame:
    """A table as a notebook prints it: every identifier among its column labels, index names and values and text
    cells shown by :func:`display_name` ('fgsm' -> 'FGSM', 'color_reverse' -> 'colour reversing'); numbers and
    rate cells as they are."""
    def shown(value: object) -> object:
        return display_name(value) if isinstance(value, str) else value

    def labels(index: pd.Index) -> pd.Index:
        names = [shown(n) for n in index.names]
        if isinstance(index, pd.MultiIndex):
            return pd.MultiIndex.from_tuples([tuple(shown(v) for v in key) for key in index], names=names)
        return pd.Index([shown(v) for v in index], name=names[0])

    out = df.map(shown) if len(df) else df.copy()
    return out.set_axis(labels(df.columns), axis=1).set_axis(labels(df.index), axis=0)


def folder_names(text: str) -> str:
    """``text`` with every file-system path ('/home/me/images', '../shared/x', 'C:\\data') cut to its
    last component, so that no caption carries a local path.

    Args:
        text: a caption or cell."""
    return _PATH.sub(lambda m: Path(m.group().replace("\\", "/").rstrip("/")).name or m.group(), text)


def paper_reference(caption: str) -> str:
    """A caption that begins with the paper's table number ('Table II: saliency map ...') rewritten so
    that LaTeX's own numbering cannot clash: 'Saliency map ... (the paper's Table II).'

    Returns:
        the caption, rewritten when it begins with 'Table(s) N:'."""
    hit = _PAPER_TABLE.match(caption)
    if not hit:
        return caption
    rest = caption[hit.end():]
    rest = rest[:1].upper() + rest[1:]
    end = re.search(r"\.(\s|$)", rest)
    cut = end.start() if end else len(rest)
    return f"{rest[:cut]} (the paper's {hit.group(1)}){rest[cut:] if end else '.'}"


def grouped_columns(columns: pd.Index) -> pd.Index:
    """Flat labels 'group: column' shared by two or more columns as two header levels (group, column),
    so that LaTeX sets the group once over a \\cmidrule; other labels and grouped columns unchanged.

    Returns:
        the columns, grouped where labels share a prefix."""
    if isinstance(columns, pd.MultiIndex):
        return columns
    parts = [str(c).split(": ", 1) if ": " in str(c) else ["", str(c)] for c in columns]
    prefixes = [p[0] for p in parts if p[0]]
    if not any(prefixes.count(p) > 1 for p in prefixes):
        return columns
    return pd.MultiIndex.from_tuples([tuple(p) if prefixes.count(p[0]) > 1 else ("", ": ".join(p) if p[0] else p[1])
                                      for p in parts])


def _header_rows(columns: pd.Index, n_index: int, index_names: list[str]) -> list[str]:
    """Header lines: one per column level, grouped levels as \\multicolumn with a \\cmidrule under each
    group; the index names on the last line (no separate row for them)."""
    levels = [list(columns.get_level_values(i)) for i in range(columns.nlevels)]
    lines = []
    for depth, labels in enumerate(levels[:-1]):
        name = columns.names[depth]
        cells = [latex_text(display_name(name)) if name and n_index else ""] + [""] * (n_index - 1) if n_index else []
        rules, col = [], n_index + 1
        prefixes = [tuple(level[i] for level in levels[:depth + 1]) for i in range(len(labels))]
        i = 0
        while i < len(labels):
            j = i
            while j + 1 < len(labels) and prefixes[j + 1] == prefixes[i]:
                j += 1
            width = j - i + 1
            text = latex_text(display_name(labels[i])) if str(labels[i]) else ""
            cells += [f"\\multicolumn{{{width}}}{{c}}{{{text}}}"] if text and width > 1 else [text] + [""] * (width - 1)
            if text:
                rules.append(f"\\cmidrule(lr){{{col}-{col + width - 1}}}")
            col += width
            i = j + 1
        lines.append(" & ".join(cells) + " \\\\")
        if rules:
            lines.append(" ".join(rules))
    return lines + [""]  # the last line (the leaves) is written by to_latex


# The measures of a two-column paper (IEEE: 3.5 in columns, 7.16 in text), in TeX points, and what a table may use.
COLUMN_PT, TEXT_PT = 3.5 * 72.27, 7.16 * 72.27
_CHAR_PT = {"footnotesize": 4.56, "scriptsize": 4.0}  # a digit's width in Computer Modern (8 pt and 7 pt)
# other characters as a multiple of a digit (measured with pdflatex at \scriptsize: capitals and '&', '%', '>', '='
# about 1.35, lower case 0.9 ('m' and 'w' 1.6), spaces and punctuation 0.65)
_WIDE, _NARROW = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ&%<>=×κθε"), set(" ,.;:()[]-'|")


def _text_pt(text: str, char_pt: float) -> float:
    """An estimate of ``text``'s width in points, ``char_pt`` the width of a digit."""
    return char_pt * sum(1.35 if ch in _WIDE else 0.65 if ch in _NARROW else 1.6 if ch in "mw" else
                         0.9 if ch.islower() else 1.0 for ch in text)
_WRAP = 22  # characters per line of a long label


def _suffixless(label: object) -> str:
    """A header without the rate format it states (the caption states it): 'FGSM, % [95% CI] (n)' -> 'FGSM'."""
    text = str(label)
    for suffix in (f", {RATE_CELL}", ", AUC [95% CI]", " (n)", ", % [95% CI]"):
        text = text.removesuffix(suffix)
    return text


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _stack(lines: list[str], align: str = "l") -> str:
    """Lines of LaTeX one above the other in one table cell (a nested tabular, top-aligned)."""
    lines = [line for line in lines if line != ""] or [""]
    if len(lines) == 1:
        return lines[0]
    joined = " \\\\ ".join(lines)
    return f"\\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}{joined}\\end{{tabular}}"


def _models_as_rows(df: pd.DataFrame, index: bool) -> tuple[pd.DataFrame, bool, list[str] | None]:
    """A layout with a column group per model (columns named ('model', ...)) for LaTeX: one model's group
    becomes the table (the caption names the model); several models become row groups, one under the other, so
    the table's width does not grow with the models. Returns the table, whether its index is written, and each
    row's model (None: no row groups)."""
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.names[0] != "model":
        return df, index, None
    models = list(dict.fromkeys(df.columns.get_level_values(0)))
    if len(models) == 1:
        return df.droplevel(0, axis=1), index, None
    frame = df if index else df.set_index(df.columns[0])
    stacked = pd.concat({model_label(m): frame[m] for m in models}, names=["model", *frame.index.names])
    return stacked.droplevel(0), True, list(stacked.index.get_level_values(0))


class _Layout:
    """What the LaTeX of one table is made of: its cells as lists of lines, and how n is stated."""

    def __init__(self, frame: pd.DataFrame, n_index: int, float_format: str, size: str):
        self.size = size
        body = frame.iloc[:, n_index:]
        ns = [{c.n for c in body[col] if isinstance(c, Cell) and c.n and not c.note} for col in body.columns]
        every = set().union(*ns)
        self.n_caption = f"n = {every.pop()} in every rate." if len(every) == 1 else ""
        self.n_header = [min(s) if len(s) == 1 and not self.n_caption else None for s in ns]
        self.n_cell = [len(s) > 1 for s in ns]
        self.float_format = float_format
        self.abbreviated: dict[str, str] = {}  # the abbreviations used, for the caption's key

    def cell(self, value: object, column: int) -> list[tuple[str, str]]:
        """(LaTeX, plain text) lines of one body cell of rate column ``column`` (-1: a label column)."""
        if isinstance(value, Cell):
            if value.note:
                return [(f"{{\\scriptsize {latex_text(line)}}}", line) for line in _wrapped(value.note, 14)]
            below = value.interval + (f" ({value.n})" if column >= 0 and self.n_cell[column] else "")
            return [(latex_text(value.value), value.value)] + \
                ([(f"{{\\scriptsize {latex_text(below)}}}", below)] if below else [])
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return [("--", "--")]
        text = self.float_format % value if isinstance(value, float | np.floating) else display_name(value)
        if len(text) > _WRAP:
            text = self.abbreviate(text)
        return [(latex_text(line), line) for line in _wrapped(text.replace(" = ", "\u00a0=\u00a0"), _WRAP)]

    def abbreviate(self, label: str) -> str:
        """A long label with the words of :data:`helpers.labels.ABBREVIATIONS` shortened (and remembered)."""
        for long, short in ABBREVIATIONS.items():
            if long in label:
                label = label.replace(long, short)
                self.abbreviated[short] = long
        return label

    def key(self) -> str:
        """The caption's key to the abbreviations used: 'FS: feature squeezing; NLM: non-local means.'"""
        return "; ".join(f"{short}: {long}" for short, long in self.abbreviated.items()) + "." \
            if self.abbreviated else ""

    def width(self, lines: list[tuple[str, str]]) -> float:
        """An estimate of a cell's width in points (a \\scriptsize line is narrower)."""
        return max(_text_pt(plain, _CHAR_PT["scriptsize"] if tex.startswith("{\\scriptsize") else _CHAR_PT[self.size])
                   for tex, plain in lines)


def _body_cells(frame: pd.DataFrame, n_index: int, layout: _Layout) -> list[tuple[bool, list]]:
    """Each row's cells as lines, and whether a space goes above it (a new group of its outer index level, which is
    written once per group)."""
    rows, previous = [], ()
    for row in frame.itertuples(index=False):
        keys = tuple(row[:n_index])
        shown = [("" if previous[:level + 1] == keys[:level + 1] else v) if level < n_index - 1 else v
                 for level, v in enumerate(keys)]
        rows.append((n_index > 1 and bool(previous) and previous[0] != keys[0],
                     [layout.cell(v, -1) if v != "" else [("", "")] for v in shown]
                     + [layout.cell(v, i) for i, v in enumerate(row[n_index:])]))
        previous = keys
    return rows


def _body_lines(rows: list[tuple[bool, list]], spec: str, groups: list[str] | None) -> list[str]:
    """The body's LaTeX lines; with ``groups`` (each row's model) a group's name heads its rows."""
    body = []
    for k, (space, cells) in enumerate(rows):
        if groups is not None and (k == 0 or groups[k] != groups[k - 1]):
            body += ["\\addlinespace"] if k else []
            body.append(f"\\multicolumn{{{len(spec)}}}{{l}}{{\\textit{{{latex_text(groups[k])}}}}} \\\\")
        elif space:
            body.append("\\addlinespace")
        body.append(" & ".join(_stack([tex for tex, _ in lines], spec[c]) for c, lines in enumerate(cells)) + " \\\\")
    return body


def to_latex(df: pd.DataFrame, index: bool = False, float_format: str = "%.4g", caption: str = "",
             label: str = "", compact: bool = False) -> str:
    r"""An ASCII-only booktabs table that fits a two-column paper: a ``table`` in one column when it fits
    (:data:`COLUMN_PT`), else a ``table*`` across the page, in the compact form when even that is tight. To narrow
    it, a rate (:class:`helpers.labels.Cell`) is written as its value over its interval; n goes into the caption
    when every rate has the same n, else into the header of a column whose n is constant, else into each cell;
    long labels wrap and are abbreviated (a key in the caption); the rate format a header states (', % [95% CI]
    (n)') is left to the caption; a column group per model becomes a row group per model. Caption: see
    :func:`paper_reference`, :func:`folder_names`; ``\label{tab:<label>}``; index levels as leading columns, a
    repeated outer level left blank and its groups separated by ``\addlinespace``; identifiers shown by
    :func:`display_name`. Headed by a comment naming the LaTeX package it needs (booktabs).

    Args:
        index: write the index as leading columns.
        label: the label after ``tab:`` (characters outside [A-Za-z0-9_:-] become '-'); '': 'table'.
        compact: a smaller font (``\scriptsize``) and narrower column gaps.

    Raises:
        ValueError: without a caption, or for a character with no ASCII LaTeX form."""
    if not caption.strip():
        raise ValueError("a LaTeX table needs a caption (units, n, model, images, seed)")
    shown, index, groups = _models_as_rows(df, index)
    shown = shown.set_axis(grouped_columns(shown.columns), axis=1)
    frame = shown.reset_index() if index else shown
    n_index = shown.index.nlevels if index else 0
    index_names = [str(n) if n is not None else "" for n in shown.index.names] if index else []
    size, gap = ("scriptsize", 2.0) if compact else ("footnotesize", 3.0)
    layout = _Layout(frame, n_index, float_format, size)
    rows = _body_cells(frame, n_index, layout)
    heads = [[(latex_text(line), line) for line in _wrapped(display_name(_suffixless(c)), 14)]
             + ([(f"(n = {layout.n_header[i]})", f"(n = {layout.n_header[i]})")] if layout.n_header[i] else [])
             for i, c in enumerate(shown.columns.get_level_values(-1))]
    widths = [max([layout.width(cells[k]) for _, cells in rows] + [layout.width(h)])
              for k, h in enumerate([[("", n)] for n in index_names] + heads)]
    wide = sum(widths) + 2 * gap * len(widths)
    if wide > 0.9 * TEXT_PT and not compact:  # too close to the page's width for the estimate: the compact form
        return to_latex(df, index, float_format, caption, label, compact=True)
    if wide > TEXT_PT:
        warnings.warn(f"table {label or caption[:40]!r} is about {wide:.0f} pt wide, wider than a page's text "
                      f"({TEXT_PT:.0f} pt) even in the compact form: show fewer columns", stacklevel=2)
    float_env = "table" if wide <= 0.95 * COLUMN_PT else "table*"  # a margin for the estimate's error (< 10%)
    numeric = [pd.api.types.is_numeric_dtype(frame.iloc[:, i]) or frame.iloc[:, i].map(
        lambda v: isinstance(v, Cell)).any() for i in range(n_index, frame.shape[1])]
    spec = "l" * n_index + "".join("r" if num else "l" for num in numeric)
    columns = pd.MultiIndex.from_tuples([tuple(_suffixless(v) for v in c) for c in shown.columns],
                                        names=shown.columns.names) if isinstance(shown.columns, pd.MultiIndex) \
        else pd.Index([_suffixless(c) for c in shown.columns])
    header = _header_rows(columns, n_index, index_names)[:-1] + [" & ".join(
        [latex_text(display_name(n)) for n in index_names] + [_stack([tex for tex, _ in h], "c") for h in heads])
        + " \\\\"]
    caption = " ".join(part for part in (caption.strip(), layout.n_caption, layout.key()) if part)
    caption = latex_text(display_name(folder_names(paper_reference(caption))))
    label = re.sub(r"[^A-Za-z0-9_:-]", "-", label or "table")
    return "\n".join(["% requires \\usepackage{booktabs} (\\toprule, \\midrule, \\cmidrule, \\addlinespace, "
                      "\\bottomrule)", f"\\begin{{{float_env}}}", "\\centering", f"\\{size}",
                      f"\\setlength{{\\tabcolsep}}{{{gap:g}pt}}", f"\\caption{{{caption}}}",
                      f"\\label{{tab:{label}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule", *header, "\\midrule",
                      *_body_lines(rows, spec, groups), "\\bottomrule", "\\end{tabular}", f"\\end{{{float_env}}}"]) \
        + "\n"


def export_table(df: pd.DataFrame, name: str, folder: str | Path, index: bool = False,
                 float_format: str = "%.4g", formats: tuple[str, ...] = ("csv", "tex"), *,
                 tidy: pd.DataFrame | None = None, caption: str = "", metadata: Mapping[str, dict] | None = None,
                 header: dict[str, str] | None = None, compact: bool = False) -> list[Path]:
    """Write ``name.csv`` and ``name.tex`` (ASCII booktabs LaTeX, :func:`to_latex`) into ``folder``
    and the numeric twin ``name_tidy.csv``, each atomically.

    Args:
        folder: where the files go.
        index: write the index as columns.
        formats: which of "csv" and "tex" to write.
        tidy: the numbers the table was formatted from (default: ``df`` itself when it has tidy
            columns, else :func:`generic_tidy`).
        caption: what the table shows (required for LaTeX), followed by the models, images and seed
            of ``metadata`` (:func:`run_caption`).
        metadata: model -> its run's :func:`helpers.scores.run_metadata`; each row of the twin gets its
            model's ``images`` and ``seed`` (the twin needs a ``model`` column).
        header: renames columns for export (units in the header).
        compact: the LaTeX in the compact form (:func:`to_latex`: a smaller font, narrower gaps) even where it
            would fit without; the CSV is the same.

    Raises:
        ValueError: a LaTeX table without a caption, or metadata for a twin without its models (checked
            before anything is written)."""
    if "tex" in formats and not caption.strip():
        raise ValueError(f"table {name!r}: a LaTeX table needs a caption (what it shows, units, n)")
    shown = df.rename(columns=header or {})
    if tidy is None:
        tidy = rates_tidy(df) if {"metric", "value", "ci_low", "ci_high", "n"} <= set(df.columns) \
            and "unit" not in df.columns else generic_tidy(df, index)
    if metadata:
        tidy = _run_columns(tidy, metadata, name)
    full_caption = " ".join(part for part in (caption, run_caption(metadata)) if part)
    render = {"csv": lambda: shown.to_csv(index=index, float_format=float_format),
              "tex": lambda: to_latex(shown, index, float_format, full_caption, name, compact)}
    paths = [write_atomically(Path(folder) / f"{name}.{ext}", lambda tmp, ext=ext: Path(tmp).write_text(render[ext]()))
             for ext in formats]
    twin = tidy.to_csv(index=False, float_format="%.6g")
    paths.append(write_atomically(Path(folder) / f"{name}_tidy.csv", lambda tmp: Path(tmp).write_text(twin)))
    return paths


KEY_COLUMNS = ("noise", "theta", "method", "squeezer")  # columns that name a row, not a rate


def _rate_columns(columns: Sequence[str] | pd.Index) -> list[str]:
    """The rate columns among ``columns`` (of a model group's last level for (model, column) columns)."""
    labels = columns.get_level_values(-1) if isinstance(columns, pd.MultiIndex) else columns
    return [c for c in dict.fromkeys(labels) if c not in KEY_COLUMNS]


def rate_header(columns: Sequence[str] | pd.Index, first: str = "OSPA") -> dict[str, str]:
    """Export headers stating units: each attack column -> 'FGSM, % [95% CI] (n)'; ``first`` likewise
    (``KEY_COLUMNS`` are left as they are; (model, column) columns: their columns).

    Args:
        first: the name of the first rate column (OSPA, held-out FPR).

    Returns:
        column -> header."""
    return {c: f"{c if c == first else attack_label(c)}, {RATE_CELL}" for c in _rate_columns(columns)}


def auc_header(columns: Sequence[str] | pd.Index) -> dict[str, str]:
    """Export headers for AUC columns: 'FGSM, AUC [95% CI]'.

    Returns:
        column -> header."""
    return {c: f"{attack_label(c)}, AUC [95% CI]" for c in _rate_columns(columns)}


def rate_caption(what: str) -> str:
    """A caption stating the cell format: '<what> Cells: rate in percent [Wilson 95% interval] (n).'

    Args:
        what: the caption's first sentence(s)."""
    return (f"{what} Cells: rate in percent [Wilson 95% confidence interval] (n = number of inputs the rate "
            "is computed on; attack columns count successful adversarial examples only).")


def _saliency_rows(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    return rates[(rates["detector"] == "saliency") & (rates["noise"] == noise)
                 & rates["metric"].isin(["ospa", "detection_rate"]) & rates["attack"].isin(["clean", *attacks])]


def paper_tidy(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    """The numbers of one of Tables I-III (percent, Wilson intervals): saliency rows of ``noise``.

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models (its ``model`` column kept).
        attacks: the attacks whose detection rates it shows.

    Returns:
        the tidy rows (:func:`rates_tidy`)."""
    return rates_tidy(_saliency_rows(rates, noise, attacks))


def paper_layout(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    """One of Tables I-III from a rate table: rows theta; per model (a column group each) columns OSPA
    and each attack's detection rate, as 'value [low, high] (n)' in percent (formatted from
    :func:`paper_tidy`).

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models.
        attacks: the attack columns, in order (those measured).

    Returns:
        the layout, columns (model, column)."""
    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        tidy = with_cells(paper_tidy(of_model, noise, attacks))
        table = tidy.pivot(index="theta", columns="attack", values="cell")
        table = table[["clean"] + [a for a in attacks if a in table.columns]]
        table.columns.name = None
        return table.rename(columns={"clean": "OSPA"})

    return model_columns(rates, layout)


_FIRST = {"own": "OSPA", "matched": "held-out FPR", "auc": None}  # a mode's first column, before the attacks'


def method_tidy(rows: pd.DataFrame) -> pd.DataFrame:
    """Rule rows (:func:`helpers.scores.rule_rows`) with units (rates in percent, AUCs in 0-1, with
    intervals) and the configuration's display name in ``method``.

    Args:
        rows: rate-table rows of one or several models."""
    tidy = rates_tidy(rows)
    return tidy.assign(method=[method_label(*k) for k in tidy[METHOD].values])


def method_layout(tidy: pd.DataFrame, attacks: Sequence[str], mode: str = "own") -> pd.DataFrame:
    """Rows = configurations (named by ``method``), a column group per model, cells formatted from
    :func:`method_tidy`'s rows of ``mode`` (``"own"``: OSPA, then each attack's detection rate;
    ``"matched"``: held-out FPR, then each attack's held-out TPR; ``"auc"``: each attack's AUC); '–' where a
    configuration has no number.

    Args:
        tidy: :func:`method_tidy` of :func:`helpers.scores.rule_rows` in ``mode``.
        mode: ``"own"``, ``"matched"`` or ``"auc"``.

    Returns:
        the layout, index ``method``, columns (model, column).

    Raises:
        ValueError: for an unknown ``mode``."""
    check_choice(mode, tuple(RULE_METRICS), "layout mode")
    tidy = with_cells(tidy)
    metric, first = RULE_METRICS[mode]

    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for name, g in of_model.groupby("method", sort=False):
            row = {"method": name}
            if first is not None:
                row[_FIRST[mode]] = first_cell(g[g["metric"] == first])
            row |= {a: first_cell(g[(g["attack"] == a) & (g["metric"] == metric)]) for a in attacks}
            rows.append(row)
        return pd.DataFrame(rows).set_index("method")

    return model_columns(tidy, layout)


def method_header(columns: Sequence[str], mode: str) -> dict[str, str]:
    """Export headers of a :func:`method_layout` table in ``mode``, with units.

    Args:
        mode: ``"own"``, ``"matched"`` or ``"auc"``.

    Returns:
        column -> header.

    Raises:
        KeyError: for an unknown ``mode``."""
    if mode == "auc":
        return auc_header(columns)
    return rate_header(columns, _FIRST[mode])


def auc_by_theta(rates: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """AUC [bootstrap 95% CI] of the saliency score by noise and theta (and the baseline's, its noise
    'baseline'), a column group per model, columns = attacks.

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models.
        attacks: the attack columns, in order (those measured).

    Returns:
        the layout, index (noise, theta), columns (model, attack)."""
    auc = with_cells(rates_tidy(rates[rates["metric"] == "auc"]))
    auc = auc.assign(noise=auc["noise"].where(auc["detector"] == "saliency", auc["detector"]))

    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        table = of_model.pivot_table(index=["noise", "theta"], columns="attack", values="cell", aggfunc="first",
                                     dropna=False)
        return table.dropna(how="all")[[a for a in attacks if a in table.columns]]

    return model_columns(auc, layout)


def first_cell(hit: pd.DataFrame) -> str:
    """The ``cell`` of the first row of ``hit`` (rows with cells, :func:`with_cells`), or '–' for none."""
    return hit["cell"].iloc[0] if len(hit) else "–"
