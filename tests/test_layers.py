"""The package reads bottom to top: every module imports on its own, and only from lower layers."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
LAYERS = [  # a module may import from its own layer or lower ones, never from a higher one
    {"validation", "runtime", "metrics", "verdicts", "torch_legacy", "labels", "names", "attack_settings"},
    {"efficientnet_lite", "models", "data"},
    {"saliency", "emphasis", "transforms", "squeeze", "art_classifier", "attacks"},
    {"cache", "detectors"},
    # adaptive: a package; study_*: the study runner (setup, files, adaptive sets, shards, run), below presentation
    {"scores", "attack_report", "params", "adaptive", "study_setup", "study_files", "study_adaptive", "study_shards",
     "study_run"},
    {"tables", "plotting", "study"},  # study: the study's command line and prose, over its runner
    {"paper", "figures"},
    {"findings"},
    {"experiments"},  # the package helpers/experiments/: one module per notebook's experiment
    {"report", "readme"},  # the commands over finished results
]
# The presentation: tables, figures and prose, all above the score table they are computed from.
PRESENTATION = {"tables", "plotting", "paper", "figures", "findings"}
LAYER = {module: i for i, layer in enumerate(LAYERS) for module in layer}
MODULES = sorted([p.stem for p in HELPERS.glob("*.py") if p.stem != "__init__"]
                 + [p.parent.name for p in HELPERS.glob("*/__init__.py")])  # modules and packages


def sources(module: str) -> list[Path]:
    """The source files of a module, or of every module of a package."""
    package = HELPERS / module
    return sorted(package.glob("*.py")) if package.is_dir() else [HELPERS / f"{module}.py"]


def helper_imports(module: str) -> set[str]:
    """The helpers modules that ``module`` imports, anywhere in its source (functions included); a package's
    imports of its own modules are left out."""
    found = set()
    for node in (n for path in sources(module) for n in ast.walk(ast.parse(path.read_text()))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            found |= {node.module.split(".")[1]} if "." in node.module else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("helpers.")}
    return found - {module}


def test_every_module_has_a_layer():
    assert sorted(LAYER) == MODULES


def imported_below(module: str) -> set[str]:
    """Every helpers module that ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for m in helper_imports(todo.pop()) - seen:
            seen.add(m)
            todo.append(m)
    return seen


def test_the_score_table_and_the_vocabulary_import_no_presentation():
    """What the results are computed with (scores, metrics) and the study runner never reach, through any chain of
    imports, a module that formats them; the statistics (metrics) do not even name things (no labels); the
    vocabulary (labels) imports nothing, so anything may name things."""
    assert imported_below("scores") & PRESENTATION == set()
    assert imported_below("metrics") & (PRESENTATION | {"labels"}) == set()
    assert imported_below("study_run") & PRESENTATION == set()
    assert helper_imports("labels") == set()


def test_readme_layer_table_is_this_test():
    """README's layer table lists, per layer from the bottom, exactly the modules of ``LAYERS``."""
    readme = (HELPERS.parent / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", readme, flags=re.MULTILINE)
    assert rows, "README.md has no layer table ('| 0 | `validation`, ... |')"
    assert [int(i) for i, _ in rows] == list(range(len(LAYERS)))
    assert [set(re.findall(r"`(\w+)`", modules)) for _, modules in rows] == LAYERS


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_only(module):
    upward = {m for m in helper_imports(module) if LAYER[m] > LAYER[module]}
    assert not upward, f"helpers.{module} (layer {LAYER[module]}) imports higher layers: {sorted(upward)}"


FRESH_IMPORTS = """
import sys
import tensorflow  # noqa: F401  (imported once: the point is each helpers module's own import graph)
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "helpers" or m.startswith("helpers.")]:
        del sys.modules[loaded]
    __import__(f"helpers.{name}")
"""


def test_each_module_imports_on_its_own():
    """In a fresh interpreter, each module is imported with no other helpers module loaded before it,
    so a hidden cycle or an import-order dependency fails here."""
    names = [f"{m}.{p.stem}" if p.parent != HELPERS else m for m in MODULES for p in sources(m)
             if p.stem != "__init__"]  # a package: each of its modules
    run = subprocess.run([sys.executable, "-c", FRESH_IMPORTS, *names], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
