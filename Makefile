# MAGNET Market developer entry points. `make demo` and `make test` set everything up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: install demo test bench lint compile clean

install: $(STAMP_PY) $(STAMP_NODE)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# One pip call for everything so the resolver sees brownie's pins and ours together.
# torch is named exactly (2.13.0 is the CPU build on local disk); a range could pull CUDA.
$(STAMP_PY): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev,brownie]'
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

compile: install
	$(PY) -m magnet_market.chain.compile --write

demo: install
	$(VENV)/bin/magnet demo

test: install
	$(VENV)/bin/pytest

bench: install
	$(PY) benchmarks/gas.py

lint: install
	$(VENV)/bin/ruff check magnet_market tests benchmarks scripts
	$(VENV)/bin/ruff format --check magnet_market tests benchmarks scripts

clean:
	rm -rf $(VENV) node_modules
