"""The Makefile's targets, as make would run them (dry runs: `make -n`)."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(env: dict[str, str], *args: str) -> list[str]:
    run = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


@pytest.fixture
def installed(make_env):
    if subprocess.run(["make", "-q", "setup"], cwd=ROOT, capture_output=True, env=make_env).returncode != 0:
        pytest.skip("the environment is not set up (make setup): every target would install it first")


def test_make_lab_passes_lab_args_and_allows_root(installed, make_env):
    lines = dry_run(make_env, "lab", "LAB_ARGS=--no-browser --port 8899")
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert lines == [" ".join([".venv/bin/jupyter", "lab", "notebooks", *root, "--no-browser", "--port", "8899"])]


def test_a_newer_pyproject_with_the_same_contents_does_not_reinstall(installed, make_env):
    """The stamp's name holds the hash of pyproject.toml and requirements.lock: dates do not matter
    (`-W FILE`: make as if FILE had just been modified)."""
    lines = dry_run(make_env, "-W", "pyproject.toml", "-W", "requirements.lock", "lab")
    assert lines and not any("pip install" in line for line in lines)
