# mmsent: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= data/demo
MODEL ?= models/demo.joblib

.PHONY: demo test bench bench-accuracy bench-cnn export-cnn mutation install clean help

help:
	@echo "make demo   - install into $(VENV), build the demo data, train, compare fusions, save $(MODEL)"
	@echo "make test   - install the dev extras into $(VENV) and run the test suite"
	@echo "make bench  - speed and memory benchmarks; results in benchmarks/results/"
	@echo "make bench-accuracy - scores on the real data in ../shared/data (MVSA-Single, Chinese reviews)"
	@echo "make export-cnn - export the pretrained CNN to ONNX once (into the user's cache folder)"
	@echo "make bench-cnn  - CNN embedding throughput, onnxruntime vs torch; results in benchmarks/results/cnn.md"
	@echo "make mutation - mutation testing (mutmut) of fusion, persistence, HOG, colour, tokenizer, lexicon;"
	@echo "                slow (hours on 2 cores): narrow it with MUTANTS='mmsent.image._color.*'"
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

$(VENV)/.installed-mutation: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-demo

install: $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/mmsent demo --data-dir $(DEMO_DIR) --out $(MODEL)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench.py

# Writes benchmarks/results/accuracy.{json,md}; skips when ../shared/data is absent.
bench-accuracy: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/accuracy.py

export-cnn: $(VENV)/.installed-dev
	$(BIN)/mmsent export-cnn

bench-cnn: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_cnn.py

# Not part of `make test`: each mutant reruns the tests that reach the mutated function. The modules and
# tests are listed in setup.cfg [mutmut]; mutmut keeps its work in mutants/ and resumes where it stopped.
# Scores and the triage of surviving mutants: benchmarks/results/mutation.md.
MUTANTS ?=
mutation: $(VENV)/.installed-mutation
	$(BIN)/mutmut run --max-children 2 $(foreach pattern,$(MUTANTS),'$(pattern)')
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) $(DEMO_DIR) models mutants .pytest_cache
