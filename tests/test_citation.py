"""CITATION.cff is valid CFF 1.2 YAML naming this project, its version and the paper it reproduces."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"cff-version", "message", "title", "authors", "type", "version", "license", "references"}


def test_citation_names_the_project_its_version_and_the_paper():
    text = (ROOT / "CITATION.cff").read_text()
    cff = yaml.safe_load(text)
    assert set(cff) >= REQUIRED, REQUIRED - set(cff)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == project["version"]
    assert project["name"] in cff["title"]
    assert all(author.get("name") or author.get("family-names") for author in cff["authors"])
    assert not re.search(r"OWNER|REPO\b|contributors\"|TODO|XXX", text)
    paper = cff["references"][0]
    assert paper["title"] == "Detection Defense Against Adversarial Attacks with Saliency Map"
    assert [a["family-names"] for a in paper["authors"]] == ["Ye", "Chen", "Liu", "Wang", "Jiang"]
