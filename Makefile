# The README's commands. Each one creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=

.PHONY: run test test-colab smoke golden strip lint bench clean-venv help

help:
	@echo "make run    - set up, then execute every notebook with the demo profile into runs/<run_id>/"
	@echo "make test   - set up, then run the whole test suite (unit, papermill smoke, golden outputs compared)"
	@echo "make test-colab - every notebook alone, in order, in a Colab-like environment (after make test)"
	@echo "make smoke  - execute every notebook with the smoke profile"
	@echo "make golden - regenerate tests/golden/ (smoke-executed copies the smoke run is compared with)"
	@echo "make strip  - strip outputs from notebooks/"
	@echo "make lint   - ruff"
	@echo "make bench  - quick benchmarks"

$(VENV)/.installed: requirements.txt requirements-runner.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

run: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m helpers.pipeline --profile demo $(ARGS)

test: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest $(ARGS)

test-colab: $(VENV)/.installed
	$(PY) tests/colab/check_colab.py $(ARGS)

smoke: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m helpers.pipeline --profile smoke $(ARGS)

golden: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) tools/make_golden.py $(ARGS)

strip: $(VENV)/.installed
	$(PY) tools/strip_outputs.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check helpers tests tools benchmarks notebooks

bench: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/gridsearch.py --quick
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/inference.py

clean-venv:
	rm -rf $(VENV)
