# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Both bootstrap uv (with pip, into .uv/) when it is not on PATH, then install the locked
# dependencies into .venv: the demo only the core (no extras, no dev tools: it needs neither
# Spark nor the server), the tests everything.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV ?= $(shell command -v uv || echo .uv/bin/uv)
LAKE ?= lake
PYTEST_ARGS ?=
# Trust the platform's certificate store (machines behind a TLS-inspecting proxy need it).
export UV_SYSTEM_CERTS ?= true

.PHONY: install install-core demo test soak test-cluster lint typecheck unit system-deps benchmark clean

.uv/bin/uv:
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.13,<0.14"

# --compile-bytecode covers the dependencies; compileall covers our own (editable) sources. Every
# `retail` command is a short process, and where PYTHONDONTWRITEBYTECODE is set (CI sandboxes)
# Python would otherwise recompile them from source in every one (about 0.1 CPU-s each).
install: $(if $(filter .uv/bin/uv,$(UV)),.uv/bin/uv)
	$(UV) sync --frozen --all-extras --compile-bytecode --quiet
	$(UV) run --no-sync python -m compileall -q src

# --inexact keeps what a previous `make install` added (extras, dev tools) instead of removing it.
install-core: $(if $(filter .uv/bin/uv,$(UV)),.uv/bin/uv)
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode --quiet
	$(UV) run --no-sync python -m compileall -q src

demo: install-core
	$(UV) run --no-sync retail --lake $(LAKE) demo

# Debian's Chromium (browser tests), a Java runtime (Spark parity tests) and PostgreSQL (publish
# tests); each skipped if present.
system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium default-jre-headless >/dev/null; \
	  else echo "install chromium and a Java 17 runtime to run every test" >&2; exit 1; fi; }
	@# PostgreSQL (publish tests start a throwaway cluster): Debian keeps initdb and pg_ctl in
	@# /usr/lib/postgresql/<version>/bin, off PATH.
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      postgresql >/dev/null; \
	  else echo "install PostgreSQL (Debian: postgresql) to run the publish tests" >&2; exit 1; fi; }

lint: install
	$(UV) run ruff check src tests
	$(UV) run ruff format --check src tests

typecheck: install
	$(UV) run mypy --strict src

unit: install
	$(UV) run pytest $(PYTEST_ARGS)

# Each test file runs whole on one of two workers (module fixtures built once), slowest files
# first (tests/conftest.py orders them by marker; --no-loadscope-reorder keeps that order instead
# of xdist's most-tests-first, which left the one-test Spark Connect and browser files for last).
test: install system-deps lint typecheck
	$(UV) run pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not soak" $(PYTEST_ARGS)

# The slow suites (long fault-injection series, large hostile files, cluster runs): not in CI's
# 30-minute budget, run before a release or when touching the commit paths.
soak: install system-deps
	$(UV) run pytest -n 2 --dist loadfile --no-loadscope-reorder -m soak $(PYTEST_ARGS)

# Real Spark servers (a standalone master and worker, a Spark Connect server) started from
# pyspark's own scripts on localhost, the pipeline run through each and compared with DuckDB.
# About 6 minutes on 2 quiet cores (369 s at load 2-5). `make test` runs the Connect one
# (CI); the standalone cluster is soak. One test at a time (two JVM clusters at once do not
# fit 2 cores).
test-cluster: install system-deps
	$(UV) run pytest -m cluster $(PYTEST_ARGS)

benchmark: install
	$(UV) run retail benchmark

clean:
	rm -rf .venv .uv lake landing .pytest_cache .mypy_cache .ruff_cache
