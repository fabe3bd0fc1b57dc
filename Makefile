# Vigie — developer entry points. Each target creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

SYSTEM_PACKAGES := installer/system-packages.sh

.PHONY: install run test lint typecheck bench clean system-packages-run system-packages-test

## System packages (installer/packages/debian-*.txt): installed when root with apt, else the command is printed.
system-packages-run:
	@bash $(SYSTEM_PACKAGES) run

system-packages-test:
	@bash $(SYSTEM_PACKAGES) test

$(STAMP): pyproject.toml | system-packages-run
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the agent on the sandbox (simulated national services, demo LGC page, throwaway profile).
run: install
	$(BIN)/vigie run --sandbox

## Lint, type-check, then the whole test suite (parallel). pytest's exit code 5 (no test) fails too.
test: system-packages-test install lint typecheck
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
