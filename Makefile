# Two commands for a fresh clone: `make run` and `make test`. Everything else builds on them.
# Installs come from the lock files (exact versions with hashes): requirements.txt for running,
# requirements-dev.txt for tests and checks. `make lock` regenerates both from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
PIP_TOOLS := pip-tools==7.6.2

.PHONY: run test test-fast check bench lint typecheck imports lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files re-install only when the lock or pyproject.toml changes. The project itself is
# installed without its dependencies and without build isolation: everything, setuptools
# included, comes from the lock.
$(VENV)/.run-installed: requirements.txt pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements-dev.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/callboard run

# The suite on every core (pytest-xdist; each worker takes a whole file at a time, so a file's
# module-scoped peers start once), then the tests that measure the event loop, alone: another
# worker's load would be in their figures.
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not alone"
	$(BIN)/python -m pytest -q -m alone

# The unit tier: every command's handler over the in-memory stores (tests/unit/commands), no
# database, network or subprocess; seconds, not minutes.
# Every command's handler over the in-memory stores (no database, network or subprocess).
test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q tests/unit/commands

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check bot adapters commands tests bench
	$(BIN)/ruff format --check bot adapters commands tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy bot commands adapters

imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

check: lint typecheck imports test

# SCALE=1m: the same table on about a million entities (bench/generate.py SCALES).
SCALE ?= 43k
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench --scale $(SCALE)

# The newest versions pyproject.toml's ranges allow, pinned with hashes (pip-tools, in a venv
# of its own). Commit both files; then `make test` installs exactly them.
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --all-build-deps \
	--no-emit-index-url --no-emit-find-links --upgrade
lock: | $(BIN)/python
	test -x .venv-lock/bin/pip-compile || \
	  ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet $(PIP_TOOLS))
	.venv-lock/bin/pip-compile $(LOCK_FLAGS) --extra slack --extra discord \
	  -o requirements.txt pyproject.toml
	.venv-lock/bin/pip-compile $(LOCK_FLAGS) --extra slack --extra discord --extra dev \
	  -c requirements.txt -o requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV) .venv-lock var build *.egg-info
