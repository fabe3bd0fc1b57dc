# Vigie — developer entry points. Each target creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

SYSTEM_PACKAGES := installer/system-packages.sh

.PHONY: install run test lint typecheck bench clean system-packages-run system-packages-test dist deb dist-test

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
## `make run PRACTICE=1`: two workstations of one practice on a throwaway PostgreSQL (docs/practice.md).
run: install
	$(BIN)/vigie $(if $(PRACTICE),sandbox run --practice,run --sandbox)

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

## Frozen one-folder agent for this OS (installer/vigie.spec): dist/vigie/vigie, no sandbox/tests/bench.
$(VENV)/.build-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,build]'
	touch $@

dist: $(VENV)/.build-stamp
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller installer/vigie.spec

## Debian package of the frozen build (installer/debian/): dist/vigie_<version>_<arch>.deb
deb: dist
	bash installer/debian/build-deb.sh

## The frozen build and its package tested as a user gets them (self-test, dpkg -i/-r); CI runs it after `make test`.
dist-test: system-packages-test deb
	VIGIE_FROZEN_BUILD=dist/vigie VIGIE_DEB_DIR=dist $(BIN)/python -m pytest -p no:xdist -q tests/installer

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
