# Vigie — developer entry points. Each target creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the agent on the sandbox (simulated national services, demo LGC page, throwaway profile).
## `make run PRACTICE=1`: two workstations of one practice on a throwaway PostgreSQL (docs/practice.md).
run: install
	$(BIN)/vigie $(if $(PRACTICE),sandbox run --practice,run --sandbox)

## Lint, type-check, then the whole test suite (parallel). pytest's exit code 5 (no test) fails too.
test: install lint typecheck
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

## Benchmarks; results are written to docs/benchmarks.md.
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
