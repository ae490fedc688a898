"""The README's findings block, rewritten from what notebooks 05, 07 and 08 saved in ``data/results``: each
experiment formats its own lines (``readme_lines``), no number is computed here.

    python -m helpers.readme README.md data/results
"""

from __future__ import annotations

from pathlib import Path

from helpers.experiments import adaptive, comparison, theta_sweep
from helpers.runtime import write_atomically
from helpers.scores import load_scores

README_START, README_END = "<!-- findings: start -->", "<!-- findings: end -->"
# what the README's lines of notebooks 05 and 07 are formatted from
README_SOURCES = ("scores_theta_sweep_{model}.parquet", "theta_sweep_{model}.csv", "selected_theta_{model}.csv",
                  "facts_theta_sweep_{model}.csv", "facts_comparison_{model}.csv")


def readme_findings(results_dir: str | Path, model: str = "efficientnet_lite0") -> str:
    """The findings block's Markdown for ``model``, from the files of ``README_SOURCES`` and notebook 08's tables in
    ``results_dir``."""
    results = Path(results_dir)
    _, meta = load_scores(results / f"scores_theta_sweep_{model}.parquet")  # the run's images and attacks
    lines = [f"On {model} and {meta['images']} (notebooks 05-07; wide intervals, a different model from the "
             "paper's):", ""]
    lines += theta_sweep.readme_lines(results, model, meta["parameters"])
    lines += comparison.readme_lines(results, model)
    lines += adaptive.readme_lines(results, model)
    return "\n".join(lines)


def update_readme(readme: str | Path, results_dir: str | Path) -> bool:
    """Rewrite the findings block of ``readme`` (between ``README_START`` and ``README_END``) from the results.

    Returns:
        whether the README changed.

    Raises:
        ValueError: a README without the findings markers."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    new = text[:start] + "\n" + readme_findings(results_dir) + "\n" + text[end:]
    if new != text:
        write_atomically(readme, lambda tmp: Path(tmp).write_text(new))
    return new != text


if __name__ == "__main__":  # python -m helpers.readme README.md data/results
    import sys

    print("README findings", "updated" if update_readme(sys.argv[1], sys.argv[2]) else "unchanged")
