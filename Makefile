PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json

.PHONY: run test install clean

## run: the function on http://127.0.0.1:8080 with the Firestore emulator and sample customers
run: $(STAMP)
	$(PY) -m tools.run_local

## test: the whole suite against the real emulator, a Twilio stand-in and Prism
test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache
