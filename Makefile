# Two commands matter: `make demo` and `make test`. Both install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit bench venv azurite clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

node_modules/.bin/azurite: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

azurite: node_modules/.bin/azurite

demo: $(STAMP)
	$(PY) -m emulator.demo

test: $(STAMP) node_modules/.bin/azurite
	$(PY) -m pytest -n 2 -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .state
