# RCM warehouse: `make demo` runs the whole pipeline on DuckDB, `make test` runs every check.
# Both build .venv from the pinned requirements when it is missing or out of date.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1
DEMO_SCALE ?= 0.1
export DBT_PROFILES_DIR := $(CURDIR)/profiles
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help venv demo test lint typecheck sqlfluff pytest bench docs clean

help:
	@echo "make demo   - set up .venv and run the whole pipeline (generate, ingest, build, docs)"
	@echo "make test   - set up .venv and run ruff, mypy, sqlfluff, pytest and the dbt tests"
	@echo "make bench  - benchmarks at SCALE=$(SCALE) (prints a table, writes benchmarks/results/)"
	@echo "make clean  - remove generated data (sources/, lake/, warehouse/, target/)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rcm run --scale $(DEMO_SCALE)

test: $(STAMP) lint typecheck sqlfluff pytest

lint: $(STAMP)
	$(BIN)/ruff check ingestion tests
	$(BIN)/ruff format --check ingestion tests

typecheck: $(STAMP)
	$(BIN)/mypy ingestion

# The dbt templater compiles the project, which opens the DuckDB file: lint against a throwaway
# one. Models and singular tests are linted; snapshots are YAML-configured; macros (Jinja
# libraries) are listed in .sqlfluffignore.
sqlfluff: $(STAMP)
	@if ls dbt_project/models/*/ >/dev/null 2>&1; then \
		tmp=$$(mktemp -d); status=0; \
		RCM_WAREHOUSE_PATH=$$tmp/lint.duckdb $(BIN)/sqlfluff lint --processes 2 \
			dbt_project/models dbt_project/tests || status=$$?; \
		rm -rf "$$tmp"; exit $$status; \
	else echo "sqlfluff: no models yet"; fi

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/rcm bench --scale $(SCALE)

clean:
	rm -rf sources lake warehouse target logs
