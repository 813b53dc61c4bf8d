# `make run` and `make test` each create the virtual environment when it is missing.
# The CPU build of torch is installed first, so that no multi-GB CUDA build is pulled in.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup run example test test-slow lint docs docs-build

$(BIN)/activate-done: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	touch $@

setup: $(BIN)/activate-done

run: setup
	$(BIN)/python -m benchmarks.hopper

example: setup
	$(BIN)/python -m examples.pendulum

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site (mkdocs.yml, docs/): `make docs` serves it at http://127.0.0.1:8000,
# `make docs-build` builds it into build/site and fails on any warning (a broken link or API reference).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

docs-build: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
