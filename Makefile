# usage-analysis: `make demo` runs the demo on the embedded emulator, `make test` runs every check,
# `make check` the quick ones (lint, types, every test not marked browser, notebook or slow).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: demo test check bench dashboard lint typecheck imports pytest pytest-quick setup browser clean focus-env

setup: $(STAMP)

# Python keeps the bytecode it compiles, whatever PYTHONDONTWRITEBYTECODE says (this
# machine sets it): otherwise every process, each kernel, server and subprocess of
# the tests included, compiled every module it imported again (the FOCUS validator
# alone spent 30 s of its run compiling). The .pyc files are a cache in __pycache__.
export PYTHONDONTWRITEBYTECODE :=

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
# The test builds it itself when it is missing (tests/focus_env.py), beside the other
# tests rather than before them all; `make focus-env` builds it ahead.
focus-env: setup
	-$(BIN)/python tests/focus_env.py

lint: setup
	$(BIN)/ruff check usage_analysis tests bench
	$(BIN)/ruff format --check usage_analysis tests bench

# mypy's cache lives outside the checkout, so a fresh clone on a machine that checked
# the project before starts warm (half a minute of CPU otherwise). mypy checks every
# cached module against its file's hash and its own version: a stale entry is redone.
MYPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/usage-analysis/mypy
typecheck: setup
	$(BIN)/mypy --cache-dir "$(MYPY_CACHE)"

# The layer contracts of ARCHITECTURE.md (import-linter; [tool.importlinter] in pyproject.toml).
imports: setup
	$(BIN)/lint-imports --no-cache

# Three xdist workers for everything on two cores: the browser, demo and deadline tests
# wait (pages drawing, servers starting, timeouts running out), and a third worker
# keeps both cores busy meanwhile (the run used 1.4 cores with two). --dist loadgroup
# keeps the tests that share the JupyterLab, the Voila or the executed notebooks on
# one worker per server (xdist groups lab, voila, notebooks, set in tests/conftest.py):
# each starts once per run, the three groups side by side from the start.
# The quick tests wait for nothing: two workers (one per core) there.
# PYTEST_ARGS adds options (e.g. PYTEST_ARGS=-x).
PYTEST_WORKERS ?= 3
QUICK_WORKERS ?= 2
PYTEST_ARGS ?=
PYTEST = $(BIN)/python -m pytest -q -n $(1) --dist loadgroup
pytest: setup browser
	$(call PYTEST,$(PYTEST_WORKERS)) $(PYTEST_ARGS)

# The inner loop's tests: every one that needs no browser, no notebook run, no long wait.
QUICK := not browser and not notebook and not slow
pytest-quick: setup
	$(call PYTEST,$(QUICK_WORKERS)) -m "$(QUICK)" $(PYTEST_ARGS)

# Lint, types and layers run beside the tests (they need nothing the tests need); each
# line of output is kept whole. Any failure fails the target.
test: setup browser
	@$(MAKE) --no-print-directory -j4 --output-sync=line lint typecheck imports pytest

check: setup
	@$(MAKE) --no-print-directory -j4 --output-sync=line lint typecheck imports pytest-quick

demo: setup
	$(BIN)/python -m usage_analysis.demo --port $(PORT)

bench: setup
	$(BIN)/python -m bench

dashboard: setup
	$(BIN)/python -m usage_analysis.demo --port $(PORT) --dashboard --no-job

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts bench/out
