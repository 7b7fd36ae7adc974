# One command each: `make run` loads the data, `make test` runs lint, type check and tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: venv run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make run [OFFLINE=1]: run the ETL once (OFFLINE=1 uses the bundled snapshot, no network)
run: $(STAMP)
	$(BIN)/covid-etl run $(if $(OFFLINE),--offline,)

## make bench: API throughput and latency against Datasette, dashboard first-chart time
.PHONY: bench-api
bench: bench-api

bench-api: $(STAMP)
	$(BIN)/python bench/bench_api.py

## make test: lint, type check and the test suite
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
