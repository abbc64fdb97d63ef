# MAGNET Market developer entry points. `make demo` and `make test` set everything up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
STAMP_BROWNIE := $(VENV)/.brownie-ready
CHROMIUM := /usr/bin/chromium

.PHONY: install browser demo demo-dashboard test bench lint compile clean

# What running the market needs: the venv and node_modules, nothing that asks for root.
install: $(STAMP_PY) $(STAMP_NODE) $(STAMP_BROWNIE)

# Only the dashboard's browser tests need a browser: Debian's chromium (Playwright never
# downloads one). As root it is installed, through sudo where there is one; else a clear message.
browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "The dashboard's browser tests need Debian's chromium at $(CHROMIUM):"; \
		echo "  sudo apt-get install chromium"; \
		exit 1; \
	fi

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# One pip call for everything, so the resolver sees brownie's pins and ours together; torch is
# pinned exactly in pyproject.toml (2.13.0, the CPU build on local disk). "compat" editable
# mode is a plain path entry: new modules and the in-place native kernel need no reinstall.
$(STAMP_PY): pyproject.toml setup.py magnet_market/bitnet/_ternary.c | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev,brownie]' --config-settings editable_mode=compat
	touch $@

# --omit=optional: js-ipfs (the test IPFS daemon) lists WebRTC/electron extras that would try to
# fetch binaries from outside the npm registry; nothing here needs them.
$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --omit=optional
	touch $@

# brownie needs a `solc` where py-solc-x looks and its networks registered (no downloads).
$(STAMP_BROWNIE): $(STAMP_PY) $(STAMP_NODE) magnet_market/chain/brownie_setup.py
	$(PY) -m magnet_market.chain.brownie_setup
	touch $@

compile: install
	$(PY) -m magnet_market.chain.compile --write

demo: install
	$(VENV)/bin/magnet demo

# The demo, then its market in the dashboard on http://127.0.0.1:8547/ until Ctrl-C.
demo-dashboard: install
	$(VENV)/bin/magnet demo --serve

# The slowest tests are listed at the end: the suite should stay within ~15 minutes on 2 cores.
test: install browser
	$(VENV)/bin/pytest --durations=15

# Long: the full set takes over an hour on 2 cores (autoresearch's sweep dominates).
bench: install
	$(PY) benchmarks/gas.py
	$(PY) benchmarks/storage.py
	$(PY) benchmarks/bitnet.py
	$(PY) benchmarks/diloco.py
	$(PY) benchmarks/protocol.py
	$(PY) benchmarks/from_scratch.py
	$(PY) benchmarks/market.py
	$(PY) benchmarks/autoresearch.py

# Layer rules (import-linter), types (mypy) and declared dependencies (deptry): see
# docs/architecture.md. slither compiles through brownie (our solc-js shim); its findings are
# explained in docs/security.md.
lint: install
	$(VENV)/bin/ruff check magnet_market tests benchmarks scripts
	$(VENV)/bin/ruff format --check magnet_market tests benchmarks scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/deptry magnet_market tests benchmarks scripts
	$(PY) -m magnet_market.chain.compile --check
	rm -rf build/contracts build/interfaces && mkdir -p build
	$(PY) -m magnet_market.chain.brownie_setup  # the shim of this checkout, whoever wrote one last
	set -o pipefail; PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/slither . \
		--compile-force-framework brownie \
		--filter-paths "node_modules|contracts/test" --exclude-dependencies \
		--exclude-informational --exclude-low --exclude-optimization --fail-medium 2>&1 \
		| tee build/slither.log
	@! grep -q "analyzed (0 contracts" build/slither.log || \
		{ echo "slither analyzed no contract: the compile failed (build/slither.log)"; exit 1; }

clean:
	rm -rf $(VENV) node_modules build
