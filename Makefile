# The two commands that matter: `make serve` and `make test`.  Both install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: deps serve test test-fast test-slow wheels lint clean package bench outbox smoke consistency
STAGE ?= dev
# The API in front of the function: http (an HTTP API, the default) or rest (docs/DEPLOY.md).
FRONT ?= http
SCAN := .venv-scan

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-build-isolation -e .   # the `onetime` command
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SCAN)/.installed: requirements-scan.txt
	test -x $(SCAN)/bin/python || python3 -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

deps: $(STAMP) node_modules/.package-lock.json

serve: deps
	$(PY) -m tools.serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Debian's chromium for the browser tests (Playwright drives it; never `playwright install`).
/usr/bin/chromium:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The Lambda's dependencies as wheels, for every interpreter packaging asks pip about
# (chalice's own build on this Python, tools/package.py's for the runtime's 3.12), so
# the packaging tests build offline from them (tests/tooling/test_infra.py).
WHEELS := build/wheels
LAMBDA_WHEEL := --only-binary=:all: --platform manylinux2014_x86_64 --implementation cp
$(WHEELS)/.filled: requirements.txt | $(STAMP)
	mkdir -p $(WHEELS)
	$(PY) -m pip download --quiet --disable-pip-version-check -d $(WHEELS) -r requirements.txt
	$(PY) -m pip download --quiet --disable-pip-version-check -d $(WHEELS) $(LAMBDA_WHEEL) \
		--python-version 3.11 -r requirements.txt
	$(PY) -m pip download --quiet --disable-pip-version-check -d $(WHEELS) $(LAMBDA_WHEEL) \
		--python-version 3.12 -r requirements.txt
	touch $@

wheels: $(WHEELS)/.filled

# Every tier but the slow one (within the 5-minute budget); .ci/run then runs test-slow.
test: deps $(SCAN)/.installed /usr/bin/chromium lint wheels
	$(VENV)/bin/pytest -m "not slow" --durations=20

# What runs longer than make test's budget allows: the 64-way redemption races (50 rounds,
# 3 limits); on dynalite the long histories and the 50-way races of wrong answers against
# unlocks, refunds against redemptions, two resends and a request's confirmations
# (tests/stack/conftest.py), and the limit raised during a race; the long history on moto;
# five wrong answers typed in chromium, the press-timing measurement, a
# bundle's buttons and a few-hundred-MiB multipart resume in chromium; and make serve's
# stacks stopped by every signal.
test-slow: deps /usr/bin/chromium wheels
	$(VENV)/bin/pytest -m slow

# The unit tier (tests/unit): no network, no moto, no app, no browser; collects only its
# own folder, so it takes seconds (the tiers' conftest imports nothing heavy).
test-fast: $(STAMP)
	$(VENV)/bin/pytest tests/unit -q

# The last emails `make serve` sent (read back from moto's SES).
outbox: $(STAMP)
	$(PY) -m tools.outbox

# One CloudFormation/SAM template (app + table + bucket + alarms) in build/<stage>/, its zip
# with bytecode compiled by the runtime's CPython 3.12 (found on PATH or under pyenv, or named
# by ONETIME_RUNTIME_PYTHON=/path/to/python3.12; set it empty to ship sources only).
# FRONT=rest puts chalice's REST API in front instead of an HTTP API.
package: deps $(SCAN)/.installed
	$(PY) -m tools.package --stage $(STAGE) --front $(FRONT)

# After a deploy: `make smoke URL=https://... KEY=... FILE=<a key in the bucket>` checks the
# stack end to end (`onetime smoke`).  URL and KEY default to ONETIME_URL and ONETIME_API_KEY.
# The recipe is silent (@) and reads them from the environment (make exports command-line
# variables), so the key is never echoed into a terminal or a CI log.
smoke: $(STAMP)
	@test -n "$${FILE-}" || { echo "usage: make smoke URL=https://... KEY=... FILE=<S3 key>" >&2; exit 2; }
	@ONETIME_URL="$${URL:-$${ONETIME_URL-}}" ONETIME_API_KEY="$${KEY:-$${ONETIME_API_KEY-}}" \
		$(PY) -m onetime_cli smoke --file "$$FILE"

# The fault matrix (tests/faultmatrix.py), written into docs/CONSISTENCY.md; a test fails
# when the document is stale.
consistency: $(STAMP)
	$(PY) -m tests.faultmatrix --write docs/CONSISTENCY.md >/dev/null

# Speed and memory, measured side by side; writes BENCHMARKS.md, bench/results.json (the goal
# figures, tracked) and build/bench.json (every row).  The cold start runs the deployed zip,
# built offline from build/wheels.  `make bench SECTIONS="overhead coldstart"` runs some only.
bench: deps wheels
	$(PY) -m bench $(SECTIONS)

clean:
	rm -rf $(VENV) $(SCAN) node_modules build .pytest_cache .mypy_cache .ruff_cache
