# usage-analysis: `make demo` runs the demo on the embedded emulator, `make test` runs every check,
# `make check` the quick ones (lint, types, every test not marked browser, notebook or slow).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: demo test check bench dashboard lint typecheck imports pytest setup browser clean focus-env

setup: $(STAMP)

# The venv is (re)built when missing or when pyproject.toml changes. uv is used
# only to install fast; it comes from PyPI like everything else.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright must not download its own).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install -y chromium chromium-driver"; fi; \
	fi

# focus-validator (FOCUS conformance test) needs Python >= 3.12: its own env, built once.
focus-env: setup
	-$(BIN)/python tests/focus_env.py

lint: setup
	$(BIN)/ruff check usage_analysis tests bench
	$(BIN)/ruff format --check usage_analysis tests bench

typecheck: setup
	$(BIN)/mypy

# The layer contracts of ARCHITECTURE.md (import-linter; [tool.importlinter] in pyproject.toml).
imports: setup
	$(BIN)/lint-imports --no-cache

# Two xdist workers (the machine has two cores). --dist loadgroup keeps the tests that
# share a JupyterLab, a Voila or an executed notebook (xdist_group "servers") on one
# worker, so each server starts once per run. PYTEST_ARGS adds options (e.g. -x).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
pytest: setup browser focus-env
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck imports pytest

# The inner loop: lint, types, and every test that needs no browser, notebook run or long wait.
QUICK := not browser and not notebook and not slow
check: lint typecheck imports
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "$(QUICK)" $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m usage_analysis.demo --port $(PORT)

bench: setup
	$(BIN)/python -m bench

dashboard: setup
	$(BIN)/python -m usage_analysis.demo --port $(PORT) --dashboard --no-job

clean:
	rm -rf $(VENV) .venv-focus .pytest_cache .mypy_cache .ruff_cache test-artifacts bench/out
