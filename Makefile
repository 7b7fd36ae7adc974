# One command each: `make run` loads the data (installing only what running needs), `make serve`
# publishes it, `make test` runs lint, type check, tests and the
# documentation site's build, `make docs` builds the site, `make bench` runs every benchmark and
# rewrites the figures under docs/, `make figures` and `make screenshots` redraw the write-up's
# charts and dashboard captures (docs/write-up.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# `make run` and `make serve` install the package and only the extras the database URL needs
# (psycopg for postgresql://, boto3 for s3://), never the development toolchain; a venv that
# already has the development install is used as it is.
RUN_EXTRAS := $(strip $(if $(filter postgresql% postgres%,$(COVID_ETL_DATABASE_URL)),postgres) \
	$(if $(filter s3://%,$(COVID_ETL_DATABASE_URL)),s3))
RUN_STAMP := $(VENV)/.installed-run$(if $(RUN_EXTRAS),-$(RUN_EXTRAS))
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?=

.PHONY: venv run serve test test-slow lint typecheck pytest docs docs-serve reference figures screenshots bench bench-etl bench-states bench-postgres bench-api bench-replay bench-aws clean

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

$(RUN_STAMP): pyproject.toml
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then \
		echo "Using the development install in $(VENV)"; \
	else \
		$(PYTHON) -m venv $(VENV) && \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -e '.$(if $(RUN_EXTRAS),[$(RUN_EXTRAS)])'; \
	fi
	touch $@

## make run [OFFLINE=1]: run the ETL once (OFFLINE=1 uses the bundled snapshot, no network)
run: $(RUN_STAMP)
	$(BIN)/covid-etl run$(if $(OFFLINE), --offline)

## make serve: the API, the dashboard and the daily schedule on http://127.0.0.1:8000/
serve: $(RUN_STAMP)
	$(BIN)/covid-etl serve

## make test: lint, type check and the test suite, which includes the documentation site's strict
## build (tests/site/test_docs_site.py builds it as `make docs` does and also fails on any line of
## output but the usual three)
test: lint typecheck pytest

## make lint: ruff, and the package's layers (tests/test_layers.py: no upward import, no cycle)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench figures docs_gen
	$(BIN)/ruff format --check src tests bench figures docs_gen
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py

typecheck: $(STAMP)
	$(BIN)/mypy

## make pytest [PYTEST_ARGS=...]: the tests, on every core (pytest-xdist), then the ones marked
## serial (a time bound that parallel load could break, or a test that disturbs the others) alone;
## a pass that PYTEST_ARGS leaves without tests (pytest's exit code 5) is no failure
pytest: $(STAMP)
	$(BIN)/pytest -n auto -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

## make test-slow: the slow lane, tests too long for every run (the whole corpus of the NYT's
## daily versions replayed, every day read back: about two minutes)
test-slow: $(STAMP)
	COVID_ETL_SLOW=1 $(BIN)/pytest -m slow -k whole_corpus

# The theme's notice about its own future is not a warning about this site.
DOCS_ENV := NO_MKDOCS_2_WARNING=1

## make docs: build the documentation site into site/ (strict: a broken link, a missing page or
## any other warning fails the build); open site/index.html, no server needed
docs: $(STAMP)
	$(DOCS_ENV) $(BIN)/python -m mkdocs build --strict --clean

## make docs-serve: preview the documentation site on http://127.0.0.1:8001/, rebuilt on change
docs-serve: $(STAMP)
	$(DOCS_ENV) $(BIN)/python -m mkdocs serve --strict --dev-addr 127.0.0.1:8001

## make reference: write the reference pages (docs/reference/*.md: commands, settings, HTTP API,
## database tables) from the code; tests/site/test_reference_pages.py fails when a committed page
## differs from what this writes
reference: $(STAMP)
	$(BIN)/python -m docs_gen

## make figures: redraw the write-up's charts (docs/figures/*.svg) from the data shipped in the
## repository; tests/site/test_figures.py fails when the committed files differ from what this draws
figures: $(STAMP)
	$(BIN)/python -m figures.make

## make screenshots: run the browser tests that capture the dashboard for the write-up, saving
## those captures to docs/images/ as well (needs /usr/bin/chromium)
SCREENSHOT_TESTS := test_dashboard_desktop_draws_charts_from_local_data_only \
	or test_map_has_one_shape_per_jurisdiction or test_clicking_california_shows_its_charts
screenshots: $(STAMP)
	COVID_ETL_DOCS_SCREENSHOTS=1 COVID_ETL_REQUIRE_BROWSER=1 $(BIN)/pytest -q \
		tests/web/test_dashboard_browser.py tests/web/test_states_browser.py \
		-k '$(SCREENSHOT_TESTS)'

## make bench: every benchmark below, in one run
bench: bench-etl bench-states bench-postgres bench-api bench-replay bench-aws

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

## make bench-aws: the Lambda handlers against moto with the stack's default sources, the
## database object and the S3 requests per run, the package's cold imports (docs/benchmarks-aws.md)
bench-aws: $(STAMP)
	$(BIN)/python -m tests.helpers.lambda_package
	$(BIN)/python -m tests.helpers.bench_lambda 7
	$(BIN)/python -m bench.bench_s3

## make bench-replay: replay the shipped corpus of the NYT's daily versions and read the data as
## of a day (docs/benchmarks-history.md; needs wrk for the latency part)
bench-replay: $(STAMP)
	$(BIN)/python -m bench.replay

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist site
