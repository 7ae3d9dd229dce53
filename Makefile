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

.PHONY: help venv demo test lint typecheck sqlfluff pytest bench bench-dashboard profile docs clean dashboard

help:
	@echo "make demo   - set up .venv and run the whole pipeline (generate, ingest, build, docs)"
	@echo "make test   - set up .venv and run ruff, mypy, sqlfluff, pytest and the dbt tests"
	@echo "make bench  - benchmarks at SCALE=$(SCALE) (prints a table, writes benchmarks/results/)"
	@echo "make bench-dashboard - dashboard load time at the demo scale (headless Chromium)"
	@echo "make profile - EXPLAIN ANALYZE the slowest models of the last build (ARGS: rcm profile's)"
	@echo "make dashboard - start the finance dashboard on http://localhost:$(DASHBOARD_PORT)"
	@echo "make docs   - the dbt lineage site of the built warehouse (rcm docs)"
	@echo "make clean  - remove generated data (sources/, lake/, warehouse/, target/, logs/)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rcm run --scale $(DEMO_SCALE)

test: $(STAMP) lint typecheck sqlfluff test-engine-venvs pytest

lint: $(STAMP)
	$(BIN)/ruff check ingestion dashboard benchmarks tests
	$(BIN)/ruff format --check ingestion dashboard benchmarks tests

typecheck: $(STAMP)
	$(BIN)/mypy ingestion dashboard benchmarks/dashboard_load.py

# The dbt templater compiles the project on the profile's `lint` target, an in-memory DuckDB
# (.sqlfluff), so the warehouse file is never opened, and keeps dbt's parse state in target/lint,
# so the build's partial parse in target/ is left alone. Models, SQL snapshots and singular
# tests are linted; macros (Jinja libraries) are listed in .sqlfluffignore.
sqlfluff: $(STAMP)
	@if ls dbt_project/models/*/ >/dev/null 2>&1; then \
		$(BIN)/sqlfluff lint --processes 2 dbt_project/models dbt_project/snapshots dbt_project/tests; \
	else echo "sqlfluff: no models yet"; fi

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/rcm bench --scale $(SCALE)

# DuckDB's EXPLAIN ANALYZE of the slowest models of the last build; e.g. a bench's full build:
# make profile ARGS="--run-results benchmarks/work/scale10/logs/full-build.run_results.json
#   --warehouse benchmarks/work/scale10/warehouse/rcm.duckdb"
profile: $(STAMP)
	$(BIN)/rcm profile $(ARGS)

# Dashboard load time at the demo scale, in headless Chromium (builds a demo warehouse first).
bench-dashboard: $(STAMP)
	$(BIN)/python -m benchmarks.dashboard_load

# The Streamlit dashboard over the warehouse (read-only; offline: no usage stats, no browser
# auto-open, see .streamlit/config.toml). DASHBOARD_PORT=8502 make dashboard to move it.
# Listens on this machine only; DASHBOARD_ADDRESS=0.0.0.0 to serve the network (e.g. a container).
DASHBOARD_PORT ?= 8501
DASHBOARD_ADDRESS ?= 127.0.0.1
dashboard: $(STAMP)
	@echo "dashboard: http://localhost:$(DASHBOARD_PORT)  (warehouse: $${RCM_WAREHOUSE_PATH:-warehouse/rcm.duckdb}; Ctrl-C stops it)"
	$(BIN)/python -m dashboard.serve --server.headless true \
		--browser.gatherUsageStats false --server.address $(DASHBOARD_ADDRESS) --server.port $(DASHBOARD_PORT)

# The lineage site (dbt docs generate, with the single static HTML file) of the built warehouse.
docs: $(STAMP)
	$(BIN)/rcm docs

clean:
	rm -rf sources lake warehouse target logs

# --- Other engines (issue 6): one venv per engine, from its pinned requirements-<engine>.txt ----
# `make venv-engines` builds all three; `make portability-test` runs tests/portability (the engine
# tests skip when their venv is missing); `make portability-<databricks|synapse>` compiles the
# project for that engine without a connection and checks the SQL in the engine's dialect.
ENGINE_DUMMY_ENV := DATABRICKS_HOST=$${DATABRICKS_HOST:-offline.invalid} \
	DATABRICKS_TOKEN=$${DATABRICKS_TOKEN:-offline} SYNAPSE_SERVER=$${SYNAPSE_SERVER:-offline.invalid}
OFFLINE_COMPILE := compile --no-populate-cache --no-introspect --vars '{offline_compile: true}'

.PHONY: venv-databricks venv-synapse venv-spark venv-engines portability-test \
	portability-databricks portability-synapse

venv-databricks: .venv-databricks/.installed
venv-synapse: .venv-synapse/.installed
venv-spark: .venv-spark/.installed
venv-engines: venv-databricks venv-synapse venv-spark

.venv-databricks/.installed: requirements-databricks.txt
	@test -x .venv-databricks/bin/python || $(PYTHON) -m venv .venv-databricks
	.venv-databricks/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-databricks.txt
	@touch $@

# pyodbc (dbt-synapse) loads unixODBC's libodbc.so.2 on import; no SQL Server driver is needed.
.venv-synapse/.installed: requirements-synapse.txt
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(not ctypes.util.find_library('odbc'))" || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends libodbc2; \
		else echo "dbt-synapse needs libodbc.so.2: install unixODBC (Debian: apt-get install libodbc2)" >&2; exit 1; fi; }
	@test -x .venv-synapse/bin/python || $(PYTHON) -m venv .venv-synapse
	.venv-synapse/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-synapse.txt
	.venv-synapse/bin/python -c "import pyodbc"
	@touch $@

.venv-spark/.installed: requirements-spark.txt
	@command -v java >/dev/null || { echo "pyspark needs Java 17 (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
	@test -x .venv-spark/bin/python || $(PYTHON) -m venv .venv-spark
	.venv-spark/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-spark.txt
	@touch $@

portability-test: $(STAMP)
	$(BIN)/pytest tests/portability

portability-databricks: $(STAMP) .venv-databricks/.installed
	$(ENGINE_DUMMY_ENV) timeout 900 .venv-databricks/bin/dbt $(OFFLINE_COMPILE) --target databricks --target-path target/databricks
	$(BIN)/python -m ingestion.portability --target-dir target/databricks --dialect databricks

portability-synapse: $(STAMP) .venv-synapse/.installed
	$(ENGINE_DUMMY_ENV) timeout 900 .venv-synapse/bin/dbt $(OFFLINE_COMPILE) --target synapse --target-path target/synapse
	$(BIN)/python -m ingestion.portability --target-dir target/synapse --dialect synapse

# make test: the engine venvs are built from their pins first (Spark's only where Java is), and
# pytest then runs tests/engines with RCM_REQUIRE_ENGINES=1: the real project is compiled offline
# for databricks and synapse and dialect-checked (a missing venv fails instead of skipping), and
# built on local Spark and compared with DuckDB (skipped, loudly, only without Java).
.PHONY: test-engine-venvs
test: export RCM_REQUIRE_ENGINES := 1
test-engine-venvs: .venv-databricks/.installed .venv-synapse/.installed
	@if command -v java >/dev/null; then $(MAKE) --no-print-directory .venv-spark/.installed; \
	else echo "*** WARNING: no Java: the Spark parity test (tests/engines/test_spark_parity.py) will be SKIPPED ***" >&2; fi
