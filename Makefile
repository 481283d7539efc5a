# gis_planner — two commands for a newcomer:
#   make app    set up (.venv, demo municipality) and start the Streamlit app on the demo
#   make test   set up (system packages, .venv, demo) and run the whole test-suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
DEMO   := data/cadastre/demo/workspace.gpkg
PYTEST_ARGS ?=

.PHONY: app test setup system-deps demo bench clean

$(VENV)/.stamp-install: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.stamp-install

$(DEMO): $(VENV)/.stamp-install data/cadastre/build_demo.py data/cadastre/demo_spec.yaml
	$(PY) data/cadastre/build_demo.py --out data/cadastre/demo

demo: $(DEMO)

system-deps:
	bash scripts/install-system-deps.sh

app: setup demo
	$(PY) -m gis_planner.ui.serve

test: system-deps setup demo
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: setup demo
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) data/cadastre/demo artifacts
