# Every target creates what it needs; `make test` works on a fresh machine from a clean clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: help venv servers faketime browser run demo test test-shifted-clock unit lint layers typecheck check-template openapi openapi-check bench mutation clean

help:
	@echo "make run    start Redis (REDIS_SERVER=valkey|redis), the Kafka broker, moto, the API and the MSK trigger locally"
	@echo "make demo   the same plus a bounded traffic simulator and a live top 10"
	@echo "make test   lint, type-check, offline template checks, then every test on real local servers"
	@echo "make test-shifted-clock  the unit and security tests with the clock 45 and 400 days ahead"
	@echo "make openapi  regenerate docs/openapi.json from the handlers and the template"
	@echo "make bench  benchmarks (BENCH_SCALE=25m for the full-size run)"
	@echo "make mutation  mutation testing of the Python domain/application (mutmut) and of the Lua scripts"

$(INSTALLED): pyproject.toml layers/requirements.txt
	@echo "==> creating $(VENV) and installing packages"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

venv: $(INSTALLED)

# redis-server, redis-cli and redis-benchmark come from Debian's packages (preinstalled on this
# machine kind); installed here when missing and allowed (root), named in the error otherwise.
servers:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && echo "==> installing redis-server (apt)" && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || \
	  { echo "redis-server, redis-cli and redis-benchmark are needed: apt-get install redis-server"; exit 1; }

# faketime (Debian's package) moves the clock of the tests: nothing may depend on today's date.
faketime:
	@command -v faketime >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && echo "==> installing faketime (apt)" && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; } || \
	  { echo "faketime is needed: apt-get install faketime"; exit 1; }

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@test -x /usr/bin/chromium || \
	  { [ "$$(id -u)" = 0 ] && echo "==> installing chromium (apt)" && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "/usr/bin/chromium is needed for the browser tests: apt-get install chromium"; exit 1; }

run: venv servers
	$(PY) -m local_runtime run

demo: venv servers
	$(PY) -m local_runtime demo $(DEMO_ARGS)

lint: venv
	@echo "==> ruff"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

layers: venv
	@echo "==> import-linter: the layers of shared/ (docs/ARCHITECTURE.md)"
	$(VENV)/bin/lint-imports

typecheck: venv
	@echo "==> mypy"
	$(VENV)/bin/mypy shared functions local_runtime tools tests $(wildcard bench)

check-template: venv
	@echo "==> template: sam validate, cfn-lint on the translated template, sam build (no Docker)"
	bash tools/sam_build_check.sh

openapi: venv
	$(PY) tools/openapi.py

openapi-check: venv
	@echo "==> docs/openapi.json matches the handlers and the template"
	$(PY) tools/openapi.py --check

unit: venv
	$(PY) -m pytest -m unit

# REDIS_SERVER=valkey|redis picks the Redis server of every run, test and bench (default: valkey, see
# docs/REDIS.md). `make test` runs the whole suite on it, then OTHER_SERVER_TESTS on the other one.
OTHER_SERVER_TESTS ?= integration and not browser and not faults
test: servers browser lint layers typecheck check-template openapi-check
	@chosen=$$($(PY) tools/redis_server.py version) && echo "==> pytest on $$chosen"
	$(PY) -m pytest
	@other=$$($(PY) tools/redis_server.py other) && other_version=$$(REDIS_SERVER=$$other $(PY) tools/redis_server.py version) && \
	  echo "==> pytest -m '$(OTHER_SERVER_TESTS)' on $$other_version" && \
	  REDIS_SERVER=$$other $(PY) -m pytest -q -m "$(OTHER_SERVER_TESTS)"

# Only the date moves: the monotonic clock stays real (timed waits would never expire otherwise),
# and tools/shifted_clock makes time.sleep work with that (see its docstring). Redis runs on the
# real clock (jemalloc and libfaketime clash) and Tansu ignores LD_PRELOAD: the Python processes
# (tests, handlers, moto) see the shifted date.
SHIFTED_CLOCK_DAYS ?= 45 400
SHIFTED_CLOCK_TESTS ?= unit or security
test-shifted-clock: venv servers faketime
	@for days in $(SHIFTED_CLOCK_DAYS); do \
	  echo "==> pytest -m '$(SHIFTED_CLOCK_TESTS)', clock +$$days days: $$(faketime -f +$${days}d date -u +%F)"; \
	  PYTHONPATH=$(CURDIR)/tools/shifted_clock FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f +$${days}d \
	    $(PY) -m pytest -q -m "$(SHIFTED_CLOCK_TESTS)" || exit 1; \
	done

bench: venv servers
	$(PY) -m bench

# Not part of `make test`. mutmut (settings: [tool.mutmut] in pyproject.toml) mutates shared/domain and
# shared/application in a copy under mutants/ and runs the unit and model tests against each mutant; then
# tools/lua_mutation.py does the same for the Lua scripts with the tests that run them. Each part is
# bounded (seconds below; mutants not reached count against the score). Figures: bench/results/mutation.json,
# bench/results/lua_mutation.json, docs/MUTATION.md; fails below the 85 % target.
MUTMUT_SECONDS ?= 1080
LUA_MUTATION_SECONDS ?= 300
mutation: venv servers
	rm -rf mutants
	@echo "==> mutmut: shared/domain, shared/application (at most $(MUTMUT_SECONDS) s)"
	@start=$$(date +%s); timeout --signal=INT $(MUTMUT_SECONDS) $(VENV)/bin/mutmut run --max-children 2; \
	  status=$$?; [ $$status = 0 ] || [ $$status = 124 ] || exit $$status; \
	  $(PY) tools/mutation_report.py python --seconds $$(( $$(date +%s) - start ))
	@echo "==> Lua scripts (at most $(LUA_MUTATION_SECONDS) s of mutants)"
	$(PY) tools/lua_mutation.py --budget $(LUA_MUTATION_SECONDS)
	$(PY) tools/mutation_report.py markdown

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache mutants
