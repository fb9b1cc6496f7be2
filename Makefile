# The two commands: `make run` (set up everything and serve) and `make test` (suite + linters).
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
VENV_PYTHON := $(BIN)/python

# Django 6 needs Python >= 3.12: the first interpreter that is new enough wins.
find_python = for candidate in $$PYTHON_BIN python3.13 python3.12 python3 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
	  if [ -n "$$candidate" ] && "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "$$candidate"; exit 0; fi; \
	done; exit 1

.PHONY: run test check setup lint format messages demo clean bench system-packages

# Beyond loopback, demo users with published passwords (or DEBUG's public key) refuse to serve:
# check_demo_exposure says how to proceed (DEMO_ON_NETWORK=1 insists).
run: setup demo
	$(VENV_PYTHON) manage.py check_demo_exposure --host $(HOST)
	@echo "Serving on http://$(HOST):$(PORT)/  (users: admin/admin-demo, planner/planner-demo, foreman/foreman-demo, viewer/viewer-demo)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) scheduler_project.asgi:application

setup: $(VENV)/.requirements-installed messages
	$(VENV_PYTHON) manage.py migrate --no-input

demo:
	$(VENV_PYTHON) manage.py seed_demo

# The Debian packages a target needs (gettext; for the tests also chromium, redis-server and
# nginx), installed when missing and this machine allows it; else it says what to install.
# One script shared with .ci/run. Prerequisites inherit a target's value of SYSTEM_PACKAGES_FOR.
SYSTEM_PACKAGES_FOR := run
test: SYSTEM_PACKAGES_FOR := test
system-packages:
	@.ci/system-packages $(SYSTEM_PACKAGES_FOR)

# The browser tests run on their own: Playwright's sync API keeps an event loop running.
test: system-packages $(VENV)/.dev-requirements-installed messages
	$(BIN)/pytest -q
	$(BIN)/pytest -q e2e
	$(MAKE) lint

# The fast lane while working: the tests that start no server process, browser or benchmark
# (markers in conftest.py), and the linters. `make test` still runs everything.
check: $(VENV)/.dev-requirements-installed messages
	$(BIN)/pytest -q -m "not processes and not browser and not bench"
	$(MAKE) lint

# The fan-out benchmark (docs/performance.md): loopback only, a few minutes with the defaults;
# options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--clients 100,1000 --repeat 3".
bench: $(VENV)/.dev-requirements-installed
	$(VENV_PYTHON) -m bench $(BENCH_ARGS)

# Linters, and no model change without its migration.
lint: $(VENV)/.dev-requirements-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(VENV_PYTHON) manage.py makemigrations --check --dry-run

format: $(VENV)/.dev-requirements-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: system-packages $(VENV)/.requirements-installed
	@command -v msgfmt >/dev/null || { echo "msgfmt not found: install GNU gettext (Debian: apt-get install gettext)." >&2; exit 1; }
	$(VENV_PYTHON) manage.py compilemessages --ignore=$(VENV) -v0

$(VENV_PYTHON):
	@python=$$($(find_python)) || { \
	  echo "No Python >= 3.12 found (Django 6 needs it). Install one, e.g. 'apt-get install python3.12 python3.12-venv'" >&2; \
	  echo "or 'pyenv install 3.12', or point PYTHON_BIN=/path/to/python3.12 at it." >&2; exit 1; }; \
	echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.requirements-installed: requirements.txt | $(VENV_PYTHON)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-requirements-installed: requirements.txt requirements-dev.txt | $(VENV_PYTHON)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.requirements-installed $@

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
