# The two commands a new user needs: `make demo` and `make test`. Both set everything up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
NOW    := 2026-11-20T12:00:00Z
RULE   := supply_chain_network_connections

.PHONY: install install-dev demo test lint format snapshots fuzz selfcheck-all sample bench clean
SIZE   ?= 10M

install: $(STAMP)      ## the tool alone: what `make demo` needs
install-dev: $(DEV)    ## plus everything the tests need (PySpark, chdb, fakesnow, ZetaSQL, moto, ...)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

demo: install  ## run the rule on the bundled sample fleet and print the alerts
	$(BIN)/detector run $(RULE) --data data/sample --now $(NOW) --format table

test: install-dev  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

snapshots: install-dev  ## regenerate the golden SQL of every rule and dialect under tests/golden/ (review the diff)
	$(BIN)/python tests/golden_sql.py

fuzz: install-dev  ## the differential fuzz, much longer than in CI
	FUZZ_EXAMPLES=20000 $(BIN)/pytest tests/test_differential.py tests/test_differential_rogue_rdp.py tests/test_differential_server_anomalies.py
	INCREMENTAL_EXAMPLES=1000 $(BIN)/pytest tests/test_incremental.py

selfcheck-all: install-dev  ## every case of every rule through the self-check scripts on Spark and fakesnow too (long)
	SELFCHECK_ALL=1 $(BIN)/pytest tests/test_selfcheck.py -k "spark or fakesnow"

sample: install  ## regenerate data/sample and the planted cases of data/README.md
	$(BIN)/detector generate --out data/sample --now $(NOW) --readme data/README.md

bench: install-dev  ## benchmark at SIZE events (1M, 10M, 100M): prints and appends to bench/results.md
	$(BIN)/python bench/bench.py $(SIZE)
	$(BIN)/python bench/schedule.py $(SIZE)
	$(BIN)/python bench/spark_cluster.py $(SIZE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
