"""One export call per table and per figure: what the experiments' formatters hand to the notebooks and to
``python -m helpers.report``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from helpers.plotting import save_figures
from helpers.tables import export_table


@dataclass(frozen=True)
class Table:
    """A table as shown with what its export needs.

    Attributes:
        caption: what it shows (units, interval, n).
        tidy: the numbers it was formatted from (default: :func:`helpers.tables.export_table`'s).
        header: column -> export header with units, or None.
        index: whether the index is written as columns.
        compact: the LaTeX in the compact form (:func:`helpers.tables.to_latex`) even where it would fit without."""

    frame: pd.DataFrame
    caption: str
    tidy: pd.DataFrame | None = None
    header: dict[str, str] | None = None
    index: bool = True
    compact: bool = False

    def save(self, name: str, folder: str | Path, metadata: Mapping[str, dict] | None,
             compact: bool = False) -> list[Path]:
        """Write ``name.csv``, ``name.tex`` and ``name_tidy.csv`` into ``folder`` (the run's models, images
        and seed from ``metadata`` in the caption and the twin).

        Args:
            folder: where the files go.
            metadata: model -> its run's metadata, or None.
            compact: the compact LaTeX (a smaller font) even where the table would fit without it.

        Raises:
            ValueError: as :func:`helpers.tables.export_table` (no caption; metadata without the twin's models)."""
        return export_table(self.frame, name, folder, index=self.index, tidy=self.tidy, header=self.header,
                            caption=self.caption, metadata=metadata, compact=self.compact or compact)


def save_tables(tables: Mapping[str, Table], folder: str | Path, metadata: Mapping[str, dict] | None,
                compact: bool = False) -> list[Path]:
    """:meth:`Table.save` for each table (``compact``: every LaTeX table in the compact form).

    Args:
        tables: name -> table.
        metadata: model -> its run's metadata, or None."""
    return [path for name, table in tables.items() for path in table.save(name, folder, metadata, compact)]


def save_all_figures(figures: Mapping[str, Mapping[str, plt.Figure]], folder: str | Path) -> list[Path]:
    """:func:`helpers.plotting.save_figures` for each figure.

    Args:
        figures: name -> model -> figure.
        folder: where the files go."""
    return [path for name, by_model in figures.items() for path in save_figures(by_model, name, folder)]
