# xephang: the two commands are `make run` and `make test`. Both set everything up first.
# Also: `make test-fast` (the in-process tier, under a minute), `make bundle` (offline install archive in dist/),
# `make lock` (regenerate the Python lock files after changing pyproject.toml), `make bench`, `make lint`,
# `make hub-demo` (the province hub with two demo centers, on PostgreSQL).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
DEMO_DB := var/demo.sqlite3
VENDOR := center/static/vendor

.PHONY: setup system run test test-fast test-deep lint bench bundle lock clean hub-demo

setup: $(VENV)/.stamp $(VENDOR)/.stamp

# Every Python package at the version and hash of requirements-dev.lock, then xephang itself (editable).
$(VENV)/.stamp: pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# The lock files, from pyproject.toml (uv resolves for every platform and Python >= 3.11, with hashes):
# requirements.lock is what a center or the province hub runs (and what `make bundle` ships; with psycopg, the hub's
# PostgreSQL driver), requirements-dev.lock adds the tests.
# Existing pins are kept; `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions.
LOCK_ARGS ?=
lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q 'uv>=0.9'
	$(BIN)/uv pip compile -q $(LOCK_ARGS) pyproject.toml --extra redis --extra hub --generate-hashes --universal \
	    --python-version 3.11 --custom-compile-command 'make lock' -o requirements.lock
	$(BIN)/uv pip compile -q $(LOCK_ARGS) pyproject.toml --extra redis --extra hub --extra test --generate-hashes \
	    --universal --python-version 3.11 --custom-compile-command 'make lock' -o requirements-dev.lock

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

# The demo center on a fresh database, with freshly generated credentials printed below; `make run PORT=8081`
# for another port. A port already taken stops it first, naming the process (scripts/check_port.py), before the
# demo database is wiped.
run: setup
	-./scripts/setup-system.sh
	$(BIN)/python scripts/check_port.py $(PORT)
	mkdir -p var
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/python -m center --db $(DEMO_DB) demo-init --config config.toml --base-url http://127.0.0.1:$(PORT)
	@echo "Open http://127.0.0.1:$(PORT)/  (Ctrl+C stops the server)"
	$(BIN)/python -m center --db $(DEMO_DB) serve --config config.toml --host 127.0.0.1 --port $(PORT)

# The province hub on this machine, for IT: PostgreSQL in var/hub-pg, the hub on :8090, two demo centers with
# a few weeks of history pushing to it (scripts/hub_demo.py; README "Province hub demo"). Ctrl+C stops it all.
# The demo's ports: `make hub-demo HUB_PORT=9090 HUB_CENTER1_PORT=9091 HUB_CENTER2_PORT=9092`.
HUB_PORT ?= 8090
HUB_CENTER1_PORT ?= 8091
HUB_CENTER2_PORT ?= 8092
hub-demo: setup
	HUB_PORT=$(HUB_PORT) HUB_CENTER1_PORT=$(HUB_CENTER1_PORT) HUB_CENTER2_PORT=$(HUB_CENTER2_PORT) \
	    $(BIN)/python scripts/hub_demo.py

test: setup system
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Tests that start no server process and no browser (marked `fast` by tests/conftest.py): views through
# Flask's test client, the engine, config, statistics, printing... Run it while working; `make test` before a commit.
test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m fast

# The sync property test's larger search (issue 25): 300 random sequences of a node's operations, in random batch
# splits with the link cut, against the suite's 15. A few minutes.
test-deep: setup
	XEPHANG_SYNC_PROPERTY_EXAMPLES=300 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_sync_properties.py

# One archive with everything a center needs to install with no internet: dist/xephang-bundle-*.tar.gz.
bundle: setup
	$(BIN)/python scripts/make_bundle.py --out dist

lint: setup
	$(BIN)/ruff check .

bench: setup system
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var dist build agent-package/build .pytest_cache .ruff_cache
