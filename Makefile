# Two commands matter: `make demo` and `make test`. Both install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit bench venv azurite chromium screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

node_modules/.bin/azurite: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

azurite: node_modules/.bin/azurite

# The browser tests drive the distribution's Chromium (Debian's package), as Azurite comes from npm.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(PY) -m emulator.demo

test: $(STAMP) node_modules/.bin/azurite chromium
	$(PY) -m pytest -n 2 -q

# The README's pictures of the demo status page, as the browser tests render them.
screenshots: $(STAMP) chromium
	$(PY) -m pytest -q tests/browser -k screenshots
	cp test-output/status-page/status-desktop.png test-output/status-page/status-phone.png docs/

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .state
