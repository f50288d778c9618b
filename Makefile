# `make demo` and `make test` create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Each `make demo` is a new sweep (demo-YYYYmmdd-HHMMSS), so it runs again on a machine that ran it.
DEMO_NAME ?= demo-$(shell date +%Y%m%d-%H%M%S)

DEMO_ARGS ?=

demo: $(STAMP)
	$(BIN)/tickets sweep configs/demo.yaml --name $(DEMO_NAME) $(DEMO_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Speed figures (issue 11), not part of `make test`: bench/results/<machine>-<date>.json and a table.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf results .pytest_cache
