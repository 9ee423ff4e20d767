# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-check servers test unit integration bench bench-all lint clean ui ui-if-node ui-check

# The web console (ui/, React + Vite), built into ui/dist by npm; needs Node.js 18+ and the npm registry.
UI_STAMP := ui/dist/.stamp
UI_DEPS  := ui/node_modules/.package-lock.json
UI_SRC   := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/package.json \
            ui/vite.config.ts ui/tsconfig.json ui/tsconfig.app.json ui/tsconfig.node.json ui/eslint.config.js

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP) ui-if-node          ## virtualenv + the project (embedded stack included) + the web console

demo: $(STAMP) ui-if-node             ## embedded stack + pipeline + API + console with sample data; Ctrl-C stops
	$(BIN)/ems demo

demo-check: $(STAMP) ui-if-node       ## the demo, non-interactive: exits 0 once the demo alerts are served
	$(BIN)/ems demo --once

$(UI_DEPS): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	touch $@

$(UI_STAMP): $(UI_DEPS) $(UI_SRC)
	cd ui && npm run build
	touch $@

ui: $(UI_STAMP)                       ## the web console into ui/dist (Node.js 18+; rebuilt when ui/ changed)

ui-if-node:                           # install/demo: the console when Node.js 18+ is there; the API runs without it
	@if node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)' >/dev/null 2>&1 \
	    && command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory ui || echo "make: the web console was not built (see above); the API runs without it"; \
	else \
	  echo "make: Node.js 18+ and npm not found: the web console is not built (/ says how; then: make ui)"; \
	fi

ui-check: $(UI_DEPS)                  ## the console's lint, type check and build (part of make test)
	cd ui && npm run lint
	$(MAKE) --no-print-directory ui

servers:                              ## install the real servers (apt: PostgreSQL, Redis; Maven: Kafka jars)
	bash infra/install.sh

# Test files run TEST_WORKERS at a time (pytest-xdist, whole files per worker, each worker with servers of
# its own): the integration tests mostly wait on processes and the broker, so two share two cores well.
TEST_WORKERS ?= 2

test: $(STAMP) servers                ## the whole suite on real servers, then the embedded stack's tests
	$(MAKE) --no-print-directory ui-check
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile
	EMS_TEST_STACK=embedded $(BIN)/pytest tests/integration -m embedded

unit: $(STAMP)                        ## pure unit tests only (no servers)
	$(BIN)/pytest tests/unit

bench: $(STAMP) servers               ## throughput and latency on real servers, then the collector mix (figures)
	$(BIN)/python -m ems.bench
	$(BIN)/python -m ems.bench.collector_mix

bench-all: bench                      ## every benchmark: + mix over 1/2/4 workers, metric ingest, 1M alerts, OTLP, tickets
	$(BIN)/python -m ems.bench.collector_mix --workers 1,2,4 --rate 0
	$(BIN)/python -m ems.bench.metrics_ingest
	$(BIN)/python -m ems.bench.alert_queries
	$(BIN)/python -m ems.bench.otlp
	$(BIN)/python -m ems.bench.tickets

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .ems-demo *.egg-info ui/dist ui/node_modules
