"""A pytest plugin for make test's nbval step on two processes (``--dist loadscope --no-loadscope-reorder``):
the two longest notebooks go first, so that they start side by side and the others fill in around them.
Notebook 04 computes the attack sets that 05-07 reuse from the cache; 08 runs the adaptive ensemble. Each
notebook's cells keep their order (a stable sort by notebook)."""

import pytest

LONGEST = ("04_attacks.ipynb", "08_adaptive_attacks.ipynb")


def rank(notebook: str) -> int:
    """A notebook's place in the queue: its index in ``LONGEST``, after them every other notebook."""
    return LONGEST.index(notebook) if notebook in LONGEST else len(LONGEST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the cells of the longest notebooks first, keeping every notebook's cells in order."""
    items.sort(key=lambda item: rank(item.path.name))
