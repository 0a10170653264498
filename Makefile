# crimelens — the two set-up commands are `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
DB      ?= crimelens.duckdb
SYNTH   ?= build/synth

.PHONY: install demo test test-fast lint typecheck bench docs clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --python $(PY) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## demo: build the synthetic city into the embedded store and run the main jobs on it
demo: install
	$(BIN)/crimelens synth --out $(SYNTH) --seed 7 --db $(DB)
	$(BIN)/crimelens incidents summary --db $(DB)

## test: the whole suite (what CI runs)
test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow and not browser" -x -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

typecheck: lint

bench: install
	$(PY) benchmarks/ingest.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
