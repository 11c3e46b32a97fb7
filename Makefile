# convnet-lab: `make setup` installs everything and opens JupyterLab; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
# On a CPU the transfer benchmark's plain and settings paths run the frozen base on every image in
# every epoch (about a minute an epoch each on 2 cores; with real weights the race ends after one):
# `make benchmark TRANSFER_ARGS="--max-epochs 2 --max-batches 4"` measures speed only.
TRANSFER_ARGS ?=
BIN    := $(VENV)/bin

.PHONY: setup install lab test colab-test lint site benchmark clean-outputs

setup: install lab  ## install everything (once) and open the notebooks in JupyterLab

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

lab: install
	$(BIN)/jupyter lab notebooks/

test: install  ## unit tests + every notebook executed by nbval in QUICK mode
	$(BIN)/python -m pytest

colab-test: install  ## notebooks 01, 03, 06 and the unit tests in an environment pinned to Colab's versions
	$(BIN)/python tools/colab/colab_test.py

lint: install
	$(BIN)/ruff check .

site: install  ## the collection as a static website in site/ (nothing executed, no network)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

benchmark: install  ## plain loop against helpers: speed and time to the chapter's accuracy
	$(BIN)/python -m benchmarks.hoh --json benchmarks/results/hoh.json
	$(BIN)/python -m benchmarks.fashion_mnist --json benchmarks/results/fashion_mnist.json
	$(BIN)/python -m benchmarks.rps --json benchmarks/results/rps.json
	$(BIN)/python -m benchmarks.transfer --json benchmarks/results/transfer.json $(TRANSFER_ARGS)
