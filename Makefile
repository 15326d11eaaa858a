# mmsent: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= data/demo
MODEL ?= models/demo.joblib
# Feature set of the saved demo model: pretrained (TF-IDF + lexicons, CNN embeddings) or handcrafted.
FEATURES ?= pretrained

.PHONY: demo test lint docs bench bench-accuracy bench-cnn bench-scale bench-tables export-cnn mutation install clean help

help:
	@echo "make demo   - install into $(VENV), build the demo data, compare fusions and feature sets, save $(MODEL)"
	@echo "              (FEATURES=handcrafted saves the model of the cheaper feature set)"
	@echo "make test   - install the dev extras into $(VENV) and run the test suite"
	@echo "make lint   - ruff check (configuration in pyproject.toml)"
	@echo "make docs   - build the documentation into docs/_build/html (warnings are errors)"
	@echo "make bench  - speed and memory benchmarks; results in benchmarks/results/"
	@echo "make bench-accuracy - scores on the real data in ../shared/data (MVSA-Single, Chinese reviews)"
	@echo "make export-cnn - export the pretrained CNN to ONNX once (into the user's cache folder)"
	@echo "make bench-cnn  - CNN embedding throughput, onnxruntime vs torch; results in benchmarks/results/cnn.md"
	@echo "make bench-scale - streaming predict 10k..1M posts, out-of-core training, Dask; results/scale.md (long)"
	@echo "make bench-tables - re-render benchmarks/results/*.md from their JSON (measures nothing)"
	@echo "make mutation - mutation testing (mutmut) of fusion, persistence, HOG, colour, tokenizer, lexicon;"
	@echo "                slow (hours on 2 cores): one module with MUTANTS='mmsent.image._color.*'"
	@echo "                and its own tests with MUTATION_TESTS='tests/image/test_color.py tests/test_mutants.py';"
	@echo "                scores: python benchmarks/mutation_report.py (docs/mutation.md)"
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

$(VENV)/.installed-mutation: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-demo

install: $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/mmsent demo --data-dir $(DEMO_DIR) --out $(MODEL) --features $(FEATURES)

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

# Writes benchmarks/results/accuracy.{json,md} and solver.{json,md}; skips when ../shared/data is absent.
bench-accuracy: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/eval_solver.py

export-cnn: $(VENV)/.installed-dev
	$(BIN)/mmsent export-cnn

bench-cnn: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_cnn.py

# Streaming predict up to 1M posts and out-of-core training on 1M: about 2 hours on 2 busy cores.
# Parts run alone keep the others' last results: python benchmarks/bench_scale.py --only dask
bench-scale: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_scale.py

bench-tables: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_tables.py

# Not part of `make test`: each mutant reruns the tests that reach the mutated function. The modules and
# tests are listed in setup.cfg [mutmut]; mutmut keeps its work in mutants/ and resumes where it stopped.
# Scores and the triage of surviving mutants: docs/mutation.md.
# One module at a time is what 2 cores allow: MUTANTS picks its mutants, MUTATION_TESTS (paths under tests/)
# replaces the test list of setup.cfg for the run, e.g.
#   make mutation MUTANTS='mmsent.text._tokenizer.*' MUTATION_TESTS='tests/text tests/test_mutants.py'
# mutmut has no option for the test list, so the recipe sets it in mutmut's configuration before its command
# runs. A list other than the last run's makes mutmut trace the tests again and forget every earlier verdict:
# keep the printed results of each module.
MUTANTS ?=
MUTATION_TESTS ?=
mutation: $(VENV)/.installed-mutation
	MUTATION_TESTS='$(MUTATION_TESTS)' $(BIN)/python -c "import os, sys; from mutmut.configuration import config; \
	tests = os.environ['MUTATION_TESTS'].split(); config().pytest_add_cli_args_test_selection[:] = tests or \
	config().pytest_add_cli_args_test_selection; from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()" \
	run --max-children 2 $(foreach pattern,$(MUTANTS),'$(pattern)')
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) $(DEMO_DIR) models mutants .pytest_cache docs/_build docs/generated
