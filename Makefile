# `make demo` and `make test` each set up a fresh machine on their own: a virtualenv in
# .venv with the locked dependencies (requirements/dev.lock) and the project, and the
# local emulators (DynamoDB Local, kinesis-mock) from the pinned package-lock.json.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
# checkov pins boto3 far behind the Lambda runtime's: it gets a virtualenv of its own.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: help setup demo test test-unit test-integration lint format bench lock down clean

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: $(STAMP) $(NPM_STAMP) $(TOOLS_STAMP)  ## create .venv (and .venv-tools) from the lock files, install the emulators

$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(TOOLS_STAMP): requirements/checkov.lock
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements/checkov.lock
	touch $(TOOLS_STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

demo: setup  ## the whole pipeline on a private local stack, checked end to end
	$(VENV)/bin/auxeira demo

test: setup  ## every test: unit and integration (the integration tests start their own stack)
	$(PY) -m pytest -q

test-unit: setup  ## unit tests only
	$(PY) -m pytest -q -m "not integration"

test-integration: setup  ## integration tests only
	$(PY) -m pytest -q -m integration

lint: setup  ## ruff (lint and format check), mypy and the import layers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup  ## ruff format and the safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup  ## the benchmarks (each prints one JSON line last)
	$(PY) -m bench.consumer_throughput
	$(PY) -m bench.publisher
	$(PY) -m bench.lake
	$(PY) -m bench.drills

lock: setup  ## re-resolve requirements/*.lock from pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.lock -q
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 -o requirements/lambda.lock -q
	$(VENV)/bin/uv pip compile requirements/checkov.in --python-version 3.11 -o requirements/checkov.lock -q

down:  ## stop the local stack (never installs anything)
	@if [ -x $(VENV)/bin/auxeira ]; then $(VENV)/bin/auxeira local down; else echo "no .venv: nothing was started"; fi

clean:  ## remove .venv, node_modules and the local stack's state
	rm -rf $(VENV) $(TOOLS) node_modules .local
