"""The README's findings are the committed results' findings, word for word."""

import re
from pathlib import Path

from helpers.readme import README_END, README_START, readme_findings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_findings_match_the_committed_score_tables():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(README_START) + len(README_START):text.index(README_END)].strip()
    assert block == readme_findings(ROOT / "data" / "results").strip(), "run `make reproduce` (or python -m " \
        "helpers.readme README.md data/results) to rewrite the README's findings from the results"
    assert not re.search(r"\bnan\b", block, flags=re.IGNORECASE), "a missing value printed as 'nan'"


def test_readme_is_short_with_contents_and_working_links():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 250
    headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^## (.+)$", text, flags=re.MULTILINE)}
    anchors = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(anchors) >= 5 and set(anchors) <= headings, set(anchors) - headings
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link
    for page in (ROOT / "docs").glob("*.md"):  # and the pages link back to files that exist
        for link in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / link).exists(), (page.name, link)
    assert "OWNER/REPO" not in text


WORKING_NOTES = re.compile(r"\b[Ii]ssues? \d+|imagenet-sample|\.\./shared/|What changed and why|the report of issue")


def test_user_documents_carry_no_working_notes():
    """What users read (README, docs/, the notebooks) names no issue numbers, development-only folders or
    notes to the developers: those belong in the issue tracker."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    found = [f"{page.name}: {m.group()}" for page in pages for m in WORKING_NOTES.finditer(page.read_text())]
    assert not found, found
    assert WORKING_NOTES.search("see the report of issue 20 and ../shared/imagenet-sample-200")  # it can fail
