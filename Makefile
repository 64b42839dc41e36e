# damkit: two commands do all the set-up.
#   make demo   creates .venv, installs damkit, runs the demo against the built-in sandbox
#   make test   creates .venv, installs damkit with its test extras, checks the house rules
#               (ruff, mypy, import contracts: `make lint`), then runs the whole suite

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint fix install clean bench bench-server tui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip's and the build backend's chatter (e.g. setuptools' note on editable installs) goes to a log
# that is shown only when the install fails.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "installing damkit into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet -e . >$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing damkit[test] into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet -e '.[test]' >$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@touch $@ $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	DAMKIT_HOME=$${DAMKIT_HOME:-$(CURDIR)/.demo-home} $(BIN)/damkit demo

# The house rules (docs/house-rules.md): lint, types, import contracts. Configured in pyproject.toml.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# Applies ruff's safe fixes (import order, modern syntax, unused noqa...); review the diff.
fix: $(TEST_STAMP)
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

tui: $(STAMP)
	$(BIN)/damkit tui --sandbox

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/index_bench.py
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/check_bench.py
	$(BIN)/python benchmarks/sync_bench.py
	$(BIN)/python benchmarks/events_bench.py

# The server parts (damkit[server]): a throwaway PostgreSQL and moto's S3 server, both on loopback.
bench-server: $(TEST_STAMP)
	$(BIN)/python benchmarks/pg_index_bench.py
	$(BIN)/python benchmarks/scale_bench.py --backends server

clean:
	rm -rf $(VENV) .demo-home .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
