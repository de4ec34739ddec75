PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
MUTATE_STAMP := $(VENV)/.mutate-installed
NODE_STAMP := node_modules/.package-lock.json
DEPLOY_ENV ?= deploy.env

.PHONY: run test lint install clean deploy deploy-dry bench mutate

## run: the function on http://127.0.0.1:8080 with the Firestore emulator and sample customers
run: $(STAMP)
	$(PY) -m tools.run_local

## test: lint and types (pyproject.toml), then the whole suite against the real emulator, a Twilio stand-in and Prism
test: lint $(NODE_STAMP)
	$(PY) -m pytest

## lint: ruff over the whole tree, mypy over the deployed code and tools (settings in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check --quiet .
	$(PY) -m mypy

## deploy: gcloud functions deploy, with the settings in $(DEPLOY_ENV) (see deploy.env.example)
deploy:
	@$(PYTHON) -m tools.deploy --env-file $(DEPLOY_ENV)

## deploy-dry: print the exact deploy command without running it
deploy-dry:
	@$(PYTHON) -m tools.deploy --env-file $(DEPLOY_ENV) --dry-run

## bench: cold start, latency under load, lookup cost vs customer base (bench/README.md); not part of test
bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m bench.run

## mutate: mutation testing of the pure rules against the fast tests (bench/MUTATION.md); not part of test
mutate: $(STAMP) $(MUTATE_STAMP)
	$(PY) -m bench.mutation

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

$(MUTATE_STAMP): requirements-mutate.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-mutate.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache .mypy_cache .ruff_cache mutants
