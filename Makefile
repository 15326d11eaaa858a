# mmsent: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= data/demo
MODEL ?= models/demo.joblib

.PHONY: demo test lint docs bench bench-accuracy bench-cnn bench-tables export-cnn install clean help

help:
	@echo "make demo   - install into $(VENV), build the demo data, train, compare fusions, save $(MODEL)"
	@echo "make test   - install the dev extras into $(VENV) and run the test suite"
	@echo "make lint   - ruff check (configuration in pyproject.toml)"
	@echo "make docs   - build the documentation into docs/_build/html (warnings are errors)"
	@echo "make bench  - speed and memory benchmarks; results in benchmarks/results/"
	@echo "make bench-accuracy - scores on the real data in ../shared/data (MVSA-Single, Chinese reviews)"
	@echo "make export-cnn - export the pretrained CNN to ONNX once (into the user's cache folder)"
	@echo "make bench-cnn  - CNN embedding throughput, onnxruntime vs torch; results in benchmarks/results/cnn.md"
	@echo "make bench-tables - re-render benchmarks/results/*.md from their JSON (measures nothing)"
	@echo "make clean  - remove $(VENV), generated demo data and models"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, rebuilt when the package metadata changes.
$(VENV)/.installed-demo: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.installed-dev: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-demo

$(VENV)/.installed-docs: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

install: $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/mmsent demo --data-dir $(DEMO_DIR) --out $(MODEL)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# The API pages are generated into docs/generated from the docstrings at every build.
docs: $(VENV)/.installed-docs
	rm -rf docs/_build docs/generated
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench.py

# Writes benchmarks/results/accuracy.{json,md}; skips when ../shared/data is absent.
bench-accuracy: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/accuracy.py

export-cnn: $(VENV)/.installed-dev
	$(BIN)/mmsent export-cnn

bench-cnn: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_cnn.py

bench-tables: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_tables.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) models .pytest_cache docs/_build docs/generated
