# espcn-lightning: `make help` lists the targets.
VENV ?= .venv
PY := $(VENV)/bin/python
# The data directory: ESPCN_DATA_DIR if set, else data/. `make data` fills it from the pinned upstream
# repositories (or ESPCN_DATA_MIRROR) and fetches nothing where it is already complete.
export ESPCN_DATA_DIR ?= data
DIR ?= outputs

.PHONY: help install data train eval tensorboard test test-full test-study test-slurm test-wheel test-lowest lint format bench clean screenshots docs docs-serve

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"

install: $(PY)  ## virtual environment with torch 2.13.0 (CPU) first, then the project and test tools

data: $(PY)  ## fetch and verify what ESPCN_DATA_DIR lacks of T91, Set5, Set14, BSD100, BSD200
	$(PY) -m espcn_lightning.data download

train: data  ## train the default recipe (ARGS="experiment=smoke" etc. for overrides)
	$(PY) -m espcn_lightning.train $(ARGS)

eval: data  ## print Table 1 for a model (ARGS="checkpoint=PATH" or "upscaler=bicubic")
	$(PY) -m espcn_lightning.evaluate $(ARGS)

tensorboard: $(PY)  ## TensorBoard on DIR (a run, a sweep, or all of outputs/)
	@echo "Custom Scalars: losses, val PSNR against bicubic, learning rate. HParams: one trial a run."
	$(VENV)/bin/tensorboard --logdir $(DIR)

test: $(PY)  ## the fast suite with the browser checks (under 10 minutes on 2 cores), after fetching every set it reads
	$(PY) -m espcn_lightning.data download --all
	$(PY) -m pytest -q

test-full: $(PY)  ## every test, the slow ones included
	$(PY) -m espcn_lightning.data download --all
	$(PY) -m pytest -q -m ""

test-study: $(PY)  ## smoke-sized Optuna studies: pruning, parallel workers, kill -9 and resume
	$(PY) -m pytest -q -p no:cacheprovider -m study

test-slurm: $(PY)  ## sweeps, requeues and DDP on a one-node SLURM cluster the tests start (root, slurm-wlm, munge)
	$(PY) -m pytest -q -p no:cacheprovider -m slurm

test-wheel:  ## a wheel of this checkout in a fresh environment: every command run from another folder
	ESPCN_DATA_DIR=$(ESPCN_DATA_DIR) bash scripts/check_wheel.sh

test-lowest:  ## the unit tests on the lowest dependency versions pyproject.toml claims
	rm -rf .venv-lowest && python3 -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install -q --upgrade pip
	.venv-lowest/bin/python -m pip install -q torch==2.13.0
	.venv-lowest/bin/python -m pip install -q -c constraints/lowest.txt ".[deploy,report]" pytest
	.venv-lowest/bin/python -m pytest -q -p no:cacheprovider -m "not data and not browser and not slow and not slurm" --ignore=tests/test_browser.py

lint: $(PY)  ## ruff check, format check and mypy
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(PY) -m mypy

format: $(PY)  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:  ## remove caches and build files (never outputs/: runs are kept)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

bench: $(PY)  ## speed figures side by side (engines, video, training loop, data pipeline)
	$(PY) -m benchmarks --out $(DIR)/bench

screenshots: data  ## the README's screenshots into docs/images (needs chromium; ARGS="--logdir DIR")
	$(PY) -m scripts.screenshots --out docs/images $(ARGS)

docs: $(PY)  ## the documentation site into site/ (MkDocs, strict: a broken link or a warning fails it)
	$(PY) -m mkdocs build --strict

docs-serve: $(PY)  ## the documentation site on http://127.0.0.1:8000, rebuilt as docs/ changes
	$(PY) -m mkdocs serve
