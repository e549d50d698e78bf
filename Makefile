# xephang: the two commands are `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
DEMO_DB := var/demo.sqlite3
VENDOR := center/static/vendor

.PHONY: setup system run test lint bench clean

setup: $(VENV)/.stamp $(VENDOR)/.stamp

$(VENV)/.stamp: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Also axe-core (devDependency): tests/test_accessibility.py injects node_modules/axe-core/axe.min.js itself.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Front-end libraries from the npm registry, served by the app itself (no CDN at run time).
$(VENDOR)/.stamp: node_modules/.stamp
	mkdir -p $(VENDOR)
	cp node_modules/socket.io-client/dist/socket.io.min.js $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/
	touch $@

system:
	./scripts/setup-system.sh

# The demo center on a fresh database, with freshly generated credentials printed below.
run: setup
	-./scripts/setup-system.sh
	mkdir -p var
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/python -m center --db $(DEMO_DB) demo-init --config config.toml --base-url http://127.0.0.1:$(PORT)
	@echo "Open http://127.0.0.1:$(PORT)/  (Ctrl+C stops the server)"
	$(BIN)/python -m center --db $(DEMO_DB) serve --config config.toml --host 127.0.0.1 --port $(PORT)

test: setup system
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check .

bench: setup system
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache .ruff_cache
