"""The README's findings are the committed results' findings, word for word."""

from pathlib import Path

from helpers.findings import README_END, README_START, readme_findings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_findings_match_the_committed_score_tables():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(README_START) + len(README_START):text.index(README_END)].strip()
    assert block == readme_findings(ROOT / "data" / "results").strip(), "run `make reproduce` (or python -m " \
        "helpers.findings README.md data/results) to rewrite the README's findings from the results"
