# `make demo` and `make test` each set up a fresh machine on their own:
# a virtualenv in .venv, the project installed into it, and the local emulators
# (DynamoDB Local, kinesis-mock) from the pinned package-lock.json.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: setup demo test test-unit test-integration bench clean down

setup: $(STAMP) $(NPM_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

demo: setup
	$(VENV)/bin/auxeira demo

test: setup
	$(PY) -m pytest -q

test-unit: setup
	$(PY) -m pytest -q -m "not integration"

test-integration: setup
	$(PY) -m pytest -q -m integration

bench: setup
	$(PY) -m bench.consumer_throughput
	$(PY) -m bench.publisher

down: setup
	$(VENV)/bin/auxeira local down

clean:
	rm -rf $(VENV) node_modules .local
