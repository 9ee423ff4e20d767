# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-check servers test unit integration bench bench-all lint clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)                     ## virtualenv + the project (embedded stack included)

demo: $(STAMP)                        ## embedded stack + pipeline + API with sample data; Ctrl-C stops
	$(BIN)/ems demo

demo-check: $(STAMP)                  ## the demo, non-interactive: exits 0 once the demo alerts are served
	$(BIN)/ems demo --once

servers:                              ## install the real servers (apt: PostgreSQL, Redis; Maven: Kafka jars)
	bash infra/install.sh

test: $(STAMP) servers                ## the whole suite on real servers, then the same integration tests embedded
	$(BIN)/ruff check .
	$(BIN)/pytest
	EMS_TEST_STACK=embedded $(BIN)/pytest tests/integration

unit: $(STAMP)                        ## pure unit tests only (no servers)
	$(BIN)/pytest tests/unit

bench: $(STAMP) servers               ## throughput and latency on real servers (prints figures)
	$(BIN)/python -m ems.bench

bench-all: bench                      ## every benchmark: pipeline, metric ingest, 1M-alert queries
	$(BIN)/python -m ems.bench.metrics_ingest
	$(BIN)/python -m ems.bench.alert_queries

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .ems-demo *.egg-info
