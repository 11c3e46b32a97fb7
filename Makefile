# convnet-lab: `make setup` installs everything and opens JupyterLab; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup install lab test lint benchmark clean-outputs

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

lint: install
	$(BIN)/ruff check .

benchmark: install
	$(BIN)/python benchmarks/hoh_throughput.py
