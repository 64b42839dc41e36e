# damkit: two commands do all the set-up.
#   make demo   creates .venv, installs damkit, runs the demo against the built-in sandbox
#   make test   creates .venv, installs damkit with its test extras, runs the whole suite

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test install clean bench tui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	DAMKIT_HOME=$${DAMKIT_HOME:-$(CURDIR)/.demo-home} $(BIN)/damkit demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

tui: $(STAMP)
	$(BIN)/damkit tui --sandbox

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/index_bench.py
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/check_bench.py
	$(BIN)/python benchmarks/sync_bench.py
	$(BIN)/python benchmarks/events_bench.py

clean:
	rm -rf $(VENV) .demo-home .pytest_cache
