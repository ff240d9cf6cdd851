# One target per task. Every dependency is installed from pyproject.toml into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format protos catalog bench profile compose-check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole local stack on embedded defaults and show a job going through it.
run: $(STAMP)
	$(BIN)/videojobs up

## The test suite, in parallel (independent tests; each gets its own database cloned from a template).
## --dist load: xdist's group schedulers (loadgroup, loadscope) hang the run when a worker crashes.
test: $(STAMP)
	scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -n $${TEST_WORKERS:-auto} --dist load $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/python scripts/gen_catalog.py --check

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

## Re-record the providers' published types (npm, installed SDKs) and regenerate the model catalog.
catalog: $(STAMP)
	$(BIN)/python scripts/gen_catalog.py --refresh

## Every benchmark under bench/; each prints its figures against a baseline measured in the same run.
bench: $(STAMP)
	@set -e; for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python -m bench.$$(basename $$b .py); done

## Where a CreateJob's CPU goes: py-spy samples job_service under load (needs ptrace, e.g. root).
profile: $(STAMP)
	$(BIN)/python -m bench.profile_create

## The compose stack for real (podman, as root): build, up, the README's HTTP flow to a downloaded MP4,
## teardown; prints "N passed, M failed". The way to prove a change to docker-compose.yml or the Dockerfile;
## too slow for every CI run, where tests/test_compose.py checks the files statically.
CONTAINERS ?= $(firstword $(wildcard ../shared/containers ../../shared/containers))
compose-check:
	@test -n "$(CONTAINERS)" || { echo "shared/containers not found; pass CONTAINERS=/path/to/shared/containers"; exit 2; }
	$(CONTAINERS)/setup-engine
	$(CONTAINERS)/build-standins
	$(CONTAINERS)/compose-smoke $(CURDIR)

clean:
	rm -rf $(VENV) .videojobs .pytest_cache .mypy_cache .ruff_cache
