# leadworker: `make demo` runs the pipeline on the bundled sample site; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup services demo test test-fast lint bench load clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## setup: virtualenv with leadworker and its dev tools; services and Chromium up
setup: $(STAMP) services

services:
	./scripts/ensure-services.sh --browser

## demo: migrate, serve the sample sites, publish jobs, run the worker until idle, print the leads
demo: setup
	$(BIN)/leadworker demo

## test: lint, type-check and the whole test suite against the real services
test: setup lint
	./scripts/ensure-services.sh --clean-test-leftovers --test-tools
	$(BIN)/pytest -q

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: the benchmarks of bench/ (not part of `make test`)
bench: setup
	$(BIN)/python bench/run.py all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
