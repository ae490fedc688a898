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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.labels import (
    ATTACK_LABELS,
    attack_label,
    auc_text,
    method_label,
    model_label,
    noise_label,
    rate_text,
    squeezer_label,
)
from helpers.runtime import write_atomically
from helpers.scores import AUC_UNIT, METHOD, PERCENT, RULE_METRICS, WILSON, rates_tidy
from helpers.validation import check_choice

TIDY_COLUMNS = ["value", "ci_low", "ci_high", "n", "unit", "interval"]
GREY_LEVELS = "grey levels of 255"  # the unit of a perturbation size (PERCENT, AUC_UNIT: helpers.scores)
RATE_CELL = "% [95% CI] (n)"  # the header suffix of a column of formatted rates


def format_tidy(row: pd.Series) -> str:
    """A tidy row's cell text: a percent rate with its interval and n (:func:`helpers.labels.rate_text`),
    an AUC with its interval, or a plain number; a rate's ``note`` (e.g. 'not resolvable at n = 12')
    instead of its number.

    Args:
        row: a tidy row (``TIDY_COLUMNS``, optionally ``note``).

    Returns:
        the cell text."""
    note = row.get("note")
    if row["unit"] == PERCENT or (isinstance(note, str) and note):
        return rate_text(row["value"], row["ci_low"], row["ci_high"], row["n"], percent=True,
                         note=note if isinstance(note, str) else "")
    if row["unit"] == AUC_UNIT:
        return auc_text(row["value"], row["ci_low"], row["ci_high"])
    return f"{row['value']:.2f}"


def model_columns(rates: pd.DataFrame, layout: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``layout(rates of one model)`` for each model of ``rates`` (its ``model`` column), side by side as
    the paper's Tables I-V have VGG16 | ResNet50: columns (model, column), rows aligned on the index.

    Args:
        rates: rows with a ``model`` column.
        layout: lays out one model's rows.

    Returns:
        the layouts side by side.

    Raises:
        ValueError: for rates of no model."""
    groups = {model: layout(part) for model, part in rates.groupby("model", sort=False)}
    if not groups:
        raise ValueError("no rates to lay out")
    return pd.concat(groups, axis=1, names=["model", None])


def _with_cells(tidy: pd.DataFrame) -> pd.DataFrame:
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
    return f"Model: {', '.join(metadata)}; images: {folder_names(shown)}; seed: {seed}."


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
        df: the table.
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
          "°": r"$^\circ$"}
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_text(text: object) -> str:
    """``text`` as ASCII LaTeX: special characters escaped, θ, −, ∞, ≠ ... as math, accents dropped.

    Args:
        text: any text (converted with ``str``).

    Returns:
        the LaTeX.

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
_CELL_N = re.compile(r"^(.*\]) \((\d+)\)$")  # the ' (n)' that rate_text ends a cell with


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


def folder_names(text: str) -> str:
    """``text`` with every file-system path ('/home/me/images', '../shared/x', 'C:\\data') cut to its
    last component, so that no caption carries a local path.

    Args:
        text: a caption or cell.

    Returns:
        the text without paths."""
    return _PATH.sub(lambda m: Path(m.group().replace("\\", "/").rstrip("/")).name or m.group(), text)


def paper_reference(caption: str) -> str:
    """A caption that begins with the paper's table number ('Table II: saliency map ...') rewritten so
    that LaTeX's own numbering cannot clash: 'Saliency map ... (the paper's Table II).'

    Args:
        caption: a table's caption.

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


def compact_cells(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The compact layout of a table of rates formatted by :func:`helpers.labels.rate_text`: '87.5 [64, 97] (16)'
    becomes '87.5 [64, 97]'. When n is the same in every rate cell it goes into the returned caption
    sentence ('n = 16 in every cell.'); when it is constant per column, into that column's header; a
    column whose n varies keeps it per cell.

    Args:
        df: a table whose rate cells end in ' (n)'.

    Returns:
        (the compact table, the caption sentence or '')."""
    cells = {c: df[c].map(lambda v: _CELL_N.match(v) if isinstance(v, str) else None) for c in df.columns}
    per_column = {c: {int(m.group(2)) for m in hits if m} for c, hits in cells.items()}
    rated = {c: ns for c, ns in per_column.items() if ns}
    every = set().union(*rated.values()) if rated else set()
    out, names = df.copy(), []
    for c in df.columns:
        ns = rated.get(c, set())
        if len(ns) == 1:
            out[c] = [m.group(1) if m else v for v, m in zip(df[c], cells[c], strict=True)]
        names.append(_strip_n(c) if len(every) == 1 else _with_n(c, min(ns)) if len(ns) == 1 else c)
    out.columns = pd.MultiIndex.from_tuples(names, names=df.columns.names) \
        if isinstance(df.columns, pd.MultiIndex) else names
    return out, (f"n = {min(every)} in every cell." if len(every) == 1 else "")


def _strip_n(column: object) -> object:
    if isinstance(column, tuple):
        return tuple(_strip_n(level) for level in column)
    return str(column).removesuffix(" (n)")


def _with_n(column: object, n: int) -> object:
    if isinstance(column, tuple):
        return (*_strip_n(column[:-1]), _with_n(column[-1], n))
    return f"{_strip_n(column)} (n = {n})"


def grouped_columns(columns: pd.Index) -> pd.Index:
    """Flat labels 'group: column' shared by two or more columns as two header levels (group, column),
    so that LaTeX sets the group once over a \\cmidrule; other labels and grouped columns unchanged.

    Args:
        columns: a table's columns.

    Returns:
        the columns, grouped where labels share a prefix."""
    if isinstance(columns, pd.MultiIndex):
        return columns
    parts = [str(c).split(": ", 1) if ": " in str(c) else ["", str(c)] for c in columns]
    prefixes = [p[0] for p in parts if p[0]]
    if not any(prefixes.count(p) > 1 for p in prefixes):
        return columns
    return pd.MultiIndex.from_tuples([tuple(p) if prefixes.count(p[0]) > 1 else ("", ":".join(p).lstrip(":"))
                                      for p in parts])


def _latex_cell(value: object, float_format: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "--"
    if isinstance(value, float | np.floating):
        return latex_text(float_format % value)
    return latex_text(display_name(value))


def _header_rows(columns: pd.Index, n_index: int, index_names: list[str]) -> list[str]:
    """Header lines: one per column level, grouped levels as \\multicolumn with a \\cmidrule under each
    group; the index names on the last line (no separate row for them)."""
    levels = [list(columns.get_level_values(i)) for i in range(columns.nlevels)]
    lines = []
    for depth, labels in enumerate(levels[:-1]):
        name = columns.names[depth]
        cells = [_latex_cell(name, "%s") if name and n_index else ""] + [""] * (n_index - 1) if n_index else []
        rules, col = [], n_index + 1
        prefixes = [tuple(level[i] for level in levels[:depth + 1]) for i in range(len(labels))]
        i = 0
        while i < len(labels):
            j = i
            while j + 1 < len(labels) and prefixes[j + 1] == prefixes[i]:
                j += 1
            width = j - i + 1
            text = _latex_cell(labels[i], "%s") if str(labels[i]) else ""
            cells += [f"\\multicolumn{{{width}}}{{c}}{{{text}}}"] if text and width > 1 else [text] + [""] * (width - 1)
            if text:
                rules.append(f"\\cmidrule(lr){{{col}-{col + width - 1}}}")
            col += width
            i = j + 1
        lines.append(" & ".join(cells) + " \\\\")
        if rules:
            lines.append(" ".join(rules))
    leaves = [_latex_cell(n, "%s") if n else "" for n in index_names] + [_latex_cell(c, "%s") for c in levels[-1]]
    return lines + [" & ".join(leaves) + " \\\\"]


def to_latex(df: pd.DataFrame, index: bool = False, float_format: str = "%.4g", caption: str = "",
             label: str = "") -> str:
    r"""An ASCII-only booktabs ``table`` float: caption (see :func:`paper_reference`,
    :func:`folder_names`) and ``\label{tab:<label>}``; column groups as ``\multicolumn`` with a
    ``\cmidrule`` under each; index levels as leading columns, a repeated outer level left blank and
    its groups separated by ``\addlinespace``; identifiers shown by :func:`display_name`. Headed by a
    comment naming the LaTeX package it needs (booktabs).

    Args:
        df: the formatted table.
        index: write the index as leading columns.
        float_format: the format of float cells.
        caption: the caption, required.
        label: the label after ``tab:`` (characters outside [A-Za-z0-9_:-] become '-'); '': 'table'.

    Returns:
        the LaTeX source.

    Raises:
        ValueError: without a caption, or for a character with no ASCII LaTeX form."""
    if not caption.strip():
        raise ValueError("a LaTeX table needs a caption (units, n, model, images, seed)")
    df = df.set_axis(grouped_columns(df.columns), axis=1)
    frame = df.reset_index() if index else df
    n_index = df.index.nlevels if index else 0
    index_names = [str(n) if n is not None else "" for n in df.index.names] if index else []
    body = []
    previous: tuple = ()
    for row in frame.itertuples(index=False):
        keys = tuple(row[:n_index])
        shown = list(keys)
        for level in range(n_index - 1):  # an outer level is written once per group
            if previous[:level + 1] == keys[:level + 1]:
                shown[level] = ""
        if n_index > 1 and previous and previous[0] != keys[0]:
            body.append("\\addlinespace")
        previous = keys
        cells = [_latex_cell(v, "%g") if v != "" else "" for v in shown]
        cells += [_latex_cell(v, float_format) for v in row[n_index:]]
        body.append(" & ".join(cells) + " \\\\")
    numeric = [pd.api.types.is_numeric_dtype(frame.iloc[:, i]) and not pd.api.types.is_bool_dtype(frame.iloc[:, i])
               for i in range(n_index, frame.shape[1])]
    spec = "l" * n_index + "".join("r" if num else "l" for num in numeric)
    caption = latex_text(display_name(folder_names(paper_reference(caption.strip()))))
    label = re.sub(r"[^A-Za-z0-9_:-]", "-", label or "table")
    return "\n".join(["% requires \\usepackage{booktabs} (\\toprule, \\midrule, \\cmidrule, \\addlinespace, "
                      "\\bottomrule)", "\\begin{table}", "\\centering", f"\\caption{{{caption}}}",
                      f"\\label{{tab:{label}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                      *_header_rows(df.columns, n_index, index_names), "\\midrule", *body, "\\bottomrule",
                      "\\end{tabular}", "\\end{table}"]) + "\n"


def export_table(df: pd.DataFrame, name: str, folder: str | Path, index: bool = False,
                 float_format: str = "%.4g", formats: tuple[str, ...] = ("csv", "tex"), *,
                 tidy: pd.DataFrame | None = None, caption: str = "", metadata: Mapping[str, dict] | None = None,
                 header: dict[str, str] | None = None, compact: bool = False) -> list[Path]:
    """Write ``name.csv`` and ``name.tex`` (ASCII booktabs LaTeX, :func:`to_latex`) into ``folder``
    and the numeric twin ``name_tidy.csv``, each atomically.

    Args:
        df: the table as shown.
        name: the file stem.
        folder: where the files go.
        index: write the index as columns.
        float_format: the format of float cells.
        formats: which of "csv" and "tex" to write.
        tidy: the numbers the table was formatted from (default: ``df`` itself when it has tidy
            columns, else :func:`generic_tidy`).
        caption: what the table shows (required for LaTeX), followed by the models, images and seed
            of ``metadata`` (:func:`run_caption`).
        metadata: model -> its run's :func:`helpers.scores.run_metadata`; each row of the twin gets its
            model's ``images`` and ``seed`` (the twin needs a ``model`` column).
        header: renames columns for export (units in the header).
        compact: the LaTeX without each rate's '(n)' (:func:`compact_cells`): n goes into the caption
            when it is constant, else into the column headers; the CSV keeps every n.

    Returns:
        the paths written.

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
    latex, n_sentence = compact_cells(shown) if compact else (shown, "")
    full_caption = " ".join(part for part in (caption, n_sentence, run_caption(metadata)) if part)
    render = {"csv": lambda: shown.to_csv(index=index, float_format=float_format),
              "tex": lambda: to_latex(latex, index, float_format, full_caption, name)}
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
        columns: a layout's columns.
        first: the name of the first rate column (OSPA, held-out FPR).

    Returns:
        column -> header."""
    return {c: f"{c if c == first else attack_label(c)}, {RATE_CELL}" for c in _rate_columns(columns)}


def auc_header(columns: Sequence[str] | pd.Index) -> dict[str, str]:
    """Export headers for AUC columns: 'FGSM, AUC [95% CI]'.

    Args:
        columns: a layout's columns.

    Returns:
        column -> header."""
    return {c: f"{attack_label(c)}, AUC [95% CI]" for c in _rate_columns(columns)}


def rate_caption(what: str) -> str:
    """A caption stating the cell format: '<what> Cells: rate in percent [Wilson 95% interval] (n).'

    Args:
        what: the caption's first sentence(s).

    Returns:
        the caption."""
    return (f"{what} Cells: rate in percent [Wilson 95% confidence interval] (n = number of inputs the rate "
            "is computed on; attack columns count successful adversarial examples only).")


def _saliency_rows(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    return rates[(rates["detector"] == "saliency") & (rates["noise"] == noise)
                 & rates["metric"].isin(["ospa", "detection_rate"]) & rates["attack"].isin(["clean", *attacks])]


def paper_tidy(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    """The numbers of one of Tables I-III (percent, Wilson intervals): saliency rows of ``noise``.

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models (its ``model`` column kept).
        noise: the table's noise.
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
        noise: the table's noise.
        attacks: the attack columns, in order (those measured).

    Returns:
        the layout, columns (model, column)."""
    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        tidy = _with_cells(paper_tidy(of_model, noise, attacks))
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
        rows: rate-table rows of one or several models.

    Returns:
        the tidy rows."""
    tidy = rates_tidy(rows)
    return tidy.assign(method=[method_label(*k) for k in tidy[METHOD].values])


def method_layout(tidy: pd.DataFrame, attacks: Sequence[str], mode: str = "own") -> pd.DataFrame:
    """Rows = configurations (named by ``method``), a column group per model, cells formatted from
    :func:`method_tidy`'s rows of ``mode`` (``"own"``: OSPA, then each attack's detection rate;
    ``"matched"``: held-out FPR, then each attack's held-out TPR; ``"auc"``: each attack's AUC); '–' where a
    configuration has no number.

    Args:
        tidy: :func:`method_tidy` of :func:`helpers.scores.rule_rows` in ``mode``.
        attacks: the attack columns, in order.
        mode: ``"own"``, ``"matched"`` or ``"auc"``.

    Returns:
        the layout, index ``method``, columns (model, column).

    Raises:
        ValueError: for an unknown ``mode``."""
    check_choice(mode, tuple(RULE_METRICS), "layout mode")
    tidy = _with_cells(tidy)
    metric, first = RULE_METRICS[mode]

    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for name, g in of_model.groupby("method", sort=False):
            row = {"method": name}
            if first is not None:
                row[_FIRST[mode]] = _first(g[g["metric"] == first])
            row |= {a: _first(g[(g["attack"] == a) & (g["metric"] == metric)]) for a in attacks}
            rows.append(row)
        return pd.DataFrame(rows).set_index("method")

    return model_columns(tidy, layout)


def method_header(columns: Sequence[str], mode: str) -> dict[str, str]:
    """Export headers of a :func:`method_layout` table in ``mode``, with units.

    Args:
        columns: the layout's columns.
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
    auc = _with_cells(rates_tidy(rates[rates["metric"] == "auc"]))
    auc = auc.assign(noise=auc["noise"].where(auc["detector"] == "saliency", auc["detector"]))

    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        table = of_model.pivot_table(index=["noise", "theta"], columns="attack", values="cell", aggfunc="first",
                                     dropna=False)
        return table.dropna(how="all")[[a for a in attacks if a in table.columns]]

    return model_columns(auc, layout)


def selected_theta_layout(selected: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """:func:`helpers.scores.select_theta`'s rows as one row per noise, a column group per model: theta,
    OSPA and detection rates (formatted from :func:`rates_tidy` of them).

    Args:
        selected: :func:`helpers.scores.select_theta`'s rows, of one or several models.
        attacks: the attack columns, in order (those measured).

    Returns:
        the layout, index ``noise``, columns (model, column)."""
    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for (noise, theta), g in of_model.groupby(["noise", "theta"], sort=False):
            row = {"noise": noise, "theta": theta, "OSPA": _first(g[g["attack"] == "clean"])}
            row |= {a: _first(g[g["attack"] == a]) for a in attacks if (g["attack"] == a).any()}
            rows.append(row)
        return pd.DataFrame(rows).set_index("noise")

    return model_columns(_with_cells(rates_tidy(selected)), layout)


def _first(hit: pd.DataFrame) -> str:
    return hit["cell"].iloc[0] if len(hit) else "–"


# summary column -> (metric, header, factor to grey levels of 255)
_ATTACK_SIZES = {"l2_mean": ("l2_mean", "L2 mean", 255.0), "l2_median": ("l2_median", "L2 median", 255.0),
                 "linf_mean": ("linf_mean", "L∞ mean", 255.0), "linf_median_255": ("linf_median", "L∞ median", 1.0)}


def attack_tidy(summary: pd.DataFrame, model: str) -> pd.DataFrame:
    """The numbers of :func:`helpers.attack_report.attack_summary` with units: success rate in percent
    (Wilson 95%, n = inputs) and perturbation sizes of the successful examples in grey levels of 255
    (n = successful examples).

    Args:
        summary: the attack summary of one model.
        model: that model's name (the twin's ``model`` column).

    Returns:
        one row per attack and metric."""
    return _attack_rows(summary).assign(model=model)


def _attack_rows(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, s in summary.iterrows():
        rows.append({"attack": s["attack"], "metric": "success_rate", "value": 100 * s["success_rate"],
                     "ci_low": 100 * s["success_rate_ci_low"], "ci_high": 100 * s["success_rate_ci_high"],
                     "n": s["n"], "n_photographs": s.get("n_photographs", s["n"]), "unit": PERCENT,
                     "interval": WILSON})
        rows += [{"attack": s["attack"], "metric": metric, "value": s[column] * factor, "ci_low": np.nan,
                  "ci_high": np.nan, "n": s["successes"], "unit": GREY_LEVELS, "interval": ""}
                 for column, (metric, _, factor) in _ATTACK_SIZES.items()]
    return pd.DataFrame(rows)


def attack_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per attack: success in percent [Wilson 95% CI] (n) and the L2 / L∞ sizes of the
    successful examples in grey levels of 255 (formatted from :func:`attack_tidy`'s numbers).

    Args:
        summary: :func:`helpers.attack_report.attack_summary` of one model.

    Returns:
        the table, attacks by display name."""
    tidy = _attack_rows(summary)
    rows = []
    for attack, g in tidy.groupby("attack", sort=False):
        values = g.set_index("metric")
        row = {"attack": attack_label(attack), f"success, {RATE_CELL}": format_tidy(values.loc["success_rate"])}
        row |= {f"{header} (/255)": round(float(values.loc[metric, "value"]), 2)
                for metric, header, _ in _ATTACK_SIZES.values()}
        rows.append(row)
    return pd.DataFrame(rows)


ATTACK_TABLE_CAPTION = ("Attacks on the undefended model. Success: share of inputs whose label the attack "
                        "changed, in percent [Wilson 95% confidence interval] (n = inputs). Perturbation sizes "
                        "(L2 and L∞ norms of x_adv - x) of the successful examples only, in grey levels of 255 "
                        "(a [0, 1]-unit norm times 255).")
