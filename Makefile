# The two commands a new user needs are `make run` and `make test`; both bootstrap .venv first.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
DBT_FILES := $(shell find dbt -path dbt/target -prune -o -path dbt/logs -prune -o \( -name '*.sql' -o -name '*.yml' \) -print)

export PATH := $(BIN):$(PATH)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

# pytest-xdist workers for make test; the slow tests mostly wait (meter simulators, dbt and Dagster
# subprocesses), so two overlap well even on two cores. Whole files go to one worker, so that a
# module's fixtures (a dbt build) are made once. Files go out in collection order, not xdist's
# most-tests-first: the few long browser and integration files then start first and the many
# short unit files fill the gaps at the end. make test TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

# The browser test (tests/e2e) drives Debian's chromium.
CHROMIUM := /usr/bin/chromium

.PHONY: run test dev browser lint format install manifest snapshot clean

run: $(MANIFEST)  ## Run the whole pipeline once and print a summary
	$(BIN)/flows run

test: lint $(MANIFEST) browser  ## Lint, then run the whole test suite against a real PostgreSQL
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Options go through DEV_ARGS, e.g. make dev DEV_ARGS="--port 3001 --meters 500".
dev: $(MANIFEST)  ## Serve the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/flows dev $(DEV_ARGS)

browser:  ## Install Debian's chromium for the browser test, if it is missing (needs root)
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "The browser test needs $(CHROMIUM): run 'sudo apt-get install chromium'," \
			"or make browser as root." >&2; \
		exit 1; \
	fi; \
	echo "Installing chromium for the browser test (apt-get)"; \
	apt-get update -q && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

lint: $(INSTALLED)  ## Ruff, the import contracts that keep the layers, and the dbt models' SQL style
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/sqlfluff lint dbt

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(INSTALLED)

snapshot: $(MANIFEST)  ## Rewrite the code location's snapshot after a meant change; review the diff
	$(BIN)/pytest -q tests/unit/test_code_location.py --snapshot-update

manifest: $(MANIFEST)

# The pinned lock is the whole environment; the project itself goes in editable, without deps.
# Each step says what it does first: the first install takes a couple of minutes.
$(INSTALLED): requirements.lock pyproject.toml
	@echo "make: installing the pinned environment into $(VENV) (about two minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "make:   uv $(UV_VERSION), the installer"
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	@echo "make:   the packages of requirements.lock"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -r requirements.lock
	@echo "make:   the project itself (editable)"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet --no-deps -e .
	touch $@
	@echo "make: $(VENV) is ready"

# Dagster reads dbt's manifest when it imports the definitions.
$(MANIFEST): $(INSTALLED) $(DBT_FILES) dagster_project/defs/dbt/project.py
	@echo "make: parsing the dbt project into $(MANIFEST) (about half a minute)"
	$(BIN)/dagster-dbt project prepare-and-package --file dagster_project/defs/dbt/project.py

clean:  ## Remove the venv and dbt output (keeps the data under .flows/)
	rm -rf $(VENV) dbt/target dbt/logs
