"""Compile exported LaTeX tables as a paper would: each ``\\input`` into a two-column page with IEEE's measures
(3.5 in columns, 7.16 in text width) and booktabs, by pdflatex. What a reviewer would see goes wrong is returned:
a LaTeX error, or a box that runs past its column or page (any overfull ``\\hbox``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

PDFLATEX = shutil.which("pdflatex")
DOCUMENT = r"""\documentclass[twocolumn,10pt]{article}
\usepackage[letterpaper,textwidth=7.16in,columnsep=0.16in,textheight=9.5in]{geometry}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{booktabs}
\begin{document}
%s
\input{%s}
\end{document}
"""
FILLER = "Text of the paper's column. " * 40  # a table floats next to text, as in a paper
OVERFULL = re.compile(r"^Overfull \\hbox \(([\d.]+)pt too wide\)", re.MULTILINE)
ERROR = re.compile(r"^! (.*)$", re.MULTILINE)


def latex_problems(table: Path, workdir: Path) -> list[str]:
    """What goes wrong when ``table`` (a ``.tex`` file holding one table float) is compiled in a two-column paper:
    '<error line>' for each LaTeX error and 'overfull by <pt> pt' for each overfull box; [] when it fits."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{table.stem}_page.tex"
    source.write_text(DOCUMENT % (FILLER, table.resolve().as_posix()))
    run = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", source.name], cwd=workdir,
                         capture_output=True, text=True, timeout=120)
    log = (workdir / f"{source.stem}.log").read_text(errors="replace") if (workdir / f"{source.stem}.log").is_file() \
        else run.stdout
    problems = [m.group(1) for m in ERROR.finditer(log)]
    problems += [f"overfull by {m.group(1)} pt" for m in OVERFULL.finditer(log)]
    if run.returncode and not problems:
        problems.append(f"pdflatex exit status {run.returncode}")
    return problems
