# One command each: `make run` loads the data, `make test` runs lint, type check and tests,
# `make bench` runs every benchmark and rewrites the figures under docs/.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?=

.PHONY: venv run test lint typecheck pytest bench bench-etl bench-states bench-postgres bench-api clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## make run [OFFLINE=1]: run the ETL once (OFFLINE=1 uses the bundled snapshot, no network)
run: $(STAMP)
	$(BIN)/covid-etl run $(if $(OFFLINE),--offline,)

## make test: lint, type check and the test suite
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## make bench: every benchmark below, in one run
bench: bench-etl bench-states bench-postgres bench-api

## make bench-etl [BENCH_REPEAT=N]: a covid-etl run against a pandas baseline (docs/benchmarks.md)
bench-etl: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(if $(BENCH_REPEAT),--repeat $(BENCH_REPEAT),)

## make bench-states [BENCH_REPEAT=N]: the per-state series, real file and 10x/100x growth,
## against pandas (docs/benchmarks-states.md)
bench-states: $(BENCH_STAMP)
	$(BIN)/python -m bench.states $(if $(BENCH_REPEAT),--repeat $(BENCH_REPEAT),)

## make bench-postgres: SQLite against PostgreSQL, same input (docs/benchmarks-postgres.md)
bench-postgres: $(STAMP)
	$(BIN)/python bench/bench_postgres.py --write docs/benchmarks-postgres.md

## make bench-api: API throughput and latency against Datasette (docs/benchmarks-api.md)
bench-api: $(STAMP)
	$(BIN)/python bench/bench_api.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
