# Two commands matter: `make demo` and `make test`. Both install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit bench bench-events venv azurite chromium screenshots lock clean

# requirements.txt is the hashed lock the Functions remote build installs; pip refuses to mix
# hashed and unhashed requirements in one install, so the dev tools come in a second step.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Regenerate the lock from requirements.in (the direct dependencies): every package pinned, with
# the hashes of all its published files, and no index URL written into the file.
lock: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links --no-emit-trusted-host --output-file requirements.txt requirements.in

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

bench-events: $(STAMP)
	$(PY) -m bench --events

clean:
	rm -rf $(VENV) node_modules .state
