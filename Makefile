# Two commands for a fresh machine with Python 3.11 and pip:
#   make reproduce   run every notebook on the offline defaults, regenerating figures/
#   make test        unit tests, notebook execution checks and nbval on the committed notebooks
#   make unit        the helpers' unit tests only (no notebook runs): the edit-test loop, a few minutes
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The stamp's name holds a hash of what is installed from (not their dates: a checkout or a touch does not
# reinstall); a change to either file makes a new name, so the next target reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha256sum | cut -c1-12)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
TWO_MODEL_NOTEBOOKS := notebooks/05_theta_sweep.ipynb notebooks/06_feature_squeezing.ipynb notebooks/07_comparison.ipynb
TWO_MODELS := ["efficientnet_lite0", "efficientnet_lite2"]
TWO_MODELS_DIR := data/results/two_models
# Tests run on JOBS processes (pytest-xdist): one TensorFlow process keeps about one core busy (Python between
# small kernels), so two halve make test's wall time on a 2-core machine. pytest's tests are shared out and
# stolen by an idle process (worksteal); nbval keeps each notebook's cells on one process, in order
# (loadscope). JOBS=1 runs everything in one process.
JOBS ?= 2
XDIST := $(if $(filter 1,$(JOBS)),,-n $(JOBS) --dist worksteal)
# nbval: the two longest notebooks first, side by side, the others around them (tests/nbval_order.py).
XDIST_NOTEBOOKS := $(if $(filter 1,$(JOBS)),,-n $(JOBS) --dist loadscope --no-loadscope-reorder -p tests.nbval_order)
# Quiet, reproducible TensorFlow (the defaults helpers sets too): no start-up chatter, oneDNN on unless the
# environment says otherwise (TF_ENABLE_ONEDNN_OPTS=0 make test: other kernels, other last bits; the tests hold).
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS ?= 1
export PYTHONHASHSEED := 0
# No progress widgets in executed notebooks (helpers.runtime.progress_bar honours it).
export TQDM_DISABLE := 1

.PHONY: setup reproduce test unit lint lab benchmark clean mutate

setup: $(STAMP)

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed*
	touch $(STAMP)

reproduce: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
		echo "== $$nb"; \
		$(PY) -m papermill --log-level WARNING -k python3 --cwd notebooks "$$nb" "$$nb" || exit 1; \
	done
	@# Notebooks 05-07 again with both offline models side by side (a column group each, as in the
	@# paper's Tables I-V): a bigger run than the defaults nbval re-executes, kept in its own folders.
	@mkdir -p $(TWO_MODELS_DIR)
	@for nb in $(TWO_MODEL_NOTEBOOKS); do \
		echo "== $$nb, models $(TWO_MODELS)"; \
		$(PY) -m papermill --log-level WARNING -k python3 --cwd notebooks "$$nb" "$(TWO_MODELS_DIR)/$$(basename $$nb)" \
			-y '{"models": $(TWO_MODELS), "figures_dir": "../figures/two_models", "results_dir": "../$(TWO_MODELS_DIR)"}' \
			|| exit 1; \
	done
	$(PY) -m helpers.readme README.md data/results
	@echo "Figures written to figures/, score tables to data/results/"

# One attack cache (data/cache, git-ignored) for the notebook runs in pytest and in nbval: each attack set
# is computed once per `make test`, and not again by the next one.
test: $(STAMP)
	$(VENV)/bin/ruff check helpers tests benchmarks notebooks
	@mkdir -p data/cache
	$(PY) -m pytest -p no:cacheprovider $(XDIST) --durations=10 tests
	@# nbval re-executes the committed notebooks in a temporary copy of the tree, so that their
	@# figures, tables and results go there, not into figures/; their checked cells print what holds
	@# on any CPU, and tests/test_results.py then compares the tables they wrote with the committed
	@# ones within tolerances derived from their intervals (docs/testing.md).
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -r notebooks "$$tmp/notebooks"; mkdir -p "$$tmp/data"; ln -s "$(CURDIR)/data/cache" "$$tmp/data/cache"; \
	$(PY) -m pytest -c pyproject.toml --nbval-lax --nbval-current-env -p no:cacheprovider $(XDIST_NOTEBOOKS) \
		"$$tmp/notebooks" && \
	FRESH_TABLES="$$tmp/figures" FRESH_RESULTS="$$tmp/data/results" \
		$(PY) -m pytest -p no:cacheprovider -m notebook tests/test_results.py

# The helpers' unit tests: no notebook runs (tests marked `notebook` or `slow` are left to `make test`).
unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider $(XDIST) -m "not notebook and not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests benchmarks notebooks

# LAB_ARGS: JupyterLab's own options, e.g. make lab LAB_ARGS="--no-browser --port 8899" (as root, --allow-root is added)
LAB_ARGS ?=
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

benchmark: $(STAMP)
	$(PY) benchmarks/bench_detector.py
	$(PY) benchmarks/bench_attacks.py
	$(PY) benchmarks/bench_adaptive.py
	$(PY) benchmarks/bench_study.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache mutants

# Mutation testing of the code that decides (pyproject.toml's [tool.mutmut]; the survivors and why they are
# kept: docs/testing.md). Installs mutmut into .venv on first use.
mutate: $(STAMP)
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev,mutation]"
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# The study in shards on a Dask LocalCluster: make study IMAGES=/path/to/imagenet/val N=5000 WORKERS=4
# (ARGS: more options of python -m helpers.study, e.g. ARGS="-p attacks '[fgsm]' --n-shards 8")
IMAGES ?= samples
N ?= 8
WORKERS ?= 2
OUT ?= data/study
ARGS ?=
.PHONY: study
study: $(STAMP)
	$(PY) -m helpers.study --image-source $(IMAGES) --n-images $(N) --workers $(WORKERS) --out $(OUT) \
		$(if $(SHARDS),--n-shards $(SHARDS)) $(ARGS)
	$(PY) -m helpers.report $(OUT)
